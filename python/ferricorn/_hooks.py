"""Gunicorn's server hooks and the objects they receive.

A ``gunicorn.conf.py`` may define any of Gunicorn's 16 hooks; ``_config``
hands the callables to :func:`register`. The Rust core calls the functions at
the bottom of this module at the same points Gunicorn's arbiter and workers
call the hooks, and only for hooks that are defined (a server without hooks
runs none of this code).

The ``server``, ``worker``, ``req`` and ``resp`` objects carry the attributes
real configs use (``server.cfg``, ``.log``, ``.pid``, ``.num_workers``;
``worker.pid``, ``.age``, ``.log``, ``.alive``; ``req.method``, ``.uri``,
``.path``, ``.query``, ``.headers``; ``resp.status``, ...). They are plain
snapshots: setting an attribute changes nothing in the server.

An exception raised by a hook is logged with its traceback and the server
goes on, except in ``on_starting`` / ``when_ready``, where it stops the
server as it would stop Gunicorn.
"""

import os
import sys
import time
import traceback

from . import _ferricorn

# Gunicorn's 16 hooks, in its order (kept in _config, which must not import us).
from ._config import HOOK_NAMES  # noqa: E402

#: name -> callable, for the hooks the configuration defines.
HOOKS = {}
#: The settings as the core validated them (name -> value), for ``server.cfg``.
SETTINGS = {}


class HookError(Exception):
    """A hook setting that is not callable (a one-line configuration error)."""


def _resolve(name, value):
    if isinstance(value, str):
        import importlib

        mod, _, attr = value.rpartition(".")
        if not mod:
            raise HookError(f"{name}: {value!r} is not a dotted path to a callable")
        try:
            value = getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError) as e:
            raise HookError(f"{name}: cannot import {value!r}: {e}") from None
    if not callable(value):
        raise HookError(f"{name}: value is not callable: {value!r}")
    if name == "post_request":
        value = _adapt_post_request(value)
    return value


def _adapt_post_request(fn):
    """Gunicorn accepts post_request(worker, req), (worker, req, environ) or
    (worker, req, environ, resp): call with as many arguments as it takes."""
    import inspect

    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return fn
    if any(p.kind in (p.VAR_POSITIONAL,) for p in params):
        return fn
    n = sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
    if n == 2:
        return lambda worker, req, environ, resp: fn(worker, req)
    if n == 3:
        return lambda worker, req, environ, resp: fn(worker, req, environ)
    return fn


def register(name, value):
    """Called by the config loader for each hook a config file defines."""
    HOOKS[name] = _resolve(name, value)


def defined():
    """Names of the hooks that are set (the core checks this once)."""
    return [n for n in HOOK_NAMES if n in HOOKS]


# -- the objects hooks receive ----------------------------------------------

class Logger:
    """``server.log`` / ``worker.log``: Gunicorn's logger methods, writing to
    ferricorn's error log in its format (``msg % args`` like ``logging``)."""

    def _emit(self, level, msg, args, exc=False):
        try:
            text = (msg % args) if args else str(msg)
        except Exception:
            text = "%s %r" % (msg, args)
        if exc:
            tb = traceback.format_exc()
            if tb and tb.strip() != "NoneType: None":
                text = text + "\n" + tb.rstrip("\n")
        _ferricorn._log(level, text)

    def debug(self, msg, *args, **kwargs):
        self._emit("debug", msg, args, kwargs.get("exc_info", False))

    def info(self, msg, *args, **kwargs):
        self._emit("info", msg, args, kwargs.get("exc_info", False))

    def warning(self, msg, *args, **kwargs):
        self._emit("warning", msg, args, kwargs.get("exc_info", False))

    warn = warning

    def error(self, msg, *args, **kwargs):
        self._emit("error", msg, args, kwargs.get("exc_info", False))

    def critical(self, msg, *args, **kwargs):
        self._emit("critical", msg, args, kwargs.get("exc_info", False))

    def exception(self, msg, *args, **kwargs):
        self._emit("error", msg, args, True)

    def log(self, lvl, msg, *args, **kwargs):
        names = {10: "debug", 20: "info", 30: "warning", 40: "error", 50: "critical"}
        if isinstance(lvl, str):
            lvl = {"warn": "warning"}.get(lvl.lower(), lvl.lower())
        else:
            lvl = names.get(lvl, "info")
        self._emit(lvl, msg, args, kwargs.get("exc_info", False))

    def access(self, *args, **kwargs):
        """The core writes the access log; nothing to do from Python."""

    # Gunicorn's statsd logger methods: sent through the core's statsd
    # client when --statsd-host is set, else nothing.
    def gauge(self, name, value):
        _ferricorn._metric("gauge", name, value)

    def increment(self, name, value=1, sampling_rate=1.0):
        _ferricorn._metric("increment", name, value)

    def decrement(self, name, value=1, sampling_rate=1.0):
        _ferricorn._metric("increment", name, -value)

    def histogram(self, name, value):
        _ferricorn._metric("histogram", name, value)

    def reopen_files(self):
        """Log files are reopened by the core (USR1)."""

    def close_on_exec(self):
        pass


