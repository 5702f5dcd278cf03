"""WSGI app for the conformance / request-smuggling suite (tests/conformance/).

Every request is answered with 200 and a JSON document of what the
application saw, so a test can compare it with what the client meant to send:

    method, path (PATH_INFO), query (QUERY_STRING), script_name, raw_uri,
    protocol (SERVER_PROTOCOL), content_length / content_type (None when
    absent), headers ({HTTP_*: value}), body (latin-1 text of the body read)
    and body_len (None when the body was not read).

What the app does with the body depends on the path:

* ``/noread...``   never touches ``wsgi.input``;
* ``/readN...``    (N digits) reads only N bytes of it, e.g. ``/read5``;
* anything else   reads it to the end with ``wsgi.input.read()``.

Bookkeeping (paths starting with ``/__``, never recorded):

* ``/__stats``  returns ``{"calls": [[method, path], ...]}`` — every call of
  the app since the previous ``/__stats`` — and forgets them;
* ``/__ping``   returns ``pong`` (a keep-alive probe on the connection under test).

Run the suite with one worker: the call list is per process. It is guarded
by a lock so that threaded servers (waitress, ``--threads N``) can run it too.
"""

import json
import threading

_lock = threading.Lock()
_calls = []


def _json(start_response, obj, status="200 OK"):
    data = json.dumps(obj, sort_keys=True).encode("utf-8")
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    method = environ.get("REQUEST_METHOD", "")
    if path == "/__stats":
        with _lock:
            calls = list(_calls)
            _calls.clear()
        return _json(start_response, {"calls": calls})
    if path == "/__ping":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "4")])
        return [b"pong"]
    with _lock:
        _calls.append([method, path])

    inp = environ["wsgi.input"]
    if path.startswith("/noread"):
        body = None
    elif path.startswith("/read") and path[5:6].isdigit():
        digits = path[5:]
        n = len(digits) - len(digits.lstrip("0123456789"))
        body = inp.read(int(digits[:n]))
    else:
        body = inp.read()
    seen = {
        "method": method,
        "path": path,
        "query": environ.get("QUERY_STRING", ""),
        "script_name": environ.get("SCRIPT_NAME", ""),
        "raw_uri": environ.get("RAW_URI"),
        "protocol": environ.get("SERVER_PROTOCOL"),
        "content_length": environ.get("CONTENT_LENGTH") or None,
        "content_type": environ.get("CONTENT_TYPE") or None,
        "headers": {k: v for k, v in environ.items() if k.startswith("HTTP_")},
        "body": None if body is None else body.decode("latin-1"),
        "body_len": None if body is None else len(body),
    }
    return _json(start_response, seen)


application = app
