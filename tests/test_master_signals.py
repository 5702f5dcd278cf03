"""The master's life cycle beyond the basics: USR2 upgrade in place,
systemd socket activation and sd_notify, HUP re-reading the configuration,
process titles, --daemon/WINCH, --user/--group.

Servers started here may outlive the test's own process (a USR2 child, a
daemon); every test stops those by pid, and only processes it started.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import APPS_DIR, free_port, server_command, wait_for
from rawhttp import build_request, exchange


def req(target="/"):
    return build_request("GET", target)


def read_pid(path):
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None


def process_gone(pid):
    """True once `pid` has exited (a zombie nobody reaped counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state in ("Z", "X")
    except (OSError, IndexError):
        return True


def stop_pid(pid, timeout=10.0):
    """TERM a master we started (even one that is no longer our child), wait."""
    if pid is None or process_gone(pid):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while not process_gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if not process_gone(pid):
        os.kill(pid, signal.SIGKILL)


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


class RequestStream(threading.Thread):
    """Requests on fresh connections, one after another, until stopped
    (at most `limit`); records failures and the JSON answers (which say
    which worker, and which master's, answered)."""

    def __init__(self, port, target="/pid", limit=4000):
        super().__init__(daemon=True)
        self.port = port
        self.target = target
        self.limit = limit
        self.ok = 0
        self.failures = []
        self.answers = []
        self._halt = threading.Event()
        self.start()

    @property
    def ppids(self):
        return [a["ppid"] for a in self.answers]

    def run(self):
        n = 0
        while not self._halt.is_set() and n < self.limit:
            n += 1
            try:
                r = exchange(self.port, req(self.target), timeout=15)
                if r.status == 200:
                    self.ok += 1
                    self.answers.append(r.json())
                else:
                    self.failures.append("status %d" % r.status)
            except Exception as e:  # noqa: BLE001 - recorded for the test
                self.failures.append(repr(e))
            time.sleep(0.005)

    def finish(self, timeout=20):
        self._halt.set()
        self.join(timeout)
        assert not self.is_alive(), "request stream did not stop"
        return self


# -- USR2: upgrade in place --------------------------------------------------------------

def test_usr2_upgrade_under_load_loses_no_request(server_factory, tmp_path):
    pidfile = tmp_path / "app.pid"
    srv = server_factory("master_app:application", "-w", "2", "--pid", str(pidfile))
    old_workers = srv.wait_workers(2)
    assert read_pid(pidfile) == srv.pid
    new_master = None
    stream = RequestStream(srv.port)
    try:
        wait_for(lambda: stream.ok >= 20, timeout=10, what="requests before USR2")
        srv.signal(signal.SIGUSR2)
        # The new master writes <pidfile>.2 and starts its own workers.
        new_master = wait_for(lambda: read_pid(str(pidfile) + ".2"), timeout=15,
                              what="the new master's pid file")
        assert new_master != srv.pid
        srv.wait_workers(4, timeout=15)
        new_workers = [p for p in srv.worker_pids() if p not in old_workers]
        assert len(new_workers) == 2
        assert all(p in children(new_master) for p in new_workers)
        assert read_pid(pidfile) == srv.pid, "the old master keeps its pid file meanwhile"
        # Both generations serve from the same sockets.
        wait_for(lambda: new_master in stream.ppids[-200:], timeout=15,
                 what="a request served by the new master's workers")
        count_before_term = stream.ok
        srv.signal(signal.SIGTERM)
        assert srv.wait_exit(15) == 0
        # The new master takes over the pid file once its parent is gone.
        wait_for(lambda: read_pid(pidfile) == new_master and not Path(str(pidfile) + ".2").exists(),
                 timeout=10, what="the pid file to name the new master")
        srv.wait_for_log(r"\[%d\] \[INFO\] Master has been promoted" % new_master)
        wait_for(lambda: stream.ok >= count_before_term + 30, timeout=15,
                 what="requests after the old master left")
    finally:
        stream.finish()
        stop_pid(new_master)
    assert stream.failures == [], stream.failures[:5]
    assert stream.ppids[-1] == new_master
    assert srv.stderr().count("Shutting down: Master") == 2


def test_usr2_rollback_keeps_old_master_and_refuses_a_second_child(server_factory, tmp_path):
    pidfile = tmp_path / "app.pid"
    srv = server_factory("master_app:application", "-w", "1", "--pid", str(pidfile))
    srv.wait_workers(1)
    srv.signal(signal.SIGUSR2)
    new_master = wait_for(lambda: read_pid(str(pidfile) + ".2"), timeout=15, what="new master")
    try:
        srv.wait_workers(2, timeout=15)
        assert cmdline(new_master) == "ferricorn: master [master_app:application.2]"
        srv.signal(signal.SIGUSR2)
        srv.wait_for_log(r"USR2 signal ignored. Child exists.")
        os.kill(new_master, signal.SIGUSR2)
        srv.wait_for_log(r"\[%d\] \[WARNING\] USR2 signal ignored. Parent exists." % new_master)
        # Roll back: stop the new master; the old one carries on alone.
        os.kill(new_master, signal.SIGTERM)
        srv.wait_for_log(r"New master \(pid:%d\) exited with code 0" % new_master, timeout=15)
        assert srv.stderr().count("Shutting down: Master.2") == 1
        assert not Path(str(pidfile) + ".2").exists()
        assert read_pid(pidfile) == srv.pid
        for _ in range(5):
            r = exchange(srv.port, req("/pid"))
            assert r.status == 200 and r.json()["ppid"] == srv.pid
    finally:
        stop_pid(new_master)


def test_gunicorn_fd_is_honoured_at_bind_time(server_factory):
    """A socket handed over in GUNICORN_FD (or FERRICORN_FD) serves the
    matching --bind instead of a fresh bind (which would fail: in use)."""
    port = free_port()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)
    try:
        for var in ("GUNICORN_FD", "FERRICORN_FD"):
            # (wait=False: the port accepts connections before the server runs.)
            srv = server_factory("master_app:application", "-w", "1", bind="127.0.0.1:%d" % port,
                                 env={var: str(s.fileno())}, pass_fds=(s.fileno(),), wait=False)
            srv.wait_for_log(r"Booting worker with pid")
            assert "Listening at: http://127.0.0.1:%d" % port in srv.stderr()
            # The variable is consumed: the application does not see it.
            r = exchange(port, req("/env?name=" + var))
            assert r.status == 200 and r.json() == {"value": None}
            srv.stop()
            assert srv.proc.returncode == 0
    finally:
        s.close()


