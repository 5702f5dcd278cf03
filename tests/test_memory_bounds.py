"""Memory bounds: large bodies stream through a worker without growing it.

* a 1 GiB upload read by the app through ``wsgi.input`` in 64 KiB blocks,
* a 1 GiB response generated in 1 MiB chunks, read by the client at full
  speed and (another test) at ~1 MiB/s,
* a 1 GiB file sent through ``wsgi.file_wrapper`` (sendfile),

each raise the worker's RSS (VmRSS in /proc/<worker>/status, sampled every
10 ms during the transfer) by at most MAX_GROWTH_KIB over its level after a
warm-up request of the same kind. ``--limit-request-body`` answers 413, and the
sizes of request lines, header fields, chunk extensions and trailers are
bounded: a client that sends an endless one gets a 4xx after a bounded read.

FERRICORN_MEMBOUND_BYTES overrides the 1 GiB (e.g. to run on a small machine).
The generated data is never held whole by the test process: it is sent and
checked one 1 MiB block at a time.

Application: tests/apps/membound_app.py.
"""

from __future__ import annotations

import os
import re
import select
import socket
import tempfile
import threading
import time
import zlib

import pytest

from rawhttp import RawConnection, build_request, chunked

APP = "membound_app:app"
MIB = 1 << 20
SIZE = int(os.environ.get("FERRICORN_MEMBOUND_BYTES", str(1 << 30)))
MAX_GROWTH_KIB = 8 * 1024  # "a few MiB": the write budget is 1 MiB, socket reads 64 KiB
PATTERN = bytes(range(256)) * (MIB // 256)  # what membound_app's /generate yields, 1 MiB
BOUND = 15.0

THREADS = pytest.mark.parametrize("threads", ["1", "4"], ids=["inline", "threads4"])


# -- helpers --------------------------------------------------------------------------------------

def vm_rss_kib(pid: int) -> int:
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


class RssSampler:
    """Samples a process's VmRSS every ``interval`` seconds in a thread; ``growth``
    is the peak minus the level when sampling started, in KiB."""

    def __init__(self, pid: int, interval: float = 0.01):
        self.pid = pid
        self.interval = interval
        self.base = vm_rss_kib(pid)
        self.peak = self.base
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                v = vm_rss_kib(self.pid)
            except (OSError, AssertionError):
                return
            self.peak = max(self.peak, v)
            self.samples += 1
            self._stop.wait(self.interval)

    @property
    def growth(self) -> int:
        return self.peak - self.base

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)
        try:  # one last sample
            self.peak = max(self.peak, vm_rss_kib(self.pid))
        except (OSError, AssertionError):
            pass


def start(server_factory, *args):
    srv = server_factory(APP, "-w", "1", *args)
    pids = srv.wait_workers(1)
    assert len(pids) == 1
    return srv, pids[0]


def connect(port: int, rcvbuf: int | None = None, timeout: float = 30.0) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    return s


def read_head(s: socket.socket, pending: bytearray) -> tuple:
    """Reads one response head; returns (status, headers dict lower-cased, leftover bytes)."""
    while b"\r\n\r\n" not in pending:
        data = s.recv(65536)
        assert data, "connection closed before a response head; got %r" % bytes(pending[:200])
        pending += data
    head, _, rest = bytes(pending).partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower().decode()] = v.strip().decode()
    return status, headers, rest


def read_small_response(s: socket.socket) -> tuple:
    status, headers, rest = read_head(s, bytearray())
    n = int(headers.get("content-length", "0"))
    body = bytearray(rest)
    while len(body) < n:
        data = s.recv(65536)
        assert data, "connection closed in a response body"
        body += data
    return status, bytes(body[:n])


def ping_same_connection(s: socket.socket):
    """The connection is still in sync: the next request's answer starts exactly
    where the previous body ended."""
    s.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
    status, body = read_small_response(s)
    assert (status, body) == (200, b"pong"), (status, body[:100])


