"""ferricorn: a pre-fork WSGI HTTP server with a Rust core, driven like Gunicorn.

The Python package is deliberately thin: the command line, the master process
(arbiter), the HTTP engine and the WSGI bridge all live in the Rust extension
``ferricorn._ferricorn``.
"""

from ferricorn._ferricorn import __version__, run

SERVER_SOFTWARE = "ferricorn/" + __version__

__all__ = ["__version__", "run", "SERVER_SOFTWARE", "main"]


def main() -> None:
    """Console-script entry point: ``ferricorn [OPTIONS] APP_MODULE``."""
    from ferricorn.__main__ import main as _main

    _main()
