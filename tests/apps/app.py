"""The main WSGI test application of ferricorn's integration tests.

One app, routed on PATH_INFO, so one server per test module serves them all.
Markers (close() calls, request starts) are files written into the directory
named by the FERRICORN_TEST_MARK_DIR environment variable.
"""

import hashlib
import io
import json
import os
import sys
import tempfile
import time
from urllib.parse import parse_qs

MARK_DIR = os.environ.get("FERRICORN_TEST_MARK_DIR")


def mark(name, content=""):
    if not MARK_DIR:
        return
    path = os.path.join(MARK_DIR, name)
    with open(path + ".tmp", "w") as f:
        f.write(content or str(os.getpid()))
    os.replace(path + ".tmp", path)


def qs(environ):
    return {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}


def send(start_response, status, body, ctype="text/plain", extra=()):
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body)))] + list(extra))
    return [body]


def send_json(start_response, obj, status="200 OK"):
    return send(start_response, status, json.dumps(obj, sort_keys=True).encode(), "application/json")


def pattern_bytes(n):
    """Deterministic test content (tests build the same bytes)."""
    block = bytes(range(256)) * 256
    reps, rest = divmod(n, len(block))
    return block * reps + block[:rest]


# -- environ ------------------------------------------------------------------

def environ_json(environ):
    out = {}
    for k, v in environ.items():
        if isinstance(v, (str, int, float, bool)) or v is None:
            out[k] = v
        elif isinstance(v, tuple):
            out[k] = list(v)
        else:
            out[k] = "<%s>" % type(v).__name__
    out["__types__"] = {k: type(v).__name__ for k, v in environ.items()}
    out["__version_is_tuple__"] = isinstance(environ.get("wsgi.version"), tuple)
    inp = environ.get("wsgi.input")
    out["__input_methods__"] = [m for m in ("read", "readline", "readlines", "__iter__") if hasattr(inp, m)]
    err = environ.get("wsgi.errors")
    out["__errors_methods__"] = [m for m in ("write", "writelines", "flush") if hasattr(err, m)]
    out["__file_wrapper_callable__"] = callable(environ.get("wsgi.file_wrapper"))
    out["__non_str_cgi__"] = sorted(k for k, v in environ.items()
                                     if not k.startswith("wsgi.") and "." not in k and not isinstance(v, str))
    out["__pid__"] = os.getpid()
    return out


# -- wsgi.input ---------------------------------------------------------------