class Setting:
    """``cfg.settings[name]``: Gunicorn's setting objects expose ``.value``."""

    def __init__(self, name, value):
        self.name = name
        self.value = value

    def get(self):
        return self.value

    def __repr__(self):
        return "<Setting %s=%r>" % (self.name, self.value)


class Config:
    """``server.cfg``: every setting by its Gunicorn name (``cfg.workers``,
    ``cfg.bind``, ...) and the derived properties configs read."""

    def __init__(self, values):
        self._values = dict(values)
        self._values.update(HOOKS)
        self.settings = {k: Setting(k, v) for k, v in self._values.items()}

    def __getattr__(self, name):
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError("No configuration setting for: %s" % name) from None

    @property
    def worker_class_str(self):
        return self._values.get("worker_class", "sync")

    @property
    def address(self):
        return list(self._values.get("bind", []))

    @property
    def uid(self):
        return os.geteuid()

    @property
    def gid(self):
        return os.getegid()

    @property
    def proc_name(self):
        return self._values.get("proc_name") or self._values.get("default_proc_name") or "ferricorn"

    @property
    def is_ssl(self):
        return False

    @property
    def env(self):
        out = {}
        for item in self._values.get("raw_env", []) or []:
            k, _, v = str(item).partition("=")
            out[k] = v
        return out

    @property
    def sendfile(self):
        return True

    @property
    def reuse_port(self):
        return bool(self._values.get("reuse_port"))


