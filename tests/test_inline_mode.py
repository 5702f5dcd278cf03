"""Inline mode (--threads 1, the default) and clients that are slow on either side.

The application runs on the worker's event-loop thread, so nothing may wait for one
client there:

* a response that gets more than the 1 MiB write budget ahead of its client is
  suspended (the server stops pulling from the iterable) and resumed as the client
  reads, while the loop serves everybody else;
* a request body is read whole before the application is called, beyond 1 MiB into
  an unlinked temporary file in $TMPDIR.

Each test checks what a user relies on: other clients are answered meanwhile, every
byte arrives intact and in order, the connection stays in step for the next request,
close() is called on the iterable in every case (client gone, worker stopping), hooks
and the access log see the whole response, and no spool file is left with a name.

One worker per server (``-w 1``), so "other clients are answered" means by the
worker that holds the slow client. Application: tests/apps/inline_app.py.
Runtime: about 20 s.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import textwrap
import time

import pytest

from conftest import wait_for
from rawhttp import RawConnection, build_request, chunked
from test_hostile_clients import Prober, assert_same_worker, only_worker, ping, small_rcvbuf_socket

from apps.inline_app import pattern

APP = "inline_app:app"
MIB = 1 << 20
BOUND = 15.0


def expected_sha(n: int) -> str:
    h = hashlib.sha256()
    for b in pattern(n):
        h.update(b)
    return h.hexdigest()


def upload_body(n: int) -> bytes:
    return b"".join(pattern(n))


def read_head(s: socket.socket, buf: bytearray) -> tuple:
    while b"\r\n\r\n" not in buf:
        data = s.recv(65536)
        assert data, "connection closed before a response head; got %r" % bytes(buf[:200])
        buf += data
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower().decode()] = v.strip().decode()
    return int(lines[0].split()[1]), headers, bytearray(rest)


def read_cl_response(s: socket.socket) -> tuple:
    """(status, headers, sha256 of the body, body length) of one Content-Length response."""
    status, headers, rest = read_head(s, bytearray())
    total = int(headers["content-length"])
    h = hashlib.sha256(rest[:total])
    got = min(len(rest), total)
    while got < total:
        data = s.recv(min(MIB, total - got))
        assert data, "connection closed after %d of %d body bytes" % (got, total)
        h.update(data)
        got += len(data)
    return status, headers, h.hexdigest(), got


def ping_same_connection(s: socket.socket):
    s.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, rest = read_head(s, bytearray())
    while len(rest) < 4:
        rest += s.recv(16)
    assert (status, bytes(rest)) == (200, b"pong")


# -- large responses to slow readers --------------------------------------------------------------

@pytest.mark.parametrize("route", ["gen", "list"])
def test_slow_reader_of_large_response_keeps_serving_then_gets_every_byte(server_factory, route):
    """48 MiB (a generator, or a list: the fast path) to a client that reads nothing for
    2.5 s: the probe is answered meanwhile; then the client reads every byte in order,
    and the next request on its connection is answered."""
    srv = server_factory(APP, "-w", "1", "--timeout", "10")
    pid = only_worker(srv)
    n = 48 * MIB
    s = small_rcvbuf_socket(srv.port)
    try:
        s.sendall(b"GET /%s?n=%d&id=slow HTTP/1.1\r\nHost: x\r\n\r\n" % (route.encode(), n))
        time.sleep(0.3)
        with Prober(srv.port) as probe:
            probe.run_for(2.5)
        probe.check("a slow reader of a %d-byte %s response" % (n, route))
        s.settimeout(BOUND)
        status, _, sha, got = read_cl_response(s)
        assert (status, got) == (200, n)
        assert sha == expected_sha(n), "the body differs from what the app produced"
        ping_same_connection(s)
    finally:
        s.close()
    if route == "gen":
        wait_for(lambda: (srv.mark_dir / "closed-slow").exists(), timeout=5, what="close() on the generator")
    assert_same_worker(srv, pid)


def test_large_chunked_response_arrives_whole(server_factory):
    """A generator without Content-Length (chunked framing) past the budget: the chunks
    and the terminator survive the suspensions, and pipelining stays in step."""
    srv = server_factory(APP, "-w", "1")
    n = 12 * MIB + 12345
    with RawConnection(srv.port, timeout=BOUND) as c:
        c.send(build_request("GET", "/chunkedgen?n=%d" % n) + build_request("GET", "/ping"))
        r = c.read_response()
        assert r.status == 200 and r.header("Transfer-Encoding") == "chunked"
        assert hashlib.sha256(r.body).hexdigest() == expected_sha(n)
        r2 = c.read_response()
        assert r2.status == 200 and r2.body == b"pong"


@pytest.mark.parametrize("threads", ["1", "4"])
@pytest.mark.parametrize("via", ["iter", "write"])
def test_streamed_block_is_sent_before_the_next_is_produced(server_factory, via, threads):
    """Small responses are queued and written after the loop has run the other ready
    requests; that must never hold back a streamed block while the application works
    on the next one (PEP 3333). The app sends "first", then blocks (the loop itself in
    inline mode, its thread with --threads) until the client, having received it,
    creates a marker file."""
    srv = server_factory(APP, "-w", "1", "--threads", threads)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=BOUND) as s:
        s.sendall(b"GET /stream?id=%s&via=%s HTTP/1.1\r\nHost: x\r\n\r\n" % (via.encode(), via.encode()))
        buf = bytearray()
        deadline = time.monotonic() + BOUND
        while b"first" not in buf:
            assert time.monotonic() < deadline, "the first block never arrived"
            data = s.recv(4096)
            assert data, "closed before the first block: %r" % bytes(buf)
            buf += data
        (srv.mark_dir / ("go-" + via)).write_text("go")
        while b"0\r\n\r\n" not in buf:
            data = s.recv(4096)
            assert data, "closed before the end of the response: %r" % bytes(buf)
            buf += data
    assert b"second:yes" in buf, "the app never saw the client receive the first block: %r" % bytes(buf)
    assert ping(srv.port).endswith(b"pong")


@pytest.mark.parametrize("threads", ["1", "2"])
def test_response_of_a_slow_app_is_not_held_for_the_other_ready_requests(server_factory, threads):
    """Small responses are corked until the loop has run the other ready requests, but
    only after a fast app: three requests for a 400 ms app arrive together, and the
    first answer reaches its client before the third app call has finished (with two
    threads the third starts only when one of the first two is done)."""
    srv = server_factory(APP, "-w", "1", "--threads", threads)
    conns = [socket.create_connection(("127.0.0.1", srv.port), timeout=BOUND) for _ in range(3)]
    try:
        for i, s in enumerate(conns):
            s.sendall(b"GET /slow?id=%d&ms=400 HTTP/1.1\r\nHost: x\r\n\r\n" % i)
        first = None
        deadline = time.monotonic() + BOUND
        while first is None:
            assert time.monotonic() < deadline, "no response"
            for s in conns:
                s.settimeout(0.01)
                try:
                    data = s.recv(4096)
                except socket.timeout:
                    continue
                assert data.startswith(b"HTTP/1.1 200"), data
                first = data
                break
        done = sorted(p.name for p in srv.mark_dir.glob("done-*"))
        assert len(done) < 3, "the first response waited for every app call: %r" % done
    finally:
        for s in conns:
            s.close()


def test_close_called_and_iteration_stopped_when_slow_reader_goes_away(server_factory):
    """A client reads 1 MiB of 256 MiB and disconnects: the worker notices on its next
    write, calls close() on the iterable, and never pulls the rest from it (a suspended
    response costs at most the write budget, not the whole body)."""
    srv = server_factory(APP, "-w", "1")
    pid = only_worker(srv)
    s = small_rcvbuf_socket(srv.port, rcvbuf=65536)
    try:
        s.sendall(b"GET /gen?n=%d&id=gone HTTP/1.1\r\nHost: x\r\n\r\n" % (256 * MIB))
        got = 0
        while got < MIB:
            data = s.recv(65536)
            assert data
            got += len(data)
    finally:
        s.close()  # unread data: the kernel answers the server's next write with a reset
    wait_for(lambda: (srv.mark_dir / "closed-gone").exists(), timeout=BOUND,
             what="close() after the client went away")
    assert not (srv.mark_dir / "sent-gone").exists(), "the whole body was produced for a client that left"
    assert ping(srv.port).endswith(b"pong")
    assert_same_worker(srv, pid)


def test_close_called_when_worker_stops_mid_response(server_factory):
    """The worker is told to stop (TERM) while a response waits for a client that does
    not read: after --graceful-timeout the worker exits, and close() has been called."""
    srv = server_factory(APP, "-w", "1", "--graceful-timeout", "1")
    pid = only_worker(srv)
    s = small_rcvbuf_socket(srv.port)
    try:
        s.sendall(b"GET /gen?n=%d&id=stopping HTTP/1.1\r\nHost: x\r\n\r\n" % (64 * MIB))
        time.sleep(0.5)
        assert not (srv.mark_dir / "closed-stopping").exists()
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: (srv.mark_dir / "closed-stopping").exists(), timeout=BOUND,
                 what="close() when the worker stopped mid-response")
        assert not (srv.mark_dir / "sent-stopping").exists()
    finally:
        s.close()


HOOK_CONF = textwrap.dedent(
    '''
    import json, os

    def post_request(worker, req, environ, resp):
        with open(os.environ["HOOK_OUT"], "a") as f:
            f.write(json.dumps({"path": req.path, "code": resp.status_code, "sent": resp.sent}) + "\\n")
    '''
)


def test_post_request_and_access_log_see_the_whole_suspended_response(server_factory, tmp_path):
    conf = tmp_path / "conf.py"
    conf.write_text(HOOK_CONF)
    out = tmp_path / "hook.jsonl"
    access = tmp_path / "access.log"
    srv = server_factory(APP, "-w", "1", "-c", str(conf), "--access-logfile", str(access),
                         "--access-logformat", "%(r)s %(s)s %(B)s", env={"HOOK_OUT": str(out)})
    n = 8 * MIB + 1
    s = small_rcvbuf_socket(srv.port)
    try:
        s.sendall(b"GET /gen?n=%d&id=hooked HTTP/1.1\r\nHost: x\r\n\r\n" % n)
        time.sleep(0.5)  # let it suspend at least once
        s.settimeout(BOUND)
        status, _, sha, got = read_cl_response(s)
        assert (status, got, sha) == (200, n, expected_sha(n))
    finally:
        s.close()
    wait_for(lambda: out.exists() and out.read_text().strip(), what="post_request")
    (note,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert note == {"path": "/gen", "code": 200, "sent": n}
    line = wait_for(lambda: [x for x in access.read_text().splitlines() if "/gen" in x] if access.exists() else [],
                    what="the access log line")
    assert line == ["GET /gen?n=%d&id=hooked HTTP/1.1 200 %d" % (n, n)]


# -- request bodies are read whole first ----------------------------------------------------------

def spool_links(pid: int, directory: str) -> list:
    out = []
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith(directory):
            out.append(link)
    return out


def test_slow_large_body_is_spooled_while_others_are_served(server_factory, tmp_path):
    """3 MB that arrive slowly: the first 1.5 MB at once, then 4 KiB every 0.2 s. The
    probe is answered meanwhile (the app is not waiting on the socket); the body is in
    an unlinked file in $TMPDIR (no name in the directory); then the rest arrives, the
    app reads every byte, the next request on the connection is answered, and the
    file is gone."""
    spool = tmp_path / "spool"
    spool.mkdir()
    srv = server_factory(APP, "-w", "1", "--body-timeout", "5", env={"TMPDIR": str(spool)})
    pid = only_worker(srv)
    n = 3_000_000
    body = upload_body(n)
    first = 1_500_000
    with RawConnection(srv.port, timeout=BOUND) as c:
        c.send(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % n + body[:first])
        sent = first
        with Prober(srv.port) as probe:
            t0 = time.monotonic()
            while time.monotonic() - t0 < 2.0:
                c.send(body[sent:sent + 4096])
                sent += 4096
                time.sleep(0.2)
            links = spool_links(pid, str(spool))
            names = os.listdir(spool)
        probe.check("a slow spooled body")
        assert len(links) == 1 and links[0].endswith("(deleted)"), links
        assert names == [], "the spool file has a name: %r" % names
        c.send(body[sent:] + build_request("GET", "/ping"))
        r = c.read_response()
        assert r.status == 200 and r.json() == {"len": n, "sha256": hashlib.sha256(body).hexdigest()}
        assert c.read_response().body == b"pong"
    assert spool_links(pid, str(spool)) == []
    assert_same_worker(srv, pid)


@pytest.mark.parametrize("route", ["readall", "readmix", "upload"])
@pytest.mark.parametrize("n", [5000, 200_000, MIB])
def test_in_memory_bodies_arrive_intact_with_a_pipelined_request(server_factory, route, n):
    """Bodies larger than the first read and up to the in-memory limit are read straight
    into one bytes object: read() of all of it, partial reads and readline() all see the
    exact bytes, and a request sent in the same packet right after the body is answered."""
    srv = server_factory(APP, "-w", "1")
    body = bytes((i * 7 + 3) % 256 for i in range(n - 1)) + b"\n"
    with RawConnection(srv.port, timeout=BOUND) as c:
        c.send(b"POST /%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (route.encode(), n)
               + body + build_request("GET", "/ping"))
        r = c.read_response()
        assert r.status == 200
        got = r.json()
        assert (got["len"], got["sha256"]) == (n, hashlib.sha256(body).hexdigest())
        assert c.read_response().body == b"pong"


@pytest.mark.parametrize("kind", ["chunked", "expect_continue", "chunked_expect_continue"])
def test_large_bodies_read_whole_then_pipelined_request(server_factory, kind):
    """3 MB bodies, chunked and/or behind Expect: 100-continue: the app sees every byte,
    and a request pipelined right after the body is answered next."""
    srv = server_factory(APP, "-w", "1")
    n = 3 * MIB + 7
    body = upload_body(n)
    want = {"len": n, "sha256": hashlib.sha256(body).hexdigest()}
    expect = kind.endswith("expect_continue")
    head = b"POST /upload HTTP/1.1\r\nHost: x\r\n" + (b"Expect: 100-continue\r\n" if expect else b"")
    if kind.startswith("chunked"):
        head += b"Transfer-Encoding: chunked\r\n\r\n"
        payload = chunked(*[body[i:i + 100_000] for i in range(0, n, 100_000)])
    else:
        head += b"Content-Length: %d\r\n\r\n" % n
        payload = body
    with RawConnection(srv.port, timeout=BOUND) as c:
        c.send(head)
        if expect:
            interim = c.read_response()
            assert interim.status == 100
        c.send(payload + build_request("GET", "/ping"))
        r = c.read_response()
        assert r.status == 200 and r.json() == want, r
        r2 = c.read_response()
        assert r2.status == 200 and r2.body == b"pong"


def test_chunked_body_over_limit_while_spooling_is_413(server_factory):
    """--limit-request-body still applies to a chunked body that is being spooled."""
    srv = server_factory(APP, "-w", "1", "--limit-request-body", "2000000")
    body = upload_body(3 * MIB)
    with RawConnection(srv.port, timeout=BOUND) as c:
        c.send(b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for i in range(0, len(body), 100_000):
            if not c.send(b"%x\r\n%s\r\n" % (len(body[i:i + 100_000]), body[i:i + 100_000])):
                break
        r = c.read_response()
        assert r.status == 413
        closed, _ = c.is_closed(BOUND)
        assert closed
    assert ping(srv.port).endswith(b"pong")
