"""Fixtures for ferricorn's integration tests.

The real server runs as a subprocess (``python -m ferricorn``) in its own
process group, bound to 127.0.0.1 on a free port, with ``tests/apps`` as its
working directory so that the test applications import. Its stdout and stderr
go to files that the tests read. On teardown the server gets SIGTERM, then the
process group that was started for it (and only that one) gets SIGKILL.

``FERRICORN_TEST_CMD`` overrides the server command (e.g. a path to another
Gunicorn-compatible server) - used only to check the suite itself.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
APPS_DIR = TESTS_DIR / "apps"
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

BOOT_TIMEOUT = float(os.environ.get("FERRICORN_TEST_BOOT_TIMEOUT", "10"))
DEFAULT_TEST_TIMEOUT = int(os.environ.get("FERRICORN_TEST_TIMEOUT", "60"))


def server_command() -> list:
    override = os.environ.get("FERRICORN_TEST_CMD")
    if override:
        return shlex.split(override)
    return [sys.executable, "-m", "ferricorn"]


def extra_server_args() -> list:
    """FERRICORN_TEST_EXTRA_ARGS: appended to every started server (suite checks only)."""
    return shlex.split(os.environ.get("FERRICORN_TEST_EXTRA_ARGS", ""))


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (the server cannot bind port 0)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def ipv6_available() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def can_connect(host: str, port: int | None = None, unix_path: str | None = None) -> bool:
    try:
        if unix_path is not None:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target = unix_path
        else:
            s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
            target = (host, port)
        with s:
            s.settimeout(1.0)
            s.connect(target)
        return True
    except OSError:
        return False


class ServerExited(AssertionError):
    pass


_LIVE_SERVERS: list = []


class Server:
    """One ferricorn master process started for a test."""

    def __init__(self, app: str | None, args=(), *, bind=None, cwd=None, env=None, workdir: Path,
                 pass_fds=(), name: str = "server"):
        self.app = app
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = None
        self.unix_path = None
        args = list(args)
        if bind is None:
            self.port = free_port()
            binds = ["-b", "%s:%d" % (self.host, self.port)]
        elif bind is False:
            binds = []
        else:
            binds = []
            for b in ([bind] if isinstance(bind, str) else bind):
                binds += ["-b", b]
            first = bind if isinstance(bind, str) else bind[0]
            if first.startswith("unix:"):
                self.unix_path = first[5:]
            elif first.startswith("fd://"):
                pass
            else:
                h, _, p = first.rpartition(":")
                self.host = h.strip("[]")
                self.port = int(p)
        self.argv = server_command() + binds + args + extra_server_args() + ([app] if app else [])
        self.cwd = str(cwd or APPS_DIR)
        self.env = dict(os.environ)
        self.env.pop("PYTHONPATH", None)
        self.env["PYTHONDONTWRITEBYTECODE"] = "1"
        self.env["PYTHONUNBUFFERED"] = "1"
        self.env.setdefault("FERRICORN_TEST_MARK_DIR", str(self.workdir / "marks"))
        (Path(self.env["FERRICORN_TEST_MARK_DIR"])).mkdir(parents=True, exist_ok=True)
        if env:
            self.env.update(env)
        self.stdout_path = self.workdir / ("%s.stdout" % name)
        self.stderr_path = self.workdir / ("%s.stderr" % name)
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            self.argv, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
            stdout=self._out, stderr=self._err, start_new_session=True, pass_fds=tuple(pass_fds),
        )
        self.pgid = self.proc.pid  # start_new_session: the master leads its own group
        _LIVE_SERVERS.append(self)

    # -- introspection -----------------------------------------------------
    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def mark_dir(self) -> Path:
        return Path(self.env["FERRICORN_TEST_MARK_DIR"])

    def stderr(self) -> str:
        return self.stderr_path.read_bytes().decode("utf-8", "replace")

    def stdout(self) -> str:
        return self.stdout_path.read_bytes().decode("utf-8", "replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def worker_pids(self) -> list:
        """Worker pids in order of their 'Booting worker with pid: N' lines."""
        return [int(m) for m in re.findall(r"Booting worker with pid: (\d+)", self.stderr())]

    def url(self, path: str = "/") -> str:
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "http://%s:%d%s" % (host, self.port, path)

    # -- waiting -----------------------------------------------------------
    def wait_ready(self, timeout: float = BOOT_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerExited("server exited with %s before it was ready; stderr:\n%s"
                                   % (self.proc.returncode, self.stderr()[-4000:]))
            if self.unix_path is not None:
                if os.path.exists(self.unix_path) and can_connect("", unix_path=self.unix_path):
                    return self
            elif self.port is not None and can_connect(self.host, self.port):
                return self
            time.sleep(0.05)
        raise AssertionError("server not accepting connections after %.0fs; stderr:\n%s"
                             % (timeout, self.stderr()[-4000:]))

    def wait_for_log(self, pattern: str, timeout: float = 10.0, stream: str = "stderr", count: int = 1) -> list:
        """Wait until ``pattern`` (a regex) matches ``count`` times in the log."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.stderr() if stream == "stderr" else self.stdout()
            found = re.findall(pattern, text, re.M)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError("log pattern %r not found %d time(s) in %s within %.0fs:\n%s"
                                     % (pattern, count, stream, timeout, text[-4000:]))
            time.sleep(0.05)

    def wait_workers(self, n: int, timeout: float = BOOT_TIMEOUT) -> list:
        self.wait_for_log(r"Booting worker with pid: \d+", timeout=timeout, count=n)
        return self.worker_pids()

    def wait_exit(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    # -- signals -------------------------------------------------------------
    def signal(self, sig: int):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def signal_worker(self, pid: int, sig: int):
        """Signal one of this server's workers: only if it is in our group."""
        assert os.getpgid(pid) == self.pgid, "pid %d is not in the server's process group" % pid
        os.kill(pid, sig)

    def group_alive(self) -> bool:
        try:
            os.killpg(self.pgid, 0)
            return True
        except ProcessLookupError:
            return False
        except PermissionError:
            return False

    def stop(self, timeout: float = 10.0):
        """TERM the master, wait, then SIGKILL what is left of its group."""
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    pass
            deadline = time.monotonic() + 2.0
            while self.group_alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            if self.group_alive():
                try:
                    os.killpg(self.pgid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        finally:
            for f in (self._out, self._err):
                try:
                    f.close()
                except OSError:
                    pass
            if self in _LIVE_SERVERS:
                _LIVE_SERVERS.remove(self)


class ServerFactory:
    def __init__(self, base: Path):
        self.base = Path(base)
        self.servers: list = []

    def __call__(self, app: str | None = "app:application", *args, wait: bool = True, bind=None, cwd=None,
                 env=None, pass_fds=(), boot_timeout: float = BOOT_TIMEOUT) -> Server:
        name = "server%d" % len(self.servers)
        srv = Server(app, args, bind=bind, cwd=cwd, env=env, workdir=self.base / name, pass_fds=pass_fds,
                     name=name)
        self.servers.append(srv)
        if wait:
            srv.wait_ready(boot_timeout)
        return srv

    def cleanup(self):
        for srv in reversed(self.servers):
            srv.stop()


@pytest.fixture
def server_factory(tmp_path):
    """Start a dedicated server for one test: ``server_factory(app, *args)``."""
    f = ServerFactory(tmp_path / "servers")
    yield f
    f.cleanup()


@pytest.fixture(scope="module")
def module_server_factory(tmp_path_factory):
    """Like server_factory, shared by the tests of one module."""
    f = ServerFactory(tmp_path_factory.mktemp("servers"))
    yield f
    f.cleanup()


@pytest.fixture
def short_tmp():
    """A short directory path (Unix socket paths are limited to ~107 bytes)."""
    d = tempfile.mkdtemp(prefix="fc-", dir="/tmp")
    yield Path(d)
    for p in Path(d).glob("*"):
        try:
            p.unlink()
        except OSError:
            pass
    try:
        os.rmdir(d)
    except OSError:
        pass


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0fs waiting for %s" % (timeout, what() if callable(what) else what))
        time.sleep(interval)


def run_cli(args, timeout: float = 20.0, cwd=None, env=None) -> subprocess.CompletedProcess:
    """Run the server command to completion (for --help, bad flags, boot errors).
    Runs in its own process group, which is killed if it overstays."""
    e = dict(os.environ)
    e.pop("PYTHONPATH", None)
    e["PYTHONDONTWRITEBYTECODE"] = "1"
    if env:
        e.update(env)
    p = subprocess.Popen(server_command() + list(args), cwd=str(cwd or APPS_DIR), env=e,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = p.communicate(timeout=5)
        raise AssertionError("%r did not exit within %.0fs; stderr:\n%s"
                             % (args, timeout, err.decode("utf-8", "replace")[-3000:]))
    return subprocess.CompletedProcess(p.args, p.returncode, out.decode("utf-8", "replace"),
                                       err.decode("utf-8", "replace"))


# -- pytest hooks -------------------------------------------------------------

def pytest_configure(config):
    config.addinivalue_line("markers", "timeout(seconds): per-test time limit (pytest-timeout)")


def pytest_collection_modifyitems(config, items):
    # Every test is bounded in time, even if pytest.ini/--timeout is not used.
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(DEFAULT_TEST_TIMEOUT))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call" and rep.failed:
        for srv in list(_LIVE_SERVERS):
            try:
                tail = srv.stderr()[-3000:]
            except OSError:
                continue
            rep.sections.append(("ferricorn stderr (pid %d, %s)" % (srv.pid, " ".join(srv.argv[-6:])), tail))