def input_modes(environ, start_response):
    q = qs(environ)
    mode = q.get("mode", "read")
    inp = environ["wsgi.input"]
    res = {"mode": mode}
    if mode == "read":
        data = inp.read()
    elif mode == "read_none":
        data = inp.read(None)
    elif mode == "read_minus1":
        data = inp.read(-1)
    elif mode == "readn":
        n = int(q.get("n", "7"))
        parts = []
        while True:
            p = inp.read(n)
            if not p:
                break
            parts.append(p)
            if len(parts) > 10_000_000:
                break
        res["part_lengths_max"] = max([len(p) for p in parts] or [0])
        res["nparts"] = len(parts)
        data = b"".join(parts)
    elif mode == "read_big":
        data = inp.read(int(q.get("n", "1000000")))
    elif mode == "read0":
        z = inp.read(0)
        res["read0"] = z.decode("latin-1")
        data = inp.read()
    elif mode == "readline":
        lines = []
        while True:
            line = inp.readline()
            if not line:
                break
            lines.append(line)
        res["lines"] = [x.decode("latin-1") for x in lines] if len(lines) < 200 else None
        res["nlines"] = len(lines)
        data = b"".join(lines)
    elif mode == "readline_limit":
        limit = int(q.get("limit", "3"))
        lines = []
        while True:
            line = inp.readline(limit)
            if not line:
                break
            lines.append(line)
        res["lines"] = [x.decode("latin-1") for x in lines] if len(lines) < 200 else None
        res["max_line"] = max([len(x) for x in lines] or [0])
        data = b"".join(lines)
    elif mode == "readlines":
        lines = inp.readlines()
        res["lines"] = [x.decode("latin-1") for x in lines] if len(lines) < 200 else None
        data = b"".join(lines)
    elif mode == "readlines_hint":
        lines = inp.readlines(int(q.get("hint", "1")))
        res["lines"] = [x.decode("latin-1") for x in lines]
        rest = inp.read()
        res["rest"] = rest.decode("latin-1")
        data = b"".join(lines) + rest
    elif mode == "iter":
        lines = list(inp)
        res["lines"] = [x.decode("latin-1") for x in lines] if len(lines) < 200 else None
        res["nlines"] = len(lines)
        data = b"".join(lines)
    elif mode == "mixed":
        a = inp.readline()
        b = inp.read(3)
        c = inp.readlines()
        res["parts"] = [a.decode("latin-1"), b.decode("latin-1"), [x.decode("latin-1") for x in c]]
        data = a + b + b"".join(c)
    elif mode == "none":
        data = b""
    elif mode == "partial":
        data = inp.read(int(q.get("n", "10")))
        res["len"] = len(data)
        res["body"] = data.decode("latin-1")
        return send_json(start_response, res)
    else:
        return send(start_response, "400 Bad Request", b"unknown mode")
    after = inp.read()
    after2 = inp.read(10)
    after3 = inp.readline()
    res["after_eof"] = [after.decode("latin-1"), after2.decode("latin-1"), after3.decode("latin-1")]
    res["types_ok"] = all(isinstance(x, bytes) for x in (after, after2, after3, data))
    res["len"] = len(data)
    res["sha256"] = hashlib.sha256(data).hexdigest()
    if len(data) <= 4096:
        res["body"] = data.decode("latin-1")
    return send_json(start_response, res)


# -- close() tracking ---------------------------------------------------------

class Closing:
    def __init__(self, ident, mode, chunks=3, delay=0.0):
        self.ident = ident
        self.mode = mode
        self.chunks = chunks
        self.delay = delay
        mark("iter-created-" + ident)

    def __iter__(self):
        for i in range(self.chunks):
            if self.mode == "raise" and i == 1:
                raise RuntimeError("close-test-raise-" + self.ident)
            if self.delay:
                time.sleep(self.delay)
            yield b"chunk%d\n" % i

    def close(self):
        mark("closed-" + self.ident)


class MarkFile(io.FileIO):
    """A real file (fileno() works, so sendfile can be used) that records close()."""

    ident = None

    def _note_read(self):
        if self.ident:
            mark("file-read-" + self.ident)

    def read(self, *a):
        self._note_read()
        return super().read(*a)

    def readinto(self, b):
        self._note_read()
        return super().readinto(b)

    def readall(self):
        self._note_read()
        return super().readall()

    def close(self):
        if self.ident and not self.closed:
            mark("file-closed-" + self.ident)
        super().close()


_DATA_FILES = {}


def data_file(size):
    path = _DATA_FILES.get(size)
    if path is None or not os.path.exists(path):
        fd, path = tempfile.mkstemp(prefix="ferricorn-test-%d-" % size, dir=MARK_DIR or None)
        with os.fdopen(fd, "wb") as f:
            f.write(pattern_bytes(size))
        _DATA_FILES[size] = path
    return path


# -- the application ----------------------------------------------------------

