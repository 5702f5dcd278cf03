"""Finds and loads the WSGI application named on the command line.

Called once per worker (after fork) by the Rust core. Only this start-up path
is Python; nothing here runs per request. User mistakes raise ``AppError``
with a one-line message; the core logs it and exits with Gunicorn's
"worker failed to boot" status instead of printing a traceback of ours.
Exceptions raised *inside* the user's module while it imports are the user's
own and are logged with their traceback.
"""

import ast
import importlib
import importlib.util
import sys


class AppError(Exception):
    """A problem the user can fix in the APP_MODULE spec or the environment.

    ``exit_code`` follows Gunicorn: 3 when the module cannot be imported
    (worker failed to boot), 4 when it imported but holds no usable app
    (Gunicorn's AppImportError, "App failed to load").
    """

    def __init__(self, message: str, exit_code: int = 4):
        super().__init__(message)
        self.exit_code = exit_code


def _literal_call(expr: str):
    """Parses ``name`` or ``name(literal args)``; returns (name, args, kwargs, is_call)."""
    try:
        node = ast.parse(expr, mode="eval").body
    except SyntaxError:
        raise AppError(f"Failed to parse {expr!r} as an attribute name or function call.") from None
    if isinstance(node, ast.Name):
        return node.id, (), {}, False
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        try:
            args = tuple(ast.literal_eval(a) for a in node.args)
            kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
        except ValueError:
            raise AppError(
                f"Failed to parse arguments of {expr!r}: only literal values are allowed."
            ) from None
        if any(k is None for k in kwargs):
            raise AppError(f"Failed to parse arguments of {expr!r}: **kwargs is not allowed.")
        return node.func.id, args, kwargs, True
    raise AppError(f"Failed to parse {expr!r} as an attribute name or function call.")


def find_module(module: str) -> None:
    """Checks, without running the user's code, that the top-level package exists."""
    top = module.split(".", 1)[0]
    if not top or importlib.util.find_spec(top) is None:
        raise AppError(f"No module named {top!r} (sys.path: {sys.path!r})", 3)


def load(spec: str):
    """Returns the WSGI callable for ``module:attr``, ``module:factory(...)`` or ``module``."""
    module, _, expr = spec.partition(":")
    if not module:
        raise AppError(f"Invalid application spec {spec!r}: expected MODULE[:ATTRIBUTE].")
    expr = expr or "application"
    name, args, kwargs, is_call = _literal_call(expr)
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        # Only the app's own module (or a parent package) missing is our
        # one-line error; a missing dependency inside the app is the app's
        # traceback to show.
        if e.name and (module == e.name or module.startswith(e.name + ".")):
            raise AppError(f"No module named {e.name!r} (sys.path: {sys.path!r})", 3) from None
        raise
    try:
        app = getattr(mod, name)
    except AttributeError:
        raise AppError(f"Failed to find attribute {name!r} in {module!r}.") from None
    if is_call:
        if not callable(app):
            raise AppError(f"Attribute {name!r} in {module!r} is not callable, so it is not an application factory.")
        import inspect

        try:
            inspect.signature(app).bind(*args, **kwargs)
        except TypeError as e:
            raise AppError(f"Cannot call the application factory {expr!r} in {module!r}: {e}") from None
        except ValueError:
            pass  # no signature to check (a builtin): let the call decide
        app = app(*args, **kwargs)
        if app is None:
            raise AppError(f"The application factory {expr!r} in {module!r} returned None.")
    if not callable(app):
        raise AppError(f"Application object {name!r} in {module!r} must be callable.")
    return app


def summarize(exc) -> str:
    """One line naming the exception and where the user's code raised it."""
    import traceback

    where = ""
    frames = traceback.extract_tb(exc.__traceback__)
    frames = [f for f in frames if "importlib" not in f.filename and not f.filename.endswith("_loader.py")]
    if frames:
        where = f" (at {frames[-1].filename}, line {frames[-1].lineno})"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}{where}"


def format_exception(exc) -> str:
    """The traceback text of ``exc`` for the error log."""
    import traceback

    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip("\n")
