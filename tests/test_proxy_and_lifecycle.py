"""Trusted proxies (forwarded_allow_ips + secure_scheme_headers), exit codes
of app-load failures, stack dumps on --timeout, and what a graceful stop does
to new connections. The real server, over real sockets."""

import json
import signal
import socket
import time

import pytest

from conftest import free_port, run_cli, wait_for
from rawhttp import RawConnection, build_request, exchange


def environ_of(port, headers=(), **kw):
    r = exchange(port, build_request("GET", "/environ", headers=list(headers)), **kw)
    assert r.status == 200, r
    return json.loads(r.body)


# -- wsgi.url_scheme from a trusted proxy ------------------------------------------

def test_forwarded_proto_from_localhost_is_trusted_by_default(server_factory):
    srv = server_factory("app:application")
    assert environ_of(srv.port)["wsgi.url_scheme"] == "http"
    assert environ_of(srv.port, [("X-Forwarded-Proto", "https")])["wsgi.url_scheme"] == "https"
    assert environ_of(srv.port, [("X-Forwarded-Ssl", "on")])["wsgi.url_scheme"] == "https"
    assert environ_of(srv.port, [("X-Forwarded-Proto", "http")])["wsgi.url_scheme"] == "http"
    # REMOTE_ADDR stays the socket peer whatever the proxy says.
    env = environ_of(srv.port, [("X-Forwarded-For", "203.0.113.9")])
    assert env["REMOTE_ADDR"] == "127.0.0.1"


def test_forwarded_proto_ignored_from_untrusted_peer(server_factory):
    srv = server_factory("app:application", "--forwarded-allow-ips", "10.9.9.9")
    assert environ_of(srv.port, [("X-Forwarded-Proto", "https")])["wsgi.url_scheme"] == "http"


def test_forwarded_allow_ips_cidr_and_star(server_factory):
    srv = server_factory("app:application", "--forwarded-allow-ips", "127.0.0.0/8")
    assert environ_of(srv.port, [("X-Forwarded-Proto", "https")])["wsgi.url_scheme"] == "https"
    srv2 = server_factory("app:application", "--forwarded-allow-ips", "*")
    assert environ_of(srv2.port, [("X-Forwarded-Proto", "https")])["wsgi.url_scheme"] == "https"


def test_conflicting_scheme_headers_are_rejected(server_factory):
    srv = server_factory("app:application")
    r = exchange(srv.port, build_request("GET", "/environ", headers=[
        ("X-Forwarded-Proto", "https"), ("X-Forwarded-Ssl", "off")]))
    assert r.status == 400
    assert r.header("Connection") == "close"


def test_bad_forwarded_allow_ips_fails_to_boot():
    res = run_cli(["-b", "127.0.0.1:%d" % free_port(), "--forwarded-allow-ips", "10.0.0.0/33",
                   "app:application"], timeout=30)
    assert res.returncode == 2
    assert "10.0.0.0/33" in res.stderr
    assert "Traceback (most recent call last)" not in res.stderr


def test_unix_socket_server_name_from_host(server_factory, short_tmp):
    path = str(short_tmp / "s.sock")
    server_factory("app:application", bind="unix:" + path)
    env = environ_of(None, [("Host", "example.test:8443")], unix_path=path)
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("example.test", "8443")
    env = environ_of(None, [("Host", "example.test")], unix_path=path)
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("example.test", "80")
    assert env["REMOTE_ADDR"] == ""
    assert "REMOTE_PORT" not in env


# -- exit codes of load failures (Gunicorn: 3 = cannot import, 4 = no app) ----------

@pytest.mark.parametrize("spec", ["app:no_such_attr_xyz", "notcallable:application", "app:create_app(undefined_name)"])
def test_app_that_imports_but_has_no_app_exits_4(spec):
    res = run_cli(["-b", "127.0.0.1:%d" % free_port(), spec], timeout=30)
    assert res.returncode == 4, res.stderr
    assert "App failed to load." in res.stderr
    assert "Traceback (most recent call last)" not in res.stderr


# -- --timeout: the stuck worker's Python stack is written, then it is replaced -------

def test_timeout_dumps_stack_and_replaces_worker(server_factory):
    srv = server_factory("app:application", "-w", "1", "-t", "2", "--graceful-timeout", "2")
    old = srv.wait_workers(1)[0]
    with RawConnection(srv.port, timeout=30) as c:
        c.send(build_request("GET", "/sleep?s=30"))
        srv.wait_for_log(r"WORKER TIMEOUT \(pid:%d\)" % old, timeout=20)
        assert c.is_closed(10)[0]
    wait_for(lambda: len(srv.worker_pids()) >= 2, timeout=20, what="a new worker after the timeout")
    err = srv.stderr()
    # faulthandler's dump names the thread and the frame of the app that was stuck
    assert "Current thread" in err or "Thread 0x" in err, err
    assert "app.py" in err, err
    assert "panicked at" not in err
    assert exchange(srv.port, build_request("GET", "/")).status == 200