def test_usr2_on_a_unix_socket_keeps_the_socket_file(server_factory, short_tmp):
    path = str(short_tmp / "s.sock")
    pidfile = short_tmp / "p.pid"
    srv = server_factory("master_app:application", "-w", "1", "--pid", str(pidfile),
                         bind="unix:" + path)
    srv.wait_workers(1)
    srv.signal(signal.SIGUSR2)
    new_master = wait_for(lambda: read_pid(str(pidfile) + ".2"), timeout=15, what="new master")
    try:
        srv.wait_workers(2, timeout=15)
        srv.signal(signal.SIGTERM)
        assert srv.wait_exit(15) == 0
        # The old master left the file to the new one, which still serves on it.
        assert os.path.exists(path)
        wait_for(lambda: read_pid(pidfile) == new_master, timeout=10, what="promotion")
        r = exchange(None, req("/pid"), unix_path=path)
        assert r.status == 200 and r.json()["ppid"] == new_master
        # Once promoted, the new master removes the file when it stops.
        stop_pid(new_master)
        assert not os.path.exists(path)
    finally:
        stop_pid(new_master)


# -- systemd: sd_notify and socket activation -----------------------------------------------

def notify_socket(address):
    """A datagram socket standing in for systemd's notification socket."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(address)
    return s


def receive_until(sock, word, timeout=15.0):
    """Messages received until one has the line `word`; returns them all."""
    got = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no %r from the server within %.0fs; got %r" % (word, timeout, got))
        sock.settimeout(left)
        try:
            msg = sock.recv(4096).decode()
        except socket.timeout:
            continue
        got.append(msg)
        if word in msg.split("\n"):
            return got


def test_sd_notify_ready_reloading_stopping(server_factory):
    name = "ferricorn-test-%d-%d" % (os.getpid(), time.monotonic_ns())
    sock = notify_socket("\0" + name)  # abstract namespace: NOTIFY_SOCKET=@name
    try:
        srv = server_factory("master_slow_app:application", "-w", "2",
                             env={"NOTIFY_SOCKET": "@" + name}, wait=False)
        msgs = receive_until(sock, "READY=1")
        # READY=1 comes only once both workers have imported the app.
        assert len(list(srv.mark_dir.glob("imported-*"))) == 2, msgs
        assert re.search(r"^MONOTONIC_USEC=\d+$", msgs[-1], re.M), msgs
        assert exchange(srv.port, req("/pid")).status == 200

        srv.signal(signal.SIGHUP)
        msgs = receive_until(sock, "RELOADING=1")
        assert re.search(r"^MONOTONIC_USEC=\d+$", msgs[-1], re.M), msgs
        receive_until(sock, "READY=1")
        assert len(list(srv.mark_dir.glob("imported-*"))) == 4

        srv.signal(signal.SIGTERM)
        receive_until(sock, "STOPPING=1")
        assert srv.wait_exit(15) == 0
    finally:
        sock.close()


SD_WRAPPER = """
import os, sys
fd = int(sys.argv[1])
if fd != 3:
    os.dup2(fd, 3)
    os.close(fd)