class Server:
    """The ``server`` argument: a view of the master (Gunicorn's Arbiter)."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.log = Logger()
        self.pid = os.getpid()
        self.master_pid = 0
        self.reexec_pid = 0
        self.master_name = "Master"
        self.num_workers = cfg._values.get("workers", 1)
        self.timeout = cfg._values.get("timeout", 30)
        self.proc_name = cfg.proc_name
        self.app = None
        self.WORKERS = {}
        self.LISTENERS = list(cfg.address)

    @property
    def address(self):
        return self.cfg.address


class Worker:
    """The ``worker`` argument: one worker process (Gunicorn's Worker)."""

    def __init__(self, age, ppid, cfg, pid=None):
        self.age = age
        self.ppid = ppid
        self.pid = pid if pid is not None else "[booting]"
        self.cfg = cfg
        self.log = Logger()
        self.alive = True
        self.booted = False
        self.aborted = False
        self.nr = 0
        self.max_requests = cfg._values.get("max_requests", 0) or sys.maxsize
        self.timeout = cfg._values.get("timeout", 30)
        self.tmp = None
        self.app = None
        self.wsgi = None

    def notify(self):
        """The core keeps the heartbeat."""

    def __repr__(self):
        return "<Worker %s>" % self.pid


class Request:
    """The ``req`` argument of pre_request / post_request."""

    def __init__(self, environ):
        self.method = environ.get("REQUEST_METHOD", "")
        self.uri = environ.get("RAW_URI", "")
        path, _, query = self.uri.partition("?")
        if "://" in path:  # absolute-form: keep the path part
            path = "/" + path.split("://", 1)[1].partition("/")[2]
        self.path = path
        self.query = environ.get("QUERY_STRING", query)
        self.fragment = ""
        proto = environ.get("SERVER_PROTOCOL", "HTTP/1.1")
        try:
            major, minor = proto.split("/", 1)[1].split(".", 1)
            self.version = (int(major), int(minor))
        except (IndexError, ValueError):
            self.version = (1, 1)
        self.scheme = environ.get("wsgi.url_scheme", "http")
        headers = []
        for k, v in environ.items():
            if k.startswith("HTTP_"):
                headers.append((k[5:].replace("_", "-"), v))
            elif k in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                headers.append((k.replace("_", "-"), v))
        self.headers = headers
        self.remote_addr = environ.get("REMOTE_ADDR", "")
        self.peer_addr = (self.remote_addr, environ.get("REMOTE_PORT", ""))
        self.body = environ.get("wsgi.input")
        self.start_time = time.time()

    def should_close(self):
        conn = [v.lower() for k, v in self.headers if k == "CONNECTION"]
        if "close" in conn:
            return True
        return self.version < (1, 1) and "keep-alive" not in conn


class Response:
    """The ``resp`` argument of post_request."""

    def __init__(self, status, headers, sent, version):
        self.status = status
        try:
            self.status_code = int(str(status).split(None, 1)[0])
        except (IndexError, ValueError):
            self.status_code = 500
        self.headers = list(headers or [])
        self.sent = sent
        self.response_length = sent
        self.version = version
        self.headers_sent = True

    @property
    def chunked(self):
        return not any(str(k).lower() == "content-length" for k, _ in self.headers)


SERVER = None
WORKER = None


def _log_hook_failure(name):
    _ferricorn._log("error", "Exception in %s hook\n%s" % (name, traceback.format_exc().rstrip("\n")))


def _call(name, *args):
    fn = HOOKS.get(name)
    if fn is None:
        return None
    try:
        return fn(*args)
    except Exception:
        _log_hook_failure(name)
        return None


def _server():
    global SERVER
    if SERVER is None:
        SERVER = Server(Config(SETTINGS))
    return SERVER


# -- called by the core: master ---------------------------------------------

def set_settings(values):
    """The validated configuration (after each load, HUP included)."""
    global SETTINGS, SERVER
    SETTINGS = dict(values)
    if SERVER is not None:
        SERVER.cfg = Config(SETTINGS)
        SERVER.num_workers = SETTINGS.get("workers", SERVER.num_workers)
    else:
        _server()


def master_event(name, num_workers=None, *extra):
    """on_starting, on_reload, when_ready, pre_exec, on_exit: ``hook(server)``;
    nworkers_changed: ``hook(server, new, old)``. Exceptions in on_starting
    and when_ready propagate (the core stops), as in Gunicorn."""
    server = _server()
    server.pid = os.getpid()
    if num_workers is not None:
        server.num_workers = num_workers
    fn = HOOKS.get(name)
    if fn is None:
        return
    if name in ("on_starting", "when_ready"):
        fn(server, *extra)
    else:
        _call(name, server, *extra)


def pre_fork(age, num_workers):
    server = _server()
    server.num_workers = num_workers
    _call("pre_fork", server, Worker(age, os.getpid(), server.cfg))


def child_exit(pid, age, num_workers):
    server = _server()
    server.num_workers = num_workers
    w = Worker(age, os.getpid(), server.cfg, pid)
    w.alive = False
    server.WORKERS.pop(pid, None)
    _call("child_exit", server, w)


def worker_spawned(pid, age):
    """In the master, after a fork: the worker as the master sees it."""
    server = _server()
    server.WORKERS[pid] = Worker(age, os.getpid(), server.cfg, pid)


# -- called by the core: worker ---------------------------------------------

def worker_boot(age, master_pid):
    """In a new worker, right after the fork: post_fork(server, worker)."""
    global WORKER
    server = _server()
    server.pid = master_pid
    WORKER = Worker(age, master_pid, server.cfg, os.getpid())
    _call("post_fork", server, WORKER)


def worker_ready(app):
    WORKER.booted = True
    WORKER.wsgi = app
    _call("post_worker_init", WORKER)


def worker_exit():
    if WORKER is None:
        return
    WORKER.alive = False
    _call("worker_exit", _server(), WORKER)


def _flush_and_exit(code):
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code)


def _on_int(signum, frame):
    if WORKER is not None:
        WORKER.alive = False
    _call("worker_int", WORKER)
    worker_exit()  # Gunicorn's worker leaves through sys.exit: worker_exit runs too
    _flush_and_exit(0)


def _on_abort(signum, frame):
    if WORKER is not None:
        WORKER.alive = False
        WORKER.aborted = True
    _call("worker_abort", WORKER)
    worker_exit()
    _flush_and_exit(1)


def install_worker_signals(wakeup_fd):
    """worker_int (SIGINT/SIGQUIT) and worker_abort (SIGABRT, what the master
    sends past --timeout) run as Python signal handlers, so they also run in
    the middle of a request. ``wakeup_fd`` wakes the event loop when a signal
    lands while it sleeps, and the loop then runs the handler."""
    import signal

    installed = False
    if "worker_int" in HOOKS:
        signal.signal(signal.SIGINT, _on_int)
        signal.signal(signal.SIGQUIT, _on_int)
        installed = True
    if "worker_abort" in HOOKS:
        signal.signal(signal.SIGABRT, _on_abort)
        installed = True
    if installed:
        signal.set_wakeup_fd(wakeup_fd, warn_on_full_buffer=False)
    return installed


def pre_request(environ):
    """Returns the ``req`` object (also handed to post_request)."""
    req = Request(environ)
    if WORKER is not None:
        WORKER.nr += 1
    _call("pre_request", WORKER, req)
    return req


def post_request(req, environ, status, headers, sent):
    if "post_request" not in HOOKS:
        return
    if req is None:
        req = Request(environ)
    resp = Response(status, headers, sent, req.version)
    _call("post_request", WORKER, req, environ, resp)
