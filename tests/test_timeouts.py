"""Connection timeouts: --keep-alive (idle), --header-timeout, --body-timeout.

The server runs with 1-2 s timeouts; each test only checks that the
connection is eventually closed (within a generous bound) and what, if
anything, was sent before the close.
"""

import time

import pytest

from rawhttp import RawConnection, build_request

BOUND = 12.0  # generous upper bound for "the server closed the connection"


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory("app:application", "-w", "1", "--threads", "4", "--keep-alive", "1",
                                 "--header-timeout", "2", "--body-timeout", "2", "--body-buffer-size", "1024")


def assert_closed_without_success(c, bound=BOUND):
    closed, extra = c.is_closed(bound)
    assert closed, "connection still open after %.0fs" % bound
    # a 408 (or 400) before closing is fine; a 2xx is not
    assert extra == b"" or extra.startswith((b"HTTP/1.1 408", b"HTTP/1.1 400", b"HTTP/1.0 408")), extra[:200]
    return extra


def test_idle_keep_alive_connection_closed(srv):
    with RawConnection(srv.port, timeout=BOUND) as c:
        c.send(build_request("GET", "/"))
        assert c.read_response().status == 200
        closed, extra = c.is_closed(BOUND)
        assert closed, "idle keep-alive connection not closed"
        assert extra == b""


def test_keep_alive_connection_reused_before_timeout(srv):
    with RawConnection(srv.port) as c:
        for i in range(3):
            c.send(build_request("GET", "/r%d" % i))
            assert c.read_response().body == b"ok path=/r%d" % i
            time.sleep(0.2)


def test_connection_without_request_closed(srv):
    with RawConnection(srv.port, timeout=BOUND) as c:
        closed, extra = c.is_closed(BOUND)
        assert closed
        assert extra == b"" or extra.startswith(b"HTTP/1.1 408"), extra[:100]


def test_partial_headers_closed(srv):
    with RawConnection(srv.port, timeout=BOUND) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Partial: ")
        assert_closed_without_success(c)


def test_header_timeout_is_total_not_idle(srv):
    """Slowloris: a byte every 0.3 s must not keep the header phase alive forever."""
    with RawConnection(srv.port, timeout=BOUND) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
        deadline = time.monotonic() + BOUND
        closed = False
        while time.monotonic() < deadline:
            if not c.send(b"X-A: b\r\n"[:1]):
                closed = True
                break
            if c.read_available(0.3) or c.eof:
                closed = c.eof
                if closed:
                    break
        if not closed:
            closed, _ = c.is_closed(2)
        assert closed, "server kept reading a trickled header block for %.0fs" % BOUND


def test_partial_body_closed(srv):
    with RawConnection(srv.port, timeout=BOUND) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        assert_closed_without_success(c)


def test_partial_large_body_closed(srv):
    """A body above --body-buffer-size streams into the app; a stall still ends the connection."""
    with RawConnection(srv.port, timeout=BOUND) as c:
        c.send(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"x" * 5000)
        data = c.read_until_close(BOUND)
        assert not data.startswith(b"HTTP/1.1 200"), data[:200]


def test_partial_chunked_body_closed(srv):
    with RawConnection(srv.port, timeout=BOUND) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel")
        assert_closed_without_success(c)


def test_body_timeout_is_inactivity_based(srv):
    """--body-timeout counts inactivity (docs/settings.md): a body trickled faster than
    the timeout, for longer than the timeout in total, is still read to the end."""
    body = b"0123456789" * 5
    with RawConnection(srv.port, timeout=BOUND) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body))
        for i in range(0, len(body), 5):  # 10 pieces, 0.4 s apart: ~4 s in total, > --body-timeout 2
            assert c.send(body[i:i + 5]), "server closed the connection during an active upload"
            time.sleep(0.4)
        r = c.read_response()
        assert r.status == 200 and r.body == body


def test_streamed_body_stall_closes(srv):
    """Above --body-buffer-size the app reads wsgi.input itself; a stall there ends the request."""
    with RawConnection(srv.port, timeout=BOUND) as c:
        c.send(b"POST /input?mode=read HTTP/1.1\r\nHost: x\r\nContent-Length: 50000\r\n\r\n" + b"y" * 4000)
        data = c.read_until_close(BOUND)
        assert not data.startswith(b"HTTP/1.1 200"), data[:200]


def test_server_still_serves_after_timeouts(srv):
    with RawConnection(srv.port) as c:
        c.send(build_request("GET", "/alive"))
        assert c.read_response().body == b"ok path=/alive"


def test_slow_app_not_cut_by_keep_alive_timeout(srv):
    """--keep-alive is an idle timeout between requests, not a limit on the app's run time."""
    with RawConnection(srv.port, timeout=BOUND) as c:
        c.send(build_request("GET", "/sleep?s=2.5"))
        r = c.read_response()
        assert r.status == 200 and r.body == b"slept"


def test_slow_response_streaming_not_cut(srv):
    with RawConnection(srv.port, timeout=BOUND) as c:
        c.send(build_request("GET", "/stream?n=4&size=2&sleep=0.8"))
        r = c.read_response()
        assert r.body == b"00112233"
