"""The WSGI contract (PEP 3333 plus what Gunicorn apps rely on)."""

import hashlib
import json
import socket
import time

import pytest

from conftest import wait_for
from rawhttp import IncompleteResponse, RawConnection, build_request, chunked, exchange

from apps.app import pattern_bytes


@pytest.fixture(scope="module", params=["inline", "threads"])
def srv(request, module_server_factory):
    """Every test runs against both dispatch modes: -w 1, and -w 1 --threads 4."""
    args = ["-w", "1"] + (["--threads", "4"] if request.param == "threads" else [])
    s = module_server_factory("app:application", *args)
    s.mode = request.param
    return s


@pytest.fixture(scope="module")
def script_srv(module_server_factory):
    return module_server_factory("app:application", "-w", "1", "-e", "SCRIPT_NAME=/app")


def req(method="GET", target="/", **kw):
    return build_request(method, target, **kw)


def environ(srv, target="/environ", method="GET", headers=None, body=b"", version="HTTP/1.1"):
    r = exchange(srv.port, build_request(method, target, headers=headers, body=body, version=version))
    assert r.status == 200, r
    return r.json()


def input_call(srv, mode, body, extra="", headers=None, te_chunked=False, timeout=20):
    target = "/input?mode=%s%s" % (mode, extra)
    if te_chunked:
        parts = [body[i:i + 7000] for i in range(0, len(body), 7000)]
        raw = req("POST", target, headers=[("Transfer-Encoding", "chunked")] + (headers or []),
                  body=chunked(*parts))
    else:
        raw = req("POST", target, headers=headers, body=body, content_length=True)
    r = exchange(srv.port, raw, timeout=timeout)
    assert r.status == 200, r
    return r.json()


# -- environ ----------------------------------------------------------------------

def test_environ_basics(srv):
    with RawConnection(srv.port) as c:
        c.send(req("GET", "/environ/a%20b?x=%41&y=2", headers=[("User-Agent", "t/1")]))
        env = c.read_response().json()
        port = c.local_port
    assert env["REQUEST_METHOD"] == "GET"
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/environ/a b"
    assert env["QUERY_STRING"] == "x=%41&y=2"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["REMOTE_PORT"] == str(port)
    assert env["RAW_URI"] == "/environ/a%20b?x=%41&y=2"
    assert env["REQUEST_URI"] == "/environ/a%20b?x=%41&y=2"
    assert env["HTTP_HOST"] == "localhost"
    assert env["HTTP_USER_AGENT"] == "t/1"
    assert isinstance(env["SERVER_NAME"], str) and env["SERVER_NAME"]
    assert isinstance(env["SERVER_PORT"], str) and env["SERVER_PORT"].isdigit()
    assert env["__non_str_cgi__"] == []


def test_environ_wsgi_keys(srv):
    env = environ(srv)
    assert env["wsgi.version"] == [1, 0] and env["__version_is_tuple__"]
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.multithread"] is (srv.mode == "threads")
    assert env["wsgi.multiprocess"] is False
    assert env["wsgi.run_once"] is False
    assert env["wsgi.input_terminated"] is True
    assert env["__file_wrapper_callable__"] is True
    assert env["__input_methods__"] == ["read", "readline", "readlines", "__iter__"]
    assert {"write", "writelines", "flush"} <= set(env["__errors_methods__"])


def test_environ_server_name_port_without_host(srv):
    env = environ(srv, version="HTTP/1.0")
    assert env["SERVER_NAME"]
    assert env["SERVER_PORT"] == str(srv.port)
    assert env["SERVER_PROTOCOL"] == "HTTP/1.0"


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH", "PURGE"])
def test_request_method(srv, method):
    env = environ(srv, method=method, body=b"x" if method in ("POST", "PUT", "PATCH") else b"")
    assert env["REQUEST_METHOD"] == method


def test_path_info_encoded_slash_decoded(srv):
    env = environ(srv, target="/environ/a%2Fb")
    assert env["PATH_INFO"] == "/environ/a/b"
    assert env["RAW_URI"] == "/environ/a%2Fb"


