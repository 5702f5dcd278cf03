"""The pre-fork process model: workers, respawn, signals, boot failure."""

import os
import re
import signal
import socket
import threading
import time

import pytest

from conftest import can_connect, free_port, run_cli, wait_for
from rawhttp import RawConnection, build_request, exchange


def req(method="GET", target="/", **kw):
    return build_request(method, target, **kw)


class BackgroundRequest(threading.Thread):
    """Send one request in a thread; keeps the response or the error."""

    def __init__(self, port, target, timeout=40.0):
        super().__init__(daemon=True)
        self.port = port
        self.target = target
        self.timeout = timeout
        self.response = None
        self.error = None
        self.start()

    def run(self):
        try:
            with RawConnection(self.port, timeout=self.timeout) as c:
                c.send(req("GET", self.target))
                self.response = c.read_response()
        except Exception as e:  # noqa: BLE001 - recorded for the test
            self.error = e

    def result(self, timeout):
        self.join(timeout)
        assert not self.is_alive(), "background request still running after %.0fs" % timeout
        return self.response


def wait_started(srv, ident, timeout=10):
    wait_for(lambda: (srv.mark_dir / ("started-" + ident)).exists(), timeout=timeout,
             what="request %s to reach the app" % ident)


# -- workers ----------------------------------------------------------------------------

def test_workers_and_environ_flags(server_factory):
    srv = server_factory("app:application", "-w", "3", "--threads", "2")
    pids = srv.wait_workers(3)
    assert len(set(pids)) == 3 and srv.pid not in pids
    for p in pids:
        assert os.getpgid(p) == srv.pgid
    env = exchange(srv.port, req("GET", "/environ")).json()
    assert env["wsgi.multiprocess"] is True
    assert env["wsgi.multithread"] is True
    seen = {exchange(srv.port, req("GET", "/pid")).json()["ppid"] for _ in range(5)}
    assert seen == {srv.pid}, "workers must be children of the master"


def test_single_worker_threads(server_factory):
    srv = server_factory("app:application", "-w", "1", "--threads", "4")
    env = exchange(srv.port, req("GET", "/environ")).json()
    assert env["wsgi.multithread"] is True
    assert env["wsgi.multiprocess"] is False


def test_threads_serve_concurrently(server_factory):
    srv = server_factory("app:application", "-w", "1", "--threads", "2")
    slow = BackgroundRequest(srv.port, "/sleep?s=4&id=conc")
    wait_started(srv, "conc")
    r = exchange(srv.port, req("GET", "/quick"), timeout=10)
    assert r.body == b"ok path=/quick"
    assert not (srv.mark_dir / "finished-conc").exists(), "second request was not served concurrently"
    assert slow.result(20).status == 200


def test_idle_keepalive_connections_do_not_starve_threads(server_factory):
    srv = server_factory("app:application", "-w", "1", "--threads", "2", "--keep-alive", "30")
    conns = []
    try:
        for i in range(6):
            c = RawConnection(srv.port)
            conns.append(c)
            c.send(req("GET", "/idle%d" % i))
            assert c.read_response().status == 200
        r = exchange(srv.port, req("GET", "/fresh"), timeout=8)
        assert r.body == b"ok path=/fresh"
    finally:
        for c in conns:
            c.close()


def test_workers_serve_concurrently(server_factory):
    srv = server_factory("app:application", "-w", "2")
    srv.wait_workers(2)
    env = exchange(srv.port, req("GET", "/environ")).json()
    assert env["wsgi.multiprocess"] is True and env["wsgi.multithread"] is False
    slow = BackgroundRequest(srv.port, "/sleep?s=4&id=wconc")
    wait_started(srv, "wconc")
    r = exchange(srv.port, req("GET", "/quick"), timeout=10)
    assert r.body == b"ok path=/quick"
    assert not (srv.mark_dir / "finished-wconc").exists()
    assert slow.result(20).status == 200


@pytest.mark.parametrize("threads", ["1", "4"], ids=["sync", "threads"])
def test_worker_respawned_after_sigkill(server_factory, threads):
    srv = server_factory("app:application", "-w", "2", "--threads", threads)
    pids = srv.wait_workers(2)
    victim = pids[0]
    srv.signal_worker(victim, signal.SIGKILL)
    srv.wait_workers(3, timeout=15)
    new = srv.worker_pids()[2]
    assert new not in pids
    assert os.getpgid(new) == srv.pgid
    # the log names the dead worker and the signal
    lines = [ln for ln in srv.stderr().splitlines() if re.search(r"\b%d\b" % victim, ln)
             and "Booting worker" not in ln]
    assert any(("SIGKILL" in ln or "signal 9" in ln) for ln in lines), srv.stderr()[-3000:]
    for _ in range(4):
        assert exchange(srv.port, req("GET", "/alive")).status == 200
    assert srv.alive()


def test_worker_respawned_repeatedly(server_factory):
    srv = server_factory("app:application", "-w", "1")
    for i in range(3):
        pids = srv.wait_workers(i + 1, timeout=15)
        srv.signal_worker(pids[-1], signal.SIGKILL)
    srv.wait_workers(4, timeout=15)
    assert exchange(srv.port, req("GET", "/alive")).status == 200


