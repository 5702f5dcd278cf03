"""Faults: workers that die or hang, logs that cannot be written, descriptors
that run out. In every case the master replaces what died, the other workers
keep serving, and the error log says what happened.

Applications: tests/apps/fault_app.py.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import threading
import time

import pytest

import conftest
from conftest import Server, wait_for
from rawhttp import RawConnection, build_request, exchange

APP = "fault_app:app"


# -- helpers ----------------------------------------------------------------------------

def get_pid(port, timeout=10.0) -> int:
    r = exchange(port, build_request("GET", "/pid"), timeout=timeout)
    assert r.status == 200, r
    return r.json()["pid"]


def alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def cpu_seconds(pid: int) -> float:
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def log_lines_about(srv: Server, pid: int) -> list:
    """Error-log lines that mention ``pid`` other than its boot line."""
    pat = re.compile(r"\b%d\b" % pid)
    return [ln for ln in srv.stderr().splitlines() if pat.search(ln) and "Booting worker" not in ln]


def wait_mark(srv: Server, name: str, timeout: float = 10.0) -> int:
    path = srv.mark_dir / name
    wait_for(lambda: path.exists() and path.read_text().strip(), timeout=timeout, what="marker " + name)
    return int(path.read_text().strip())


class Hammer(threading.Thread):
    """Sends GET /pid on a new connection every ``interval`` seconds until
    stopped (bounded by ``max_requests``); records (start, end, pid or error)."""

    def __init__(self, port: int, interval: float = 0.02, max_requests: int = 1500):
        super().__init__(daemon=True)
        self.port = port
        self.interval = interval
        self.max_requests = max_requests
        self.results = []
        self._halt = threading.Event()
        self.start()

    def run(self):
        for _ in range(self.max_requests):
            if self._halt.is_set():
                break
            t0 = time.monotonic()
            try:
                outcome = get_pid(self.port, timeout=10.0)
            except Exception as e:  # noqa: BLE001 - every failure is recorded and judged by the test
                outcome = e
            self.results.append((t0, time.monotonic(), outcome))
            self._halt.wait(self.interval)

    def finish(self) -> list:
        self._halt.set()
        self.join(30)
        return self.results


def server_with_command_prefix(monkeypatch, prefix: list):
    """Makes the next servers run as ``prefix + <server command>``."""
    original = conftest.server_command
    monkeypatch.setattr(conftest, "server_command", lambda: list(prefix) + original())


# A tiny exec wrapper: lower RLIMIT_NOFILE's soft limit, then exec the server.
NOFILE_WRAPPER = (
    "import os, resource, sys\n"
    "soft = int(sys.argv[1]); _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
    "resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)


# -- a worker dies or hangs in the middle of a request --------------------------------------------

# kind: (route, extra server args, how the log must name what happened (regex, %d = worker pid),
#        the application function the stack dump must name, or None)
FAULTS = {
    "sigkill": ("/fault/sleep?s=30", [], r"Worker \(pid:%d\) was sent SIGKILL", None),
    "os_exit": ("/fault/exit?code=7", [], r"Worker \(pid:%d\) exited with code 7", None),
    "os_exit_0": ("/fault/exit?code=0", [], r"Worker \(pid:%d\)", None),
    "segfault": ("/fault/segv", [], r"Worker \(pid:%d\) was sent SIGSEGV", "fault_app_segfault"),
    "blocks_forever": ("/fault/block", ["-t", "2"], r"WORKER TIMEOUT \(pid:%d\)", "fault_app_block_forever"),
}


@pytest.mark.parametrize("kind", list(FAULTS))
def test_worker_fault_is_replaced_while_others_serve(server_factory, kind):
    route, extra, log_re, dump_fn = FAULTS[kind]
    srv = server_factory(APP, "-w", "2", "--graceful-timeout", "5", *extra)
    pids = srv.wait_workers(2)
    hammer = Hammer(srv.port)
    # The app sleeps `delay` seconds inside the request before the fault: the
    # window in which the other worker must keep answering.
    ident = "f-" + kind
    sep = "&" if "?" in route else "?"
    with RawConnection(srv.port, timeout=30) as c:
        c.send(build_request("GET", "%s%sid=%s&delay=1" % (route, sep, ident)))
        victim = wait_mark(srv, "fault-" + ident)
        t_mark = time.monotonic()
        assert victim in pids
        if kind == "sigkill":
            time.sleep(0.5)
            srv.signal_worker(victim, signal.SIGKILL)
        # The faulted connection ends without a response (or with a well-formed 5xx).
        closed, data = c.is_closed(timeout=20)
        assert closed, "the faulted connection was left open"
        if data:
            assert re.match(rb"HTTP/1\.1 5\d\d ", data), data[:300]
    wait_for(lambda: not alive(victim), timeout=15, what="the faulted worker to be gone")
    new = wait_for(lambda: [p for p in srv.worker_pids() if p not in pids], timeout=15,
                   what="a replacement worker")[0]
    wait_for(lambda: alive(new), timeout=5, what="the replacement to be running")
    # Give the replacement a moment to enter its accept loop, then require a
    # clean run of requests from the survivors.
    time.sleep(0.5)
    t_replaced = time.monotonic()
    after = [get_pid(srv.port) for _ in range(10)]
    results = hammer.finish()

    assert victim not in after
    during = [(t0, o) for t0, _, o in results if t_mark <= t0 <= t_replaced]
    assert during, "no request was made while the fault was in progress"
    # A request sent while the faulty worker is stuck in (or dead from) the
    # application can only be taken by a healthy worker: every one succeeds.
    bad = [(round(t0 - t_mark, 3), o) for t0, o in during if not isinstance(o, int) or o == victim]
    assert not bad, "requests failed during the fault: %r" % bad[:5]
    # Before the fault became visible, a connection could only be lost if the
    # victim had accepted it together with the fault request.
    early_errors = [o for t0, _, o in results if t0 < t_mark and not isinstance(o, int)]
    assert len(early_errors) <= 1, early_errors

    lines = log_lines_about(srv, victim)
    assert any(re.search(log_re % victim, ln) for ln in lines), \
        "the log does not say what happened to worker %d:\n%s" % (victim, srv.stderr()[-3000:])
    err = srv.stderr()
    if dump_fn:
        assert dump_fn in err, "no stack naming %s in the error log:\n%s" % (dump_fn, err[-3000:])
    assert "panicked" not in err
    assert srv.alive()


def test_sigkill_with_threads_only_loses_that_workers_requests(server_factory):
    """--threads: a worker killed while its application threads are busy loses
    only its own requests; the other worker's in-flight requests complete."""
    srv = server_factory(APP, "-w", "2", "--threads", "4")
    pids = srv.wait_workers(2)
    conns = []
    for i in range(4):
        c = RawConnection(srv.port, timeout=20)
        c.send(build_request("GET", "/fault/sleep?s=2&id=t%d" % i))
        conns.append(c)
    owners = [wait_mark(srv, "fault-t%d" % i) for i in range(4)]
    victim = owners[0]
    srv.signal_worker(victim, signal.SIGKILL)
    for c, owner in zip(conns, owners):
        if owner == victim:
            assert c.is_closed(10) == (True, b"")
        else:
            r = c.read_response()
            assert r.status == 200 and r.json() == {"pid": owner, "survived": "sleep"}, r
        c.close()
    wait_for(lambda: len(srv.worker_pids()) >= 3, timeout=15, what="a replacement worker")
    assert victim not in {get_pid(srv.port) for _ in range(10)}
    assert any(re.search(r"Worker \(pid:%d\) was sent SIGKILL" % victim, ln) for ln in log_lines_about(srv, victim))