def test_path_info_percent_decoded_latin1(srv):
    env = environ(srv, target="/environ/caf%C3%A9/%E9%7E?q=%C3%A9")
    assert env["PATH_INFO"] == "/environ/caf\u00c3\u00a9/\u00e9~"
    assert env["QUERY_STRING"] == "q=%C3%A9"
    assert env["RAW_URI"] == "/environ/caf%C3%A9/%E9%7E?q=%C3%A9"


def test_content_type_and_length(srv):
    env = environ(srv, method="POST", headers=[("Content-Type", "text/x-test; charset=utf-8")], body=b"12345")
    assert env["CONTENT_TYPE"] == "text/x-test; charset=utf-8"
    assert env["CONTENT_LENGTH"] == "5"
    assert "HTTP_CONTENT_TYPE" not in env
    assert "HTTP_CONTENT_LENGTH" not in env


def test_no_content_length_when_absent(srv):
    env = environ(srv)
    assert env.get("CONTENT_LENGTH", "") == ""
    assert env.get("CONTENT_TYPE", "") == ""


def test_chunked_request_environ(srv):
    r = exchange(srv.port, req("POST", "/environ", headers=[("Transfer-Encoding", "chunked")], body=chunked(b"abc")))
    env = r.json()
    assert env.get("CONTENT_LENGTH", "") == ""
    assert env["HTTP_TRANSFER_ENCODING"].lower() == "chunked"


def test_repeated_headers_joined_with_comma(srv):
    env = environ(srv, headers=[("X-Multi", "a"), ("X-Other", "o"), ("X-Multi", "b"), ("x-multi", "c")])
    assert env["HTTP_X_MULTI"] == "a,b,c"
    assert env["HTTP_X_OTHER"] == "o"


def test_header_name_mapping(srv):
    env = environ(srv, headers=[("X-Dashed-Name", "1"), ("accept-language", "fr"), ("X-Value-Ows", "  v v  ")])
    assert env["HTTP_X_DASHED_NAME"] == "1"
    assert env["HTTP_ACCEPT_LANGUAGE"] == "fr"
    assert env["HTTP_X_VALUE_OWS"] == "v v"


def test_obs_text_header_value_is_latin1(srv):
    r = exchange(srv.port, b"GET /environ HTTP/1.1\r\nHost: x\r\nX-Latin: caf\xe9\r\n\r\n")
    assert r.json()["HTTP_X_LATIN"] == "caf\u00e9"


def test_script_name_from_env(script_srv):
    env = environ(script_srv, target="/app/environ/x?y=1")
    assert env["SCRIPT_NAME"] == "/app"
    assert env["PATH_INFO"] == "/environ/x"
    assert env["RAW_URI"] == "/app/environ/x?y=1"


def test_script_name_exact_path(script_srv):
    r = exchange(script_srv.port, req("GET", "/app"))
    assert r.status == 200
    assert r.body == b"ok path="


def test_wsgi_errors_goes_to_error_log(srv):
    marker = "wsgi-errors-marker-%d" % time.time_ns()
    r = exchange(srv.port, req("GET", "/errors_write?msg=" + marker))
    assert r.status == 200
    srv.wait_for_log(marker, timeout=5)


# -- wsgi.input ------------------------------------------------------------------------

SMALL = b"line one\nline two\n\nlast line without newline"


@pytest.mark.parametrize("mode", ["read", "read_none", "read_minus1", "readn", "readline", "readlines", "iter",
                                  "read0", "mixed"])
def test_input_small_body(srv, mode):
    res = input_call(srv, mode, SMALL)
    assert res["body"] == SMALL.decode()
    assert res["after_eof"] == ["", "", ""]
    assert res["types_ok"]


def test_input_readline_lines(srv):
    res = input_call(srv, "readline", SMALL)
    assert res["lines"] == ["line one\n", "line two\n", "\n", "last line without newline"]


def test_input_iteration_lines(srv):
    res = input_call(srv, "iter", SMALL)
    assert res["lines"] == ["line one\n", "line two\n", "\n", "last line without newline"]


def test_input_readline_limit(srv):
    res = input_call(srv, "readline_limit", b"abcdef\nxy\n", extra="&limit=3")
    assert res["lines"] == ["abc", "def", "\n", "xy\n"]
    assert res["max_line"] <= 3