def test_worker_exiting_by_itself_is_replaced(server_factory):
    srv = server_factory("app:application", "-w", "1")
    first = srv.wait_workers(1)[0]
    with RawConnection(srv.port) as c:
        c.send(req("GET", "/die"))
        data = c.read_until_close(10)
    assert not data.startswith(b"HTTP/1.1 200")
    srv.wait_workers(2, timeout=15)
    assert srv.worker_pids()[1] != first
    assert exchange(srv.port, req("GET", "/alive")).status == 200
    assert srv.alive()


def test_worker_timeout_kills_and_replaces(server_factory):
    srv = server_factory("app:application", "-w", "1", "-t", "2")
    first = srv.wait_workers(1)[0]
    with RawConnection(srv.port, timeout=25) as c:
        c.send(req("GET", "/sleep?s=30&id=tmo"))
        try:
            r = c.read_response()
            assert r.status != 200, "a request running past --timeout completed normally"
        except AssertionError as e:
            if "completed normally" in str(e):
                raise
    srv.wait_workers(2, timeout=15)
    assert srv.worker_pids()[1] != first
    assert exchange(srv.port, req("GET", "/alive")).status == 200


# -- signals ------------------------------------------------------------------------------

@pytest.mark.parametrize("threads", ["1", "4"], ids=["sync", "threads"])
def test_term_graceful_inflight_request_completes(server_factory, threads):
    srv = server_factory("app:application", "-w", "1", "--threads", threads, "--graceful-timeout", "20")
    srv.wait_workers(1)
    bg = BackgroundRequest(srv.port, "/sleep?s=2&id=graceful")
    wait_started(srv, "graceful")
    srv.signal(signal.SIGTERM)
    r = bg.result(25)
    assert bg.error is None, bg.error
    assert r.status == 200 and r.body == b"slept"
    assert srv.wait_exit(25) == 0, srv.stderr()[-2000:]
    assert not can_connect("127.0.0.1", srv.port)
    wait_for(lambda: not srv.group_alive(), timeout=5, what="workers to exit")
    assert "Traceback" not in srv.stderr()


def test_term_stops_accepting(server_factory):
    srv = server_factory("app:application", "-w", "1", "--graceful-timeout", "20")
    srv.wait_workers(1)
    bg = BackgroundRequest(srv.port, "/sleep?s=3&id=stopacc")
    wait_started(srv, "stopacc")
    srv.signal(signal.SIGTERM)
    time.sleep(0.5)
    # a new connection is refused or, if accepted by the kernel backlog, never served with 200
    try:
        with RawConnection(srv.port, timeout=8) as c:
            c.send(req("GET", "/late"))
            data = c.read_until_close(8)
        assert not data.startswith(b"HTTP/1.1 200"), data[:100]
    except (ConnectionRefusedError, ConnectionResetError):
        pass
    assert bg.result(20).status == 200
    assert srv.wait_exit(20) == 0


@pytest.mark.parametrize("threads", ["1", "4"], ids=["sync", "threads"])
def test_term_graceful_timeout_exceeded(server_factory, threads):
    srv = server_factory("app:application", "-w", "1", "--threads", threads, "--graceful-timeout", "1")
    srv.wait_workers(1)
    bg = BackgroundRequest(srv.port, "/sleep?s=60&id=gto", timeout=40)
    wait_started(srv, "gto")
    srv.signal(signal.SIGTERM)
    code = srv.wait_exit(20)
    assert code is not None, "master still running 20s after TERM with --graceful-timeout 1"
    bg.result(20)
    assert bg.response is None or bg.response.status != 200
    wait_for(lambda: not srv.group_alive(), timeout=5, what="workers to exit")


@pytest.mark.parametrize("threads", ["1", "4"], ids=["sync", "threads"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGQUIT], ids=["INT", "QUIT"])
def test_fast_stop(server_factory, sig, threads):
    srv = server_factory("app:application", "-w", "2", "--threads", threads, "--graceful-timeout", "60")
    srv.wait_workers(2)
    bg = BackgroundRequest(srv.port, "/sleep?s=60&id=fast", timeout=40)
    wait_started(srv, "fast")
    srv.signal(sig)
    code = srv.wait_exit(15)
    assert code is not None, "master still running 15s after %s" % signal.Signals(sig).name
    bg.result(20)
    assert bg.response is None or bg.response.status != 200
    assert not (srv.mark_dir / "finished-fast").exists()
    wait_for(lambda: not srv.group_alive(), timeout=5, what="workers to exit")
    assert "Traceback" not in srv.stderr()
    assert "panicked at" not in srv.stderr()


def test_term_idle_server_exits_zero(server_factory):
    srv = server_factory("app:application", "-w", "2")
    srv.wait_workers(2)
    srv.signal(signal.SIGTERM)
    assert srv.wait_exit(20) == 0
    wait_for(lambda: not srv.group_alive(), timeout=5, what="workers to exit")