# -- the memory limit -----------------------------------------------------------------------------

def rss_mib(pid: int) -> float:
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def test_worker_over_memory_limit_is_recycled_gracefully(server_factory):
    """--max-worker-memory MiB (uWSGI's reload-on-rss): the master checks each
    worker's RSS about once a second; one above the limit gets SIGTERM (its
    in-flight request finishes), then SIGKILL after --graceful-timeout."""
    srv = server_factory(APP, "-w", "2", "--max-worker-memory", "64", "--graceful-timeout", "10")
    pids = srv.wait_workers(2)
    for p in pids:
        assert rss_mib(p) < 64, "a fresh worker is already above the limit"
    hammer = Hammer(srv.port)
    with RawConnection(srv.port, timeout=30) as c:
        # Leaks 128 MiB for good, then stays 3 s in the request: the master
        # notices meanwhile, and the request must still complete.
        c.send(build_request("GET", "/fault/leak?mb=128&s=3&id=leak"))
        victim = wait_mark(srv, "leaked-leak", timeout=15)
        t_mark = time.monotonic()
        r = c.read_response()
        assert r.status == 200, r
        assert r.json()["pid"] == victim
    survivor = [p for p in pids if p != victim][0]
    wait_for(lambda: not alive(victim), timeout=20, what="the leaking worker to be recycled")
    new = wait_for(lambda: [p for p in srv.worker_pids() if p not in pids], timeout=15,
                   what="a replacement worker")[0]
    wait_for(lambda: alive(new), timeout=5, what="the replacement to be running")
    time.sleep(0.5)
    t_replaced = time.monotonic()
    after = [get_pid(srv.port) for _ in range(10)]
    results = hammer.finish()
    assert victim not in after
    assert alive(survivor), "the worker below the limit was recycled too"
    during = [(t0, o) for t0, _, o in results if t_mark <= t0 <= t_replaced]
    bad = [(round(t0 - t_mark, 3), o) for t0, o in during if not isinstance(o, int)]
    assert not bad, "requests failed while the worker was recycled: %r" % bad[:5]
    lines = log_lines_about(srv, victim)
    assert any(re.search(r"(?i)memory", ln) for ln in lines), \
        "the log does not say worker %d was over the memory limit:\n%s" % (victim, srv.stderr()[-3000:])
    # Recycled gracefully: TERM, not killed.
    assert not any("SIGKILL" in ln for ln in lines), lines