def test_input_readlines_hint(srv):
    res = input_call(srv, "readlines_hint", b"aaaa\nbbbb\ncccc\n", extra="&hint=3")
    # PEP 3333: the server may ignore the hint, but the lines it returns are whole
    # lines and nothing is lost or duplicated.
    assert res["lines"] and res["lines"][0] == "aaaa\n"
    assert all(x.endswith("\n") for x in res["lines"])
    assert "".join(res["lines"]) + res["rest"] == "aaaa\nbbbb\ncccc\n"


def test_input_mixed(srv):
    res = input_call(srv, "mixed", b"first\nabcrest\nmore")
    assert res["parts"] == ["first\n", "abc", ["rest\n", "more"]]


def test_input_read0(srv):
    res = input_call(srv, "read0", b"xyz")
    assert res["read0"] == "" and res["body"] == "xyz"


def test_input_readn_respects_n(srv):
    res = input_call(srv, "readn", SMALL, extra="&n=5")
    assert res["part_lengths_max"] <= 5
    assert res["body"] == SMALL.decode()


def test_input_read_more_than_body_returns_promptly(srv):
    """read(n) with n > Content-Length returns the body; it never waits for more."""
    with RawConnection(srv.port, timeout=10) as c:
        c.send(req("POST", "/input?mode=read_big&n=1000000", body=b"hello") + req("GET", "/next"))
        r = c.read_response()
        assert r.json()["body"] == "hello"
        assert c.read_response().body == b"ok path=/next"


def test_input_never_reads_past_body(srv):
    with RawConnection(srv.port) as c:
        c.send(req("POST", "/input?mode=read", body=b"12345") + req("POST", "/input?mode=readline", body=b"ab\ncd"))
        r1 = c.read_response().json()
        r2 = c.read_response().json()
    assert r1["body"] == "12345"
    assert r2["lines"] == ["ab\n", "cd"]


def test_input_empty_body(srv):
    res = input_call(srv, "read", b"")
    assert res["len"] == 0
    r = exchange(srv.port, req("GET", "/input?mode=readline"))
    assert r.json()["len"] == 0


BIG = pattern_bytes(300_000) + b"\n" + b"tail line\n" * 1000


@pytest.mark.parametrize("mode", ["read", "readn", "readline", "iter", "readlines"])
@pytest.mark.parametrize("te_chunked", [False, True], ids=["content-length", "chunked"])
def test_input_streamed_large_body(srv, mode, te_chunked):
    """Bodies above --body-buffer-size stream into wsgi.input; every method sees all of it."""
    res = input_call(srv, mode, BIG, extra="&n=4093", te_chunked=te_chunked)
    assert res["len"] == len(BIG)
    assert res["sha256"] == hashlib.sha256(BIG).hexdigest()
    assert res["after_eof"] == ["", "", ""]


LONG_LINE = b"L" * 200_000 + b"\nshort\n" + b"M" * 100_000


def test_input_streamed_readline_very_long_line(srv):
    res = input_call(srv, "readline", LONG_LINE)
    assert res["nlines"] == 3
    assert res["sha256"] == hashlib.sha256(LONG_LINE).hexdigest()


def test_input_streamed_readline_limit(srv):
    res = input_call(srv, "readline_limit", LONG_LINE, extra="&limit=70000")
    assert res["max_line"] <= 70000
    assert res["sha256"] == hashlib.sha256(LONG_LINE).hexdigest()


def test_input_body_sent_slowly(srv):
    body = b"x" * 100_000
    with RawConnection(srv.port, timeout=20) as c:
        c.send(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body))
        for i in range(0, len(body), 20_000):
            c.send(body[i:i + 20_000])
            time.sleep(0.05)
        r = c.read_response()
    assert r.json() == {"len": len(body), "sha256": hashlib.sha256(body).hexdigest()}


def test_small_body_read_before_app_is_called(srv):
    """A body up to --body-buffer-size is read by the core before the app runs."""
    ident = "pre%d" % time.time_ns()
    with RawConnection(srv.port) as c:
        c.send(b"POST /sleep?s=0&id=%s HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" % ident.encode()
               + b"a" * 50)
        time.sleep(0.5)
        assert not (srv.mark_dir / ("started-" + ident)).exists(), "app called before the small body arrived"
        c.send(b"a" * 50)
        r = c.read_response()
        assert r.status == 200
    assert (srv.mark_dir / ("started-" + ident)).exists()


