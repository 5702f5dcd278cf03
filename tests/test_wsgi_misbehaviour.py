"""A randomised test of the WSGI bridge against misbehaving applications.

Each request ``GET /m?seed=N`` makes tests/apps/misbehave_app.py break the
WSGI contract in one way chosen from N (bad status lines and headers,
non-bytes items, exceptions at every step, lying Content-Length, write() at
the wrong time...). The test rebuilds the same plan from N and checks the
answer with a strict raw-socket reader:

* always a well-formed HTTP/1.1 response (status line, header fields, body
  consistent with its framing), or a well-formed prefix of one followed by
  the connection closing - never garbage, never a hang;
* a 500 when the failure happened before anything could be sent;
* the planned response when the app did nothing wrong that matters;
* after a complete response on a kept-alive connection, the next request on
  it is answered cleanly (nothing left over from the previous response);
* tracebacks and exception messages in the error log, never on the wire;
* after every request, the same single worker answers a new connection.

FERRICORN_MISBEHAVE_SEED (default 20261125) picks the run; a failure prints
the seed of the request, and FERRICORN_MISBEHAVE_ONLY=N replays just that one.
FERRICORN_MISBEHAVE_COUNT sets the number of requests per dispatch mode.
"""

from __future__ import annotations

import os
import random
import re
import socket
import time

import pytest

from apps import misbehave_app as mb
from conftest import wait_for
from rawhttp import build_request

BASE_SEED = int(os.environ.get("FERRICORN_MISBEHAVE_SEED", "20261125"))
COUNT = int(os.environ.get("FERRICORN_MISBEHAVE_COUNT", "250"))
ONLY = os.environ.get("FERRICORN_MISBEHAVE_ONLY")
TIME_BUDGET = float(os.environ.get("FERRICORN_MISBEHAVE_BUDGET", "25"))
IO_TIMEOUT = 5.0

# Bytes that must never reach a client.
FORBIDDEN = [b"MB-SECRET", b"Traceback", b"STALE-GARBAGE", b"LEAK-AFTER-RETURN", b"INJECTED",
             b"X-Injected", b"NOT-RERAISED"]

STATUS_LINE = re.compile(rb"^HTTP/1\.[01] ([0-9]{3}) ([\t \x21-\x7e\x80-\xff]*)$")
TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
FIELD_VALUE = re.compile(rb"^[\t \x21-\x7e\x80-\xff]*$")


class Garbage(AssertionError):
    """Bytes on the wire that are not (a prefix of) a well-formed response."""


class Hang(AssertionError):
    """The server neither finished the response nor closed the connection."""