os.set_inheritable(3, True)
os.environ["LISTEN_PID"] = str(os.getpid())
os.environ["LISTEN_FDS"] = "1"
os.execv(sys.argv[2], sys.argv[2:])
"""


def test_systemd_socket_activation(short_tmp, tmp_path):
    """LISTEN_FDS/LISTEN_PID: the socket systemd passed as fd 3 is served,
    --bind is ignored, a USR2 hands it on the same way, and the socket file
    is left to systemd at exit."""
    path = str(short_tmp / "act.sock")
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(path)
    lsock.listen(16)
    nsock = notify_socket(str(short_tmp / "notify.sock"))
    ignored_port = free_port()
    pidfile = short_tmp / "p.pid"
    cmd = server_command() + ["-w", "1", "-b", "127.0.0.1:%d" % ignored_port, "--pid", str(pidfile),
                              "master_app:application"]
    env = dict(os.environ, NOTIFY_SOCKET=str(short_tmp / "notify.sock"), PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTHONPATH", None)
    err = open(tmp_path / "stderr", "wb")
    proc = subprocess.Popen([sys.executable, "-c", SD_WRAPPER, str(lsock.fileno())] + cmd,
                            cwd=str(APPS_DIR), env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=err, pass_fds=(lsock.fileno(),),
                            start_new_session=True)
    lsock.close()  # the server holds the only copy now
    new_master = None

    def ppid():
        return exchange(None, req("/pid"), unix_path=path).json()["ppid"]

    try:
        receive_until(nsock, "READY=1")
        assert ppid() == proc.pid
        r = exchange(None, req("/env?name=LISTEN_FDS"), unix_path=path)
        assert r.json() == {"value": None}
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", ignored_port)) != 0, "--bind must be ignored"
        log = (tmp_path / "stderr").read_text()
        assert "Listening at: unix:%s" % path in log, log

        # USR2 passes the socket on as LISTEN_FDS again (fd 3 in the new master).
        proc.send_signal(signal.SIGUSR2)
        new_master = wait_for(lambda: read_pid(str(pidfile) + ".2"), timeout=15, what="new master")
        wait_for(lambda: ppid() == new_master, timeout=15, what="the new master's worker to answer")
        assert os.readlink("/proc/%d/fd/3" % new_master).startswith("socket:")

        proc.send_signal(signal.SIGTERM)
        receive_until(nsock, "STOPPING=1")
        assert proc.wait(15) == 0
        assert os.path.exists(path), "systemd's socket file must stay"
        wait_for(lambda: read_pid(pidfile) == new_master, timeout=10, what="promotion")
        assert ppid() == new_master
        stop_pid(new_master)
        assert os.path.exists(path), "systemd's socket file must stay"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        stop_pid(new_master)
        err.close()
        nsock.close()


# -- HUP: configuration and code reload ----------------------------------------------------

HUP_APP = """
import json, os
VERSION = %r
%s
def application(environ, start_response):
    body = json.dumps({"version": VERSION, "pid": os.getpid(), "ppid": os.getppid(),
                       "var": os.environ.get("HUP_VAR")}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
"""


def write_app(directory, version, broken=False):
    extra = 'raise RuntimeError("this version does not import")' if broken else ""
    (Path(directory) / "hupapp.py").write_text(HUP_APP % (version, extra))


def answer(port):
    r = exchange(port, req("/"))
    assert r.status == 200, r
    return r.json()


def can_connect(port):
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def start_hup_server(server_factory, tmp_path, conf_text, port):
    conf = tmp_path / "conf.py"
    conf.write_text(conf_text)
    srv = server_factory("hupapp:application", "-c", str(conf), "--chdir", str(tmp_path),
                         bind=False, wait=False)
    srv.port = port
    srv.wait_ready()
    return srv, conf


def test_hup_rereads_config_and_code_under_load(server_factory, tmp_path):
    a, b = free_port(), free_port()
    write_app(tmp_path, "v1")
    srv, conf = start_hup_server(server_factory, tmp_path,
                                 "bind = ['127.0.0.1:%d']\nworkers = 1\n" % a, a)
    [first] = srv.wait_workers(1)
    assert answer(a)["version"] == "v1"
    stream = RequestStream(a, target="/")
    try:
        wait_for(lambda: stream.ok >= 10, timeout=10, what="requests before HUP")
        conf.write_text("bind = ['127.0.0.1:%d', '127.0.0.1:%d']\nworkers = 3\n"
                        "raw_env = ['HUP_VAR=two']\n" % (a, b))
        write_app(tmp_path, "v2")
        srv.signal(signal.SIGHUP)
        # New code, new -e, new worker count, a new address; the old worker goes.
        srv.wait_workers(4, timeout=15)
        srv.wait_for_log(r"Listening at: http://127.0.0.1:%d" % b)
        srv.wait_for_log(r"Worker exiting \(pid: %d\)" % first, timeout=15)
        wait_for(lambda: stream.answers and stream.answers[-1]["version"] == "v2", timeout=10,
                 what="the new code to answer")
        after = answer(b)
        assert after["version"] == "v2" and after["var"] == "two" and after["ppid"] == srv.pid
        count = stream.ok
        wait_for(lambda: stream.ok >= count + 10, timeout=10, what="requests after HUP")
    finally:
        stream.finish()
    assert stream.failures == [], stream.failures[:5]
    assert {x["pid"] for x in stream.answers if x["version"] == "v2"} <= set(srv.worker_pids()[1:])
    # Dropping an address: it stops accepting once the old workers are gone.
    conf.write_text("bind = ['127.0.0.1:%d']\nworkers = 1\n" % b)
    srv.signal(signal.SIGHUP)
    srv.wait_workers(5, timeout=15)
    wait_for(lambda: not can_connect(a), timeout=15, what="the dropped address to close")
    assert answer(b)["var"] is None, "-e HUP_VAR is no longer configured"
    assert srv.alive()


def test_hup_with_a_broken_config_or_app_keeps_the_running_workers(server_factory, tmp_path):
    port = free_port()
    write_app(tmp_path, "v1")
    srv, conf = start_hup_server(server_factory, tmp_path,
                                 "bind = ['127.0.0.1:%d']\nworkers = 1\n" % port, port)
    [first] = srv.wait_workers(1)
    good_conf = conf.read_text()

    # 1. The config file no longer executes: nothing changes.
    conf.write_text(good_conf + "workers = (\n")
    srv.signal(signal.SIGHUP)
    srv.wait_for_log(r"\[ERROR\] Reload failed, keeping the current configuration and workers: "
                     r".*SyntaxError")
    assert srv.worker_pids() == [first]

    # 2. The config is fine but the new code does not import: the new
    #    worker fails to boot, the old one never stopped serving.
    conf.write_text(good_conf)
    write_app(tmp_path, "v2", broken=True)
    srv.signal(signal.SIGHUP)
    srv.wait_for_log(r"\[ERROR\] Reload failed: a new worker could not boot \(exit code 3\)", timeout=15)
    assert srv.alive()
    got = answer(port)
    assert got["pid"] == first and got["version"] == "v1"

    # 3. Fixed: the next HUP goes through.
    write_app(tmp_path, "v3")
    srv.signal(signal.SIGHUP)
    srv.wait_for_log(r"Worker exiting \(pid: %d\)" % first, timeout=15)
    wait_for(lambda: answer(port)["version"] == "v3", timeout=10, what="v3 to answer")
    assert srv.alive()


# -- process titles -----------------------------------------------------------------------

def cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read().rstrip(b"\0").decode()


def test_process_titles(server_factory):
    srv = server_factory("master_app:application", "-w", "2")
    workers = srv.wait_workers(2)
    wait_for(lambda: cmdline(srv.pid) == "ferricorn: master [master_app:application]", timeout=5,
             what=lambda: "master title, got %r" % cmdline(srv.pid))
    for w in workers:
        assert cmdline(w) == "ferricorn: worker [master_app:application]"
    # The environment the title may have been written over is intact.
    mark_dir = str(srv.mark_dir)
    for route in ("/env", "/cenv"):
        r = exchange(srv.port, req(route + "?name=FERRICORN_TEST_MARK_DIR"))
        assert r.json() == {"value": mark_dir}, route


def test_process_title_with_a_long_name(server_factory):
    """-n names the processes; a title longer than the original command line
    still shows whole (it runs on over the moved environment)."""
    name = "shop-" + "x" * 300
    srv = server_factory("master_app:application", "-w", "1", "-n", name)
    [worker] = srv.wait_workers(1)
    wait_for(lambda: cmdline(srv.pid) == "ferricorn: master [%s]" % name, timeout=5,
             what=lambda: "master title, got %r" % cmdline(srv.pid))
    assert cmdline(worker) == "ferricorn: worker [%s]" % name
    with open("/proc/%d/comm" % worker) as f:
        assert f.read().strip() == "shop-xxx-worker"
    r = exchange(srv.port, req("/cenv?name=FERRICORN_TEST_MARK_DIR"))
    assert r.json() == {"value": str(srv.mark_dir)}


# -- --daemon and WINCH ---------------------------------------------------------------------

def launch(args, tmp_path, timeout=20):
    """Runs the server command to completion (a daemon's launcher returns
    at once); returns (exit status, stderr)."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTHONPATH", None)
    err_path = tmp_path / "launcher.stderr"
    with open(err_path, "wb") as err:
        p = subprocess.Popen(server_command() + list(args), cwd=str(APPS_DIR), env=env,
                             stdin=subprocess.DEVNULL, stdout=err, stderr=err, start_new_session=True)
        try:
            code = p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            raise AssertionError("the launcher did not return")
    return code, err_path.read_text()


