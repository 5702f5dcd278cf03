"""Strict HTTP/1.1 request parsing (RFC 9112), with raw bytes and exact statuses.

One server for the module, started with small limits so that 414/431 are
cheap to provoke: --limit-request-line 200, --limit-request-fields 20,
--limit-request-field_size 300.
"""

import pytest

from rawhttp import RawConnection, build_request, chunked, exchange

LIMIT_LINE = 200
LIMIT_FIELDS = 20
LIMIT_FIELD_SIZE = 300


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory(
        "app:application", "-w", "1",
        "--limit-request-line", str(LIMIT_LINE),
        "--limit-request-fields", str(LIMIT_FIELDS),
        "--limit-request-field_size", str(LIMIT_FIELD_SIZE),
    )


H = "Host: localhost\r\n"

# (id, raw request, expected body or None)
VALID = [
    ("get_basic", b"GET / HTTP/1.1\r\n" + H.encode() + b"\r\n", b"ok path=/"),
    ("http10_without_host", b"GET / HTTP/1.0\r\n\r\n", b"ok path=/"),
    ("http10_with_host", b"GET /x HTTP/1.0\r\nHost: a\r\n\r\n", b"ok path=/x"),
    ("higher_minor_version", b"GET / HTTP/1.2\r\n" + H.encode() + b"\r\n", b"ok path=/"),
    ("lowercase_header_names", b"GET / HTTP/1.1\r\nhost: localhost\r\nx-a: b\r\n\r\n", b"ok path=/"),
    ("ows_around_value", b"GET / HTTP/1.1\r\nHost:localhost\r\nX-A: \t v \t\r\n\r\n", b"ok path=/"),
    ("empty_value", b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Empty:\r\nX-Empty2: \r\n\r\n", b"ok path=/"),
    ("obs_text_in_value", b"GET / HTTP/1.1\r\nHost: localhost\r\nX-A: caf\xe9\r\n\r\n", b"ok path=/"),
    ("query_and_path", b"GET /a/b?c=d&e HTTP/1.1\r\n" + H.encode() + b"\r\n", b"ok path=/a/b"),
    ("percent_encoded_path", b"GET /%7Euser HTTP/1.1\r\n" + H.encode() + b"\r\n", b"ok path=/~user"),
    ("absolute_form", b"GET http://localhost/abs?x=1 HTTP/1.1\r\n" + H.encode() + b"\r\n", b"ok path=/abs"),
    ("host_ipv6_literal_port", b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", b"ok path=/"),
    ("host_empty_port", b"GET / HTTP/1.1\r\nHost: example.com:\r\n\r\n", b"ok path=/"),
    ("host_sub_delims", b"GET / HTTP/1.1\r\nHost: a-b.c_d~e!$&'()*+,;=\r\n\r\n", b"ok path=/"),
    ("custom_token_method", b"PURGE /m HTTP/1.1\r\n" + H.encode() + b"\r\n", b"ok path=/m"),
    ("method_with_dash", b"M-SEARCH /m HTTP/1.1\r\n" + H.encode() + b"\r\n", b"ok path=/m"),
    ("options_star", b"OPTIONS * HTTP/1.1\r\n" + H.encode() + b"\r\n", None),
    ("post_content_length", b"POST /echo HTTP/1.1\r\n" + H.encode() + b"Content-Length: 5\r\n\r\nhello", b"hello"),
    ("post_content_length_zero", b"POST /echo HTTP/1.1\r\n" + H.encode() + b"Content-Length: 0\r\n\r\n", b""),
    ("post_chunked", b"POST /echo HTTP/1.1\r\n" + H.encode() + b"Transfer-Encoding: chunked\r\n\r\n"
     + chunked(b"hello", b" ", b"world"), b"hello world"),
    ("chunked_te_case_insensitive", b"POST /echo HTTP/1.1\r\n" + H.encode()
     + b"Transfer-Encoding: Chunked\r\n\r\n" + chunked(b"abc"), b"abc"),
    ("chunked_extensions", b"POST /echo HTTP/1.1\r\n" + H.encode() + b"Transfer-Encoding: chunked\r\n\r\n"
     b"5;name=value\r\nhello\r\n6;a;b=\"q s\"\r\n world\r\n0;last\r\n\r\n", b"hello world"),
    ("chunked_trailers", b"POST /echo HTTP/1.1\r\n" + H.encode() + b"Transfer-Encoding: chunked\r\n\r\n"
     b"5\r\nhello\r\n0\r\nX-Trailer: yes\r\nX-Other: 1\r\n\r\n", b"hello"),
    ("chunk_uppercase_hex", b"POST /echo HTTP/1.1\r\n" + H.encode() + b"Transfer-Encoding: chunked\r\n\r\n"
     b"A\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
    ("chunk_leading_zeros", b"POST /echo HTTP/1.1\r\n" + H.encode() + b"Transfer-Encoding: chunked\r\n\r\n"
     b"0005\r\nhello\r\n000\r\n\r\n", b"hello"),
    ("line_near_limit", b"GET /" + b"a" * (LIMIT_LINE - 40) + b" HTTP/1.1\r\n" + H.encode() + b"\r\n",
     b"ok path=/" + b"a" * (LIMIT_LINE - 40)),
    ("fields_below_limit", b"GET / HTTP/1.1\r\n" + H.encode()
     + b"".join(b"X-F%d: v\r\n" % i for i in range(LIMIT_FIELDS - 5)) + b"\r\n", b"ok path=/"),
    ("field_below_size_limit", b"GET / HTTP/1.1\r\n" + H.encode() + b"X-Big: " + b"v" * (LIMIT_FIELD_SIZE // 2)
     + b"\r\n\r\n", b"ok path=/"),
]

BAD_CHUNK_PREFIX = b"POST /echo HTTP/1.1\r\n" + H.encode() + b"Transfer-Encoding: chunked\r\n\r\n"
GET = b"GET / HTTP/1.1\r\n"

# (id, raw request, expected status)
INVALID = [
    # Host
    ("missing_host_http11", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("duplicate_host", GET + b"Host: a\r\nHost: b\r\n\r\n", 400),
    ("duplicate_host_same_value", GET + b"Host: a\r\nHost: a\r\n\r\n", 400),
    # RFC 9110 7.2: a Host field with an invalid value MUST get a 400
    ("host_with_space", GET + b"Host: a b\r\n\r\n", 400),
    ("host_with_slash", GET + b"Host: a/b\r\n\r\n", 400),
    ("host_with_userinfo", GET + b"Host: user@a\r\n\r\n", 400),
    ("host_bad_port", GET + b"Host: a:port\r\n\r\n", 400),
    # framing
    ("content_length_and_chunked", b"POST /echo HTTP/1.1\r\n" + H.encode()
     + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(b"hello"), 400),
    ("chunked_and_content_length", b"POST /echo HTTP/1.1\r\n" + H.encode()
     + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n" + chunked(b"hello"), 400),
    ("content_length_list_differing", b"POST /echo HTTP/1.1\r\n" + H.encode()
     + b"Content-Length: 5, 6\r\n\r\nhello!", 400),
    ("content_length_two_fields_differing", b"POST /echo HTTP/1.1\r\n" + H.encode()
     + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
    ("content_length_duplicate", b"POST /echo HTTP/1.1\r\n" + H.encode()
     + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400),
    ("content_length_alpha", b"POST /echo HTTP/1.1\r\n" + H.encode() + b"Content-Length: abc\r\n\r\n", 400),
    ("content_length_negative", b"POST /echo HTTP/1.1\r\n" + H.encode() + b"Content-Length: -1\r\n\r\n", 400),
    ("content_length_plus", b"POST /echo HTTP/1.1\r\n" + H.encode() + b"Content-Length: +5\r\n\r\nhello", 400),
    ("content_length_hex", b"POST /echo HTTP/1.1\r\n" + H.encode() + b"Content-Length: 0x5\r\n\r\nhello", 400),
    ("content_length_inner_space", b"POST /echo HTTP/1.1\r\n" + H.encode()
     + b"Content-Length: 1 2\r\n\r\nhello world!", 400),
    ("content_length_empty", b"POST /echo HTTP/1.1\r\n" + H.encode() + b"Content-Length:\r\n\r\n", 400),
    ("content_length_overflow", b"POST /echo HTTP/1.1\r\n" + H.encode()
     + b"Content-Length: 99999999999999999999999999\r\n\r\n", 400),
    # field syntax
    ("obs_fold", GET + H.encode() + b"X-A: one\r\n two\r\n\r\n", 400),
    ("obs_fold_tab", GET + H.encode() + b"X-A: one\r\n\ttwo\r\n\r\n", 400),
    ("space_before_colon", GET + b"Host : localhost\r\n\r\n", 400),
    ("tab_before_colon", GET + H.encode() + b"X-A\t: v\r\n\r\n", 400),
    ("space_in_name", GET + H.encode() + b"X A: v\r\n\r\n", 400),
    ("bad_char_in_name", GET + H.encode() + b"X(A): v\r\n\r\n", 400),
    ("empty_name", GET + H.encode() + b": v\r\n\r\n", 400),
    ("no_colon", GET + H.encode() + b"NoColonHere\r\n\r\n", 400),
    ("bare_cr_in_value", GET + H.encode() + b"X-A: a\rb\r\n\r\n", 400),
    ("bare_cr_in_request_line", b"GET /\r HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("nul_in_value", GET + H.encode() + b"X-A: a\x00b\r\n\r\n", 400),
    ("ctl_in_value", GET + H.encode() + b"X-A: a\x01b\r\n\r\n", 400),
    ("del_in_value", GET + H.encode() + b"X-A: a\x7fb\r\n\r\n", 400),
    ("ctl_in_name", GET + H.encode() + b"X-\x01A: v\r\n\r\n", 400),
    ("nul_in_name", GET + H.encode() + b"X-\x00A: v\r\n\r\n", 400),
    # method
    ("method_lowercase", b"get / HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("method_mixed_case", b"Get / HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("method_hash", b"G#T / HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("method_paren", b"GE(T / HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("method_ctl", b"GE\x01T / HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("method_empty", b" / HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    # request target / line shape
    ("target_double_space", b"GET  / HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("target_space_inside", b"GET /a b HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("target_no_slash", b"GET foo HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("target_ctl", b"GET /a\x01b HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("target_nul", b"GET /a\x00b HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("target_del", b"GET /a\x7fb HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("trailing_space_after_version", b"GET / HTTP/1.1 \r\n" + H.encode() + b"\r\n", 400),
    ("leading_space_request_line", b" GET / HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    # version
    ("http09_no_version", b"GET /\r\n\r\n", 400),
    ("version_lowercase", b"GET / http/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("version_not_digit", b"GET / HTTP/1.x\r\n" + H.encode() + b"\r\n", 400),
    ("version_no_minor", b"GET / HTTP/1\r\n" + H.encode() + b"\r\n", 400),
    ("version_two_digit_major", b"GET / HTTP/11.1\r\n" + H.encode() + b"\r\n", 400),
    ("version_garbage_suffix", b"GET / HTTP/1.1x\r\n" + H.encode() + b"\r\n", 400),
    ("version_wrong_protocol", b"GET / FTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("http2_version", b"GET / HTTP/2.0\r\n" + H.encode() + b"\r\n", 505),
    ("http3_version", b"GET / HTTP/3.0\r\n" + H.encode() + b"\r\n", 505),
    # chunked framing
    ("chunk_size_not_hex", BAD_CHUNK_PREFIX + b"zz\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk_size_empty", BAD_CHUNK_PREFIX + b"\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk_size_negative", BAD_CHUNK_PREFIX + b"-5\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk_size_0x_prefix", BAD_CHUNK_PREFIX + b"0x5\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk_size_overflow", BAD_CHUNK_PREFIX + b"fffffffffffffffffffff\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk_missing_crlf_after_data", BAD_CHUNK_PREFIX + b"5\r\nhelloXX0\r\n\r\n", 400),
    ("chunk_data_longer_than_size", BAD_CHUNK_PREFIX + b"3\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk_size_bare_lf_data", BAD_CHUNK_PREFIX + b"5\r\nhello\n0\r\n\r\n", 400),
    ("chunk_ext_bare_cr", BAD_CHUNK_PREFIX + b"5;a\rb\r\nhello\r\n0\r\n\r\n", 400),
    ("trailer_no_colon", BAD_CHUNK_PREFIX + b"5\r\nhello\r\n0\r\nBadTrailer\r\n\r\n", 400),
    ("trailer_obs_fold", BAD_CHUNK_PREFIX + b"5\r\nhello\r\n0\r\nX-T: a\r\n b\r\n\r\n", 400),
    ("chunked_applied_twice", b"POST /echo HTTP/1.1\r\n" + H.encode()
     + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(b"hello"), 400),
    ("content_length_list_same", b"POST /echo HTTP/1.1\r\n" + H.encode()
     + b"Content-Length: 5, 5\r\n\r\nhello", 400),
    ("non_ascii_in_name", GET + H.encode() + b"X-\xc3\xa9: v\r\n\r\n", 400),
    # transfer codings
    ("unknown_transfer_coding", b"POST /echo HTTP/1.1\r\n" + H.encode()
     + b"Transfer-Encoding: gzip, chunked\r\n\r\n" + chunked(b"hello"), 501),
    ("unknown_transfer_coding_only", b"POST /echo HTTP/1.1\r\n" + H.encode()
     + b"Transfer-Encoding: x-custom\r\n\r\nhello", 501),
    # limits
    ("request_line_too_long", b"GET /" + b"a" * (LIMIT_LINE * 2) + b" HTTP/1.1\r\n" + H.encode() + b"\r\n", 414),
    ("too_many_fields", GET + H.encode()
     + b"".join(b"X-F%d: v\r\n" % i for i in range(LIMIT_FIELDS + 10)) + b"\r\n", 431),
    ("field_too_large", GET + H.encode() + b"X-Big: " + b"v" * (LIMIT_FIELD_SIZE * 3) + b"\r\n\r\n", 431),
]


def _ids(cases):
    return [c[0] for c in cases]


@pytest.mark.parametrize("name,raw,body", VALID, ids=_ids(VALID))
def test_valid_request(srv, name, raw, body):
    with RawConnection(srv.port) as c:
        c.send(raw)
        r = c.read_response()
    assert r.status == 200, r
    if body is not None:
        assert r.body == body


@pytest.mark.parametrize("name,raw,status", INVALID, ids=_ids(INVALID))
def test_invalid_request(srv, name, raw, status):
    with RawConnection(srv.port) as c:
        c.send(raw)
        r = c.read_response()
        assert r.status == status, r
        assert r.closes, "error response without Connection: close: %r" % r
        closed, extra = c.is_closed(5)
        assert closed, "server kept the connection open after a %d" % status
        assert extra == b""


BYTEWISE_VALID = ["get_basic", "http10_without_host", "post_content_length", "post_chunked", "chunked_extensions",
                  "chunked_trailers", "absolute_form"]
BYTEWISE_INVALID = ["missing_host_http11", "content_length_and_chunked", "obs_fold", "space_before_colon",
                    "bare_cr_in_value", "method_lowercase", "http2_version", "chunk_size_not_hex",
                    "chunk_missing_crlf_after_data", "unknown_transfer_coding"]


@pytest.mark.parametrize("name", BYTEWISE_VALID)
def test_valid_request_byte_by_byte(srv, name):
    raw, body = {c[0]: (c[1], c[2]) for c in VALID}[name]
    with RawConnection(srv.port) as c:
        c.send(raw, bytewise=True, delay=0.002)
        r = c.read_response()
    assert r.status == 200, r
    assert r.body == body


@pytest.mark.parametrize("name", BYTEWISE_INVALID)
def test_invalid_request_byte_by_byte(srv, name):
    raw, status = {c[0]: (c[1], c[2]) for c in INVALID}[name]
    with RawConnection(srv.port) as c:
        c.send(raw, bytewise=True, delay=0.002)
        r = c.read_response()
        assert r.status == status, r
        assert r.closes
        closed, _ = c.is_closed(5)
        assert closed


PIPELINE_AFTER_BAD = ["missing_host_http11", "content_length_and_chunked", "obs_fold", "method_lowercase",
                      "chunk_size_not_hex", "http2_version", "bare_cr_in_value"]


@pytest.mark.parametrize("name", PIPELINE_AFTER_BAD)
def test_nothing_read_after_rejection(srv, name):
    """A valid request pipelined after a rejected one gets no answer."""
    raw, status = {c[0]: (c[1], c[2]) for c in INVALID}[name]
    follow = build_request("GET", "/after-reject")
    with RawConnection(srv.port) as c:
        c.send(raw + follow)
        r = c.read_response()
        assert r.status == status, r
        closed, extra = c.is_closed(5)
        assert closed, "connection stayed open after a rejected request"
        assert b"after-reject" not in extra and b"HTTP/1." not in extra, extra


def test_smuggling_cl_te_body_not_treated_as_request(srv):
    raw = (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
    with RawConnection(srv.port) as c:
        c.send(raw)
        r = c.read_response()
        assert r.status == 400
        closed, extra = c.is_closed(5)
        assert closed
        assert b"smuggled" not in r.body + extra
        assert b"HTTP/1." not in extra


def test_smuggling_te_obfuscated(srv):
    """'Transfer-Encoding: chunked' with a trailing junk token is not chunked: 501 or 400, never 200."""
    raw = (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity-junk\r\n\r\n"
           b"5\r\nhello\r\n0\r\n\r\n")
    with RawConnection(srv.port) as c:
        c.send(raw)
        r = c.read_response()
        assert r.status in (400, 501), r
        assert r.closes
        assert c.is_closed(5)[0]


def test_error_response_has_date_and_server(srv):
    r = exchange(srv.port, b"get / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert r.status == 400
    assert r.has_header("Date"), r
    assert r.has_header("Server"), r


def test_error_response_has_no_traceback_and_is_framed(srv):
    """The 400 body is framed (Content-Length) so a client can read it exactly."""
    with RawConnection(srv.port) as c:
        c.send(b"get / HTTP/1.1\r\nHost: x\r\n\r\n")
        r = c.read_response()
        assert r.status == 400
        assert r.header("Content-Length") is not None or r.chunked, r
        assert b"Traceback" not in r.body


def test_underscore_header_never_reaches_app(srv):
    raw = build_request("GET", "/environ", headers=[("X-Forwarded_For", "evil"), ("X-Forwarded-For", "good"),
                                                    ("Under_Score", "u")])
    r = exchange(srv.port, raw)
    assert r.status in (200, 400), r
    if r.status == 200:
        env = r.json()
        assert env.get("HTTP_X_FORWARDED_FOR") == "good", env.get("HTTP_X_FORWARDED_FOR")
        assert "evil" not in r.body.decode()
        assert "HTTP_UNDER_SCORE" not in env


def test_server_still_serves_after_many_rejections(srv):
    for raw in (b"get / HTTP/1.1\r\n\r\n", b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", b"\x00\x01\x02\r\n\r\n"):
        with RawConnection(srv.port) as c:
            c.send(raw)
            c.read_until_close(5)
    r = exchange(srv.port, build_request("GET", "/still-alive"))
    assert r.status == 200 and r.body == b"ok path=/still-alive"


def test_garbage_gets_400(srv):
    with RawConnection(srv.port) as c:
        c.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32)) + b"\r\n\r\n")
        data = c.read_until_close(5)
    # A TLS ClientHello is not HTTP: either a 400 or a silent close, never a 2xx.
    assert data == b"" or data.startswith(b"HTTP/1.1 400") or data.startswith(b"HTTP/1.0 400"), data[:100]


def test_leading_empty_lines_tolerated(srv):
    """RFC 9112 2.2: a server SHOULD ignore at least one empty line before the request line."""
    r = exchange(srv.port, b"\r\nGET /after-crlf HTTP/1.1\r\nHost: x\r\n\r\n")
    assert r.status == 200 and r.body == b"ok path=/after-crlf"


def test_http10_with_transfer_encoding_framing_is_faulty(srv):
    """RFC 9112 6.1: HTTP/1.0 + Transfer-Encoding: treat framing as faulty and close after."""
    raw = (b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(b"hello")
           + b"GET /after HTTP/1.0\r\n\r\n")
    with RawConnection(srv.port) as c:
        c.send(raw)
        r = c.read_response()
        assert r.status in (200, 400), r
        closed, extra = c.is_closed(5)
        assert closed
        assert b"after" not in extra