@pytest.mark.parametrize("n", [1_000_000, 3_000_000], ids=["in_memory", "spooled"])
def test_large_body_streams_to_app(srv, n):
    """A body above --body-buffer-size. Threaded mode: not buffered whole, the app
    starts before it ends. Inline mode: read whole before the app is called (past
    1 MiB into a temporary file), so the app never waits for the client on the
    event-loop thread that serves every other connection."""
    ident = "stream%d" % time.time_ns()
    started = srv.mark_dir / ("started-" + ident)
    with RawConnection(srv.port, timeout=20) as c:
        c.send(b"POST /sleep?s=0&id=%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (ident.encode(), n)
               + b"b" * 100_000)
        if srv.mode == "threads":
            wait_for(started.exists, timeout=5, what="the app to be called while the large body is still arriving")
        else:
            time.sleep(0.5)
            assert not started.exists(), "inline app called before the whole body arrived"
        c.send(b"b" * (n - 100_000))
        r = c.read_response()
        assert r.status == 200
    assert started.exists()


def test_upload_20mib(srv):
    body = pattern_bytes(20 * 1024 * 1024)
    r = exchange(srv.port, req("POST", "/upload", body=body), timeout=60)
    assert r.json() == {"len": len(body), "sha256": hashlib.sha256(body).hexdigest()}


def test_large_body_pipelined_with_next(srv):
    body = pattern_bytes(200_000)
    with RawConnection(srv.port, timeout=20) as c:
        c.send(req("POST", "/upload", body=body) + req("GET", "/next"))
        assert c.read_response().json()["len"] == len(body)
        assert c.read_response().body == b"ok path=/next"


# -- start_response / write / iteration ------------------------------------------------------

def test_write_callable(srv):
    r = exchange(srv.port, req("GET", "/write"))
    assert r.status == 200 and r.body == b"hello world"


def test_write_only_with_content_length(srv):
    with RawConnection(srv.port) as c:
        c.send(req("GET", "/write_only"))
        r = c.read_response()
        assert r.body == b"hello world" and r.header("Content-Length") == "11"
        c.send(req("GET", "/after"))
        assert c.read_response().body == b"ok path=/after"


def test_lazy_start_response(srv):
    r = exchange(srv.port, req("GET", "/lazy"))
    assert r.status == 200
    assert r.header("X-Lazy") == "yes"
    assert r.body == b"lazy body"


def test_streaming_generator(srv):
    r = exchange(srv.port, req("GET", "/stream?n=10&size=100"))
    assert r.body == b"".join((b"%d" % i) * 100 for i in range(10))


def test_exc_info_before_headers_replaces_response(srv):
    r = exchange(srv.port, req("GET", "/exc_before"))
    assert r.status == 503, r
    assert r.header("X-Second") == "1"
    assert r.header("X-First") is None
    assert r.body == b"replaced"


def test_exc_info_after_headers_sent_aborts(srv):
    with RawConnection(srv.port) as c:
        c.send(req("GET", "/exc_after?id=1"))
        data = c.read_until_close(10)
    assert data.startswith(b"HTTP/1.1 200"), data[:200]
    assert b"NOT-RERAISED" not in data
    assert not data.endswith(b"0\r\n\r\n"), "aborted response must not look complete: %r" % data[-50:]
    assert exchange(srv.port, req("GET", "/alive")).status == 200


def test_start_response_twice_without_exc_info_is_error(srv):
    r = exchange(srv.port, req("GET", "/double_start"))
    assert r.status == 500, r
    assert b"no-error" not in r.body


# -- application errors --------------------------------------------------------------------

ERROR_CASES = [
    ("/error?id=%s", "boom-%s"),
    ("/error_iter_before?id=%s", "boom-iter-before-%s"),
    ("/non_bytes", None),
    ("/no_start", None),
    ("/return_none", None),
    ("/return_str", None),
    ("/bad_header?kind=crlf", None),
    ("/bad_header?kind=lf", None),
    ("/bad_header?kind=cr", None),
    ("/bad_header?kind=nul", None),
    ("/bad_header?kind=nonlatin1", None),
    ("/bad_header?kind=name_crlf", None),
    ("/bad_header?kind=name_space", None),
    ("/bad_header?kind=name_colon", None),
    ("/bad_header?kind=name_nonlatin1", None),
    ("/bad_header?kind=value_bytes", None),
    ("/bad_header?kind=name_bytes", None),
    ("/bad_status?kind=crlf", None),
    ("/bad_status?kind=bytes", None),
    ("/bad_status?kind=nonnumeric", None),
]