def test_daemon_detaches_and_winch_stops_the_workers(tmp_path):
    port = free_port()
    pidfile = tmp_path / "d.pid"
    log = tmp_path / "error.log"
    code, out = launch(["-D", "--pid", str(pidfile), "--error-logfile", str(log), "-w", "2",
                        "-b", "127.0.0.1:%d" % port, "master_app:application"], tmp_path)
    assert code == 0, out
    daemon = wait_for(lambda: read_pid(pidfile), timeout=15, what="the daemon's pid file")
    try:
        wait_for(lambda: log.exists() and log.read_text().count("Booting worker") == 2, timeout=15,
                 what="two workers")
        # A new session, no terminal, standard streams on /dev/null.
        assert os.getsid(daemon) != os.getsid(0)
        for fd in (0, 1, 2):
            assert os.readlink("/proc/%d/fd/%d" % (daemon, fd)) == "/dev/null"
        r = exchange(port, req("/pid"))
        assert r.status == 200 and r.json()["ppid"] == daemon

        # WINCH (daemon only): the workers stop, the master stays.
        os.kill(daemon, signal.SIGWINCH)
        wait_for(lambda: "graceful stop of workers" in log.read_text(), timeout=10, what="WINCH")
        wait_for(lambda: children(daemon) == [], timeout=15, what="the workers to stop")
        assert not process_gone(daemon)
        # TTIN brings one back.
        os.kill(daemon, signal.SIGTTIN)
        wait_for(lambda: len(children(daemon)) == 1, timeout=15, what="a worker after TTIN")
        assert exchange(port, req("/pid")).json()["ppid"] == daemon
    finally:
        stop_pid(daemon)
    assert not pidfile.exists()


