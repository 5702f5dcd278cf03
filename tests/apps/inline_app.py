"""WSGI app for tests/test_inline_mode.py (large responses and bodies in the
default inline mode).

Routes (PATH_INFO):
  /ping                  "pong"
  /gen?n=N&id=I          N bytes of pattern (byte i is i % 251) from a generator
                         in 64 KiB items, with Content-Length; close() writes
                         the marker "closed-I", and the marker "sent-I" is
                         written once the generator has produced everything
  /list?n=N              the same N bytes as a list of 1 MiB items (the list fast path)
  /chunkedgen?n=N        the same bytes from a generator without Content-Length
                         (chunked on HTTP/1.1)
  /upload                reads wsgi.input in 64 KiB blocks: {"len": ..., "sha256": ...}
  /slow?id=I&ms=N        sleeps N ms, writes the marker "done-I", answers "slow"
  /readall               the same from one read(); /readmix from read(7),
                         readline(), then read()
  /stream?id=I&via=V     streams "first\n", then blocks (up to 5 s) until the
                         marker "go-I" exists, then "second:yes\n" (or ":no" if
                         it never appeared); V = iter (a generator) or write
                         (the legacy write() callable)

Markers are files in the directory named by FERRICORN_TEST_MARK_DIR.
"""

import hashlib
import json
import os
import time
from urllib.parse import parse_qs

MARK_DIR = os.environ.get("FERRICORN_TEST_MARK_DIR")
BLOCK = bytes(i % 251 for i in range(251 * 4096))  # a whole number of periods, ~1 MiB


def mark(name):
    if MARK_DIR:
        with open(os.path.join(MARK_DIR, name), "w") as f:
            f.write(str(os.getpid()))


def pattern(n):
    reps, rest = divmod(n, len(BLOCK))
    return [BLOCK] * reps + ([BLOCK[:rest]] if rest else [])


def pieces(n, size):
    """n pattern bytes in items of ``size`` (a divisor of len(BLOCK) keeps them aligned)."""
    out = []
    for b in pattern(n):
        out.extend(b[i:i + size] for i in range(0, len(b), size))
    return out


class Gen:
    def __init__(self, n, ident):
        self.n = n
        self.ident = ident

    def __iter__(self):
        for p in pieces(self.n, 251 * 256):
            yield p
        mark("sent-" + self.ident)

    def close(self):
        mark("closed-" + self.ident)


def wait_for_marker(name, timeout=5.0):
    path = os.path.join(MARK_DIR or ".", name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return True
        time.sleep(0.01)
    return False


def streamed(ident):
    yield b"first\n"
    # Blocks the worker's loop (inline mode): the first block must be on the
    # wire before this generator is asked for its next item (PEP 3333).
    yield b"second:%s\n" % (b"yes" if wait_for_marker("go-" + ident) else b"no")


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    q = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    n = int(q.get("n", "0"))
    if path == "/ping":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "4")])
        return [b"pong"]
    if path == "/gen":
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(n))])
        return Gen(n, q.get("id", "x"))
    if path == "/list":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return pattern(n)
    if path == "/chunkedgen":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return iter(pieces(n, 251 * 64))
    if path == "/stream":
        ident = q.get("id", "x")
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        if q.get("via") == "write":
            it = streamed(ident)
            for block in it:
                write(block)
            return []
        return streamed(ident)
    if path == "/slow":
        time.sleep(int(q.get("ms", "100")) / 1000)
        mark("done-" + q.get("id", "x"))
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "4")])
        return [b"slow"]
    if path in ("/readall", "/readmix"):
        inp = environ["wsgi.input"]
        if path == "/readall":
            data = inp.read()
        else:
            data = inp.read(7) + inp.readline() + inp.read()
        body = json.dumps({"len": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                           "type": type(data).__name__}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
    if path == "/upload":
        h = hashlib.sha256()
        total = 0
        inp = environ["wsgi.input"]
        while True:
            block = inp.read(65536)
            if not block:
                break
            total += len(block)
            h.update(block)
        body = json.dumps({"len": total, "sha256": h.hexdigest()}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
    start_response("404 Not Found", [("Content-Length", "0")])
    return []


app = application
