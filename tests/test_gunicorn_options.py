"""Gunicorn options beyond the core contract that ferricorn's --help lists as supported."""

import pytest

from conftest import wait_for
from rawhttp import RawConnection, build_request, exchange


def test_max_requests_restarts_worker(server_factory):
    srv = server_factory("app:application", "-w", "1", "--max-requests", "3")
    srv.wait_workers(1)
    pids = [exchange(srv.port, build_request("GET", "/pid"), timeout=15).json()["pid"] for _ in range(10)]
    assert len(set(pids)) >= 3, pids
    for p in set(pids):
        assert pids.count(p) <= 3, pids
    assert srv.alive()


def test_header_map_refuse(server_factory):
    srv = server_factory("app:application", "-w", "1", "--header-map", "refuse")
    with RawConnection(srv.port) as c:
        c.send(build_request("GET", "/environ", headers=[("X_Under", "a")]))
        r = c.read_response()
        assert r.status == 400 and r.closes


def test_header_map_dangerous(server_factory):
    srv = server_factory("app:application", "-w", "1", "--header-map", "dangerous")
    env = exchange(srv.port, build_request("GET", "/environ", headers=[("X_Under", "a")])).json()
    assert env["HTTP_X_UNDER"] == "a"


def test_header_map_drop_is_default(server_factory):
    srv = server_factory("app:application", "-w", "1")
    env = exchange(srv.port, build_request("GET", "/environ", headers=[("X_Under", "a")])).json()
    assert "HTTP_X_UNDER" not in env


def test_permit_obsolete_folding(server_factory):
    srv = server_factory("app:application", "-w", "1", "--permit-obsolete-folding")
    r = exchange(srv.port, b"GET /environ HTTP/1.1\r\nHost: x\r\nX-Fold: one\r\n two\r\n\r\n")
    assert r.status == 200
    assert r.json()["HTTP_X_FOLD"] == "one two"


def test_permit_unconventional_http_method(server_factory):
    srv = server_factory("app:application", "-w", "1", "--permit-unconventional-http-method")
    r = exchange(srv.port, b"get /environ HTTP/1.1\r\nHost: x\r\n\r\n")
    assert r.status == 200 and r.json()["REQUEST_METHOD"] == "get"


def test_casefold_http_method(server_factory):
    srv = server_factory("app:application", "-w", "1", "--permit-unconventional-http-method",
                         "--casefold-http-method")
    r = exchange(srv.port, b"get /environ HTTP/1.1\r\nHost: x\r\n\r\n")
    assert r.status == 200 and r.json()["REQUEST_METHOD"] == "GET"


def test_access_logformat(server_factory):
    srv = server_factory("app:application", "-w", "1", "--access-logfile", "-",
                         "--access-logformat", "FMT %(m)s %(U)s %(q)s %(s)s %(H)s")
    exchange(srv.port, build_request("GET", "/fmt?a=1"))
    wait_for(lambda: "FMT GET /fmt a=1 200 HTTP/1.1" in srv.stdout(), timeout=5,
             what=lambda: "custom access log line in:\n" + srv.stdout())


@pytest.mark.parametrize("flag", ["--spew", "--strip-header-spaces"])
def test_unsupported_flag_refused_cleanly(flag):
    """Options listed as 'not supported yet' are refused with one line, not ignored."""
    from conftest import run_cli

    res = run_cli([flag, "app:application"], timeout=15)
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("ferricorn: error:"), res.stderr
    assert flag in lines[0] or flag.lstrip("-") in lines[0]


def test_keep_alive_zero_disables_keep_alive(server_factory):
    srv = server_factory("app:application", "-w", "1", "--keep-alive", "0")
    with RawConnection(srv.port) as c:
        c.send(build_request("GET", "/"))
        r = c.read_response()
        assert r.status == 200 and r.closes, r
        closed, extra = c.is_closed(5)
        assert closed and extra == b""


def test_web_concurrency_sets_workers(server_factory):
    srv = server_factory("app:application", env={"WEB_CONCURRENCY": "3"})
    pids = srv.wait_workers(3)
    assert len(set(pids)) == 3
    env = exchange(srv.port, build_request("GET", "/environ")).json()
    assert env["wsgi.multiprocess"] is True


def test_access_log_environ_atoms(server_factory):
    """%({name}e)s shows a WSGI environ value (Gunicorn lower-cases the name),
    including one the application set, as auth middleware sets REMOTE_USER."""
    srv = server_factory("envlog_app:application", "-w", "1", "--access-logfile", "-",
                         "--access-logformat",
                         "ENV %({remote_user}e)s %({wsgi.url_scheme}e)s %({PATH_INFO}e)s %({nosuch}e)s")
    exchange(srv.port, build_request("GET", "/p/q"))
    wait_for(lambda: "ENV alice http /p/q -" in srv.stdout(), timeout=5,
             what=lambda: "environ atoms in:\n" + srv.stdout())


def test_access_log_escapes_quotes_in_atoms(server_factory):
    """As Gunicorn: a quote in a logged value is written as \\" so it cannot
    end a quoted field of the access log early."""
    srv = server_factory("app:application", "-w", "1", "--access-logfile", "-")
    exchange(srv.port, build_request("GET", "/hello", headers=[("User-Agent", 'evil" 200 "x')]))
    wait_for(lambda: '"evil\\" 200 \\"x"' in srv.stdout(), timeout=5,
             what=lambda: "escaped user agent in:\n" + srv.stdout())
