"""Imports a module that does not exist (ImportError inside the app module)."""

import ferricorn_test_no_such_dependency  # noqa: F401


def application(environ, start_response):  # pragma: no cover
    start_response("200 OK", [])
    return [b""]