_STASH = {}


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    q = qs(environ)
    route = "/" + path.lstrip("/").split("/", 1)[0]

    if route == "/environ":
        return send_json(start_response, environ_json(environ))

    if route == "/echo":
        body = environ["wsgi.input"].read()
        return send(start_response, "200 OK", body, "application/octet-stream",
                    [("X-Body-Length", str(len(body)))])

    if route == "/input":
        return input_modes(environ, start_response)

    if route == "/upload":
        h = hashlib.sha256()
        n = 0
        inp = environ["wsgi.input"]
        while True:
            block = inp.read(65536)
            if not block:
                break
            n += len(block)
            h.update(block)
        return send_json(start_response, {"len": n, "sha256": h.hexdigest()})

    if route == "/stream":
        n = int(q.get("n", "5"))
        size = int(q.get("size", "10"))
        delay = float(q.get("sleep", "0"))

        def gen():
            for i in range(n):
                if delay:
                    time.sleep(delay)
                yield (b"%d" % (i % 10)) * size

        start_response("200 OK", [("Content-Type", "text/plain")])
        return gen()

    if route == "/empty_items":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"", b"a", b"", b"b", b""]

    if route == "/lazy":
        def lazy():
            start_response("200 OK", [("Content-Type", "text/plain"), ("X-Lazy", "yes")])
            yield b"lazy "
            yield b"body"

        return lazy()

    if route == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"hello ")
        write(b"")
        return [b"world"]

    if route == "/write_only":
        write = start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "11")])
        write(b"hello ")
        write(b"world")
        return []

    if route == "/exc_before":
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-First", "1")])
        try:
            raise ValueError("replace me")
        except ValueError:
            start_response("503 Service Unavailable",
                           [("Content-Type", "text/plain"), ("X-Second", "1"), ("Content-Length", "8")],
                           sys.exc_info())
        return [b"replaced"]

    if route == "/exc_after":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"partial")
        try:
            raise ValueError("exc-after-" + q.get("id", "x"))
        except ValueError:
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"NOT-RERAISED"]

    if route == "/double_start":
        start_response("200 OK", [("Content-Type", "text/plain")])
        start_response("201 Created", [("Content-Type", "text/plain")])
        return [b"no-error"]

    if route == "/error":
        raise RuntimeError("boom-" + q.get("id", "x"))

    if route == "/error_iter_before":
        def gen():
            raise RuntimeError("boom-iter-before-" + q.get("id", "x"))
            yield b"never"  # pragma: no cover

        start_response("200 OK", [("Content-Type", "text/plain")])
        return gen()

    if route == "/error_iter_after":
        def gen():
            yield b"first"
            raise RuntimeError("boom-iter-after-" + q.get("id", "x"))

        start_response("200 OK", [("Content-Type", "text/plain")])
        return gen()

    if route == "/bad_header":
        kind = q.get("kind", "crlf")
        bad = {
            "crlf": [("X-Bad", "a\r\nInjected: yes")],
            "lf": [("X-Bad", "a\nInjected: yes")],
            "cr": [("X-Bad", "a\rInjected: yes")],
            "nul": [("X-Bad", "a\0b")],
            "nonlatin1": [("X-Bad", "snow \u2603")],
            "name_crlf": [("X-Bad\r\nInjected", "yes")],
            "name_space": [("X Bad", "yes")],
            "name_colon": [("X-Bad:", "yes")],
            "name_nonlatin1": [("X-B\u2603d", "yes")],
            "value_bytes": [("X-Bad", b"bytes")],
            "name_bytes": [(b"X-Bad", "yes")],
        }[kind]
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")] + bad)
        return [b"ok"]

    if route == "/bad_status":
        kind = q.get("kind", "crlf")
        status = {"crlf": "200 OK\r\nInjected: yes", "bytes": b"200 OK", "nonnumeric": "abc def"}[kind]
        start_response(status, [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]

    if route == "/non_bytes":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return ["text is not bytes"]

    if route == "/no_start":
        return [b"x"]

    if route == "/close":
        ident = q.get("id", "x")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Closing(ident, q.get("mode", "ok"), chunks=int(q.get("chunks", "3")), delay=float(q.get("sleep", "0")))

    if route == "/cl_short":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "10")])
        return [b"12345"]

    if route == "/cl_long":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
        return [b"12345", b"67890"]

    if route == "/file":
        kind = q.get("kind", "real")
        size = int(q.get("size", "100000"))
        fw = environ["wsgi.file_wrapper"]
        if kind in ("real", "real_nocl"):
            f = MarkFile(data_file(size), "r")
            f.ident = q.get("id")
            offset = int(q.get("offset", "0"))
            if offset:
                f.seek(offset)
            headers = [("Content-Type", "application/octet-stream")]
            if kind == "real":
                headers.append(("Content-Length", q.get("cl", str(size - offset))))
            start_response("200 OK", headers)
            if "blksize" in q:
                return fw(f, int(q["blksize"]))
            return fw(f)
        if kind == "bytesio":
            start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                      ("Content-Length", str(size))])
            return fw(io.BytesIO(pattern_bytes(size)), 4096)
        return send(start_response, "400 Bad Request", b"unknown kind")

    if route == "/print":
        print("printed-" + q.get("m", ""), flush=True)
        return send(start_response, "200 OK", b"printed")

    if route == "/stash_write":
        _STASH["write"] = start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "7")])
        return [b"stashed"]

    if route == "/use_stale_write":
        try:
            _STASH["write"](b"LEAKED DATA")
            outcome = b"stale write accepted"
        except OSError:
            outcome = b"stale write refused"
        return send(start_response, "200 OK", outcome)

    if route == "/sleep":
        ident = q.get("id")
        if ident:
            mark("started-" + ident)
        time.sleep(float(q.get("s", "1")))
        if ident:
            mark("finished-" + ident)
        return send(start_response, "200 OK", b"slept")

    if route == "/pid":
        return send_json(start_response, {"pid": os.getpid(), "ppid": os.getppid()})

    if route == "/status":
        code = int(q.get("code", "200"))
        reasons = {200: "OK", 204: "No Content", 304: "Not Modified", 404: "Not Found", 418: "I'm a teapot"}
        headers = [("Content-Type", "text/plain")]
        if code == 304:
            headers.append(("ETag", '"abc"'))
        start_response("%d %s" % (code, reasons.get(code, "Whatever")), headers)
        if code in (204, 304) and q.get("body") != "1":
            return []
        return [b"status %d" % code]

    if route == "/big":
        n = int(q.get("n", "1000000"))
        body = pattern_bytes(n)
        headers = [("Content-Type", "application/octet-stream")]
        if q.get("cl", "1") == "1":
            headers.append(("Content-Length", str(n)))
            start_response("200 OK", headers)
            return [body]
        start_response("200 OK", headers)
        return [body[i:i + 65536] for i in range(0, n, 65536)]

    if route == "/env":
        return send_json(start_response, {"value": os.environ.get(q.get("name", ""))})

    if route == "/errors_write":
        err = environ["wsgi.errors"]
        err.write(q.get("msg", "wsgi-errors-marker") + "\n")
        err.flush()
        return send(start_response, "200 OK", b"written")

    if route == "/headers":
        return send(start_response, "200 OK", b"h", extra=[("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"),
                                                            ("X-Custom", "v")])

    if route == "/custom_date":
        return send(start_response, "200 OK", b"d", extra=[("Date", "Tue, 01 Jan 2030 00:00:00 GMT")])

    if route == "/die":
        os._exit(7)

    if route == "/return_none":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return None

    if route == "/return_str":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return "a str, not an iterable of bytes"

    if route == "/connection_close":
        return send(start_response, "200 OK", b"bye", extra=[("Connection", "close")])

    body = ("ok path=%s" % path).encode("latin-1", "replace")
    return send(start_response, "200 OK", body)


app = application


def create_app(*args, **kwargs):
    """Factory: ``app:create_app()`` or ``app:create_app('x', n=1)``."""

    def factory_app(environ, start_response):
        return send_json(start_response, {"factory": True, "args": list(args), "kwargs": kwargs})

    return factory_app


def strict_factory(name):
    """A factory taking exactly one argument (for the exit-4 test)."""
    return application