# -- a graceful stop refuses new connections instead of queueing them -----------------

def test_graceful_stop_refuses_new_connections(server_factory):
    srv = server_factory("app:application", "-w", "1", "--graceful-timeout", "20")
    srv.wait_workers(1)
    with RawConnection(srv.port, timeout=30) as busy:
        busy.send(build_request("GET", "/sleep?s=3"))
        time.sleep(0.5)
        srv.signal(signal.SIGTERM)
        time.sleep(0.5)
        refused = False
        try:
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            s.sendall(build_request("GET", "/"))
            refused = s.recv(100) == b""
            s.close()
        except (ConnectionRefusedError, ConnectionResetError):
            refused = True
        assert refused, "a new connection was answered during a graceful stop"
        assert busy.read_response().status == 200
    assert srv.wait_exit(20) == 0


def test_int_during_graceful_stop_is_fast(server_factory):
    srv = server_factory("app:application", "-w", "1", "--graceful-timeout", "60")
    srv.wait_workers(1)
    with RawConnection(srv.port, timeout=30) as busy:
        busy.send(build_request("GET", "/sleep?s=50"))
        time.sleep(0.5)
        srv.signal(signal.SIGTERM)
        time.sleep(0.5)
        srv.signal(signal.SIGINT)
        assert srv.wait_exit(10) is not None, "SIGINT did not cut the graceful stop short"


# -- -n/--name: process names visible to top and ps -----------------------------------

def _comm(pid):
    with open("/proc/%d/comm" % pid) as f:
        return f.read().strip()


def test_name_sets_process_names(server_factory):
    srv = server_factory("app:application", "-w", "1", "-n", "shop")
    worker = srv.wait_workers(1)[0]
    assert _comm(srv.pid) == "shop-master"
    assert _comm(worker) == "shop-worker"


def test_factory_called_with_wrong_arguments_exits_4():
    res = run_cli(["-b", "127.0.0.1:%d" % free_port(), "app:strict_factory(1, 2, 3)"], timeout=30)
    assert res.returncode == 4, res.stderr
    assert "strict_factory" in res.stderr and "Traceback" not in res.stderr


def test_timeout_stack_dump_survives_log_reopen(server_factory, tmp_path):
    log = tmp_path / "error.log"
    srv = server_factory("app:application", "-w", "1", "-t", "2", "--error-logfile", str(log))
    wait_for(lambda: log.exists() and "Booting worker" in log.read_text(), timeout=10, what="worker boot")
    log.rename(tmp_path / "error.log.1")
    srv.signal(signal.SIGUSR1)
    wait_for(lambda: log.exists(), timeout=10, what="the log to be reopened")
    time.sleep(0.5)
    with RawConnection(srv.port, timeout=30) as c:
        c.send(build_request("GET", "/sleep?s=30"))
        wait_for(lambda: "WORKER TIMEOUT" in log.read_text(), timeout=20, what="the timeout")
        wait_for(lambda: "app.py" in log.read_text(), timeout=10, what="the stack dump in the new log")
        assert c.is_closed(10)[0]


# -- --preload: the master imports the app once, workers inherit it ------------------

def _pids(port):
    r = exchange(port, build_request("GET", "/"))
    assert r.status == 200, r
    return json.loads(r.body)


def test_preload_imports_in_master(server_factory):
    srv = server_factory("import_pid:application", "--preload", "-w", "2")
    info = _pids(srv.port)
    assert info["imported_in"] == srv.pid == info["ppid"]
    assert info["pid"] != srv.pid


def test_without_preload_workers_import(server_factory):
    srv = server_factory("import_pid:application", "-w", "1")
    info = _pids(srv.port)
    assert info["imported_in"] == info["pid"] != srv.pid


def test_preload_failure_is_one_line_and_binds_nothing():
    port = free_port()
    res = run_cli(["-b", "127.0.0.1:%d" % port, "--preload", "broken_import:application"], timeout=30)
    assert res.returncode == 3, res.stderr
    assert "broken-import-marker" in res.stderr and "Traceback" not in res.stderr
    res = run_cli(["-b", "127.0.0.1:%d" % port, "--preload", "app:no_such_attr_xyz"], timeout=30)
    assert res.returncode == 4, res.stderr


# -- a write() callable kept past its request can no longer reach any socket ----------

def test_stale_write_callable_cannot_reach_the_socket(server_factory):
    srv = server_factory("app:application", "-w", "1")
    with RawConnection(srv.port) as c:
        c.send(build_request("GET", "/stash_write"))
        assert c.read_response().body == b"stashed"
        c.send(build_request("GET", "/use_stale_write"))
        r = c.read_response()
        assert r.body == b"stale write refused"
        c.send(build_request("GET", "/"))
        assert c.read_response().status == 200
        assert not c.is_closed(0.3)[1]