def test_term_with_idle_keepalive_connection(server_factory):
    """An idle keep-alive connection must not hold up a graceful stop."""
    srv = server_factory("app:application", "-w", "1", "--keep-alive", "60", "--graceful-timeout", "30")
    srv.wait_workers(1)
    with RawConnection(srv.port) as c:
        c.send(req("GET", "/"))
        assert c.read_response().status == 200
        srv.signal(signal.SIGTERM)
        code = srv.wait_exit(15)
        assert code == 0, "exit %r (None = still running 15s after TERM)" % code
        assert c.is_closed(5)[0]


def test_workers_exit_when_master_is_killed(server_factory):
    """Orphaned workers notice the master is gone and exit (they would hold the port)."""
    srv = server_factory("app:application", "-w", "2")
    pids = srv.wait_workers(2)
    os.kill(srv.pid, signal.SIGKILL)
    srv.wait_exit(5)

    def gone():
        for p in pids:
            try:
                with open("/proc/%d/stat" % p) as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except (FileNotFoundError, ProcessLookupError):
                continue
            if state != "Z":  # a zombie has exited (its new parent may not reap it)
                return False
        return True

    wait_for(gone, timeout=30, what="workers to exit after the master was SIGKILLed")


# -- boot failures -----------------------------------------------------------------------------

BOOT_FAILURES = [
    ("broken_import:application", ["broken-import-marker"]),
    ("needs_missing_dep:application", ["ferricorn_test_no_such_dependency"]),
    ("ferricorn_no_such_module_xyz:application", ["ferricorn_no_such_module_xyz"]),
]


@pytest.mark.parametrize("spec,needles", BOOT_FAILURES, ids=[b[0].split(":")[0] for b in BOOT_FAILURES])
def test_boot_failure_exit_3(spec, needles):
    res = run_cli(["-b", "127.0.0.1:%d" % free_port(), "-w", "2", spec], timeout=30)
    assert res.returncode == 3, "exit %s; stderr:\n%s" % (res.returncode, res.stderr)
    assert "Traceback (most recent call last)" not in res.stderr, res.stderr
    assert "panicked at" not in res.stderr
    for n in needles:
        assert n in res.stderr, res.stderr


@pytest.mark.parametrize("spec", ["app:no_such_attr_xyz", "notcallable:application"])
def test_app_load_failure_nonzero_clean(spec):
    res = run_cli(["-b", "127.0.0.1:%d" % free_port(), spec], timeout=30)
    assert res.returncode not in (0, None), res.stderr
    assert "Traceback (most recent call last)" not in res.stderr
    assert "panicked at" not in res.stderr


def test_boot_failure_leaves_no_processes(tmp_path):
    port = free_port()
    res = run_cli(["-b", "127.0.0.1:%d" % port, "-w", "3", "broken_import:application"], timeout=30)
    assert res.returncode == 3
    assert not can_connect("127.0.0.1", port)
    # nothing else is listening on the port afterwards: we can bind it
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))


# -- Gunicorn's other signals (beyond the written contract, but part of "drop-in") -------------

def test_hup_replaces_workers(server_factory):
    srv = server_factory("app:application", "-w", "2")
    old = set(srv.wait_workers(2))
    srv.signal(signal.SIGHUP)
    srv.wait_workers(4, timeout=15)
    new = set(srv.worker_pids()) - old
    assert len(new) == 2
    wait_for(lambda: all(not _running(p) for p in old), timeout=15, what="old workers to exit after HUP")
    assert exchange(srv.port, req("GET", "/after-hup")).status == 200
    assert srv.alive()


def test_ttin_ttou_change_worker_count(server_factory):
    srv = server_factory("app:application", "-w", "1")
    srv.wait_workers(1)
    srv.signal(signal.SIGTTIN)
    srv.wait_workers(2, timeout=15)
    srv.signal(signal.SIGTTOU)
    wait_for(lambda: sum(_running(p) for p in srv.worker_pids()) == 1, timeout=15, what="one worker after TTOU")
    assert exchange(srv.port, req("GET", "/")).status == 200


def test_usr1_reopens_logs_without_killing_workers(server_factory, tmp_path):
    log = tmp_path / "access.log"
    srv = server_factory("app:application", "-w", "2", "--access-logfile", str(log))
    pids = srv.wait_workers(2)
    exchange(srv.port, req("GET", "/before-rotate"))
    wait_for(lambda: log.exists() and "/before-rotate" in log.read_text(), timeout=5, what="access log")
    log.rename(tmp_path / "access.log.1")
    srv.signal(signal.SIGUSR1)
    time.sleep(1.0)
    assert srv.worker_pids() == pids, "USR1 must not kill or replace workers:\n" + srv.stderr()[-2000:]
    for p in pids:
        assert _running(p)
    for _ in range(4):
        exchange(srv.port, req("GET", "/after-rotate"))
    wait_for(lambda: log.exists() and "/after-rotate" in log.read_text(), timeout=5,
             what="access log reopened at its path after USR1")


def _running(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
