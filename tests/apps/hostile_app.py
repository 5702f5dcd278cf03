"""WSGI app for tests/test_hostile_clients.py (slow and hostile clients).

Routes (PATH_INFO):
  /ping            "pong" (what the well-behaved probe client asks for)
  /big?n=N         N bytes of b"x", generated in 64 KiB chunks, with Content-Length
  /echo            reads the whole body, answers its length
  /upload          reads the body in 64 KiB blocks, answers its length
  /count           how many requests this worker process has served (not counting /count)
"""

import os
from urllib.parse import parse_qs

CHUNK = b"x" * 65536
_SERVED = [0]


def _qs(environ):
    return {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}


def _send(start_response, body, status="200 OK"):
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/count":
        return _send(start_response, b"%d %d" % (os.getpid(), _SERVED[0]))
    _SERVED[0] += 1
    if path == "/ping":
        return _send(start_response, b"pong")
    if path == "/big":
        n = int(_qs(environ).get("n", "1048576"))

        def gen():
            left = n
            while left > 0:
                piece = CHUNK if left >= len(CHUNK) else CHUNK[:left]
                left -= len(piece)
                yield piece

        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(n))])
        return gen()
    if path == "/echo":
        body = environ["wsgi.input"].read()
        return _send(start_response, b"%d" % len(body))
    if path == "/upload":
        inp = environ["wsgi.input"]
        n = 0
        while True:
            block = inp.read(65536)
            if not block:
                break
            n += len(block)
        return _send(start_response, b"%d" % n)
    return _send(start_response, b"ok", "404 Not Found")


app = application