def download(s: socket.socket, target: str, check=None, slow_seconds: float = 0.0,
             on_slow_done=None) -> int:
    """GETs ``target`` and reads the body into one reused 1 MiB buffer.
    ``check(offset, view)`` sees every piece. For the first ``slow_seconds`` it
    reads at ~1 MiB/s (64 KiB every 1/16 s), then calls ``on_slow_done()``, then
    reads at full speed. Returns the body length read (the whole Content-Length)."""
    s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % target.encode())
    status, headers, rest = read_head(s, bytearray())
    assert status == 200, (status, headers)
    total = int(headers["content-length"])
    if check and rest:
        check(0, memoryview(rest))
    got = len(rest)
    buf = bytearray(MIB)
    view = memoryview(buf)
    slow_until = time.monotonic() + slow_seconds
    while got < total:
        want = min(len(buf), total - got)
        if slow_seconds and time.monotonic() < slow_until:
            want = min(want, 65536)
        n = s.recv_into(view[:want])
        assert n, "connection closed after %d of %d body bytes" % (got, total)
        if check:
            check(got, view[:n])
        got += n
        if slow_seconds:
            if time.monotonic() < slow_until:
                time.sleep(n / MIB)
            else:
                slow_seconds = 0.0
                if on_slow_done:
                    on_slow_done()
    return got


def check_generated(offset: int, view: memoryview):
    """/generate sends PATTERN again and again: byte i of the body is i % 256."""
    n = len(view)
    assert view[0] == offset % 256 and view[n - 1] == (offset + n - 1) % 256, \
        "body out of place at offset %d" % offset


def upload(s: socket.socket, target: str, size: int, head_extra: bytes = b"") -> int:
    """POSTs ``size`` bytes (1 MiB blocks, each stamped with its index, so a lost,
    doubled or reordered block changes the CRC) with Content-Length; returns the
    CRC-32 of what was sent."""
    s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n%s\r\n" % (target.encode(), size, head_extra))
    block = bytearray(PATTERN)
    crc = 0
    sent = 0
    i = 0
    while sent < size:
        block[:8] = i.to_bytes(8, "little")
        piece = memoryview(block)[:min(MIB, size - sent)]
        crc = zlib.crc32(piece, crc)
        s.sendall(piece)
        sent += len(piece)
        i += 1
    return crc


# -- a 1 GiB upload through wsgi.input ------------------------------------------------------------

