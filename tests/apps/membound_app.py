"""WSGI app for tests/test_memory_bounds.py (memory stays bounded on large bodies).

Routes (PATH_INFO):
  /ping                      "pong"
  /upload                    reads wsgi.input in 64 KiB blocks (never the whole body at
                             once); answers "<length> <crc32>"
  /generate?n=N              N bytes generated in 1 MiB chunks (the same bytes object
                             yielded again and again: the app itself holds 1 MiB), with
                             Content-Length
  /file?path=P&size=N        the file P through wsgi.file_wrapper, Content-Length N
  /count                     how many times the app was called in this worker (not
                             counting /count): tells whether a rejected request reached it
"""

import zlib
from urllib.parse import parse_qs

MIB = 1 << 20
CHUNK = bytes(range(256)) * (MIB // 256)
_CALLS = [0]


def _qs(environ):
    return {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}


def _send(start_response, body, status="200 OK"):
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/count":
        return _send(start_response, b"%d" % _CALLS[0])
    _CALLS[0] += 1
    if path == "/ping":
        return _send(start_response, b"pong")
    if path == "/upload":
        inp = environ["wsgi.input"]
        n = 0
        crc = 0
        while True:
            block = inp.read(65536)
            if not block:
                break
            n += len(block)
            crc = zlib.crc32(block, crc)
        return _send(start_response, b"%d %d" % (n, crc))
    if path == "/generate":
        n = int(_qs(environ).get("n", str(MIB)))

        def gen():
            left = n
            while left > 0:
                piece = CHUNK if left >= MIB else CHUNK[:left]
                left -= len(piece)
                yield piece

        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(n))])
        return gen()
    if path == "/file":
        q = _qs(environ)
        f = open(q["path"], "rb")
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", q["size"])])
        return environ["wsgi.file_wrapper"](f, MIB)
    return _send(start_response, b"not found", "404 Not Found")


app = application
