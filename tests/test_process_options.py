"""Process-management options Gunicorn users pass in unit files and
Dockerfiles: --pid, --reuse-port, --capture-output, --umask."""

import os
import signal
import socket
import stat
import time

import requests

from conftest import free_port, run_cli, wait_for
from rawhttp import build_request, exchange


def test_pidfile_written_and_removed(server_factory, tmp_path):
    pid_path = tmp_path / "app.pid"
    srv = server_factory("app:application", "--pid", str(pid_path))
    wait_for(lambda: pid_path.exists(), timeout=5, what="the pid file")
    assert int(pid_path.read_text().strip()) == srv.pid
    srv.signal(signal.SIGTERM)
    assert srv.wait_exit(20) == 0
    assert not pid_path.exists()


def test_pidfile_of_a_live_server_refuses_a_second(server_factory, tmp_path):
    pid_path = tmp_path / "app.pid"
    srv = server_factory("app:application", "--pid", str(pid_path))
    wait_for(lambda: pid_path.exists(), timeout=5, what="the pid file")
    res = run_cli(["-b", "127.0.0.1:%d" % free_port(), "--pid", str(pid_path), "app:application"], timeout=30)
    assert res.returncode == 1
    assert "already running on PID %d" % srv.pid in res.stderr
    assert int(pid_path.read_text().strip()) == srv.pid   # left alone


def test_stale_pidfile_is_replaced(server_factory, tmp_path):
    pid_path = tmp_path / "app.pid"
    pid_path.write_text("999999999\n")
    srv = server_factory("app:application", "--pid", str(pid_path))
    wait_for(lambda: pid_path.read_text().strip() == str(srv.pid), timeout=5, what="the pid file")


def test_reuse_port_lets_two_servers_share_a_port(server_factory):
    port = free_port()
    a = server_factory("app:application", "--reuse-port", bind="127.0.0.1:%d" % port)
    b = server_factory("app:application", "--reuse-port", bind="127.0.0.1:%d" % port)
    for _ in range(20):
        assert exchange(port, build_request("GET", "/")).status == 200
    assert a.alive() and b.alive()


def test_capture_output_sends_prints_to_the_error_log(server_factory, tmp_path):
    log = tmp_path / "error.log"
    srv = server_factory("app:application", "--capture-output", "--error-logfile", str(log))
    assert exchange(srv.port, build_request("GET", "/print?m=xyzzy")).status == 200
    wait_for(lambda: "printed-xyzzy" in log.read_text(), timeout=5, what="the print in the error log")
    assert "printed-xyzzy" not in srv.stdout()


def test_umask_applies_to_the_unix_socket(server_factory, short_tmp):
    path = str(short_tmp / "u.sock")
    server_factory("app:application", "--umask", "077", bind="unix:" + path)
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode & 0o077 == 0, oct(mode)


def test_request_timeout_logs_the_request_and_python_stack(server_factory):
    """--request-timeout: a request running past it is reported once, with
    its request line and the Python stack showing where it is; it is not
    interrupted (it still completes) and the worker stays the same."""
    srv = server_factory("app:application", "--request-timeout", "1")
    srv.wait_ready()
    (pid,) = srv.worker_pids()
    r = requests.get(srv.url("/sleep?s=2.5"), timeout=15)
    assert r.status_code == 200
    srv.wait_for_log(r"Request running for [\d.]+ s, over --request-timeout \(1 s\): GET /sleep\?s=2\.5")
    srv.wait_for_log(r'File ".*app\.py", line \d+ in application')
    assert srv.worker_pids() == [pid]
    # A quick request is not reported.
    requests.get(srv.url("/hello"), timeout=10)
    time.sleep(1.5)
    assert srv.stderr().count("over --request-timeout") == 1


def test_reload_restarts_the_worker_when_app_code_changes(server_factory, tmp_path):
    """--reload (development): editing a module the app imported makes the
    worker stop gracefully; the new worker serves the new code."""
    appdir = tmp_path / "reloadapp"
    appdir.mkdir()
    mod = appdir / "reloadme.py"
    mod.write_text(
        "def application(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [b'version one']\n"
    )
    srv = server_factory("reloadme:application", "--reload", "--chdir", str(appdir))
    srv.wait_ready()
    assert requests.get(srv.url("/"), timeout=10).text == "version one"
    (first,) = srv.worker_pids()
    time.sleep(1.1)  # a new mtime, even on file systems with 1 s resolution
    mod.write_text(mod.read_text().replace("version one", "version two"))
    srv.wait_for_log(r"Worker reloading: .*reloadme\.py modified", timeout=15)
    wait_for(lambda: len(srv.worker_pids()) >= 2, timeout=15, what="a new worker")
    wait_for(lambda: requests.get(srv.url("/"), timeout=10).text == "version two", timeout=15,
             what="the new code to be served")
    assert first not in srv.worker_pids()[1:]