# -- logs that cannot be written ------------------------------------------------------------------

def serve_and_check(port, n=30, expect_pid=None):
    """n requests (some on one keep-alive connection, some erroring) all answered."""
    pids = set()
    with RawConnection(port) as c:
        for i in range(n // 2):
            c.send(build_request("GET", "/pid?i=%d" % i))
            r = c.read_response()
            assert r.status == 200, r
            pids.add(r.json()["pid"])
    for i in range(n // 2):
        target = "/error?id=full%d" % i if i % 5 == 0 else "/pid"
        r = exchange(port, build_request("GET", target))
        assert r.status == (500 if i % 5 == 0 else 200), r
        if r.status == 200:
            pids.add(r.json()["pid"])
    if expect_pid is not None:
        assert pids == {expect_pid}, "a worker was replaced while its log could not be written"
    return pids


def test_access_log_on_full_disk_keeps_serving(server_factory):
    srv = server_factory(APP, "-w", "1", "--access-logfile", "/dev/full")
    pid = srv.wait_workers(1)[0]
    serve_and_check(srv.port, 40, expect_pid=pid)
    assert srv.worker_pids() == [pid]
    assert "panicked" not in srv.stderr()
    srv.signal(signal.SIGTERM)
    assert srv.wait_exit(15) == 0


def test_error_log_on_full_disk_keeps_serving(server_factory):
    srv = server_factory(APP, "-w", "1", "--error-logfile", "/dev/full", "--access-logfile", "/dev/full")
    pid = get_pid(srv.port)
    serve_and_check(srv.port, 20, expect_pid=pid)
    # The master still replaces a dead worker when it cannot log about it.
    os.kill(pid, signal.SIGKILL)
    new = wait_for(lambda: _pid_or_none(srv.port), timeout=15, what="a replacement worker")
    assert new != pid
    srv.signal(signal.SIGTERM)
    assert srv.wait_exit(15) == 0


def _pid_or_none(port):
    try:
        return get_pid(port, timeout=2)
    except (AssertionError, OSError):
        return None


class PipedServer(Server):
    """A server whose stdout (and optionally stderr) is a pipe read by the test."""

    def __init__(self, app, args, workdir, pipe_stderr=False):
        self.app = app
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.host, self.port, self.unix_path = "127.0.0.1", conftest.free_port(), None
        self.argv = conftest.server_command() + ["-b", "127.0.0.1:%d" % self.port] + list(args) + [app]
        self.cwd = str(conftest.APPS_DIR)
        self.env = dict(os.environ)
        self.env.pop("PYTHONPATH", None)
        self.env["PYTHONDONTWRITEBYTECODE"] = "1"
        self.env["FERRICORN_TEST_MARK_DIR"] = str(workdir / "marks")
        (workdir / "marks").mkdir(exist_ok=True)
        self.stdout_path = workdir / "stdout-unused"
        self.stderr_path = workdir / "server.stderr"
        self.stdout_path.write_bytes(b"")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            self.argv, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if pipe_stderr else self._err, start_new_session=True)
        self._out = self.proc.stdout
        self.pgid = self.proc.pid
        conftest._LIVE_SERVERS.append(self)


@pytest.fixture
def piped(tmp_path):
    started = []

    def start(*args, pipe_stderr=False):
        s = PipedServer(APP, args, tmp_path / ("piped%d" % len(started)), pipe_stderr=pipe_stderr)
        started.append(s)
        return s.wait_ready()

    yield start
    for s in started:
        for f in (s.proc.stdout, s.proc.stderr):
            if f:
                f.close()
        s.stop()


def read_pipe_until(f, needle: bytes, timeout=10.0) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while needle not in data:
        left = deadline - time.monotonic()
        assert left > 0, "%r not seen on the pipe; got %r" % (needle, data[-500:])
        if select.select([f], [], [], left)[0]:
            chunk = os.read(f.fileno(), 65536)
            assert chunk, "pipe closed by the server"
            data += chunk
    return data


def test_access_log_on_closed_pipe_keeps_serving(piped):
    srv = piped("-w", "1", "--access-logfile", "-")
    pid = srv.wait_workers(1)[0]
    exchange(srv.port, build_request("GET", "/pid?before-close"))
    # The access log really goes to the pipe...
    read_pipe_until(srv.proc.stdout, b"/pid?before-close")
    # ...until its reader goes away: every later access line hits EPIPE.
    srv.proc.stdout.close()
    serve_and_check(srv.port, 40, expect_pid=pid)
    assert srv.worker_pids() == [pid]
    assert "panicked" not in srv.stderr()
    srv.signal(signal.SIGTERM)
    assert srv.wait_exit(15) == 0, srv.stderr()[-2000:]


def test_error_and_access_log_on_closed_pipes_master_survives(piped):
    """Both logs on pipes nobody reads any more: the worker, and the master
    (which logs every reaped worker), survive EPIPE."""
    srv = piped("-w", "1", "--access-logfile", "-", "--error-logfile", "-", pipe_stderr=True)
    pid = get_pid(srv.port)
    read_pipe_until(srv.proc.stderr, b"Booting worker")
    srv.proc.stdout.close()
    srv.proc.stderr.close()
    serve_and_check(srv.port, 20, expect_pid=pid)
    os.kill(pid, signal.SIGKILL)
    new = wait_for(lambda: _pid_or_none(srv.port), timeout=15, what="a replacement worker")
    assert new != pid
    serve_and_check(srv.port, 10, expect_pid=new)
    srv.signal(signal.SIGTERM)
    assert srv.wait_exit(15) == 0


# -- running out of file descriptors --------------------------------------------------------------

NOFILE = 64


def test_out_of_file_descriptors_worker_survives_and_recovers(server_factory, monkeypatch):
    server_with_command_prefix(monkeypatch, [sys.executable, "-c", NOFILE_WRAPPER, str(NOFILE)])
    srv = server_factory(APP, "-w", "1", "--keep-alive", "30")
    pid = srv.wait_workers(1)[0]
    with open("/proc/%d/limits" % pid) as f:
        assert re.search(r"Max open files\s+%d\b" % NOFILE, f.read()), "the soft limit was not applied"
    base_fds = len(os.listdir("/proc/%d/fd" % pid))
    total = NOFILE - base_fds + 20  # 20 more connections than the worker can hold
    conns = []
    try:
        for i in range(total):
            c = RawConnection(srv.port, timeout=10)
            c.send(build_request("GET", "/pid?c=%d" % i))
            conns.append(c)
        srv.wait_for_log(r"(?i)too many open files|EMFILE|file descriptors", timeout=10)
        # Collect what was answered; the rest wait in the listen queue.
        answered, waiting = [], list(conns)
        deadline = time.monotonic() + 1.5
        while waiting and time.monotonic() < deadline:
            ready, _, _ = select.select([c.sock for c in waiting], [], [], 0.2)
            for c in [c for c in waiting if c.sock in ready]:
                r = c.read_response()
                assert r.status == 200 and r.json()["pid"] == pid, r
                answered.append(c)
                waiting.remove(c)
        assert answered, "no connection was served"
        assert waiting, "descriptors never ran out (the test did not exhaust them)"

        # Exhausted: the worker is alive, is not spinning, and serves the
        # connections it already has (including a request whose open() fails).
        assert alive(pid)
        cpu0 = cpu_seconds(pid)
        time.sleep(1.0)
        cpu_used = cpu_seconds(pid) - cpu0
        assert cpu_used < 0.5, "worker burns CPU while out of descriptors (%.2fs in 1s)" % cpu_used
        c = answered[0]
        c.send(build_request("GET", "/pid?again"))
        assert c.read_response().json()["pid"] == pid
        c.send(build_request("GET", "/openfile"))
        r = c.read_response()
        assert r.status == 500, r  # the app's open() raised EMFILE: a clean 500, the worker lives
        c = answered[1]
        c.send(build_request("GET", "/pid?after-emfile"))
        assert c.read_response().json()["pid"] == pid

        # Descriptors come back: every waiting connection is served.
        for c in answered:
            c.close()
        for c in waiting:
            r = c.read_response(timeout=10)
            assert r.status == 200 and r.json()["pid"] == pid, r
    finally:
        for c in conns:
            c.close()
    assert exchange(srv.port, build_request("GET", "/openfile")).json() == {"pid": pid, "opened": True}
    assert srv.worker_pids() == [pid] and alive(pid)
    assert "panicked" not in srv.stderr()


# -- a worker recycled gracefully loses no queued connection --------------------------------------

def test_worker_stopping_gracefully_loses_no_queued_connection(server_factory):
    """A worker told to stop (SIGTERM: what a memory-limit or max-requests
    recycle, TTOU or HUP does) while busy in a request finishes that request;
    connections waiting in the listen queue meanwhile are answered - by the
    replacement - and never accepted only to be closed unanswered."""
    srv = server_factory(APP, "-w", "1", "--graceful-timeout", "10")
    pid = srv.wait_workers(1)[0]
    with RawConnection(srv.port, timeout=20) as busy:
        busy.send(build_request("GET", "/fault/sleep?s=1.5&id=busy"))
        wait_mark(srv, "fault-busy")
        srv.signal_worker(pid, signal.SIGTERM)
        queued = []
        for i in range(5):
            c = RawConnection(srv.port, timeout=20)
            c.send(build_request("GET", "/pid?queued=%d" % i))
            queued.append(c)
        r = busy.read_response()
        assert r.status == 200 and r.json() == {"pid": pid, "survived": "sleep"}, r
    lost = []
    for i, c in enumerate(queued):
        try:
            r = c.read_response(timeout=15)
            assert r.status == 200, r
        except AssertionError as e:
            lost.append((i, repr(e)[:200]))
        finally:
            c.close()
    assert not lost, "queued connections closed without an answer: %r" % lost
