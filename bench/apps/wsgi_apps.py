"""Plain WSGI workloads of the ferricorn benchmark (one callable per workload).

Every server under test runs with this directory as its working directory and on PYTHONPATH,
and is given ``wsgi_apps:<name>``.
"""

import os
import time

HELLO = b"Hello, World!"  # 13 bytes
BIG = b"x" * (64 * 1024)  # 64 KiB
FILE_PATH = os.environ.get("FERRICORN_BENCH_FILE", "")  # 1 MiB file made by bench/run.py


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    return [HELLO]


def big(environ, start_response):
    start_response(
        "200 OK",
        [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(BIG)))],
    )
    return [BIG]


def echo(environ, start_response):
    """Reads the whole request body (16 KiB in the benchmark) and answers with its length."""
    try:
        n = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        n = 0
    stream = environ["wsgi.input"]
    got = 0
    while got < n:
        chunk = stream.read(min(65536, n - got))
        if not chunk:
            break
        got += len(chunk)
    body = str(got).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def sleep10(environ, start_response):
    """A blocking 10 ms backend call."""
    time.sleep(0.010)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    return [HELLO]


def _iter_file(f, blksize=65536):
    try:
        while True:
            chunk = f.read(blksize)
            if not chunk:
                break
            yield chunk
    finally:
        f.close()


def filewrap(environ, start_response):
    """Serves a 1 MiB file through ``wsgi.file_wrapper``; a server that has none gets a plain
    64 KiB-block iterator (reported in the X-File-Wrapper header and in the results)."""
    f = open(FILE_PATH, "rb")
    size = os.fstat(f.fileno()).st_size
    wrapper = environ.get("wsgi.file_wrapper")
    start_response(
        "200 OK",
        [
            ("Content-Type", "application/octet-stream"),
            ("Content-Length", str(size)),
            ("X-File-Wrapper", "yes" if wrapper else "no"),
        ],
    )
    if wrapper:
        return wrapper(f, 65536)
    return _iter_file(f)