def test_daemon_with_stdio_inheritance_keeps_stderr(tmp_path):
    port = free_port()
    pidfile = tmp_path / "d.pid"
    code, _ = launch(["-D", "-R", "--pid", str(pidfile), "-w", "1", "-b", "127.0.0.1:%d" % port,
                      "master_app:application"], tmp_path)
    assert code == 0
    daemon = wait_for(lambda: read_pid(pidfile), timeout=15, what="the daemon's pid file")
    try:
        # The error log (stderr) still reaches the launcher's stderr file.
        wait_for(lambda: "Booting worker" in (tmp_path / "launcher.stderr").read_text(), timeout=15,
                 what="the daemon's log on the inherited stderr")
        assert os.readlink("/proc/%d/fd/0" % daemon) == "/dev/null"
    finally:
        stop_pid(daemon)


def test_winch_is_ignored_without_daemon(server_factory):
    srv = server_factory("master_app:application", "-w", "1", "--log-level", "debug")
    [worker] = srv.wait_workers(1)
    srv.signal(signal.SIGWINCH)
    srv.wait_for_log(r"SIGWINCH ignored. Not daemonized")
    assert exchange(srv.port, req("/pid")).json()["pid"] == worker


# -- --user, --group, --initgroups, --worker-tmp-dir -------------------------------------------

