"""Slow and hostile clients: while each attack runs, a well-behaved client keeps
being answered, and the attack is ended by the timeout that matches it.

Attacks: slowloris (a head one byte at a time), slow bodies (buffered and
streamed), slow readers (a response the client never reads), 10 000 idle
connections, a connect/close storm, and many pipelined requests the client
never reads the answers to. ``--worker-connections`` caps the connections of a
worker: at the cap the worker stops accepting (new clients wait in the kernel's
backlog) instead of buffering without bound.

Every server here has ONE worker (``-w 1``), so "a normal client keeps being
answered" means the attacked worker itself answers it, not a sibling.

The probe (``Prober``) opens a fresh connection for each ``GET /ping`` every
0.1 s and gives each exchange PROBE_TIMEOUT seconds: a generous bound for a
request that normally takes a millisecond, short enough to notice a worker
that is blocked for the length of a timeout.

Timeouts that cannot be made short are only waited for with
FERRICORN_SLOW_TESTS=1: the write timeout for a client that does not read is
max(--timeout, 30) s (src/worker/mod.rs ``write_timeout``) and no setting
shortens it. The default run checks the same attacks for the "keeps serving"
and "bounded" halves only.

Application: tests/apps/hostile_app.py.
"""

from __future__ import annotations

import os
import re
import resource
import select
import socket
import threading
import time

import pytest

from conftest import wait_for
from rawhttp import RawConnection, build_request

APP = "hostile_app:app"
PROBE_TIMEOUT = 3.0
BOUND = 15.0  # generous upper bound for "the server eventually closed it"
SLOW = os.environ.get("FERRICORN_SLOW_TESTS") == "1"
slow_only = pytest.mark.skipif(not SLOW, reason="waits for the 30 s write timeout; set FERRICORN_SLOW_TESTS=1")

# The write timeout for a client that stops reading: max(--timeout, 30) s.
WRITE_TIMEOUT = 30.0


# -- helpers --------------------------------------------------------------------------------------

def status_of(data: bytes) -> int | None:
    m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    return int(m.group(1)) if m else None


def vm_rss_kib(pid: int) -> int:
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def fd_count(pid: int) -> int:
    return len(os.listdir("/proc/%d/fd" % pid))


def only_worker(srv) -> int:
    pids = srv.wait_workers(1)
    assert len(pids) == 1, pids
    return pids[0]


def assert_same_worker(srv, pid: int):
    """The worker was not killed and replaced (by the heartbeat timeout, say) during the attack."""
    pids = srv.worker_pids()
    assert pids == [pid], (
        "worker %d was replaced during the attack (workers booted: %r); log tail:\n%s"
        % (pid, pids, srv.stderr()[-2000:]))


def ping(port: int, timeout: float = PROBE_TIMEOUT) -> bytes:
    """One GET /ping on a fresh connection; returns the body or raises."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(b"GET /ping HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data


class Prober:
    """A well-behaved client: ``GET /ping`` on a fresh connection every ``interval``
    seconds, in a thread, while an attack runs. Each exchange must finish within
    ``timeout`` seconds and answer 200 "pong"."""

    def __init__(self, port: int, interval: float = 0.1, timeout: float = PROBE_TIMEOUT):
        self.port = port
        self.interval = interval
        self.timeout = timeout
        self.ok = []        # latencies of answered probes
        self.failures = []  # (seconds since start, what went wrong)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._t0 = 0.0

    def _run(self):
        while not self._stop.is_set():
            t = time.monotonic()
            try:
                data = ping(self.port, self.timeout)
                if status_of(data) == 200 and data.endswith(b"\r\n\r\npong"):
                    self.ok.append(time.monotonic() - t)
                else:
                    self.failures.append((round(t - self._t0, 2), "bad answer %r" % data[:80]))
            except OSError as e:
                self.failures.append((round(t - self._t0, 2), "%s: %s" % (type(e).__name__, e)))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._t0 = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(self.timeout + 5)

    def run_for(self, seconds: float):
        """Let the probe run ``seconds`` (the attack is running meanwhile)."""
        time.sleep(seconds)

    def check(self, what: str, min_ok: int = 5):
        assert not self.failures, "normal client not answered during %s: %d failures, first %r (%d answered)" % (
            what, len(self.failures), self.failures[:3], len(self.ok))
        assert len(self.ok) >= min_ok, "only %d probes answered during %s" % (len(self.ok), what)


def wait_all_closed(socks, bound: float) -> dict:
    """Waits (epoll) until the server has closed every socket in ``socks``.
    Returns {fd: (seconds after the call, first bytes received)}; raises if some stay open."""
    ep = select.epoll()
    by_fd = {}
    for s in socks:
        ep.register(s.fileno(), select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR)
        by_fd[s.fileno()] = s
    t0 = time.monotonic()
    closed = {}
    received = {}
    try:
        while len(closed) < len(by_fd) and time.monotonic() - t0 < bound:
            for fd, _ev in ep.poll(0.5):
                s = by_fd[fd]
                try:
                    data = s.recv(65536, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if data:
                    received[fd] = received.get(fd, b"") + data
                    continue
                closed[fd] = (time.monotonic() - t0, received.get(fd, b"")[:100])
                ep.unregister(fd)
    finally:
        ep.close()
    still_open = len(by_fd) - len(closed)
    assert still_open == 0, "%d of %d connections still open %.0fs later" % (still_open, len(by_fd), bound)
    return closed


def raise_nofile(need: int):
    """Raises this process's soft RLIMIT_NOFILE to at least ``need`` (servers
    started afterwards inherit it), or skips the test."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return soft
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.skip("RLIMIT_NOFILE hard limit %d is below the %d descriptors this test needs" % (hard, need))
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    return need


