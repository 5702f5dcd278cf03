"""Response headers passed as the same tuple objects on every request.

ferricorn remembers a validated header line by the identity of its (immutable)
tuple, so constant headers are checked and encoded once per thread. What users rely
on: every response carries exactly the right headers however often it repeats, an
invalid constant header is refused every time (never remembered), the special
headers (Content-Length, Server) keep their meaning, and per-response tuples that
the app keeps elsewhere are never mistaken for one another.
App: tests/apps/header_cache_app.py. Runtime: a few seconds.
"""

from __future__ import annotations

import pytest

from rawhttp import RawConnection, build_request

APP = "header_cache_app:application"


def head_lines(r) -> list:
    return sorted((k.lower(), v) for k, v in r.headers if k.lower() != "date")


@pytest.mark.parametrize("threads", ["1", "4"])
def test_constant_headers_are_right_every_time(server_factory, threads):
    srv = server_factory(APP, "-w", "1", "--threads", threads)
    with RawConnection(srv.port) as c:
        first = None
        for _ in range(300):
            c.send(build_request("GET", "/const"))
            r = c.read_response()
            assert r.status == 200 and r.body == b"const"
            lines = head_lines(r)
            if first is None:
                first = lines
            assert lines == first
        assert ("content-length", "5") in first and ("x-const", "yes") in first
        assert ("content-type", "text/plain") in first
        # HEAD: the remembered Content-Length, no body.
        c.send(build_request("HEAD", "/const"))
        r = c.read_response("HEAD")
        assert r.status == 200 and r.header("Content-Length") == "5" and r.body == b""


def test_special_constant_headers_keep_their_meaning(server_factory):
    srv = server_factory(APP, "-w", "1")
    with RawConnection(srv.port) as c:
        for _ in range(50):
            c.send(build_request("GET", "/server"))
            r = c.read_response()
            assert [v for k, v in r.headers if k.lower() == "server"] == ["app-server/1"]
            c.send(build_request("GET", "/nocontent"))
            r = c.read_response()
            assert r.status == 204 and r.header("Content-Length") is None
            assert r.header("X-Const") == "yes"


def test_invalid_constant_header_is_refused_every_time(server_factory):
    srv = server_factory(APP, "-w", "1")
    for _ in range(5):
        with RawConnection(srv.port) as c:
            c.send(build_request("GET", "/bad"))
            r = c.read_response()
            assert r.status == 500 and b"never" not in r.body
    with RawConnection(srv.port) as c:
        c.send(build_request("GET", "/const"))
        assert c.read_response().body == b"const"


def test_per_response_tuples_held_elsewhere_stay_distinct(server_factory):
    """Hundreds of responses whose tuples the app also keeps (past the point where the
    server stops remembering such tuples): each carries its own values."""
    srv = server_factory(APP, "-w", "1")
    with RawConnection(srv.port) as c:
        for i in range(600):
            c.send(build_request("GET", "/kept?i=%d" % i))
            r = c.read_response()
            assert r.header("X-Seq") == str(i) and r.body == b"kept %d" % i


def test_access_log_sees_remembered_response_headers(server_factory, tmp_path):
    log = tmp_path / "access.log"
    srv = server_factory(APP, "-w", "1", "--access-logfile", str(log),
                         "--access-logformat", "%(U)s %({x-const}o)s %({content-length}o)s")
    with RawConnection(srv.port) as c:
        for _ in range(3):
            c.send(build_request("GET", "/const"))
            c.read_response()
    srv.stop()
    lines = [l for l in log.read_text().splitlines() if l.startswith("/const")]
    assert lines == ["/const yes 5"] * 3