def test_unknown_user_or_group_is_one_line(tmp_path):
    for args, msg in ((["-u", "no-such-user-ferricorn"], "no such user: 'no-such-user-ferricorn'"),
                      (["-g", "no-such-group-ferricorn"], "no such group: 'no-such-group-ferricorn'"),
                      (["--worker-tmp-dir", str(tmp_path / "missing")], "not a directory")):
        code, out = launch(args + ["master_app:application"], tmp_path)
        lines = [ln for ln in out.splitlines() if ln.strip()]
        assert code == 2 and len(lines) == 1 and lines[0].startswith("ferricorn: error:"), out
        assert msg in lines[0], out


def test_worker_tmp_dir_is_accepted(server_factory, tmp_path):
    srv = server_factory("master_app:application", "-w", "1", "--worker-tmp-dir", str(tmp_path))
    assert exchange(srv.port, req("/pid")).status == 200


def owner_of(path):
    st = os.stat(path)
    return st.st_uid, st.st_gid


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="changing users needs root")


def nobody():
    import grp
    import pwd

    try:
        u = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody'")
    g = grp.getgrgid(u.pw_gid)
    return u, g


@needs_root
def test_user_and_group_for_workers(server_factory, short_tmp):
    u, g = nobody()
    sock = str(short_tmp / "u.sock")
    log = str(short_tmp / "e.log")
    srv = server_factory("master_ids_app:application", "-w", "1", "-u", u.pw_name, "-g", str(g.gr_gid),
                         "--error-logfile", log, bind="unix:" + sock, wait=False)
    srv.unix_path = sock
    srv.wait_ready()
    r = exchange(None, req("/"), unix_path=sock)
    assert r.status == 200, r
    uid, gid, euid, egid, groups = r.body.decode().split(" ")
    assert (int(uid), int(euid), int(gid), int(egid)) == (u.pw_uid, u.pw_uid, g.gr_gid, g.gr_gid)
    assert groups == "", "the master's supplementary groups must not be kept"
    # The master keeps its privileges; the socket and the log belong to the user.
    with open("/proc/%d/status" % srv.pid) as f:
        assert re.search(r"^Uid:\s+0\s", f.read(), re.M)
    assert owner_of(sock) == (u.pw_uid, g.gr_gid)
    assert owner_of(log) == (u.pw_uid, g.gr_gid)