class Reader:
    """Strict reader of one connection's responses."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.eof = False
        self.wire = bytearray()  # every byte received, for the forbidden-bytes check

    def fill(self, deadline) -> bool:
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            raise Hang("no progress within %.0fs; buffer %r" % (IO_TIMEOUT, bytes(self.buf[:200])))
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(1 << 20)
        except socket.timeout:
            raise Hang("no progress within %.0fs; buffer %r" % (IO_TIMEOUT, bytes(self.buf[:200]))) from None
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        self.wire += data
        return True

    def need(self, n, deadline) -> bool:
        while len(self.buf) < n:
            if not self.fill(deadline):
                return False
        return True

    def line(self, deadline):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                out = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return out
            if b"\n" in self.buf:
                raise Garbage("bare LF in %r" % bytes(self.buf[:200]))
            if not self.fill(deadline):
                return None

    def response(self, method="GET"):
        """One response: dict(status, reason, headers, body, complete, closes, framing);
        None when the connection closed before any byte."""
        deadline = time.monotonic() + IO_TIMEOUT
        while b"\r\n\r\n" not in self.buf:
            if not self.fill(deadline):
                if not self.buf:
                    return None
                raise Garbage("connection closed inside a response head: %r" % bytes(self.buf[:300]))
            deadline = time.monotonic() + IO_TIMEOUT
        end = self.buf.index(b"\r\n\r\n")
        head = bytes(self.buf[:end])
        del self.buf[:end + 4]
        lines = head.split(b"\r\n")
        m = STATUS_LINE.match(lines[0])
        if not m:
            raise Garbage("bad status line %r" % lines[0])
        status = int(m.group(1))
        headers = []
        for ln in lines[1:]:
            name, sep, value = ln.partition(b":")
            if not sep or not TOKEN.match(name):
                raise Garbage("bad header line %r" % ln)
            value = value.strip(b" \t")
            if not FIELD_VALUE.match(value) or b"\n" in ln or b"\r" in ln:
                raise Garbage("bad header value %r" % ln)
            headers.append((name.decode("latin-1").lower(), value))
        names = [n for n, _ in headers]
        cls = [v for n, v in headers if n == "content-length"]
        tes = [v for n, v in headers if n == "transfer-encoding"]
        conn = b",".join(v for n, v in headers if n == "connection").lower()
        closes = b"close" in [t.strip() for t in conn.split(b",")]
        if len(cls) > 1:
            raise Garbage("%d Content-Length fields: %r" % (len(cls), cls))
        if cls and tes:
            raise Garbage("both Content-Length and Transfer-Encoding")
        if cls and not re.fullmatch(rb"[0-9]+", cls[0]):
            raise Garbage("bad Content-Length %r" % cls[0])
        if names.count("date") > 1 or names.count("server") > 1:
            raise Garbage("repeated Date/Server: %r" % names)
        r = {"status": status, "reason": m.group(2), "headers": headers, "body": b"", "complete": True,
             "closes": closes, "framing": None}
        body = bytearray()
        deadline = time.monotonic() + IO_TIMEOUT
        if method == "HEAD" or 100 <= status < 200 or status in (204, 304):
            r["framing"] = "none"
            if status in (204, 304) and (cls or tes):
                if tes:
                    raise Garbage("Transfer-Encoding on a %d" % status)
            return r
        if tes:
            r["framing"] = "chunked"
            if b",".join(tes).replace(b" ", b"").lower() != b"chunked":
                raise Garbage("unexpected Transfer-Encoding %r" % tes)
            while True:
                size_line = self.line(deadline)
                if size_line is None:
                    r["complete"] = False
                    break
                if not re.fullmatch(rb"[0-9a-fA-F]{1,16}", size_line):
                    raise Garbage("bad chunk size line %r" % size_line[:100])
                size = int(size_line, 16)
                if size == 0:
                    trailer = self.line(deadline)
                    if trailer is None:
                        r["complete"] = False
                    elif trailer != b"":
                        raise Garbage("unexpected trailer %r" % trailer[:100])
                    break
                if not self.need(size + 2, deadline):
                    body += self.buf[:size]
                    del self.buf[:]
                    r["complete"] = False
                    break
                if self.buf[size:size + 2] != b"\r\n":
                    raise Garbage("chunk not followed by CRLF: %r" % bytes(self.buf[size:size + 10]))
                body += self.buf[:size]
                del self.buf[:size + 2]
                deadline = time.monotonic() + IO_TIMEOUT
        elif cls:
            r["framing"] = "length"
            n = int(cls[0])
            while len(self.buf) < n:
                if not self.fill(deadline):
                    break
                deadline = time.monotonic() + IO_TIMEOUT
            take = min(n, len(self.buf))
            body += self.buf[:take]
            del self.buf[:take]
            r["complete"] = take == n
        else:
            r["framing"] = "close"
            while self.fill(deadline):
                deadline = time.monotonic() + IO_TIMEOUT
            body += self.buf
            del self.buf[:]
            r["closes"] = True
        r["body"] = bytes(body)
        return r

    def expect_close(self):
        """The server must close now, sending nothing more."""
        deadline = time.monotonic() + IO_TIMEOUT
        while self.fill(deadline):
            pass
        if self.buf:
            raise Garbage("bytes after the end of the response: %r" % bytes(self.buf[:300]))


FOLLOW_UP = b"GET /pid HTTP/1.1\r\nHost: x\r\n\r\n"


def request_bytes(p):
    method, version = p["method"], p["version"]
    body = b""
    headers = []
    if method == "POST":
        body = b"p" * p["post_size"]
        headers.append(("Content-Type", "application/octet-stream"))
        if p["expect100"] and version == "HTTP/1.1":
            headers.append(("Expect", "100-continue"))
    if version == "HTTP/1.0" and p["keepalive10"]:
        headers.append(("Connection", "keep-alive"))
    raw = build_request(method, "/m?seed=%d" % p["seed"], headers=headers, body=body, version=version,
                        content_length=(method == "POST"))
    return raw + (FOLLOW_UP if p["pipelined"] else b"")


def fetch_pid(port) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as s:
        s.sendall(b"GET /pid HTTP/1.1\r\nHost: x\r\n\r\n")
        rd = Reader(s)
        r = rd.response()
        assert r is not None and r["status"] == 200 and r["complete"], r
        return int(r["body"])


def check_one(port, p, worker_pid):
    """Runs plan ``p`` against the server; raises AssertionError with a reason."""
    cls = mb.expectation(p)
    planned = mb.planned_body(p)
    f = p["fault"]
    if f == "cl_short":
        planned = planned[:len(planned) - p["delta"]]
    elif f == "cl_zero_with_body":
        planned = b""
    head_only = p["method"] == "HEAD" or (cls == "ok" and mb.planned_code(p) in (204, 304))
    expect_body = b"" if head_only else planned

    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            s.sendall(request_bytes(p))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer (500) and close before reading a large body
        rd = Reader(s)
        try:
            r = rd.response(p["method"])
            if r is not None and r["status"] == 100:
                # Expect: 100-continue answered: the final response follows.
                assert p["method"] == "POST" and p["expect100"], "unexpected 100 Continue"
                r = rd.response(p["method"])
            if r is None:
                # A closed connection without a byte: only acceptable when the head may
                # legitimately have been abandoned.
                assert cls in ("pre_or_post", "any"), "connection closed without a response"
                return "closed"
            code, body = r["status"], r["body"]

            # A 500 from the server (not the app's own planned "500 Oops").
            server_error = code == 500 and not (mb.planned_code(p) == 500 and r["reason"].strip() == b"Oops")
            if cls == "pre":
                assert server_error, "expected a 500, got %d %r" % (code, r["reason"])
            if server_error and cls in ("pre", "pre_or_post", "either", "any"):
                assert r["complete"], "incomplete 500 response"
                assert r["framing"] in ("length", "none"), r["framing"]
                outcome = "500"
            elif cls in ("ok", "ok_truncated", "ok_or_extra", "either"):
                assert code == mb.planned_code(p), "status %d, planned %d" % (code, mb.planned_code(p))
                assert r["complete"], "incomplete response (%d of %d body bytes)" % (len(body), len(expect_body))
                if cls == "ok_or_extra" and not head_only:
                    assert body in (planned, planned + mb.EXTRA), "body differs from the planned one"
                else:
                    assert body == expect_body, "body differs: %d bytes, planned %d" % (len(body), len(expect_body))
                outcome = "ok"
            elif cls == "pre_or_post":
                assert code == mb.planned_code(p), "status %d, planned %d" % (code, mb.planned_code(p))
                assert expect_body.startswith(body), "body is not a prefix of the planned body"
                if r["complete"] and r["framing"] in ("length", "chunked"):
                    # A failed body must not look complete: the client would take a
                    # truncated response for the whole one.
                    assert body == expect_body, "the response of a failed body looks complete (%s, %d of %d bytes)" \
                        % (r["framing"], len(body), len(expect_body))
                outcome = "complete" if r["complete"] else "aborted"
            else:  # any
                outcome = "complete" if r["complete"] else "aborted"

            if not r["complete"]:
                assert rd.eof, "incomplete response but the connection is open"
                return outcome
            if f == "hdr_connection_close":
                assert r["closes"], "the app's Connection: close was not honoured"
            kept_alive_10 = any(n == "connection" and v.lower() == b"keep-alive" for n, v in r["headers"])
            if r["closes"] or (p["version"] == "HTTP/1.0" and not kept_alive_10):
                rd.expect_close()
                return outcome
            if p["version"] == "HTTP/1.0":
                assert p["keepalive10"], "keep-alive on an HTTP/1.0 connection that did not ask for it"
            # The connection is kept: the next request on it must be answered cleanly.
            if not p["pipelined"]:
                try:
                    s.sendall(FOLLOW_UP)
                except (BrokenPipeError, ConnectionResetError):
                    pass
            nxt = rd.response()
            if nxt is None:
                # The server closed after all (allowed after an error, or after a
                # request body too large to drain) - never for a clean response.
                unread_big_body = p["method"] == "POST" and not p["read_body"] and p["post_size"] > 65536
                assert outcome != "ok" or unread_big_body, \
                    "connection closed after a complete keep-alive response"
                return outcome
            assert nxt["status"] == 200 and nxt["complete"] and nxt["body"] == str(worker_pid).encode(), \
                "follow-up request on the same connection: %r" % nxt
            return outcome
        finally:
            for bad in FORBIDDEN:
                assert bad not in rd.wire, "%r on the wire: %r" % (bad, bytes(rd.wire[:400]))


def seeds_for(mode_offset):
    if ONLY:
        return [int(x) for x in ONLY.split(",")]
    rnd = random.Random(BASE_SEED + mode_offset)
    return [rnd.randrange(1, 10**9) for _ in range(COUNT)]


@pytest.fixture(scope="module", params=["inline", "threads"])
def srv(request, module_server_factory):
    args = ["-w", "1"] + (["--threads", "4"] if request.param == "threads" else [])
    s = module_server_factory("misbehave_app:app", *args)
    s.mode = request.param
    return s


@pytest.mark.timeout(90)
def test_random_misbehaving_apps(srv):
    worker = fetch_pid(srv.port)
    boots = len(srv.worker_pids())
    failures = []
    outcomes = {}
    secrets = []
    start = time.monotonic()
    seeds = seeds_for(0 if srv.mode == "inline" else 1)
    done = 0
    for seed in seeds:
        if time.monotonic() - start > TIME_BUDGET:
            break
        p = mb.make_plan(seed)
        try:
            out = check_one(srv.port, p, worker)
            outcomes[out] = outcomes.get(out, 0) + 1
        except AssertionError as e:
            failures.append("seed %d (fault=%s, class=%s, %s %s, result=%s lazy=%s write=%s cl=%s sizes=%s): %s"
                            % (seed, p["fault"], mb.expectation(p), p["method"], p["version"], p["result"],
                               p["lazy"], p["use_write"], p["cl"], p["sizes"][:5], str(e)[:300]))
        done += 1
        # The worker survived: a new connection is answered by the same process.
        try:
            pid = fetch_pid(srv.port)
        except (AssertionError, OSError) as e:
            pid = "no answer: %r" % e
        if pid != worker:
            failures.append("seed %d (fault=%s): worker %d gone, /pid answered %r"
                            % (seed, p["fault"], worker, pid))
            break
        if p["fault"] in ("raise_call", "raise_after_start", "raise_next_k", "raise_close"):
            secrets.append("MB-SECRET-%d" % seed)
    assert not failures, "%d of %d requests misbehaved (mode %s):\n%s" % (
        len(failures), done, srv.mode, "\n".join(failures[:int(os.environ.get("FERRICORN_MISBEHAVE_SHOW", "25"))]))
    assert done >= min(len(seeds), 50), "only %d requests in the time budget" % done
    assert len(srv.worker_pids()) == boots, "a worker was replaced"
    # The application's exceptions went to the error log.
    if secrets:
        srv.wait_for_log(re.escape(secrets[-1]), timeout=5)
        log = srv.stderr()
        missing = [s for s in secrets if s not in log]
        assert not missing, "exceptions missing from the error log: %r" % missing[:5]
        assert "Traceback (most recent call last)" in log
    assert "panicked" not in srv.stderr()
    print("mode %s: %d requests, outcomes %r" % (srv.mode, done, outcomes))


# -- BaseExceptions raised by an application ------------------------------------------------------

BASE_EXC_APP_ROUTES = ["systemexit", "keyboardinterrupt", "generatorexit", "systemexit_in_iter"]


@pytest.mark.parametrize("route", BASE_EXC_APP_ROUTES)
def test_base_exceptions_do_not_kill_the_worker(srv, route):
    """sys.exit(), KeyboardInterrupt or GeneratorExit escaping from a request:
    a 500 (or an aborted response once the head went out), and the worker lives."""
    worker = fetch_pid(srv.port)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=IO_TIMEOUT) as s:
        s.sendall(b"GET /base/%s HTTP/1.1\r\nHost: x\r\n\r\n" % route.encode())
        rd = Reader(s)
        r = rd.response()
    assert b"MB-SECRET" not in rd.wire and b"Traceback" not in rd.wire, bytes(rd.wire[:300])
    if route.endswith("_in_iter"):
        assert r is None or r["status"] == 200 and not r["complete"] or r["status"] == 500, r
    else:
        assert r is not None and r["status"] == 500, r
    wait_for(lambda: _pid_or_none(srv.port) is not None, timeout=10, what="an answer after %s" % route)
    assert fetch_pid(srv.port) == worker, "the worker died from %s" % route


def _pid_or_none(port):
    try:
        return fetch_pid(port)
    except (AssertionError, OSError):
        return None


# -- the traceback of an application exception reaches the error log ------------------------------

def find_seed(pred, start=1):
    for seed in range(start, start + 200000):
        p = mb.make_plan(seed)
        if pred(p):
            return seed
    raise AssertionError("no seed matches")


# where the exception is raised -> (plan fault, the function whose frame the traceback must show)
RAISE_POINTS = {
    "app_call": ("raise_call", "in application"),
    "iterator_next": ("raise_next_k", "in item_at"),
    "iterator_creation": ("raise_iter_create", "in __iter__"),
    "close": ("raise_close", "in close"),
}


@pytest.mark.parametrize("where", list(RAISE_POINTS))
def test_traceback_of_app_exception_in_error_log(srv, where):
    fault, frame = RAISE_POINTS[where]
    seed = find_seed(lambda p: p["fault"] == fault and p["method"] == "GET" and p["version"] == "HTTP/1.1"
                     and p["k"] == 0 and not p["use_write"])
    with socket.create_connection(("127.0.0.1", srv.port), timeout=IO_TIMEOUT) as s:
        s.sendall(b"GET /m?seed=%d HTTP/1.1\r\nHost: x\r\n\r\n" % seed)
        rd = Reader(s)
        rd.response()
    marker = "MB-SECRET-%d" % seed
    srv.wait_for_log(re.escape(marker), timeout=5)
    log = srv.stderr()
    # The log entry: from "Error handling request /m?seed=N" to the next log line.
    m = re.search(r"Error handling request /m\?seed=%d\n(.*?)(?=^\[\d{4}-|\Z)" % seed, log, re.S | re.M)
    assert m, log[-2000:]
    entry = m.group(1)
    assert "Traceback (most recent call last)" in entry, "no traceback, only:\n" + entry
    assert "misbehave_app.py" in entry and frame in entry, entry
    assert marker in entry