@pytest.mark.parametrize("target,logmsg", ERROR_CASES, ids=[c[0].split("?id")[0] for c in ERROR_CASES])
def test_app_error_gives_500(srv, target, logmsg):
    ident = str(time.time_ns())
    target = target.replace("%s", ident)
    with RawConnection(srv.port) as c:
        c.send(req("GET", target))
        r = c.read_response()
    assert r.status == 500, r
    assert b"Traceback" not in r.raw
    assert b"Injected" not in r.raw
    assert r.header("Injected") is None
    if logmsg:
        srv.wait_for_log(logmsg.replace("%s", ident), timeout=5)
        assert "Traceback (most recent call last)" in srv.stderr()
    # the worker keeps serving
    assert exchange(srv.port, req("GET", "/alive")).body == b"ok path=/alive"


def test_error_after_headers_aborts_connection(srv):
    with RawConnection(srv.port) as c:
        c.send(req("GET", "/error_iter_after?id=2"))
        with pytest.raises(IncompleteResponse) as ei:
            c.read_response()
    assert ei.value.partial.startswith(b"HTTP/1.1 200")
    assert exchange(srv.port, req("GET", "/alive")).status == 200


def test_many_errors_do_not_kill_worker(srv):
    pid = exchange(srv.port, req("GET", "/pid")).json()["pid"]
    for i in range(20):
        assert exchange(srv.port, req("GET", "/error?id=many%d" % i)).status == 500
    assert exchange(srv.port, req("GET", "/pid")).json()["pid"] == pid


# -- close() ---------------------------------------------------------------------------------

def _closed(srv, ident, timeout=5):
    return wait_for(lambda: (srv.mark_dir / ("closed-" + ident)).exists(), timeout=timeout,
                    what="close() of iterable %s" % ident)


def test_close_called_on_success(srv):
    ident = "ok%d" % time.time_ns()
    r = exchange(srv.port, req("GET", "/close?id=" + ident))
    assert r.body == b"chunk0\nchunk1\nchunk2\n"
    _closed(srv, ident)


def test_close_called_on_exception(srv):
    ident = "raise%d" % time.time_ns()
    with RawConnection(srv.port) as c:
        c.send(req("GET", "/close?mode=raise&id=" + ident))
        c.read_until_close(10)
    _closed(srv, ident)


def test_close_called_for_head(srv):
    ident = "head%d" % time.time_ns()
    with RawConnection(srv.port) as c:
        c.send(req("HEAD", "/close?id=" + ident))
        r = c.read_response(method="HEAD")
        assert r.status == 200
    _closed(srv, ident)


def test_close_called_when_client_goes_away(srv):
    ident = "gone%d" % time.time_ns()
    c = RawConnection(srv.port)
    c.send(req("GET", "/close?chunks=400&sleep=0.05&id=" + ident))
    c.sock.settimeout(10)
    assert c.sock.recv(10)  # the response has started
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.close()  # RST
    _closed(srv, ident, timeout=15)
    assert exchange(srv.port, req("GET", "/alive")).status == 200


# -- Content-Length enforcement ----------------------------------------------------------------

def test_app_content_length_short_closes_connection(srv):
    with RawConnection(srv.port) as c:
        c.send(req("GET", "/cl_short"))
        with pytest.raises(IncompleteResponse) as ei:
            c.read_response()
    partial = ei.value.partial
    head, _, body = partial.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert body == b"12345"


def test_app_content_length_long_truncated(srv):
    with RawConnection(srv.port) as c:
        c.send(req("GET", "/cl_long"))
        r = c.read_response()
        assert r.body == b"12345"
        c.send(req("GET", "/after"))
        rest = c.read_available(2.0)
    assert b"67890" not in rest
    if rest:
        assert rest.startswith(b"HTTP/1.1 200"), rest[:100]