def small_rcvbuf_socket(port: int, rcvbuf: int = 4096) -> socket.socket:
    """A connected socket whose receive buffer is pinned small (no autotuning),
    so a client that does not read stops the server's writes soon."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    return s


# -- slowloris ------------------------------------------------------------------------------------

def test_slowloris_is_cut_by_header_timeout_while_others_are_served(server_factory):
    """20 clients send a head one byte every 0.2 s: each is closed by
    --header-timeout (2 s) without a 2xx, and the probe is answered meanwhile."""
    srv = server_factory(APP, "-w", "1", "--header-timeout", "2")
    pid = only_worker(srv)
    head = b"GET /ping HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"v" * 20) for i in range(50))
    socks = [socket.create_connection(("127.0.0.1", srv.port), timeout=5) for _ in range(20)]
    started = time.monotonic()
    closed_at = {}
    answers = []  # anything the server said before closing (a 408 at most)
    try:
        with Prober(srv.port) as probe:
            pos = 0
            while len(closed_at) < len(socks) and time.monotonic() - started < BOUND:
                for s in socks:
                    if s.fileno() in closed_at:
                        continue
                    try:
                        s.send(head[pos:pos + 1])
                        r, _, _ = select.select([s], [], [], 0)
                        data = s.recv(4096) if r else None
                    except OSError:
                        data = b""
                    if data == b"":
                        closed_at[s.fileno()] = time.monotonic() - started
                    elif data:
                        answers.append(data)
                pos = min(pos + 1, len(head) - 3)  # never complete the head
                time.sleep(0.2)
        probe.check("slowloris")
    finally:
        for s in socks:
            s.close()
    assert len(closed_at) == len(socks), "%d slowloris connections still open after %.0fs" % (
        len(socks) - len(closed_at), BOUND)
    assert all(status_of(a) in (400, 408) for a in answers), answers[:3]
    assert_same_worker(srv, pid)
    print("slowloris detected after %.2f-%.2f s (--header-timeout 2)" % (min(closed_at.values()),
                                                                         max(closed_at.values())))


# -- slow body ------------------------------------------------------------------------------------

def test_slow_buffered_body_is_cut_by_body_timeout_while_others_are_served(server_factory):
    """Bodies within --body-buffer-size are read by the event loop before the app
    runs: 10 clients that send part of such a body, a little more 1.5 s later,
    then nothing, are closed by --body-timeout (2 s of inactivity), and the
    (inline, single-threaded) worker answers the probe meanwhile."""
    srv = server_factory(APP, "-w", "1", "--body-timeout", "2", "--header-timeout", "5")
    pid = only_worker(srv)
    conns = []
    try:
        with Prober(srv.port) as probe:
            for _ in range(10):
                c = RawConnection(srv.port, timeout=BOUND)
                c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b"a" * 10)
                conns.append(c)
            t0 = time.monotonic()
            probe.run_for(1.5)
            for c in conns:  # some progress, then a gap longer than --body-timeout
                c.send(b"b" * 10)
            probe.run_for(1.5)
            results = [c.is_closed(BOUND) for c in conns]
            elapsed = time.monotonic() - t0
        probe.check("slow buffered bodies")
    finally:
        for c in conns:
            c.close()
    assert all(closed for closed, _ in results), "slow bodies still open %.0fs later" % elapsed
    for _, extra in results:
        assert status_of(extra) in (None, 400, 408), extra[:200]
    assert_same_worker(srv, pid)


def _slow_streamed_body(server_factory, threads: str):
    """A body larger than --body-buffer-size streams: the app reads it through
    wsgi.input. The client sends 1 KiB every 0.3 s (never a gap as long as
    --body-timeout) for 4 s."""
    srv = server_factory(APP, "-w", "1", "--threads", threads, "--body-timeout", "2",
                         "--body-buffer-size", "1024")
    pid = only_worker(srv)
    with RawConnection(srv.port, timeout=BOUND) as c:
        c.send(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + b"a" * 2048)
        time.sleep(0.2)
        with Prober(srv.port) as probe:
            t0 = time.monotonic()
            while time.monotonic() - t0 < 4.0:
                if not c.send(b"b" * 1024):
                    break
                time.sleep(0.3)
        # then it stops sending: --body-timeout ends it
        closed, extra = c.is_closed(BOUND)
        assert closed, "a stalled streamed body was not cut by --body-timeout"
        assert status_of(extra) != 200, extra[:200]
    probe.check("a slow streamed body (--threads %s)" % threads)
    assert_same_worker(srv, pid)


def test_slow_streamed_body_threaded_worker_keeps_serving(server_factory):
    _slow_streamed_body(server_factory, "4")


def test_slow_streamed_body_inline_worker_keeps_serving(server_factory):
    """Inline mode reads (or spools) the whole body before calling the app, so the
    app never waits on the socket on the event-loop thread."""
    _slow_streamed_body(server_factory, "1")


# -- slow reader ----------------------------------------------------------------------------------

def _slow_reader(server_factory, threads: str, size: int, hold: float = 4.0):
    """A client asks for ``size`` bytes and never reads them (receive buffer pinned
    at 4 KiB); the probe is answered while it sits there."""
    srv = server_factory(APP, "-w", "1", "--threads", threads, "--timeout", "10")
    pid = only_worker(srv)
    s = small_rcvbuf_socket(srv.port)
    try:
        s.sendall(b"GET /big?n=%d HTTP/1.1\r\nHost: x\r\n\r\n" % size)
        time.sleep(0.3)
        with Prober(srv.port) as probe:
            probe.run_for(hold)
        probe.check("a slow reader of %d bytes (--threads %s)" % (size, threads))
        assert_same_worker(srv, pid)
    finally:
        s.close()
    return srv


def test_slow_reader_within_write_budget_inline_keeps_serving(server_factory):
    """A response that fits the 1 MiB write budget is finished by the event loop
    (or the kernel's buffers): the inline worker is free for others at once."""
    _slow_reader(server_factory, "1", 1 << 20)


def test_slow_reader_large_response_threaded_keeps_serving(server_factory):
    _slow_reader(server_factory, "4", 64 << 20)


def test_slow_reader_large_response_inline_keeps_serving(server_factory):
    """64 MiB to a client that reads nothing, default (inline) mode. Past the 1 MiB
    write budget the response is suspended (the server stops pulling from the
    generator) and the event loop writes it as the client reads, so the worker
    serves others and its heartbeat goes on (src/wsgi/handler.rs Resume)."""
    _slow_reader(server_factory, "1", 64 << 20)


def worker_gone_or_fds_back(pid: int, fds0: int) -> bool:
    try:
        return fd_count(pid) <= fds0
    except FileNotFoundError:  # the worker died (and assert_same_worker will say so)
        return True


@slow_only
@pytest.mark.timeout(90)
@pytest.mark.parametrize("threads", ["1", "4"])
def test_slow_reader_is_cut_by_write_timeout(server_factory, threads):
    """A client asks for 64 MiB and never reads: its connection is closed after
    the write timeout, max(--timeout, 30) s, and the worker survives it (with
    --timeout 2 the heartbeat would notice a worker blocked for longer).
    "Closed" is seen from the worker's descriptor table: the client cannot see a
    FIN queued behind bytes it does not read."""
    srv = server_factory(APP, "-w", "1", "--threads", threads, "--timeout", "2")
    pid = only_worker(srv)
    ping(srv.port)
    fds0 = fd_count(pid)
    s = small_rcvbuf_socket(srv.port)
    try:
        s.sendall(b"GET /big?n=%d HTTP/1.1\r\nHost: x\r\n\r\n" % (64 << 20))
        wait_for(lambda: fd_count(pid) > fds0, what="the worker to accept the slow reader")
        t0 = time.monotonic()
        wait_for(lambda: worker_gone_or_fds_back(pid, fds0), timeout=WRITE_TIMEOUT + BOUND, interval=0.25,
                 what="the worker to close a connection that never reads")
        print("slow reader cut after %.1f s" % (time.monotonic() - t0))
        assert_same_worker(srv, pid)
        assert ping(srv.port).endswith(b"pong")
    finally:
        s.close()


# -- 10 000 idle connections ----------------------------------------------------------------------

IDLE = int(os.environ.get("FERRICORN_IDLE_CONNECTIONS", "10000"))


@pytest.mark.timeout(90)
def test_ten_thousand_idle_connections(server_factory):
    """10 000 idle connections on one worker (--worker-connections above that):
    2 000 kept alive after one request each, 8 000 that never send a byte. The
    worker holds them all, answers the probe meanwhile, and closes every one:
    the kept-alive ones when --keep-alive (3 s) runs out, the silent ones when
    --header-timeout (6 s, counted from accept) does. The worker's RSS growth per
    idle connection is printed (a figure for the benchmark notes) and bounded at
    16 KiB."""
    raise_nofile(IDLE + 1000)
    keep_alive = IDLE // 5
    srv = server_factory(APP, "-w", "1", "--worker-connections", str(IDLE + 2000), "--keep-alive", "3",
                         "--header-timeout", "6", "--backlog", "2048")
    pid = only_worker(srv)
    ping(srv.port)
    rss0, fds0 = vm_rss_kib(pid), fd_count(pid)
    socks = []
    try:
        t0 = time.monotonic()
        for i in range(IDLE):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect(("127.0.0.1", srv.port))
            socks.append(s)
            if i < keep_alive:
                s.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
                data = b""
                while not data.endswith(b"pong"):
                    more = s.recv(4096)
                    assert more, "keep-alive connection %d closed before its response" % i
                    data += more
                assert status_of(data) == 200, data[:100]
            if i == keep_alive - 1:
                wait_for(lambda: fd_count(pid) - fds0 >= keep_alive, timeout=BOUND, interval=0.05,
                         what="the worker to hold the keep-alive connections")
                rss_ka = vm_rss_kib(pid)
        open_s = time.monotonic() - t0
        wait_for(lambda: fd_count(pid) - fds0 >= IDLE, timeout=BOUND, interval=0.1,
                 what=lambda: "the worker to accept %d connections (has %d)" % (IDLE, fd_count(pid) - fds0))
        rss1 = vm_rss_kib(pid)
        with Prober(srv.port) as probe:
            probe.run_for(1.0)
        probe.check("%d idle connections" % IDLE)
        waited_from = time.monotonic()
        closed = wait_all_closed(socks, bound=6 + BOUND)
        last = max(t for t, _ in closed.values()) + waited_from - t0
        assert all(status_of(d) in (None, 408) for _, d in closed.values())
    finally:
        for s in socks:
            s.close()
    wait_for(lambda: fd_count(pid) <= fds0 + 5, timeout=BOUND, what="the worker to release the descriptors")
    assert_same_worker(srv, pid)
    per_ka = (rss_ka - rss0) * 1024 / keep_alive
    per_silent = (rss1 - rss_ka) * 1024 / (IDLE - keep_alive)
    per_conn = (rss1 - rss0) * 1024 / IDLE
    print("%d idle connections opened in %.2f s: worker RSS +%d KiB = %.0f B/connection (%.0f B kept-alive, "
          "%.0f B silent); the last closed %.1f s after the first opened"
          % (IDLE, open_s, rss1 - rss0, per_conn, per_ka, per_silent, last))
    assert per_conn <= 16 * 1024, "an idle connection costs %.0f bytes of worker RSS" % per_conn


@pytest.mark.timeout(60)
@pytest.mark.parametrize("threads", ["1", "4"])
def test_connections_idle_after_large_posts_hold_no_large_buffer(server_factory, threads):
    """Buffers sized for a request's body must not outlive it: 1 000 connections
    left idle after two 40 KiB POSTs each cost no more than idle connections do
    (at most 16 KiB of worker RSS each; ~7 KiB here). A connection buffer that
    kept a body's allocation alive (a split-off body shares it) fails this."""
    n = 1000
    raise_nofile(n + 500)
    srv = server_factory(APP, "-w", "1", "--threads", threads, "--worker-connections", str(n + 500))
    pid = only_worker(srv)
    ping(srv.port)
    body = b"x" * (40 * 1024)
    req = (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
    rss0 = vm_rss_kib(pid)
    socks = []
    try:
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            socks.append(s)
            for _ in range(2):
                s.sendall(req)
                data = b""
                while not data.endswith(b"\r\n\r\n%d" % len(body)):  # /echo answers the length
                    more = s.recv(65536)
                    assert more, "connection %d closed before its response" % i
                    data += more
                assert status_of(data) == 200, data[:100]
        rss1 = vm_rss_kib(pid)
        ping(srv.port)
    finally:
        for s in socks:
            s.close()
    per_conn = (rss1 - rss0) * 1024 / n
    print("%d connections idle after two 40 KiB POSTs: worker RSS +%d KiB = %.0f B/connection"
          % (n, rss1 - rss0, per_conn))
    assert per_conn <= 16 * 1024, "an idle connection after large POSTs costs %.0f bytes" % per_conn
    assert_same_worker(srv, pid)


# -- connect/close storm --------------------------------------------------------------------------

STORM_COUNTS = {}


def _storm(port: int, kind: int, until: float, budget: int, errors: list):
    """One storm thread. kind 0: connect, close; 1: connect, reset (SO_LINGER 0);
    2: half a head, close; 3: a whole request, close without reading."""
    n = 0
    STORM_COUNTS[kind] = 0
    while time.monotonic() < until and n < budget:
        n += 1
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(5)
            s.connect(("127.0.0.1", port))
            if kind == 1:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            elif kind == 2:
                s.sendall(b"GET /ping HTTP/1.1\r\nHo")
            elif kind == 3:
                s.sendall(b"GET /big?n=200000 HTTP/1.1\r\nHost: x\r\n\r\n")
            s.close()
            STORM_COUNTS[kind] += 1
        except OSError as e:
            errors.append("%s: %s" % (type(e).__name__, e))


def test_connect_close_storm(server_factory):
    """4 threads open and drop connections as fast as they can for 3 s (at most
    2 500 each: plain close, reset, half a head, a request never read). The probe
    is answered throughout, the worker survives, and afterwards it holds no more
    descriptors than before (every dropped connection was closed)."""
    srv = server_factory(APP, "-w", "1", "--header-timeout", "3")
    pid = only_worker(srv)
    ping(srv.port)
    fds0 = fd_count(pid)
    errors = []
    with Prober(srv.port, interval=0.02) as probe:
        until = time.monotonic() + 3.0
        threads = [threading.Thread(target=_storm, args=(srv.port, k, until, 2500, errors)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    probe.check("a connect/close storm")
    print("storm: %d connections in %.2f s" % (sum(STORM_COUNTS.values()), time.monotonic() - until + 3.0))
    assert not errors, "%d storm connections failed: %r" % (len(errors), errors[:5])
    wait_for(lambda: fd_count(pid) <= fds0, timeout=BOUND,
             what=lambda: "the worker's descriptors to return to %d (now %d)" % (fds0, fd_count(pid)))
    assert_same_worker(srv, pid)


# -- pipelining without reading -------------------------------------------------------------------

PIPELINED_GET = b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"


def _push_pipelined(sock: socket.socket, stall: float = 1.0, max_seconds: float = 20.0,
                    max_bytes: int = 256 << 20) -> tuple:
    """Sends pipelined GETs without ever reading a response, until the socket
    has taken nothing for ``stall`` seconds (or a cap is hit). Returns (bytes the
    kernel took, whether the sending stalled)."""
    one = PIPELINED_GET
    block = len(one) * 256
    stream = memoryview(one * 512)  # two blocks: any offset into one block + a whole block
    sock.setblocking(False)
    sent = 0
    start = last_progress = time.monotonic()
    while sent < max_bytes and time.monotonic() - start < max_seconds:
        pos = sent % len(one)  # a partial send must be continued, not restarted
        try:
            sent += sock.send(stream[pos:pos + block])
            last_progress = time.monotonic()
        except BlockingIOError:
            if time.monotonic() - last_progress >= stall:
                return sent, True
            select.select([], [sock], [], 0.05)
    return sent, False


def test_pipelined_requests_never_read_are_bounded(server_factory):
    """A client pipelines GET requests and never reads a response. The server
    answers them in order until the responses fill the socket, then stops
    reading more (backpressure): the client's sending stalls after a bounded
    amount, the worker's memory stays flat, and the probe is answered meanwhile."""
    srv = server_factory(APP, "-w", "1")
    pid = only_worker(srv)
    ping(srv.port)
    rss0 = vm_rss_kib(pid)
    s = small_rcvbuf_socket(srv.port)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
    try:
        with Prober(srv.port) as probe:
            sent, stalled = _push_pipelined(s)
            probe.run_for(1.0)
        probe.check("an unread pipeline")
        rss1 = vm_rss_kib(pid)
    finally:
        s.close()
    print("unread pipeline: the server took %d bytes of requests (%d requests), then stopped; worker RSS +%d KiB"
          % (sent, sent // len(PIPELINED_GET), rss1 - rss0))
    assert stalled, "the server kept reading requests whose responses are not read (%d bytes)" % sent
    assert rss1 - rss0 < 16 * 1024, "worker RSS grew by %d KiB" % (rss1 - rss0)
    assert_same_worker(srv, pid)


@slow_only
@pytest.mark.timeout(90)
def test_pipelined_requests_never_read_cut_by_write_timeout(server_factory):
    srv = server_factory(APP, "-w", "1", "--timeout", "2")
    pid = only_worker(srv)
    ping(srv.port)
    fds0 = fd_count(pid)
    s = small_rcvbuf_socket(srv.port)
    try:
        _push_pipelined(s)
        t0 = time.monotonic()
        wait_for(lambda: worker_gone_or_fds_back(pid, fds0), timeout=WRITE_TIMEOUT + BOUND, interval=0.25,
                 what="the worker to close a pipelining connection that never reads")
        print("unread pipeline cut after %.1f s" % (time.monotonic() - t0))
    finally:
        s.close()
    assert_same_worker(srv, pid)


# -- --worker-connections -------------------------------------------------------------------------

def test_worker_connections_caps_and_applies_backpressure(server_factory):
    """-w 1 --worker-connections 10: with 10 connections open, an 11th is not
    served (it waits in the kernel's backlog, not in the worker); it is served
    as soon as one of the 10 closes."""
    srv = server_factory(APP, "-w", "1", "--worker-connections", "10", "--header-timeout", "30",
                         "--keep-alive", "30")
    pid = only_worker(srv)
    ping(srv.port)
    fds0 = fd_count(pid)
    held = []
    try:
        for i in range(10):
            c = RawConnection(srv.port, timeout=5)
            c.send(build_request("GET", "/ping"))
            assert c.read_response().body == b"pong"  # served, then kept alive
            held.append(c)
        with RawConnection(srv.port, timeout=5) as extra:  # connect() succeeds: the kernel queues it
            extra.send(build_request("GET", "/ping"))
            assert extra.read_available(1.5) == b"", "the worker served an 11th connection above the cap"
            assert fd_count(pid) - fds0 == 10, "the worker accepted beyond --worker-connections"
            held.pop(0).close()
            r = extra.read_response(timeout=BOUND)
            assert r.status == 200 and r.body == b"pong"
    finally:
        for c in held:
            c.close()
    assert_same_worker(srv, pid)


def test_worker_connections_backlog_does_not_grow_worker_memory(server_factory):
    """At the cap, 2 000 more connections wait in the kernel: the worker neither
    accepts them nor grows, and serves them all once the holders go."""
    srv = server_factory(APP, "-w", "1", "--worker-connections", "5", "--header-timeout", "30",
                         "--keep-alive", "30", "--backlog", "4096")
    pid = only_worker(srv)
    ping(srv.port)
    fds_idle = fd_count(pid)
    held = [RawConnection(srv.port, timeout=5) for _ in range(5)]
    waiting = []
    try:
        wait_for(lambda: fd_count(pid) >= fds_idle + 5, what="the worker to accept 5 connections")
        fds0, rss0 = fd_count(pid), vm_rss_kib(pid)
        for _ in range(2000):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect(("127.0.0.1", srv.port))
            s.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            waiting.append(s)
        time.sleep(0.5)
        assert fd_count(pid) == fds0, "the worker accepted beyond --worker-connections"
        assert vm_rss_kib(pid) - rss0 < 2048
        for c in held:
            c.close()
        held = []
        answered = wait_all_closed(waiting, bound=BOUND * 2)
        assert all(status_of(d) == 200 for _, d in answered.values()), \
            [d for _, d in answered.values() if status_of(d) != 200][:3]
    finally:
        for c in held:
            c.close()
        for s in waiting:
            s.close()
    assert_same_worker(srv, pid)