@needs_root
def test_initgroups(server_factory):
    u, g = nobody()
    srv = server_factory("master_ids_app:application", "-w", "1", "-u", str(u.pw_uid), "-g", g.gr_name,
                         "--initgroups")
    uid, gid, _, _, groups = exchange(srv.port, req("/")).body.decode().split(" ")
    assert (int(uid), int(gid)) == (u.pw_uid, g.gr_gid)
    expected = sorted(set(os.getgrouplist(u.pw_name, g.gr_gid)))
    assert [int(x) for x in groups.split(",") if x] == expected


# -- master-side server hooks ----------------------------------------------------------------

MASTER_HOOKS_CONF = """
import json, os
OUT = os.environ["HOOK_OUT"]
workers = 1

def note(name, **kw):
    kw["hook"] = name
    kw["in_pid"] = os.getpid()
    with open(OUT, "a") as f:
        f.write(json.dumps(kw) + "\\n")

def when_ready(server):
    note("when_ready", pid=server.pid)

def pre_fork(server, worker):
    note("pre_fork", age=worker.age)

def child_exit(server, worker):
    note("child_exit", pid=worker.pid, age=worker.age)

def nworkers_changed(server, new, old):
    note("nworkers_changed", new=new, old=old)

def on_reload(server):
    note("on_reload", workers=server.cfg.workers)

def pre_exec(server):
    note("pre_exec")

def on_exit(server):
    note("on_exit")
"""


def notes(path):
    try:
        with open(path) as f:
            return [__import__("json").loads(ln) for ln in f if ln.strip()]
    except OSError:
        return []


def test_master_hooks(server_factory, tmp_path):
    conf = tmp_path / "hooks.py"
    conf.write_text(MASTER_HOOKS_CONF)
    out = tmp_path / "hooks.jsonl"
    srv = server_factory("master_app:application", "-c", str(conf), env={"HOOK_OUT": str(out)})
    [first] = srv.wait_workers(1)
    names = lambda: [n["hook"] for n in notes(out)]  # noqa: E731
    wait_for(lambda: "pre_fork" in names(), what="pre_fork")
    # Gunicorn's order: when_ready after binding, before the first fork.
    assert names()[:3] == ["when_ready", "nworkers_changed", "pre_fork"], names()
    assert all(n["in_pid"] == srv.pid for n in notes(out))
    assert notes(out)[1]["new"] == 1 and notes(out)[1]["old"] is None

    srv.signal(signal.SIGTTIN)
    wait_for(lambda: names().count("pre_fork") == 2, what="a second pre_fork")
    assert {"hook": "nworkers_changed", "new": 2, "old": 1, "in_pid": srv.pid} in notes(out)
    srv.signal(signal.SIGTTOU)
    wait_for(lambda: "child_exit" in names(), timeout=15, what="child_exit")
    assert [n for n in notes(out) if n["hook"] == "child_exit"][0]["pid"] == first

    conf.write_text(MASTER_HOOKS_CONF.replace("workers = 1", "workers = 2"))
    srv.signal(signal.SIGHUP)
    wait_for(lambda: "on_reload" in names(), timeout=15, what="on_reload")
    assert [n for n in notes(out) if n["hook"] == "on_reload"] == [
        {"hook": "on_reload", "workers": 2, "in_pid": srv.pid}]

    srv.signal(signal.SIGUSR2)
    new_master = None
    try:
        wait_for(lambda: "pre_exec" in names(), timeout=15, what="pre_exec")
        new_master = int(srv.wait_for_log(r"Forked new master \(pid:(\d+)\)")[0])
        wait_for(lambda: any(n["hook"] == "when_ready" and n["in_pid"] == new_master for n in notes(out)),
                 timeout=15, what="the new master's when_ready")
    finally:
        stop_pid(new_master)
    exits = lambda: [n["in_pid"] for n in notes(out) if n["hook"] == "on_exit"]  # noqa: E731
    assert exits() == [new_master], (notes(out), srv.stderr()[-3000:])
    srv.signal(signal.SIGTERM)
    assert srv.wait_exit(15) == 0
    assert exits() == [new_master, srv.pid], (notes(out), srv.stderr()[-3000:])
