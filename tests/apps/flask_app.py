"""A Flask application for the framework tests: ``flask_app:app``."""

import hashlib

from flask import Flask, Response, jsonify, request, stream_with_context

app = Flask(__name__)


@app.route("/")
def index():
    return "flask index"


@app.route("/hello/<name>")
def hello(name):
    return jsonify(hello=name, q=request.args.get("q"))


@app.route("/form", methods=["POST"])
def form():
    return jsonify(dict(request.form))


@app.route("/json", methods=["POST"])
def json_echo():
    return jsonify(received=request.get_json())


@app.route("/upload", methods=["POST"])
def upload():
    f = request.files["file"]
    h = hashlib.sha256()
    n = 0
    while True:
        block = f.stream.read(1 << 16)
        if not block:
            break
        n += len(block)
        h.update(block)
    return jsonify(filename=f.filename, len=n, sha256=h.hexdigest(), field=request.form.get("field"))


@app.route("/raw", methods=["PUT", "POST"])
def raw():
    data = request.get_data()
    return jsonify(len=len(data), sha256=hashlib.sha256(data).hexdigest())


@app.route("/stream")
def stream():
    n = request.args.get("n", 100, type=int)

    def gen():
        for i in range(n):
            yield "line %d\n" % i

    return Response(stream_with_context(gen()), mimetype="text/plain")


@app.route("/error")
def error():
    raise RuntimeError("flask-error-marker")
