"""HTTP/1.x message semantics: keep-alive, pipelining, HEAD, bodiless statuses,
chunked coding both ways, 100-continue, HTTP/1.0, absolute-form, OPTIONS *."""

import hashlib
import time

import pytest

from rawhttp import IMF_FIXDATE_RE, IncompleteResponse, RawConnection, build_request, chunked, exchange

from apps.app import pattern_bytes


@pytest.fixture(scope="module", params=["inline", "threads"])
def srv(request, module_server_factory):
    """Every test runs against both dispatch modes: -w 1, and -w 1 --threads 4."""
    args = ["-w", "1", "--keep-alive", "5"] + (["--threads", "4"] if request.param == "threads" else [])
    return module_server_factory("app:application", *args)


def req(method="GET", target="/", **kw):
    return build_request(method, target, **kw)


# -- keep-alive -------------------------------------------------------------

def test_keep_alive_http11_default(srv):
    with RawConnection(srv.port) as c:
        for i in range(3):
            c.send(req("GET", "/ka%d" % i))
            r = c.read_response()
            assert r.status == 200
            assert r.body == b"ok path=/ka%d" % i
            assert not r.closes, r
        # still open: nothing arrives, no EOF
        assert c.read_available(0.2) == b"" and not c.eof


def test_many_requests_on_one_connection(srv):
    with RawConnection(srv.port, timeout=20) as c:
        for i in range(500):
            c.send(req("POST", "/echo", body=b"r%d" % i) if i % 2 else req("GET", "/n%d" % i))
            r = c.read_response()
            assert r.body == (b"r%d" % i if i % 2 else b"ok path=/n%d" % i)


def test_connection_close_from_client(srv):
    with RawConnection(srv.port) as c:
        c.send(req("GET", "/bye", headers=[("Connection", "close")]))
        r = c.read_response()
        assert r.status == 200
        assert r.closes, r
        closed, extra = c.is_closed(5)
        assert closed and extra == b""


def test_connection_close_token_in_list(srv):
    with RawConnection(srv.port) as c:
        c.send(req("GET", "/bye", headers=[("Connection", "foo, Close")]))
        r = c.read_response()
        assert r.closes
        assert c.is_closed(5)[0]


