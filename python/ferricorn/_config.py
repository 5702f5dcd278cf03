"""Reads a Gunicorn-style configuration file for the Rust core.

``-c gunicorn.conf.py`` executes the file as Python (as Gunicorn does);
``-c python:pkg.module`` imports a module. Every module-level name is handed
back with its value converted to a small tagged form the core validates with
the same rules as the command line; names that are not settings are ignored
there. Runs once, in the master, before anything is bound or forked.
"""

import importlib
import os
import sys


# Gunicorn's server hooks (also ferricorn._hooks.HOOK_NAMES).
HOOK_NAMES = (
    "on_starting", "on_reload", "when_ready", "pre_fork", "post_fork", "post_worker_init",
    "worker_int", "worker_abort", "pre_exec", "pre_request", "post_request", "child_exit",
    "worker_exit", "nworkers_changed", "on_exit", "ssl_context",
)


class ConfigFileError(Exception):
    """A one-line, user-facing problem with the config file."""


def _convert(value):
    if value is None:
        return ("none", None)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int):
        return ("int", value)
    if isinstance(value, float):
        return ("int", int(value)) if value.is_integer() else ("str", repr(value))
    if isinstance(value, str):
        return ("str", value)
    if isinstance(value, dict):
        return ("dict", [(str(k), str(v)) for k, v in value.items()])
    if isinstance(value, (list, tuple, set, frozenset)):
        return ("list", [str(v) for v in value])
    if callable(value):
        mod = getattr(value, "__module__", None) or "?"
        qual = getattr(value, "__qualname__", None) or getattr(value, "__name__", None) or repr(value)
        return ("object", f"{mod}.{qual}")
    return ("str", str(value))


def _where(exc, path=None):
    """Where the user's code raised: the last frame in the config file itself
    (not in the stdlib it called), else the last frame that is not ours."""
    import traceback

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.endswith("_config.py")]
    own = [f for f in frames if path and f.filename == path]
    f = (own or frames or [None])[-1]
    return f" (at {f.filename}, line {f.lineno})" if f else ""


def load(path: str):
    """Returns [(name, (tag, value))] for the file or module ``path``.
    Hook callables are also registered with ``_hooks`` (replacing those of
    an earlier load: a HUP re-reads the file)."""
    if path.startswith("file:"):
        path = path[len("file:"):]
    if path.startswith("python:"):
        name = path[len("python:"):]
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())  # a module next to the user, as with APP_MODULE
        try:
            namespace = vars(importlib.import_module(name))
        except ImportError as e:
            raise ConfigFileError(f"cannot import config module {name!r}: {e}") from None
        except Exception as e:  # the user's module raised
            raise ConfigFileError(f"config module {name!r} failed: {type(e).__name__}: {e}{_where(e)}") from None
    else:
        try:
            with open(path, "rb") as f:
                source = f.read()
        except OSError as e:
            raise ConfigFileError(f"cannot read config file {path!r}: {e.strerror}") from None
        namespace = {"__builtins__": __builtins__, "__name__": "__config__", "__file__": os.path.abspath(path)}
        try:
            code = compile(source, path, "exec")
            exec(code, namespace)
        except SyntaxError as e:
            raise ConfigFileError(f"config file {path!r}: SyntaxError: {e.msg} (line {e.lineno})") from None
        except BaseException as e:
            if isinstance(e, SystemExit):
                raise ConfigFileError(f"config file {path!r} called exit()") from None
            raise ConfigFileError(f"config file {path!r} failed: {type(e).__name__}: {e}{_where(e, path)}") from None
    if isinstance(namespace.get("logconfig_dict"), dict):
        # Kept as Python objects: handlers and filters may be nested dicts,
        # callables or classes that the flat form handed to the core loses.
        from . import _logging

        _logging.LOGCONFIG_DICT = namespace["logconfig_dict"]
    hook_names = [n for n in HOOK_NAMES if namespace.get(n) is not None]
    if hook_names or "ferricorn._hooks" in sys.modules:
        # Imported only when hooks exist (or existed before this HUP).
        from . import _hooks

        _hooks.HOOKS.clear()
    for name in hook_names:
        if name in namespace and namespace[name] is not None:
            try:
                _hooks.register(name, namespace[name])
            except _hooks.HookError as e:
                raise ConfigFileError(str(e)) from None
    return [
        (name, _convert(value))
        for name, value in namespace.items()
        if not name.startswith("_") and not isinstance(value, type(sys))
    ]