# -- wsgi.file_wrapper -------------------------------------------------------------------------

@pytest.mark.parametrize("size", [0, 1, 100_000, 3_000_000])
def test_file_wrapper_real_file(srv, size):
    ident = "fw%d-%d" % (size, time.time_ns())
    with RawConnection(srv.port, timeout=30) as c:
        c.send(req("GET", "/file?kind=real&size=%d&id=%s" % (size, ident)))
        r = c.read_response()
        assert r.status == 200
        assert r.header("Content-Length") == str(size)
        assert r.body == pattern_bytes(size)
        c.send(req("GET", "/after"))
        assert c.read_response().body == b"ok path=/after"
    wait_for(lambda: (srv.mark_dir / ("file-closed-" + ident)).exists(), timeout=5, what="file_wrapper close()")


def test_file_wrapper_uses_sendfile_not_read(srv):
    """A real file is sent with sendfile: Python-level read()/readinto() are never called."""
    ident = "sf%d" % time.time_ns()
    r = exchange(srv.port, req("GET", "/file?kind=real&size=500000&id=" + ident), timeout=30)
    assert r.body == pattern_bytes(500000)
    wait_for(lambda: (srv.mark_dir / ("file-closed-" + ident)).exists(), timeout=5, what="file_wrapper close()")
    assert not (srv.mark_dir / ("file-read-" + ident)).exists(), "file was read through Python, not sendfile"


def test_file_wrapper_starts_at_current_offset(srv):
    r = exchange(srv.port, req("GET", "/file?kind=real&size=100000&offset=1000"), timeout=30)
    assert r.header("Content-Length") == "99000"
    assert r.body == pattern_bytes(100000)[1000:]


def test_file_wrapper_content_length_shorter_than_file(srv):
    with RawConnection(srv.port, timeout=30) as c:
        c.send(req("GET", "/file?kind=real&size=100000&cl=5000"))
        r = c.read_response()
        assert r.body == pattern_bytes(5000)
        c.send(req("GET", "/after"))
        rest = c.read_available(2.0)
    if rest:
        assert rest.startswith(b"HTTP/1.1 200") and rest.endswith(b"ok path=/after"), rest[:200]


def test_file_wrapper_without_content_length(srv):
    r = exchange(srv.port, req("GET", "/file?kind=real_nocl&size=200000"), timeout=30)
    assert r.status == 200 and r.body == pattern_bytes(200000)


def test_file_wrapper_blksize(srv):
    r = exchange(srv.port, req("GET", "/file?kind=real&size=50000&blksize=1000"))
    assert r.body == pattern_bytes(50000)


def test_file_wrapper_non_file_object(srv):
    r = exchange(srv.port, req("GET", "/file?kind=bytesio&size=70000"))
    assert r.status == 200 and r.body == pattern_bytes(70000)


def test_file_wrapper_head(srv):
    with RawConnection(srv.port) as c:
        c.send(req("HEAD", "/file?kind=real&size=100000"))
        r = c.read_response(method="HEAD")
        assert r.header("Content-Length") == "100000" and r.body == b""
        c.send(req("GET", "/after"))
        assert c.read_response().body == b"ok path=/after"


def test_file_wrapper_http10(srv):
    with RawConnection(srv.port) as c:
        c.send(b"GET /file?kind=real_nocl&size=10000 HTTP/1.0\r\n\r\n")
        r = c.read_response()
    assert r.body == pattern_bytes(10000)


# -- multiple requests on one worker keep environ separate --------------------------------------

def test_environ_not_shared_between_requests(srv):
    with RawConnection(srv.port) as c:
        c.send(req("GET", "/environ", headers=[("X-Only-First", "1")]))
        e1 = c.read_response().json()
        c.send(req("GET", "/environ"))
        e2 = c.read_response().json()
    assert e1["HTTP_X_ONLY_FIRST"] == "1"
    assert "HTTP_X_ONLY_FIRST" not in e2


def test_json_roundtrip_sanity(srv):
    # guard: the environ endpoint really is JSON (so the other tests can fail meaningfully)
    r = exchange(srv.port, req("GET", "/environ"))
    assert r.header("Content-Type") == "application/json"
    json.loads(r.body)