def test_http10_closes_by_default(srv):
    with RawConnection(srv.port) as c:
        c.send(b"GET /one HTTP/1.0\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.body == b"ok path=/one"
        assert r.version.startswith("HTTP/1.")
        closed, extra = c.is_closed(5)
        assert closed and extra == b""


def test_http10_keep_alive_requested(srv):
    """HTTP/1.0 + Connection: keep-alive: either honoured (and announced) or closed."""
    with RawConnection(srv.port) as c:
        c.send(b"GET /one HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.body == b"ok path=/one"
        if "keep-alive" in r.connection_tokens():
            c.send(b"GET /two HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            r2 = c.read_response()
            assert r2.body == b"ok path=/two"
        else:
            assert c.is_closed(5)[0], "1.0 response without keep-alive, but the connection stayed open"


# -- pipelining -------------------------------------------------------------

def test_pipelining_in_order(srv):
    reqs = b"".join(req("GET", "/p%d" % i) for i in range(5))
    with RawConnection(srv.port) as c:
        c.send(reqs)
        for i in range(5):
            r = c.read_response()
            assert r.status == 200
            assert r.body == b"ok path=/p%d" % i


def test_pipelining_deep(srv):
    n = 200
    with RawConnection(srv.port, timeout=20) as c:
        c.send(b"".join(req("GET", "/deep%d" % i) for i in range(n)))
        for i in range(n):
            assert c.read_response().body == b"ok path=/deep%d" % i


def test_pipelining_large_responses_client_reads_late(srv):
    with RawConnection(srv.port, timeout=30) as c:
        c.send(b"".join(req("GET", "/big?n=1000000") for _ in range(8)) + req("GET", "/end"))
        time.sleep(0.5)
        for _ in range(8):
            assert c.read_response().body == pattern_bytes(1000000)
        assert c.read_response().body == b"ok path=/end"


def test_pipelining_mixed_methods_and_bodies(srv):
    data = (req("POST", "/echo", body=b"first")
            + req("HEAD", "/big?n=1000")
            + req("POST", "/echo", headers=[("Transfer-Encoding", "chunked")], body=chunked(b"sec", b"ond"))
            + req("GET", "/stream?n=3&size=2")
            + req("GET", "/last"))
    with RawConnection(srv.port) as c:
        c.send(data)
        r1 = c.read_response()
        r2 = c.read_response(method="HEAD")
        r3 = c.read_response()
        r4 = c.read_response()
        r5 = c.read_response()
    assert r1.body == b"first"
    assert r2.status == 200 and r2.body == b"" and r2.header("Content-Length") == "1000"
    assert r3.body == b"second"
    assert r4.body == b"001122"
    assert r5.body == b"ok path=/last"


def test_pipelining_byte_by_byte(srv):
    data = req("GET", "/a") + req("POST", "/echo", body=b"xyz") + req("GET", "/b")
    with RawConnection(srv.port) as c:
        c.send(data, bytewise=True, delay=0.001)
        assert c.read_response().body == b"ok path=/a"
        assert c.read_response().body == b"xyz"
        assert c.read_response().body == b"ok path=/b"


def test_unread_body_is_discarded_not_parsed(srv):
    """/environ never reads its body; the body must not be taken as the next request."""
    smuggled = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    with RawConnection(srv.port) as c:
        c.send(req("POST", "/environ", body=smuggled) + req("GET", "/next"))
        r1 = c.read_response()
        assert r1.status == 200
        try:
            r2 = c.read_response()
        except IncompleteResponse as e:
            assert e.partial == b"", e.partial[:200]
            return  # closing the connection instead is acceptable
        assert r2.body == b"ok path=/next", r2


def test_unread_large_body_is_discarded_or_closed(srv):
    body = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n" * 8000  # ~280 KB, above the body buffer
    with RawConnection(srv.port) as c:
        c.send(req("POST", "/environ", body=body) + req("GET", "/next"))
        r1 = c.read_response()
        assert r1.status == 200
        rest = c.read_available(2.0)
        assert b"smuggled" not in rest
        if rest:
            assert rest.startswith(b"HTTP/1.1 200"), rest[:100]
            assert b"ok path=/next" in rest


# -- HEAD and bodiless statuses ----------------------------------------------

def test_head_has_headers_but_no_body(srv):
    get = exchange(srv.port, req("GET", "/big?n=5000"))
    with RawConnection(srv.port) as c:
        c.send(req("HEAD", "/big?n=5000"))
        r = c.read_response(method="HEAD")
        assert r.status == 200
        assert r.header("Content-Length") == get.header("Content-Length") == "5000"
        # the next response on the connection must start right away: no body bytes sent
        c.send(req("GET", "/after-head"))
        r2 = c.read_response()
        assert r2.body == b"ok path=/after-head"


def test_head_on_streaming_response_sends_no_chunks(srv):
    with RawConnection(srv.port) as c:
        c.send(req("HEAD", "/stream?n=3"))
        r = c.read_response(method="HEAD")
        assert r.status == 200
        c.send(req("GET", "/after-head"))
        r2 = c.read_response()
        assert r2.status == 200 and r2.body == b"ok path=/after-head", r2


def test_head_with_write_callable(srv):
    with RawConnection(srv.port) as c:
        c.send(req("HEAD", "/write") + req("GET", "/after"))
        r = c.read_response(method="HEAD")
        assert r.status == 200 and r.body == b""
        assert c.read_response().body == b"ok path=/after"


@pytest.mark.parametrize("code", [204, 304])
def test_bodiless_status(srv, code):
    with RawConnection(srv.port) as c:
        c.send(req("GET", "/status?code=%d" % code))
        r = c.read_response()
        assert r.status == code
        assert r.header("Transfer-Encoding") is None, r
        if code == 204:
            assert r.header("Content-Length") in (None,), r
        c.send(req("GET", "/after"))
        r2 = c.read_response()
        assert r2.body == b"ok path=/after", r2


def test_status_line_and_reason(srv):
    r = exchange(srv.port, req("GET", "/status?code=418"))
    assert r.status == 418 and r.reason == "I'm a teapot"
    assert r.raw.startswith(b"HTTP/1.1 418 I'm a teapot\r\n")


# -- Date / Server ------------------------------------------------------------

def test_date_and_server_headers(srv):
    for target in ("/", "/stream", "/status?code=204", "/status?code=404"):
        r = exchange(srv.port, req("GET", target))
        assert len(r.header_all("Date")) == 1, r
        assert IMF_FIXDATE_RE.match(r.header("Date")), r.header("Date")
        assert r.header("Server"), r


def test_multiple_set_cookie_preserved(srv):
    r = exchange(srv.port, req("GET", "/headers"))
    assert r.header_all("Set-Cookie") == ["a=1", "b=2"]
    assert r.header("X-Custom") == "v"


# -- chunked responses ----------------------------------------------------------

def test_chunked_response_http11(srv):
    with RawConnection(srv.port) as c:
        c.send(req("GET", "/stream?n=4&size=3"))
        r = c.read_response()
        assert r.status == 200
        assert r.chunked, r
        assert r.header("Content-Length") is None
        assert r.body == b"000111222333"
        assert r.chunk_sizes[-1] == 0 and all(r.chunk_sizes[:-1])
        c.send(req("GET", "/after"))
        assert c.read_response().body == b"ok path=/after"


def test_empty_body_items_do_not_terminate_chunked(srv):
    r = exchange(srv.port, req("GET", "/empty_items"))
    assert r.status == 200
    assert r.body == b"ab"
    if r.chunked:
        assert 0 not in r.chunk_sizes[:-1], r.chunk_sizes


def test_close_delimited_response_http10(srv):
    with RawConnection(srv.port) as c:
        c.send(b"GET /stream?n=4&size=3 HTTP/1.0\r\n\r\n")
        r = c.read_response()
        assert r.status == 200
        assert r.header("Transfer-Encoding") is None, r
        assert r.body == b"000111222333"
        assert c.eof


def test_large_response_body(srv):
    r = exchange(srv.port, req("GET", "/big?n=3000000"), timeout=30)
    assert r.status == 200 and len(r.body) == 3000000
    assert hashlib.sha256(r.body).digest() == hashlib.sha256(pattern_bytes(3000000)).digest()


def test_large_chunked_response_body(srv):
    """No app Content-Length, list of 31 items: chunked, or a computed Content-Length."""
    r = exchange(srv.port, req("GET", "/big?n=2000000&cl=0"), timeout=30)
    assert r.status == 200 and (r.chunked or r.header("Content-Length") == "2000000"), r
    assert r.body == pattern_bytes(2000000)


# -- chunked requests -------------------------------------------------------------

def test_chunked_request_many_chunks(srv):
    parts = [bytes([65 + i % 26]) * (i + 1) for i in range(100)]
    r = exchange(srv.port, req("POST", "/echo", headers=[("Transfer-Encoding", "chunked")], body=chunked(*parts)))
    assert r.status == 200 and r.body == b"".join(parts)


def test_chunked_request_large(srv):
    data = pattern_bytes(500000)
    parts = [data[i:i + 10000] for i in range(0, len(data), 10000)]
    r = exchange(srv.port, req("POST", "/upload", headers=[("Transfer-Encoding", "chunked")],
                               body=chunked(*parts)), timeout=30)
    assert r.status == 200
    assert r.json() == {"len": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_chunked_request_then_keep_alive(srv):
    with RawConnection(srv.port) as c:
        c.send(req("POST", "/echo", headers=[("Transfer-Encoding", "chunked")],
                   body=chunked(b"abc", trailers=b"X-T: 1\r\n")))
        assert c.read_response().body == b"abc"
        c.send(req("GET", "/after"))
        assert c.read_response().body == b"ok path=/after"


# -- 100-continue -----------------------------------------------------------------

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def test_expect_100_continue(srv):
    with RawConnection(srv.port) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        c.sock.settimeout(5)
        got = b""
        while len(got) < len(CONTINUE):
            chunk = c.sock.recv(len(CONTINUE) - len(got))
            assert chunk, "connection closed before 100 Continue"
            got += chunk
        assert got == CONTINUE
        c.send(b"hello")
        r = c.read_response()
        assert r.status == 200 and r.body == b"hello"


def test_expect_100_continue_large_streamed_body(srv):
    data = pattern_bytes(300000)
    with RawConnection(srv.port, timeout=20) as c:
        c.send(b"POST /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(data))
        interim = c.read_response()
        assert interim.status == 100 and interim.raw == CONTINUE
        c.send(data)
        r = c.read_response()
        assert r.status == 200, r
        assert r.json()["len"] == len(data)
        assert c.read_available(0.3) == b""  # no second 100 or anything else


def test_expect_100_continue_chunked(srv):
    with RawConnection(srv.port) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n")
        interim = c.read_response()
        assert interim.raw == CONTINUE
        c.send(chunked(b"chunk", b"ed"))
        r = c.read_response()
        assert r.body == b"chunked"


def test_expect_100_continue_not_sent_for_http10(srv):
    with RawConnection(srv.port) as c:
        c.send(b"POST /echo HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        early = c.read_available(0.5)
        c.send(b"hello")
        rest = c.read_until_close(5)
    data = early + rest
    assert b"100 Continue" not in data
    assert data.startswith(b"HTTP/1.")
    assert data.endswith(b"hello")


def test_expect_100_continue_sent_once_with_pipelining(srv):
    with RawConnection(srv.port) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
        assert c.read_response().status == 100
        c.send(b"abc" + req("GET", "/next"))
        r = c.read_response()
        assert r.status == 200 and r.body == b"abc"
        r2 = c.read_response()
        assert r2.status == 200 and r2.body == b"ok path=/next"


# -- request targets ---------------------------------------------------------------

def test_absolute_form_target(srv):
    r = exchange(srv.port, b"GET http://example.com/environ/abs?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n")
    assert r.status == 200
    env = r.json()
    assert env["PATH_INFO"] == "/environ/abs"
    assert env["QUERY_STRING"] == "q=1"


def test_options_star(srv):
    r = exchange(srv.port, b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")
    assert 200 <= r.status < 300, r
    assert not r.closes


def test_http10_request_response_version(srv):
    r = exchange(srv.port, b"GET /environ HTTP/1.0\r\n\r\n")
    assert r.status == 200
    assert r.json()["SERVER_PROTOCOL"] == "HTTP/1.0"
    assert r.header("Transfer-Encoding") is None


def test_slow_client_request_split_in_pieces(srv):
    with RawConnection(srv.port) as c:
        for piece in (b"PO", b"ST /ec", b"ho HTTP/1.1\r\nHo", b"st: x\r\nContent-Len", b"gth: 4\r\n\r", b"\nab",
                      b"cd"):
            c.send(piece)
            time.sleep(0.02)
        r = c.read_response()
    assert r.status == 200 and r.body == b"abcd"


# -- more edge cases -------------------------------------------------------------------

def test_bodiless_status_with_app_body_sends_no_body(srv):
    """Even if the app returns a body for 204/304, none goes on the wire."""
    for code in (204, 304):
        with RawConnection(srv.port) as c:
            c.send(req("GET", "/status?code=%d&body=1" % code) + req("GET", "/after"))
            r = c.read_response()
            assert r.status == code
            r2 = c.read_response()
            assert r2.status == 200 and r2.body == b"ok path=/after", r2


def test_app_date_header_not_duplicated(srv):
    r = exchange(srv.port, req("GET", "/custom_date"))
    assert len(r.header_all("Date")) == 1, r.headers


def test_pipelined_bad_request_after_good(srv):
    with RawConnection(srv.port) as c:
        c.send(req("GET", "/good") + b"get /bad HTTP/1.1\r\nHost: x\r\n\r\n" + req("GET", "/never"))
        r1 = c.read_response()
        assert r1.status == 200 and r1.body == b"ok path=/good"
        r2 = c.read_response()
        assert r2.status == 400 and r2.closes
        closed, extra = c.is_closed(5)
        assert closed and extra == b""


def test_pipelined_after_connection_close_not_answered(srv):
    with RawConnection(srv.port) as c:
        c.send(req("GET", "/first", headers=[("Connection", "close")]) + req("GET", "/second"))
        r = c.read_response()
        assert r.body == b"ok path=/first" and r.closes
        closed, extra = c.is_closed(5)
        assert closed and extra == b""


def test_half_closed_client_still_answered(srv):
    with RawConnection(srv.port) as c:
        c.send(req("GET", "/halfclose"))
        c.shutdown_write()
        r = c.read_response()
        assert r.status == 200 and r.body == b"ok path=/halfclose"


def test_slow_reader_gets_whole_response(srv):
    n = 8_000_000
    with RawConnection(srv.port, timeout=30) as c:
        c.sock.setsockopt(__import__("socket").SOL_SOCKET, __import__("socket").SO_RCVBUF, 16384)
        c.send(req("GET", "/big?n=%d" % n))
        time.sleep(1.0)
        r = c.read_response()
        assert len(r.body) == n and r.body == pattern_bytes(n)
        c.send(req("GET", "/after"))
        assert c.read_response().body == b"ok path=/after"


def test_many_concurrent_keepalive_connections(srv):
    import concurrent.futures

    def client(i):
        with RawConnection(srv.port, timeout=30) as c:
            out = []
            for j in range(5):
                c.send(req("GET", "/c%d-%d" % (i, j)))
                out.append(c.read_response().body)
            return out

    with concurrent.futures.ThreadPoolExecutor(50) as ex:
        results = list(ex.map(client, range(50)))
    assert results == [[b"ok path=/c%d-%d" % (i, j) for j in range(5)] for i in range(50)]


def test_expect_100_with_app_not_reading_large_body(srv):
    """The app ignores a large body it was promised: the server must still answer and
    either drain the body or close; it must not hang or parse the body as requests."""
    body = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n" * 6000
    with RawConnection(srv.port, timeout=15) as c:
        c.send(b"POST /environ HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n"
               % len(body))
        first = c.read_response()
        if first.status == 100:
            c.send(body)
            final = c.read_response()
        else:
            final = first
        assert final.status == 200
        if not c.send(req("GET", "/next")):
            return
        rest = c.read_available(3.0)
        assert b"smuggled" not in rest
        if rest:
            assert rest.startswith(b"HTTP/1.1 200") and b"ok path=/next" in rest, rest[:200]


def test_partial_input_read_then_next_request(srv):
    with RawConnection(srv.port) as c:
        c.send(req("POST", "/input?mode=partial&n=10", body=b"A" * 100) + req("GET", "/next"))
        r = c.read_response()
        assert r.json()["body"] == "A" * 10
        r2 = c.read_response()
        assert r2.body == b"ok path=/next"


def test_partial_input_read_large_body(srv):
    body = (b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n") * 8000
    with RawConnection(srv.port, timeout=15) as c:
        c.send(req("POST", "/input?mode=partial&n=10", body=body) + req("GET", "/next"))
        r = c.read_response()
        assert r.json()["len"] == 10
        rest = c.read_available(3.0)
        assert b"smuggled" not in rest
        if rest:
            assert rest.startswith(b"HTTP/1.1 200") and b"ok path=/next" in rest, rest[:200]


def test_content_length_leading_zeros_valid(srv):
    r = exchange(srv.port, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 005\r\n\r\nhello")
    assert r.status == 200 and r.body == b"hello"


def test_empty_host_is_valid(srv):
    r = exchange(srv.port, b"GET /emptyhost HTTP/1.1\r\nHost:\r\n\r\n")
    assert r.status == 200 and r.body == b"ok path=/emptyhost"


# -- default limits (Gunicorn's: 4094-byte request line, 100 fields, 8190-byte fields) ----

def test_default_limit_request_line(srv):
    ok = exchange(srv.port, req("GET", "/" + "a" * 4000))
    assert ok.status == 200
    r = exchange(srv.port, req("GET", "/" + "a" * 5000))
    assert r.status == 414 and r.closes


def test_default_limit_request_fields(srv):
    ok = exchange(srv.port, req("GET", "/", headers=[("X-F%d" % i, "v") for i in range(90)]))
    assert ok.status == 200
    r = exchange(srv.port, req("GET", "/", headers=[("X-F%d" % i, "v") for i in range(150)]))
    assert r.status == 431 and r.closes


def test_default_limit_request_field_size(srv):
    ok = exchange(srv.port, req("GET", "/", headers=[("X-Big", "v" * 8000)]))
    assert ok.status == 200
    r = exchange(srv.port, req("GET", "/", headers=[("X-Big", "v" * 9000)]))
    assert r.status == 431 and r.closes


# -- one stalled client must not block the others (single worker) ----------------------------

@pytest.mark.parametrize("stall", [
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Partial",
    b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly part of the body",
    b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
], ids=["partial-head", "partial-body", "partial-chunk"])
def test_stalled_client_does_not_block_others(srv, stall):
    with RawConnection(srv.port) as stalled:
        stalled.send(stall)
        time.sleep(0.2)
        r = exchange(srv.port, req("GET", "/unblocked"), timeout=8)
        assert r.body == b"ok path=/unblocked"
