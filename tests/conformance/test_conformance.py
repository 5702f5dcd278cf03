"""Data-driven HTTP/1.1 conformance and request-smuggling suite.

Every case in conformance_cases.CASES runs twice: sent whole and sent one
byte per send(). Each run also proves, through /__stats on a fresh
connection, that the application was called for exactly the expected
requests and that the worker still serves after whatever the case did.

One server per configuration in conformance_cases.SERVERS (started on first
use, shared by the module), each with one worker and
tests/apps/conformance_app.py.

CONFORMANCE_TARGET=host:port runs the "default" cases against a server that
is already running (any server with conformance_app and one worker); the
cases for other configurations are then skipped.
"""

import os

import pytest

from conformance_cases import CASES, SERVERS
from conformance_runner import run_case

EXTERNAL = os.environ.get("CONFORMANCE_TARGET")


class Servers:
    def __init__(self, factory):
        self.factory = factory
        self.started = {}

    def port(self, name):
        if EXTERNAL:
            if name != "default":
                pytest.skip("CONFORMANCE_TARGET runs only the default configuration")
            return EXTERNAL.rpartition(":")[0].strip("[]") or "127.0.0.1", int(EXTERNAL.rpartition(":")[2])
        if name not in self.started:
            srv = self.factory("conformance_app:app", "-w", "1", *SERVERS[name])
            self.started[name] = srv
        return "127.0.0.1", self.started[name].port


@pytest.fixture(scope="module")
def servers(module_server_factory):
    return Servers(module_server_factory)


def _params():
    out = []
    for case in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
        out.append(pytest.param(case, id=case.id, marks=marks))
    return out


@pytest.mark.parametrize("mode", ["whole", "bytewise"])
@pytest.mark.parametrize("case", _params())
def test_case(servers, case, mode):
    host, port = servers.port(case.server)
    run_case(case, port, mode, host=host)


def test_corpus_shape():
    """The corpus is large enough and every case is well-formed."""
    assert len(CASES) >= 200, len(CASES)
    assert len({c.id for c in CASES}) == len(CASES)
    for c in CASES:
        assert c.raw and c.ref, c.id
        assert c.close is not False or not c.eof, c.id
        if c.responses and c.responses[-1].sees is None:
            assert c.close, "%s: an error must close the connection" % c.id