@THREADS
def test_upload_1gib_through_wsgi_input_keeps_rss_flat(server_factory, threads):
    srv, pid = start(server_factory, "--threads", threads)
    with connect(srv.port) as s:
        crc = upload(s, "/upload", 16 * MIB)  # warm-up: the same path, 16 MiB
        assert read_small_response(s) == (200, b"%d %d" % (16 * MIB, crc))
        with RssSampler(pid) as rss:
            t0 = time.monotonic()
            crc = upload(s, "/upload", SIZE)
            status, body = read_small_response(s)
            elapsed = time.monotonic() - t0
        assert (status, body) == (200, b"%d %d" % (SIZE, crc))
        ping_same_connection(s)
    print("upload %d MiB (%s): %.2f s, worker RSS +%d KiB (peak of %d samples)"
          % (SIZE // MIB, threads, elapsed, rss.growth, rss.samples))
    assert rss.growth <= MAX_GROWTH_KIB, "worker RSS grew %d KiB during a %d-byte upload" % (rss.growth, SIZE)


# -- a 1 GiB generated response -------------------------------------------------------------------

@THREADS
def test_generated_1gib_response_keeps_rss_flat(server_factory, threads):
    srv, pid = start(server_factory, "--threads", threads)
    with connect(srv.port) as s:
        assert download(s, "/generate?n=%d" % (16 * MIB), check_generated) == 16 * MIB  # warm-up
        with RssSampler(pid) as rss:
            t0 = time.monotonic()
            got = download(s, "/generate?n=%d" % SIZE, check_generated)
            elapsed = time.monotonic() - t0
        assert got == SIZE
        ping_same_connection(s)
    print("generated %d MiB (%s), full speed: %.2f s, worker RSS +%d KiB" % (SIZE // MIB, threads, elapsed,
                                                                             rss.growth))
    assert rss.growth <= MAX_GROWTH_KIB, "worker RSS grew %d KiB sending a %d-byte response" % (rss.growth, SIZE)


@THREADS
def test_generated_1gib_response_to_slow_reader_keeps_rss_flat(server_factory, threads):
    """Reading 1 GiB at 1 MiB/s would take 17 minutes, so the client reads at
    ~1 MiB/s for 3 s (receive buffer pinned at 64 KiB, so the server really
    has to wait for it) while the worker's RSS is sampled, then reads the rest
    at full speed and checks that exactly the Content-Length arrived and the
    connection is still in step. While the client is slow the app's generator
    is ahead of it; what it yields must wait in at most the 1 MiB write budget,
    not pile up in the worker."""
    srv, pid = start(server_factory, "--threads", threads)
    with connect(srv.port, rcvbuf=65536) as s:
        assert download(s, "/generate?n=%d" % (16 * MIB), check_generated) == 16 * MIB  # warm-up
        slow_phase = {}
        with RssSampler(pid) as rss:
            got = download(s, "/generate?n=%d" % SIZE, check_generated, slow_seconds=3.0,
                           on_slow_done=lambda: slow_phase.update(growth=rss.growth))
        assert got == SIZE
        ping_same_connection(s)
    print("generated %d MiB (%s), 3 s at 1 MiB/s then full speed: worker RSS +%d KiB while slow, +%d KiB overall"
          % (SIZE // MIB, threads, slow_phase.get("growth", -1), rss.growth))
    assert slow_phase, "the slow phase did not end"
    assert rss.growth <= MAX_GROWTH_KIB, "worker RSS grew %d KiB for a slow reader" % rss.growth


# -- a 1 GiB file through wsgi.file_wrapper -------------------------------------------------------

@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    """A SIZE-byte sparse file: PATTERN in its first and last MiB, zeros between
    (no disk space and no time spent writing 1 GiB). On tmpfs (/dev/shm) when
    there is one: reading the holes of a sparse file on a disk file system fills
    the page cache with 1 GiB of zeros the first time (~4 s here), on tmpfs not."""
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK):
        d = tempfile.mkdtemp(prefix="ferricorn-membound-", dir=shm)
    else:
        d = str(tmp_path_factory.mktemp("membound"))
    path = os.path.join(d, "big.bin")
    try:
        with open(path, "wb") as f:
            f.write(PATTERN)
            f.truncate(SIZE)
            f.seek(SIZE - MIB)
            f.write(PATTERN)
        yield path
    finally:
        for p in (path,):
            try:
                os.unlink(p)
            except OSError:
                pass
        try:
            os.rmdir(d)
        except OSError:
            pass


def check_file(offset: int, view: memoryview):
    """First and last MiB are PATTERN; the middle is zeros (only the edges of
    each piece are looked at in the middle: comparing 1 GiB would dominate)."""
    n = len(view)
    for lo, hi in ((0, MIB), (SIZE - MIB, SIZE)):
        a, b = max(offset, lo), min(offset + n, hi)
        if a < b:
            assert view[a - offset:b - offset] == memoryview(PATTERN)[a - lo:b - lo], \
                "file body differs at %d..%d" % (a, b)
    if MIB <= offset and offset + n <= SIZE - MIB:
        assert view[0] == 0 and view[n - 1] == 0, "file body out of place at offset %d" % offset


@THREADS
def test_file_wrapper_1gib_keeps_rss_flat(server_factory, big_file, threads):
    srv, pid = start(server_factory, "--threads", threads)
    target = "/file?path=%s&size=%d" % (big_file, SIZE)
    with connect(srv.port) as s:
        assert download(s, target.replace("size=%d" % SIZE, "size=%d" % (16 * MIB))) == 16 * MIB  # warm-up
        with RssSampler(pid) as rss:
            t0 = time.monotonic()
            got = download(s, target, check_file)
            elapsed = time.monotonic() - t0
        assert got == SIZE
        ping_same_connection(s)
    print("file_wrapper %d MiB (%s): %.2f s, worker RSS +%d KiB" % (SIZE // MIB, threads, elapsed, rss.growth))
    assert rss.growth <= MAX_GROWTH_KIB, "worker RSS grew %d KiB sending a %d-byte file" % (rss.growth, SIZE)


# -- --limit-request-body -------------------------------------------------------------------------

LIMIT = 1_000_000


def app_calls(port: int) -> int:
    with connect(port, timeout=10) as s:
        s.sendall(b"GET /count HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        status, body = read_small_response(s)
    assert status == 200
    return int(body)


def send_until_answered(s: socket.socket, pieces, pause: float = 0.0) -> tuple:
    """Sends ``pieces`` one by one, stopping as soon as the server answers or
    closes (sending a body the server has refused would only earn a reset that
    can destroy its answer). Returns (what the server sent, whether it closed
    the connection within BOUND seconds)."""
    got = bytearray()
    for p in pieces:
        r, _, _ = select.select([s], [], [], pause)
        if r:
            break
        try:
            s.sendall(p)
        except (BrokenPipeError, ConnectionResetError):
            break
    deadline = time.monotonic() + BOUND
    s.settimeout(0.5)
    while time.monotonic() < deadline:
        try:
            data = s.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return bytes(got), True
        if not data:
            return bytes(got), True
        got += data
    return bytes(got), False


def status_of(data: bytes) -> int | None:
    m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    return int(m.group(1)) if m else None


def closed_by_server(s: socket.socket, timeout: float = BOUND) -> bool:
    s.settimeout(timeout)
    try:
        while True:
            if not s.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


@pytest.fixture(scope="module")
def limited(module_server_factory):
    srv = module_server_factory(APP, "-w", "1", "--threads", "1", "--limit-request-body", str(LIMIT))
    srv.wait_workers(1)
    return srv


def test_limit_request_body_content_length_above_is_413_without_the_app(limited):
    before = app_calls(limited.port)
    with connect(limited.port, timeout=BOUND) as s:
        s.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (LIMIT + 1))
        # The head alone is enough to refuse: the answer comes before any body byte is sent.
        status, body = read_small_response(s)
        assert status == 413, (status, body[:200])
        assert closed_by_server(s), "connection left open after a 413"
    assert app_calls(limited.port) == before, "the app was called for a body over the limit"


def test_limit_request_body_expect_continue_gets_413_not_100(limited):
    before = app_calls(limited.port)
    with connect(limited.port, timeout=BOUND) as s:
        s.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n"
                  % (LIMIT * 5))
        status, body = read_small_response(s)
        assert status == 413, (status, body[:200])
    assert app_calls(limited.port) == before


def test_limit_request_body_content_length_at_limit_is_accepted(limited):
    with connect(limited.port, timeout=BOUND) as s:
        crc = upload(s, "/upload", LIMIT)
        assert read_small_response(s) == (200, b"%d %d" % (LIMIT, crc))
        ping_same_connection(s)


def _chunked_pieces(total: int, piece: int = 65536):
    """A chunked body of ``total`` bytes in ``piece``-byte chunks (then the last chunk)."""
    block = b"z" * piece
    sent = 0
    while sent < total:
        n = min(piece, total - sent)
        yield b"%x\r\n%s\r\n" % (n, block[:n])
        sent += n
    yield b"0\r\n\r\n"


def test_limit_request_body_chunked_above_is_413(limited):
    """A chunked body has no size up front: it streams into the app, and the
    read that goes past the limit ends the request with 413 (no response was
    started) and closes the connection."""
    with connect(limited.port, timeout=BOUND) as s:
        s.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        answer, closed = send_until_answered(s, _chunked_pieces(LIMIT * 3))
    assert status_of(answer) == 413, answer[:300]
    assert closed, "connection left open after a 413"
    with connect(limited.port) as s:
        ping_same_connection(s)


def test_limit_request_body_chunked_within_is_accepted(limited):
    with connect(limited.port, timeout=BOUND) as s:
        s.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for p in _chunked_pieces(LIMIT):
            s.sendall(p)
        status, body = read_small_response(s)
        assert status == 200 and body.split()[0] == b"%d" % LIMIT, (status, body)
        ping_same_connection(s)


def test_limit_request_body_small_chunked_above_is_413_without_the_app(server_factory):
    """A limit below --body-buffer-size: the chunked body is read before the app
    would be called, so going past the limit is refused without calling it."""
    srv, _ = start(server_factory, "--limit-request-body", "1000")
    before = app_calls(srv.port)
    with connect(srv.port, timeout=BOUND) as s:
        s.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        answer, closed = send_until_answered(s, _chunked_pieces(2000, 500))
    assert status_of(answer) == 413, answer[:300]
    assert closed, "connection left open after a 413"
    assert app_calls(srv.port) == before
    r = RawConnection(srv.port)
    with r:  # at the limit exactly: fine
        r.send(build_request("POST", "/upload", headers=[("Transfer-Encoding", "chunked")], body=b"",
                             content_length=False) + chunked(b"q" * 500, b"q" * 500))
        resp = r.read_response()
        assert resp.status == 200 and resp.body.split()[0] == b"1000", resp


def test_no_limit_by_default(server_factory):
    """--limit-request-body defaults to 0 (no limit): the 1 GiB upload test above
    relies on it; here a body well above 1 MB is accepted by a default server."""
    srv, _ = start(server_factory)
    with connect(srv.port, timeout=BOUND) as s:
        crc = upload(s, "/upload", 5 * LIMIT)
        assert read_small_response(s) == (200, b"%d %d" % (5 * LIMIT, crc))


# -- header and chunk-extension sizes -------------------------------------------------------------

BOMB = 64 * MIB  # more than any buffer between the client and the worker could absorb


def _bomb(prefix: bytes, filler: bytes, total: int = BOMB):
    yield prefix
    piece = filler * max(1, 65536 // len(filler))
    for _ in range(total // len(piece)):
        yield piece


BOMBS = {
    # name: (prefix, endless filler, expected status)
    "request_line": (b"GET /", b"a", 414),
    "header_value": (b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: ", b"v", 431),
    "header_count": (b"GET /ping HTTP/1.1\r\nHost: x\r\n", b"X-Many: v\r\n", 431),
    "chunk_extension": (b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=", b"e", 400),
    "chunk_extension_count": (b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5", b";e=1",
                              400),
    "chunk_size_zeros": (b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", b"0", 400),
    "trailer": (b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: ",
                b"t", 431),
    # the body outgrew --body-buffer-size and streams into the app when the bomb comes
    "chunk_extension_streaming": (b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  + b"%x\r\n" % (200000) + b"s" * 200000 + b"\r\n5;ext=", b"e", 400),
}


@pytest.fixture(scope="module")
def default_limits(module_server_factory):
    """Default --limit-request-line/-fields/-field_size; inline worker."""
    srv = module_server_factory(APP, "-w", "1")
    pid = srv.wait_workers(1)[0]
    with connect(srv.port) as s:  # warm up
        ping_same_connection(s)
    return srv, pid


@pytest.mark.parametrize("name", list(BOMBS))
def test_endless_head_parts_are_cut_off(default_limits, name):
    """64 MiB of one request line, header value, header list, chunk extension,
    chunk-size digits or trailer: the worker answers 4xx after reading a bounded
    part of it, closes, and its RSS does not grow with the bomb."""
    srv, pid = default_limits
    prefix, filler, expected = BOMBS[name]
    with RssSampler(pid) as rss:
        with connect(srv.port, timeout=BOUND) as s:
            answer, closed = send_until_answered(s, _bomb(prefix, filler))
    assert status_of(answer) == expected, (name, answer[:300])
    assert closed, "connection left open after rejecting an endless %s" % name
    print("%s bomb: %d, worker RSS +%d KiB" % (name, expected, rss.growth))
    assert rss.growth <= 4 * 1024, "worker RSS grew %d KiB reading an endless %s" % (rss.growth, name)
    assert srv.worker_pids() == [pid]
    with connect(srv.port) as s:
        ping_same_connection(s)
