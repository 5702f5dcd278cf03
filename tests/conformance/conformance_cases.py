"""HTTP/1.1 conformance and request-smuggling cases, as data.

Each :class:`Case` is the exact bytes a client sends on one fresh connection
and what ferricorn must do with them:

* ``responses``: the final responses, in order (an empty tuple: no response
  at all). A :class:`Resp` with ``sees`` is one answered by the application
  (tests/apps/conformance_app.py), and ``sees`` is a subset of the JSON the
  app returns about what it saw (``path``, ``query``, ``method``, ``body``,
  ``content_length``, ``headers`` (a subset of the ``HTTP_*`` keys),
  ``absent`` (``HTTP_*`` keys that must not be there), ...). A ``Resp``
  without ``sees`` is an answer from the server itself (an error), and the
  app must not have been called for it.
* ``close``: True = the server closes the connection after the last
  response (and says ``Connection: close`` on it, unless the client caused
  the close with ``eof``); False = the connection stays open and in step: a
  probe request sent on it next gets its own answer; None = either.
* the application is called exactly for the responses that have ``sees``,
  in order, and for nothing else (a smuggled request never reaches it).
* ``eof``: the client half-closes after sending (for truncated messages).
* ``server``: which server configuration runs the case (see SERVERS).
* ``continue_ok``: a ``100 Continue`` interim response may come first.
* ``xfail``: a known ferricorn bug outside the parser; the case is run as a
  strict xfail so that fixing the bug flags the marker for removal.

References: RFC 9110 (semantics), RFC 9112 (HTTP/1.1 message syntax),
RFC 3986 (URI), CVE-2024-1135 and CVE-2024-6827 (gunicorn Transfer-Encoding
validation), waitress CVE-2019-16785 (LF line endings), CVE-2019-16786
(Transfer-Encoding lists), CVE-2019-16789 (whitespace other than SP/HTAB),
CVE-2019-16792 (duplicate Content-Length), CVE-2022-24761 (int() parsing of
lengths: '+', '0x', '_', Unicode digits), CVE-2024-49768 (pipelined request
after a close), and the CL.TE / TE.CL / TE.TE request-smuggling literature.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

# Server configurations. The runner starts each one once, with one worker
# and the conformance app; flags are ferricorn's (Gunicorn's names).
SERVERS = {
    "default": [],
    # every Gunicorn-compatible leniency switched on at once
    "lenient": ["--permit-obsolete-folding", "--casefold-http-method", "--permit-unconventional-http-method",
                "--header-map", "dangerous", "--tolerate-dangerous-framing"],
    # casefold alone: Gunicorn checks the method before folding, so lowercase is still refused
    "casefold": ["--casefold-http-method"],
    "refuse": ["--header-map", "refuse"],
    "unconventional": ["--permit-unconventional-http-method"],
    # threaded dispatch: a body above --body-buffer-size streams into the app as
    # it reads; the default (inline) mode reads every body whole before the app
    # is called. Cases whose outcome depends on that run against both, with
    # the inline expectation in a twin case whose id ends in "_inline".
    "threads": ["--threads", "4"],
}
T = "threads"


@dataclass(frozen=True)
class Resp:
    status: int
    sees: Optional[dict] = None
    method: str = "GET"  # how to frame the response: "HEAD" responses have no body


@dataclass(frozen=True)
class Case:
    id: str
    ref: str
    raw: bytes
    responses: tuple
    close: Optional[bool]
    eof: bool = False
    server: str = "default"
    continue_ok: bool = False
    xfail: str = ""

    @property
    def app_paths(self) -> list:
        return [r.sees["path"] for r in self.responses if r.sees is not None]

    @property
    def announce_close(self) -> bool:
        return bool(self.close) and not self.eof and bool(self.responses)


CASES: list = []
_ids: set = set()


def add(case: Case) -> Case:
    assert case.id not in _ids, "duplicate case id %s" % case.id
    assert case.server in SERVERS, case.server
    for r in case.responses:
        assert r.sees is None or "path" in r.sees, case.id
    _ids.add(case.id)
    CASES.append(case)
    return case


def app(path: str = "/", status: int = 200, **sees) -> Resp:
    """An answer from the application (200 unless it failed), which saw at
    least ``sees`` (only checked on a 200, the others have no JSON)."""
    method = sees.get("method", "GET")
    return Resp(status, dict(sees, path=path), method="HEAD" if method == "HEAD" else "GET")


def ok(id, ref, raw, *resps, close=False, **kw):
    """Accepted: the app answers (``resps`` defaults to one app("/") answer)."""
    return add(Case(id, ref, raw, tuple(resps) or (app("/"),), close, **kw))


def bad(id, ref, raw, status=400, *, before=(), **kw):
    """Refused with ``status`` and closed; ``before`` are answers to earlier
    pipelined requests on the same connection."""
    return add(Case(id, ref, raw, tuple(before) + (Resp(status),), True, **kw))


def silent(id, ref, raw, *, before=(), **kw):
    """No (further) response; the connection ends (the client sent EOF)."""
    return add(Case(id, ref, raw, tuple(before), True, eof=True, **kw))


H = b"Host: x\r\n"
SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"


def get(target=b"/", headers=b"", version=b"HTTP/1.1", host=H, method=b"GET"):
    return method + b" " + target + b" " + version + b"\r\n" + host + headers + b"\r\n"


def post(headers=b"", body=b"", target=b"/echo", version=b"HTTP/1.1", host=H, method=b"POST"):
    return method + b" " + target + b" " + version + b"\r\n" + host + headers + b"\r\n" + body


def cl(body: bytes, target=b"/echo", extra=b"") -> bytes:
    return post(b"Content-Length: %d\r\n" % len(body) + extra, body, target)


def chunked_req(chunks: bytes, target=b"/echo", te=b"chunked", extra=b"") -> bytes:
    return post(b"Transfer-Encoding: " + te + b"\r\n" + extra, chunks, target)


def chunks(*parts: bytes, trailers: bytes = b"") -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n" + trailers + b"\r\n"


# ---------------------------------------------------------------------------
# 1. Baseline: well-formed requests and what the application sees
# ---------------------------------------------------------------------------
R9112_3 = "RFC 9112 §3"
ok("get_simple", R9112_3, get(), app("/", method="GET", query="", protocol="HTTP/1.1",
                                     headers={"HTTP_HOST": "x"}, body="", content_length=None))
ok("get_query", R9112_3, get(b"/p/q?a=1&b=%20"), app("/p/q", query="a=1&b=%20", raw_uri="/p/q?a=1&b=%20"))
ok("get_percent_decoded_path", "PEP 3333 PATH_INFO is decoded; RFC 3986 §2.1",
   get(b"/a%20b/%7Euser"), app("/a b/~user", raw_uri="/a%20b/%7Euser"))
ok("get_encoded_slash", "PEP 3333 (PATH_INFO decoded, RAW_URI kept)", get(b"/a%2Fb"),
   app("/a/b", raw_uri="/a%2Fb"))
ok("get_percent_nul_decoded", "RFC 3986 §2.1 (%00 is data once decoded)", get(b"/a%00b"),
   app("/a\x00b", raw_uri="/a%00b"))
ok("get_invalid_percent_kept", "RFC 3986 §2.1", get(b"/a%zz%4"), app("/a%zz%4"))
ok("get_double_slash_path", "RFC 9112 §3.2.1 (origin-form; path kept)", get(b"//double//slash"),
   app("//double//slash"))
ok("get_empty_query", R9112_3, get(b"/p?"), app("/p", query=""))
ok("get_question_in_query", "RFC 3986 §3.4", get(b"/p?a?b=/c"), app("/p", query="a?b=/c"))
ok("head_no_body_in_response", "RFC 9110 §9.3.2", get(method=b"HEAD"), app("/", method="HEAD"))
ok("post_content_length", "RFC 9112 §6.2", cl(b"hello"),
   app("/echo", method="POST", body="hello", content_length="5"))
ok("post_content_length_zero", "RFC 9112 §6.2", cl(b""), app("/echo", body="", content_length="0"))
ok("get_with_body", "RFC 9110 §9.3.1 (content on GET has no defined semantics, framing still applies)",
   get(b"/g", b"Content-Length: 3\r\n") + b"abc", app("/g", body="abc", content_length="3"))
ok("post_chunked", "RFC 9112 §7.1", chunked_req(chunks(b"hello", b" ", b"world")),
   app("/echo", body="hello world", content_length=None, headers={"HTTP_TRANSFER_ENCODING": "chunked"}))
ok("post_chunked_many_tiny", "RFC 9112 §7.1", chunked_req(chunks(*[b"z"] * 64)), app("/echo", body="z" * 64))
ok("post_binary_body", "RFC 9112 §6", cl(bytes(range(256))), app("/echo", body=bytes(range(256)).decode("latin-1")))
ok("content_type_seen", "PEP 3333 CONTENT_TYPE", cl(b"{}", extra=b"Content-Type: application/json\r\n"),
   app("/echo", content_type="application/json", absent=["HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"]))
ok("http10_no_host", "RFC 9112 §3.2 (Host is required in 1.1 only); RFC 9112 §9.3", get(version=b"HTTP/1.0", host=b""),
   app("/", protocol="HTTP/1.0"), close=True)
ok("http10_keep_alive", "RFC 9112 §9.3 (1.0 persistence by keep-alive)",
   get(version=b"HTTP/1.0", headers=b"Connection: keep-alive\r\n"), app("/", protocol="HTTP/1.0"))
ok("http11_connection_close", "RFC 9112 §9.6", get(headers=b"Connection: close\r\n"), close=True)
ok("connection_close_case_and_list", "RFC 9110 §7.6.1 (tokens are case-insensitive)",
   get(headers=b"Connection: foo, CLOSE\r\n"), close=True)
ok("connection_two_fields_close", "RFC 9110 §5.3 (field lines combine into a list)",
   get(headers=b"Connection: keep-alive\r\nConnection: close\r\n"), close=True)
ok("header_ows_trimmed", "RFC 9112 §5.1 (OWS around the value is not part of it)",
   get(headers=b"X-A: \t v \t\r\nX-B:v\r\n"), app("/", headers={"HTTP_X_A": "v", "HTTP_X_B": "v"}))
ok("header_inner_whitespace_kept", "RFC 9110 §5.5", get(headers=b"X-A: a \t b\r\n"),
   app("/", headers={"HTTP_X_A": "a \t b"}))
ok("header_empty_value", "RFC 9110 §5.5 (field-value may be empty)", get(headers=b"X-A:\r\nX-B: \t\r\n"),
   app("/", headers={"HTTP_X_A": "", "HTTP_X_B": ""}))
ok("header_obs_text_value", "RFC 9110 §5.5 (obs-text)", get(headers=b"X-A: caf\xe9 \xff\r\n"),
   app("/", headers={"HTTP_X_A": "caf\xe9 \xff"}))
ok("header_colon_in_value", "RFC 9110 §5.5", get(headers=b"X-A: a:b::c\r\n"), app("/", headers={"HTTP_X_A": "a:b::c"}))
ok("header_all_tchars_name", "RFC 9110 §5.1 (field-name = token)", get(headers=b"!#$%&'*+.^`|~09azAZ-x: t\r\n"),
   app("/", headers={"HTTP_!#$%&'*+.^`|~09AZAZ_X": "t"}))
ok("header_repeated_joined", "RFC 9110 §5.3 (combined with commas)", get(headers=b"X-A: 1\r\nX-B: b\r\nx-a: 2\r\n"),
   app("/", headers={"HTTP_X_A": "1,2"}))
ok("header_underscore_dropped", "CVE-2015-0219 (X_A must not pose as X-A)",
   get(headers=b"X_Forwarded_For: evil\r\nX-Forwarded-For: good\r\n"),
   app("/", headers={"HTTP_X_FORWARDED_FOR": "good"}))
ok("header_underscore_only_dropped", "CVE-2015-0219", get(headers=b"Under_Score: u\r\n"),
   app("/", absent=["HTTP_UNDER_SCORE"]))
ok("header_value_tab_inside", "RFC 9110 §5.5 (HTAB allowed in field-value)", get(headers=b"X-A: a\tb\r\n"),
   app("/", headers={"HTTP_X_A": "a\tb"}))
ok("method_custom_token", "RFC 9110 §9.1 (method = token)", get(method=b"PURGE"), app("/", method="PURGE"))
ok("method_with_dash_dot", "RFC 9110 §9.1", get(method=b"M-SEARCH.X"), app("/", method="M-SEARCH.X"))
ok("method_20_chars", "Gunicorn method rule (3-20 chars)", get(method=b"ABCDEFGHIJKLMNOPQRST"),
   app("/", method="ABCDEFGHIJKLMNOPQRST"))
ok("http_minor_2_as_11", "RFC 9110 §2.5 (higher minor version processed as 1.1)", get(version=b"HTTP/1.2"),
   app("/", protocol="HTTP/1.1"))
ok("http_minor_9_as_11", "RFC 9110 §2.5", get(version=b"HTTP/1.9"), app("/", protocol="HTTP/1.1"))

# ---------------------------------------------------------------------------
# 2. Leading empty lines (RFC 9112 §2.2: SHOULD ignore at least one CRLF)
# ---------------------------------------------------------------------------
R2_2 = "RFC 9112 §2.2"
ok("leading_crlf_one", R2_2, b"\r\n" + get())
ok("leading_crlf_eight", R2_2 + " (a few are ignored)", b"\r\n" * 8 + get())
bad("leading_crlf_nine", R2_2 + " (an endless stream of empty lines is refused)", b"\r\n" * 9 + get())
bad("leading_bare_lf", R2_2 + " (bare LF refused)", b"\n" + get())
bad("leading_bare_cr", R2_2, b"\r" + get())
bad("leading_space", "RFC 9112 §3 (request-line starts with method)", b" " + get())
bad("leading_tab", "RFC 9112 §3", b"\t" + get())
ok("crlf_between_pipelined", R2_2, get(b"/a") + b"\r\n" + get(b"/b"), app("/a"), app("/b"))
ok("crlf_after_body", R2_2 + " (a stray CRLF after a body)", cl(b"hello") + b"\r\n" + get(b"/b"),
   app("/echo", body="hello"), app("/b"))

# ---------------------------------------------------------------------------
# 3. Request line: method, separators, version
# ---------------------------------------------------------------------------
R3 = "RFC 9112 §3"
for name, line in [
    ("rl_double_space_1", b"GET  / HTTP/1.1"),
    ("rl_double_space_2", b"GET /  HTTP/1.1"),
    ("rl_trailing_space", b"GET / HTTP/1.1 "),
    ("rl_trailing_tab", b"GET / HTTP/1.1\t"),
    ("rl_tab_separator", b"GET\t/ HTTP/1.1"),
    ("rl_tab_separator_2", b"GET /\tHTTP/1.1"),
    ("rl_vt_separator", b"GET\x0b/ HTTP/1.1"),
    ("rl_ff_separator", b"GET /\x0cHTTP/1.1"),
    ("rl_nbsp_separator", b"GET\xa0/ HTTP/1.1"),
    ("rl_missing_target", b"GET HTTP/1.1"),
    ("rl_missing_version_http09", b"GET /"),
    ("rl_only_method", b"GET"),
    ("rl_four_parts", b"GET / x HTTP/1.1"),
    ("rl_empty_method", b" / HTTP/1.1"),
]:
    bad(name, R3 + " (exactly method SP target SP version)", line + b"\r\n" + H + b"\r\n")
bad("http09_simple_request", R3 + " (HTTP/0.9 is not served)", b"GET /\r\n\r\n")
bad("rl_bare_cr_end", "RFC 9112 §2.2 (bare CR)", b"GET / HTTP/1.1\r\r\n" + H + b"\r\n")
bad("rl_bare_lf_end", "RFC 9112 §2.2; waitress CVE-2019-16785", b"GET / HTTP/1.1\n" + H + b"\r\n")
bad("all_bare_lf", "RFC 9112 §2.2; waitress CVE-2019-16785", b"GET / HTTP/1.1\nHost: x\n\n")

for name, m in [
    ("method_lowercase", b"get"), ("method_mixed_case", b"Get"), ("method_hash", b"G#T"),
    ("method_two_chars", b"GE"), ("method_21_chars", b"ABCDEFGHIJKLMNOPQRSTU"),
]:
    bad(name, "Gunicorn method rule (uppercase token, 3-20 chars, no '#'); RFC 9110 §9.1 is case-sensitive",
        get(method=m))
for name, m in [
    ("method_colon", b"GET:"), ("method_paren", b"G(T"), ("method_slash", b"GE/T"), ("method_at", b"G@T"),
    ("method_nul", b"GE\x00T"), ("method_ctl", b"GE\x01T"), ("method_del", b"GE\x7fT"),
    ("method_high_byte", b"G\xcbT"), ("method_quote", b'G"T'), ("method_comma", b"G,T"),
]:
    bad(name, "RFC 9110 §9.1 (method = token)", get(method=m))

RV = "RFC 9112 §2.3 (HTTP-version = \"HTTP\" \"/\" DIGIT \".\" DIGIT, case-sensitive)"
for name, v in [
    ("version_lowercase", b"http/1.1"), ("version_mixed_case", b"Http/1.1"), ("version_no_minor", b"HTTP/1"),
    ("version_two_digit_minor", b"HTTP/1.10"), ("version_two_digit_major", b"HTTP/11.1"),
    ("version_leading_zero", b"HTTP/01.1"), ("version_minor_leading_zero", b"HTTP/1.01"),
    ("version_space_after_slash", b"HTTP/ 1.1"), ("version_letter", b"HTTP/1.x"), ("version_suffix", b"HTTP/1.1x"),
    ("version_https", b"HTTPS/1.1"), ("version_no_slash", b"HTTP1.1"), ("version_comma", b"HTTP/1,1"),
    ("version_09", b"HTTP/0.9"), ("version_00", b"HTTP/0.0"), ("version_fullwidth_digit", "HTTP/１.１".encode()),
    ("version_nul", b"HTTP/1.1\x00"),
]:
    bad(name, RV, get(version=v))
for name, v in [("version_2_0", b"HTTP/2.0"), ("version_3_0", b"HTTP/3.0"), ("version_9_9", b"HTTP/9.9")]:
    bad(name, "RFC 9110 §15.6.6 (505 for an unsupported major version)", get(version=v), 505)
bad("h2_prior_knowledge_preface", "RFC 9113 §3.4 (h2 preface on an HTTP/1.1 port)",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505)

# ---------------------------------------------------------------------------
# 4. Request target forms (RFC 9112 §3.2)
# ---------------------------------------------------------------------------
ok("absolute_form", "RFC 9112 §3.2.2", get(b"http://x/abs/p?q=1"), app("/abs/p", query="q=1"))
ok("absolute_form_no_path", "RFC 9112 §3.2.1 (empty path means /)", get(b"http://x"), app("/", query=""))
ok("absolute_form_query_no_path", "RFC 9112 §3.2.1", get(b"http://x?a=b"), app("/", query="a=b"))
ok("absolute_form_https_port", "RFC 9112 §3.2.2", get(b"https://x:8443/s"), app("/s"))
ok("absolute_form_uppercase_scheme", "RFC 3986 §3.1 (scheme is case-insensitive)", get(b"HTTP://x/u"), app("/u"))
ok("absolute_form_ipv6", "RFC 3986 §3.2.2", get(b"http://[::1]:80/v6"), app("/v6"))
ok("absolute_form_different_host_seen_as_target", "RFC 9112 §3.2.2 (origin server MUST ignore Host, use the target's)",
   get(b"http://target.example/p", host=b"Host: other.example\r\n"),
   app("/p", headers={"HTTP_HOST": "target.example"}))
bad("absolute_form_empty_authority", "RFC 9110 §4.2.1 (http URI with empty host MUST be rejected)", get(b"http:///x"))
bad("absolute_form_one_slash", "RFC 9112 §3.2", get(b"http:/x"))
bad("absolute_form_bad_authority_char", "RFC 3986 §3.2", get(b"http://x<y>/p"))
bad("absolute_form_scheme_digit_first", "RFC 3986 §3.1", get(b"1http://x/"))
bad("absolute_form_userinfo", "RFC 9110 §4.2.4 (userinfo in an http(s) URI SHOULD be treated as an error)",
    get(b"http://user:pass@x/p"))
bad("absolute_form_userinfo_host_confusion", "RFC 9110 §4.2.4", get(b"http://trusted.example@evil.example/"))
ok("fragment_dropped", "RFC 9112 §3.2 (no fragment in a request-target; Gunicorn drops it)",
   get(b"/f?q=1#frag"), app("/f", query="q=1"))
ok("fragment_absolute_form", "RFC 9112 §3.2", get(b"http://x/f#frag"), app("/f"))
bad("target_relative", "RFC 9112 §3.2 (origin-form starts with /)", get(b"foo/bar"))
bad("target_dot_dot_relative", "RFC 9112 §3.2", get(b"../etc/passwd"))
bad("target_query_only", "RFC 9112 §3.2.1", get(b"?a=b"))
bad("target_space_inside", "RFC 9112 §3.2 (no SP in request-target)", b"GET /a b HTTP/1.1\r\n" + H + b"\r\n")
bad("target_tab_inside", "RFC 9112 §3.2", get(b"/a\tb"))
bad("target_nul", "RFC 9112 §3.2", get(b"/a\x00b"))
bad("target_ctl", "RFC 9112 §3.2", get(b"/a\x01b"))
bad("target_del", "RFC 9112 §3.2", get(b"/a\x7fb"))
bad("target_bare_cr", "RFC 9112 §2.2", get(b"/a\rb"))
ok("target_high_bytes", "Gunicorn accepts raw non-ASCII paths (obs-text); decoded as latin-1",
   get(b"/caf\xc3\xa9"), app("/caf\xc3\xa9"))
ok("target_unsafe_ascii", "Gunicorn accepts visible ASCII outside RFC 3986 pchar", get(b'/a"b<c>{d}|e\\f^g`h'),
   app('/a"b<c>{d}|e\\f^g`h'))
ok("asterisk_options", "RFC 9112 §3.2.4", get(b"*", method=b"OPTIONS"), app("*", method="OPTIONS"))
bad("asterisk_get", "RFC 9112 §3.2.4 (asterisk-form only for OPTIONS)", get(b"*"))
bad("asterisk_post", "RFC 9112 §3.2.4", get(b"*", method=b"POST"))
bad("asterisk_with_suffix", "RFC 9112 §3.2.4", get(b"*x", method=b"OPTIONS"))
ok("connect_authority_form", "RFC 9112 §3.2.3; RFC 9110 §9.3.6 (data after a CONNECT head is tunnel data: close)",
   get(b"example.com:443", method=b"CONNECT", host=b"Host: example.com:443\r\n"),
   app("example.com:443", method="CONNECT"), close=True)
ok("connect_no_pipelining", "RFC 9110 §9.3.6 (bytes after the CONNECT head are not a request)",
   get(b"example.com:443", method=b"CONNECT") + SMUGGLED, app("example.com:443", method="CONNECT"), close=True)
bad("connect_origin_form", "RFC 9112 §3.2.3 (CONNECT needs authority-form)", get(b"/", method=b"CONNECT"))
bad("connect_no_port", "RFC 9112 §3.2.3 (authority-form = uri-host \":\" port)", get(b"example.com", method=b"CONNECT"))
bad("connect_empty_port", "RFC 9112 §3.2.3", get(b"example.com:", method=b"CONNECT"))
bad("connect_port_too_big", "RFC 9112 §3.2.3", get(b"example.com:99999", method=b"CONNECT"))
bad("connect_userinfo", "RFC 9112 §3.2.3 (no userinfo)", get(b"u@example.com:443", method=b"CONNECT"))
bad("connect_absolute_form", "RFC 9112 §3.2.3", get(b"http://example.com:443", method=b"CONNECT"))
bad("authority_form_with_get", "RFC 9112 §3.2.3 (authority-form only for CONNECT)", get(b"example.com:443"))
bad("target_too_long", "RFC 9112 §3 (414 for a request-target over the limit)",
    get(b"/" + b"a" * 4200), 414)
ok("request_line_at_limit", "--limit-request-line 4094 (Gunicorn default)",
   get(b"/" + b"a" * (4094 - len(b"GET / HTTP/1.1"))), app("/" + "a" * (4094 - len("GET / HTTP/1.1"))))
bad("request_line_one_over_limit", "--limit-request-line 4094",
    get(b"/" + b"a" * (4095 - len(b"GET / HTTP/1.1"))), 414)

# ---------------------------------------------------------------------------
# 5. Host (RFC 9112 §3.2, RFC 9110 §7.2)
# ---------------------------------------------------------------------------
RH = "RFC 9112 §3.2 (400 for a missing, duplicate or invalid Host in 1.1)"
bad("host_missing", RH, get(host=b""))
bad("host_duplicate", RH, get(host=b"Host: a\r\nHost: b\r\n"))
bad("host_duplicate_same", RH, get(host=b"Host: a\r\nHost: a\r\n"))
bad("host_duplicate_case", RH, get(host=b"Host: a\r\nhOST: a\r\n"))
bad("host_duplicate_http10", RH, get(host=b"Host: a\r\nHost: b\r\n", version=b"HTTP/1.0"))
bad("host_duplicate_far_apart", RH, get(host=b"Host: a\r\n", headers=b"X-A: 1\r\nX-B: 2\r\nHost: b\r\n"))
ok("host_empty", "RFC 9112 §3.2 (empty Host when the authority is undefined)", get(host=b"Host:\r\n"),
   app("/", headers={"HTTP_HOST": ""}))
ok("host_port", RH, get(host=b"Host: example.com:8080\r\n"), app("/", headers={"HTTP_HOST": "example.com:8080"}))
ok("host_empty_port", "RFC 3986 §3.2.3 (port may be empty)", get(host=b"Host: x:\r\n"))
ok("host_ipv6", "RFC 3986 §3.2.2", get(host=b"Host: [::1]:80\r\n"), app("/", headers={"HTTP_HOST": "[::1]:80"}))
ok("host_ipv4", "RFC 3986 §3.2.2", get(host=b"Host: 127.0.0.1\r\n"))
ok("host_trailing_dot", "RFC 3986 §3.2.2", get(host=b"Host: example.com.\r\n"))
ok("host_pct_encoded", "RFC 3986 §3.2.2 (reg-name allows pct-encoded)", get(host=b"Host: a%20b\r\n"))
ok("host_ows_trimmed", "RFC 9112 §5.1", get(host=b"Host: \t x \t\r\n"), app("/", headers={"HTTP_HOST": "x"}))
for name, v in [
    ("host_space", b"a b"), ("host_slash", b"a/b"), ("host_userinfo", b"user@a"), ("host_backslash", b"a\\b"),
    ("host_question", b"a?b"), ("host_hash", b"a#b"), ("host_bad_port", b"a:port"), ("host_port_too_long", b"a:123456"),
    ("host_two_colons", b"a:1:2"), ("host_unclosed_bracket", b"[::1"), ("host_junk_after_bracket", b"[::1]x"),
    ("host_bad_pct", b"a%2"), ("host_high_byte", b"caf\xe9"), ("host_quote", b'"a"'), ("host_lt", b"a<b"),
]:
    bad(name, RH + "; RFC 3986 §3.2.2", get(host=b"Host: " + v + b"\r\n"))
bad("host_nul", RH, get(host=b"Host: a\x00b\r\n"))
bad("host_bare_cr", "RFC 9112 §2.2", get(host=b"Host: a\rb\r\n"))

# ---------------------------------------------------------------------------
# 6. Header field syntax: names, values, CTLs, line endings, obs-fold
# ---------------------------------------------------------------------------
RN = "RFC 9110 §5.1 (field-name = token); RFC 9112 §5"
for name, fname in [
    ("name_space_before_colon", b"X-A "), ("name_tab_before_colon", b"X-A\t"), ("name_space_inside", b"X A"),
    ("name_paren", b"X(A)"), ("name_comma", b"X,A"), ("name_slash", b"X/A"), ("name_semicolon", b"X;A"),
    ("name_lt_gt", b"X<A>"), ("name_equals", b"X=A"), ("name_question", b"X?A"), ("name_at", b"X@A"),
    ("name_brackets", b"X[A]"), ("name_backslash", b"X\\A"), ("name_braces", b"X{A}"), ("name_quote", b'X"A'),
    ("name_nul", b"X\x00A"), ("name_ctl", b"X\x01A"), ("name_del", b"X\x7fA"), ("name_vt", b"X\x0bA"),
    ("name_high_byte", b"X\xe9A"), ("name_utf8", "X-é".encode()), ("name_empty", b""),
    ("name_leading_space_cl", b" Content-Length"),
]:
    bad(name, RN, get(headers=fname + b": v\r\n"))
bad("name_space_before_colon_host", "RFC 9112 §5.1 (MUST reject whitespace before the colon)",
    get(host=b"Host : x\r\n"))
bad("name_space_before_colon_cl", "RFC 9112 §5.1", post(b"Content-Length : 5\r\n", b"hello"))
bad("header_no_colon", RN, get(headers=b"NoColonHere\r\n"))
bad("header_only_colon", RN, get(headers=b":\r\n"))

RCTL = "RFC 9110 §5.5 (field-value: no CTL other than HTAB)"
for name, ch in [
    ("value_nul", b"\x00"), ("value_soh", b"\x01"), ("value_bel", b"\x07"), ("value_bs", b"\x08"),
    ("value_vt", b"\x0b"), ("value_ff", b"\x0c"), ("value_so", b"\x0e"), ("value_esc", b"\x1b"),
    ("value_us", b"\x1f"), ("value_del", b"\x7f"),
]:
    bad(name, RCTL, get(headers=b"X-A: a" + ch + b"b\r\n"))
bad("value_bare_cr", "RFC 9112 §2.2 (bare CR MUST be rejected or replaced)", get(headers=b"X-A: a\rb\r\n"))
bad("value_bare_cr_before_crlf", "RFC 9112 §2.2", get(headers=b"X-A: a\r\r\n"))
bad("value_bare_lf_smuggles_header", "RFC 9112 §2.2; Gunicorn invalid_field_value_01",
    get(b"/echo", headers=b"X-A: a\nContent-Length: 5\r\n") + b"hello")
bad("value_bare_lf_end", "RFC 9112 §2.2", get(headers=b"X-A: a\n"))
bad("final_line_bare_lf", "RFC 9112 §2.2", b"GET / HTTP/1.1\r\n" + H + b"\n")
bad("final_line_bare_cr", "RFC 9112 §2.2", b"GET / HTTP/1.1\r\n" + H + b"\rX")
bad("name_bare_cr", "RFC 9112 §2.2", get(headers=b"X\r: v\r\n"))

RF = "RFC 9112 §5.2 (obs-fold: 400 unless the server unfolds it)"
bad("obs_fold_space", RF, get(headers=b"X-A: one\r\n two\r\n"))
bad("obs_fold_tab", RF, get(headers=b"X-A: one\r\n\ttwo\r\n"))
bad("obs_fold_first_line", RF, b"GET / HTTP/1.1\r\n folded\r\n" + H + b"\r\n")
bad("obs_fold_hides_te", RF, post(b"X-A: y\r\n Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", b"hello"))
bad("obs_fold_before_host", RF, b"GET / HTTP/1.1\r\n Host: x\r\n\r\n")

# ---------------------------------------------------------------------------
# 7. Limits (Gunicorn defaults: fields 100, field size 8190)
# ---------------------------------------------------------------------------
ok("field_size_at_limit", "--limit-request-field_size 8190", get(headers=b"X-Big: " + b"v" * (8190 - 7) + b"\r\n"))
bad("field_size_over_limit", "RFC 6585 §5 (431)", get(headers=b"X-Big: " + b"v" * (8190 - 6) + b"\r\n"), 431)
ok("fields_at_limit", "--limit-request-fields 100",
   get(headers=b"".join(b"X-%d: v\r\n" % i for i in range(99))))
bad("fields_over_limit", "RFC 6585 §5 (431)", get(headers=b"".join(b"X-%d: v\r\n" % i for i in range(100))), 431)
bad("fields_many_empty_values", "RFC 6585 §5", get(headers=b"X:\r\n" * 150), 431)

# ---------------------------------------------------------------------------
# 8. Content-Length (RFC 9112 §6.2, §6.3; RFC 9110 §8.6)
# ---------------------------------------------------------------------------
RCL = "RFC 9110 §8.6 (Content-Length = 1*DIGIT); RFC 9112 §6.3 (invalid length: 400 and close)"
ok("cl_leading_zeros", "RFC 9110 §8.6 (1*DIGIT: leading zeros are digits)",
   post(b"Content-Length: 005\r\n", b"hello"), app("/echo", body="hello"))
ok("cl_all_zeros", "RFC 9110 §8.6", post(b"Content-Length: 000\r\n") + get(b"/next"), app("/echo", body=""),
   app("/next"))
ok("cl_ows", "RFC 9112 §5.1 (OWS is not part of the value)", post(b"Content-Length: \t 5 \t\r\n", b"hello"),
   app("/echo", body="hello"))
for name, v in [
    ("cl_plus", b"+5"), ("cl_minus", b"-5"), ("cl_minus_zero", b"-0"), ("cl_hex", b"0x5"), ("cl_hex_digits", b"5a"),
    ("cl_float", b"5.0"), ("cl_exponent", b"5e0"), ("cl_underscore", b"0_5"), ("cl_inner_space", b"0 5"),
    ("cl_list_same", b"5, 5"), ("cl_list_same_nospace", b"5,5"), ("cl_list_different", b"5, 6"),
    ("cl_trailing_comma", b"5,"), ("cl_leading_comma", b",5"), ("cl_empty", b""), ("cl_letters", b"abc"),
    ("cl_arabic_indic_digit", "٥".encode()), ("cl_fullwidth_digit", "５".encode()),
    ("cl_superscript_digit", "⁵".encode()), ("cl_nbsp_suffix", b"5\xa0"), ("cl_nel_suffix", b"5\x85"),
    ("cl_vt_prefix", b"\x0b5"), ("cl_ff_suffix", b"5\x0c"), ("cl_nul_suffix", b"5\x00"),
    ("cl_quoted", b'"5"'), ("cl_semicolon", b"5;x"),
]:
    bad(name, RCL + "; waitress CVE-2022-24761", post(b"Content-Length: " + v + b"\r\n", b"hello") + SMUGGLED)
bad("cl_overflow_2_64", RCL + " (overflow)", post(b"Content-Length: 18446744073709551616\r\n", b"hello"))
bad("cl_overflow_huge", RCL + " (overflow)", post(b"Content-Length: " + b"9" * 40 + b"\r\n", b"hello"))
bad("cl_duplicate_same", "RFC 9112 §6.3 (duplicates: reject, CVE-2019-16792)",
    post(b"Content-Length: 5\r\nContent-Length: 5\r\n", b"hello"))
bad("cl_duplicate_different", "RFC 9112 §6.3; waitress CVE-2019-16792",
    post(b"Content-Length: 5\r\nContent-Length: 6\r\n", b"hello!") + SMUGGLED)
bad("cl_duplicate_case", "RFC 9112 §6.3", post(b"Content-Length: 5\r\ncontent-length: 5\r\n", b"hello"))
ok("cl_underscore_name_is_not_cl", "CVE-2015-0219 (Content_Length is not Content-Length; no body)",
   post(b"Content_Length: 5\r\n", target=b"/u") + get(b"/next"), app("/u", body="", content_length=None),
   app("/next"))
ok("cl_shorter_than_data", "RFC 9112 §6.3 (the rest is the next request)",
   post(b"Content-Length: 3\r\n", b"abc" + get(b"/second")), app("/echo", body="abc"), app("/second"))
bad("cl_zero_with_garbage_after", "RFC 9112 §6.3 (bytes after the body are the next message)",
    post(b"Content-Length: 0\r\n", b"XYZ garbage\r\n\r\n"), before=(app("/echo", body=""),))
silent("cl_longer_than_data_eof", "RFC 9112 §8 (incomplete message: no response)",
       post(b"Content-Length: 10\r\n", b"short"))
ok("cl_huge_app_never_reads", "RFC 9112 §9.3 (unread body: the connection closes)",
   post(b"Content-Length: 9223372036854775807\r\n", b"xyz", target=b"/noread"), app("/noread", body=None),
   close=True, server=T)
ok("cl_max_u64_app_never_reads", "RFC 9110 §8.6 (any 1*DIGIT that fits is a length)",
   post(b"Content-Length: 18446744073709551615\r\n", target=b"/noread"), app("/noread"), close=True, server=T)
silent("cl_huge_app_never_reads_inline", "RFC 9112 §8 (inline: the body is awaited before the app; incomplete)",
       post(b"Content-Length: 9223372036854775807\r\n", b"xyz", target=b"/noread"))
silent("cl_max_u64_app_never_reads_inline", "RFC 9110 §8.6 (inline: the body is awaited before the app)",
       post(b"Content-Length: 18446744073709551615\r\n", target=b"/noread"))

# ---------------------------------------------------------------------------
# 9. Transfer-Encoding and CL/TE combinations (RFC 9112 §6.1, §6.3)
# ---------------------------------------------------------------------------
RTE = "RFC 9112 §6.3 (TE without final chunked in a request: 400 and close)"
RCLTE = "RFC 9112 §6.1/6.3 (CL with TE: TE overrides; ferricorn refuses, CL.TE/TE.CL smuggling)"
ok("te_chunked_uppercase", "RFC 9112 §7 (coding names are case-insensitive)", chunked_req(chunks(b"abc"), te=b"CHUNKED"),
   app("/echo", body="abc"))
ok("te_chunked_ows", "RFC 9112 §5.1", chunked_req(chunks(b"abc"), te=b"\t chunked \t"), app("/echo", body="abc"))
ok("te_identity_then_chunked", "Gunicorn valid/029 (identity is a no-op)",
   chunked_req(chunks(b"abc"), te=b"identity, chunked"), app("/echo", body="abc"))
ok("te_two_lines_identity_chunked", "RFC 9110 §5.3 (lines combine); Gunicorn valid/029",
   post(b"Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n", chunks(b"abc")), app("/echo", body="abc"))
bad("te_identity_only", RTE, chunked_req(b"hello", te=b"identity"))
bad("te_identity_with_cl", RTE, post(b"Transfer-Encoding: identity\r\nContent-Length: 5\r\n", b"hello"))
bad("te_chunked_then_identity", RTE, chunked_req(chunks(b"abc"), te=b"chunked, identity"))
bad("te_chunked_twice_one_line", "RFC 9112 §7 (chunked MUST NOT be applied twice)",
    chunked_req(chunks(b"abc"), te=b"chunked, chunked"))
bad("te_chunked_twice_two_lines", "RFC 9112 §7; Gunicorn chunked_04",
    post(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", chunks(b"abc")))
bad("te_chunked_then_gzip", RTE + "; Gunicorn chunked_06", chunked_req(chunks(b"abc"), te=b"chunked, gzip"))
bad("te_chunked_line_then_other_line", "RFC 9112 §6.3; CVE-2024-1135 (TE.TE)",
    post(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: x-custom\r\n", chunks(b"abc")))
bad("te_stacked_identity_chunked", "Gunicorn chunked_03",
    chunked_req(chunks(b"abc"), te=b"identity, chunked, identity, chunked"))
bad("te_empty", "CVE-2024-6827 (an invalid TE must not fall back to CL)", post(b"Transfer-Encoding:\r\n", b""))
bad("te_empty_with_cl", "CVE-2024-6827", post(b"Transfer-Encoding:\r\nContent-Length: 5\r\n", b"hello"))
bad("te_leading_comma", "RFC 9112 §6.3 (framing lists are not guessed)", chunked_req(chunks(b"abc"), te=b",chunked"))
bad("te_trailing_comma", "RFC 9112 §6.3", chunked_req(chunks(b"abc"), te=b"chunked,"))
bad("te_double_comma", "RFC 9112 §6.3", chunked_req(chunks(b"abc"), te=b"identity,,chunked"))
bad("te_quoted", "RFC 9110 §10.1.4 (transfer-coding is a token)", chunked_req(chunks(b"abc"), te=b'"chunked"'))
bad("te_chunked_with_param", "RFC 9112 §7 (chunked has no parameters: treat as error)",
    chunked_req(chunks(b"abc"), te=b"chunked;q=1"))
bad("te_chunked_with_space_param", "RFC 9112 §7", chunked_req(chunks(b"abc"), te=b"chunked ; foo=bar"))
bad("te_vt_prefix", "waitress CVE-2019-16789 (only SP/HTAB are whitespace)", chunked_req(chunks(b"abc"), te=b"\x0bchunked"))
bad("te_ff_prefix", "waitress CVE-2019-16789", chunked_req(chunks(b"abc"), te=b"\x0cchunked"))
bad("te_vt_suffix_with_cl", "waitress CVE-2019-16789",
    post(b"Transfer-Encoding: chunked\x0b\r\nContent-Length: 5\r\n", b"hello"))
bad("te_nel_suffix", "waitress CVE-2019-16789 (U+0085 is not whitespace in HTTP)",
    chunked_req(chunks(b"abc"), te=b"chunked\x85"))
bad("te_nbsp_prefix", "waitress CVE-2019-16789", chunked_req(chunks(b"abc"), te=b"\xa0chunked"))
bad("te_cr_inside", "RFC 9112 §2.2", chunked_req(chunks(b"abc"), te=b"chun\rked"))
bad("te_name_space_before_colon", "RFC 9112 §5.1", post(b"Transfer-Encoding : chunked\r\n", chunks(b"abc")))
bad("te_name_tab_before_colon_with_cl", "RFC 9112 §5.1",
    post(b"Transfer-Encoding\t: chunked\r\nContent-Length: 5\r\n", b"hello"))
bad("te_http10", "RFC 9112 §6.1 (TE in HTTP/1.0: framing is faulty, close)",
    post(b"Transfer-Encoding: chunked\r\n", chunks(b"abc"), version=b"HTTP/1.0", host=b""))
bad("te_http10_with_cl", "RFC 9112 §6.1 (even if a Content-Length is present)",
    post(b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", b"hello", version=b"HTTP/1.0", host=b""))
bad("te_gzip_chunked_not_decoded", "RFC 9112 §6.1 (501 for a coding the server does not decode)",
    chunked_req(chunks(b"abc"), te=b"gzip, chunked"), 501)
bad("te_deflate_two_lines", "RFC 9112 §6.1",
    post(b"Transfer-Encoding: deflate\r\nTransfer-Encoding: chunked\r\n", chunks(b"abc")), 501)
bad("te_unknown", "RFC 9112 §6.1 (unknown coding: 501)", chunked_req(b"hello", te=b"x-custom"), 501)
bad("te_unknown_before_chunked", "RFC 9112 §6.1", chunked_req(chunks(b"abc"), te=b"foo, chunked"), 501)
bad("te_xchunked", "CVE-2024-6827 (a near-miss is not chunked, and no fallback to CL)",
    post(b"Transfer-Encoding: xchunked\r\nContent-Length: 5\r\n", b"hello"), 501)
bad("te_chunk_truncated_name", "RFC 9112 §6.1", chunked_req(b"hello", te=b"chunk"), 501)
bad("te_chunked_dash", "RFC 9112 §6.1", chunked_req(b"hello", te=b"chunked-x"), 501)

bad("cl_te_classic", RCLTE, post(b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\nG"))
bad("te_cl_classic", RCLTE, post(b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", b"8\r\nSMUGGLED\r\n0\r\n\r\n"))
bad("cl_te_smuggled_request", RCLTE, post(b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n" + SMUGGLED))
bad("cl_zero_te", RCLTE, post(b"Content-Length: 0\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"))
bad("cl_te_lowercase_names", RCLTE, post(b"content-length: 5\r\ntransfer-encoding: chunked\r\n", b"0\r\n\r\n"))
bad("cl_te_chunked_uppercase", RCLTE, post(b"Content-Length: 5\r\nTransfer-Encoding: CHUNKED\r\n", b"0\r\n\r\n"))
bad("cl_te_tab_value", RCLTE + "; Gunicorn chunked_02", post(b"Content-Length: 3\r\nTransfer-Encoding:\tchunked\r\n",
                                                               b"0\r\n\r\n"))
bad("cl_te_identity_chunked", RCLTE, post(b"Content-Length: 5\r\nTransfer-Encoding: identity, chunked\r\n",
                                          b"0\r\n\r\n"))
bad("cl_te_far_apart", RCLTE, post(b"Transfer-Encoding: chunked\r\nX-A: 1\r\nX-B: 2\r\nContent-Length: 5\r\n",
                                   b"0\r\n\r\n"))
ok("te_underscore_name_is_not_te", "CVE-2015-0219 (Transfer_Encoding is not Transfer-Encoding)",
   post(b"Transfer_Encoding: chunked\r\nContent-Length: 5\r\n", b"hello"),
   app("/echo", body="hello", absent=["HTTP_TRANSFER_ENCODING"]))
ok("te_pipelined_after_chunked", "RFC 9112 §7.1 (the chunked body ends at the last-chunk's CRLF)",
   chunked_req(chunks(b"abc")) + get(b"/next"), app("/echo", body="abc"), app("/next"))

# ---------------------------------------------------------------------------
# 10. Chunked body grammar (RFC 9112 §7.1)
# ---------------------------------------------------------------------------
RC = "RFC 9112 §7.1 (chunk-size = 1*HEXDIG)"
ok("chunk_leading_zeros", RC, chunked_req(b"0005\r\nhello\r\n000\r\n\r\n"), app("/echo", body="hello"))
ok("chunk_many_leading_zeros", RC, chunked_req(b"0" * 40 + b"5\r\nhello\r\n0\r\n\r\n"), app("/echo", body="hello"))
ok("chunk_hex_upper_lower", RC, chunked_req(b"A\r\n0123456789\r\nb\r\n0123456789a\r\n0\r\n\r\n"),
   app("/echo", body="01234567890123456789a"))
ok("chunk_empty_body", RC, chunked_req(b"0\r\n\r\n"), app("/echo", body=""))
ok("chunk_extensions", "RFC 9112 §7.1.1", chunked_req(b"5;a=b;c\r\nhello\r\n0;last\r\n\r\n"), app("/echo", body="hello"))
ok("chunk_extension_quoted", "RFC 9112 §7.1.1 (quoted-string value)",
   chunked_req(b"5;name=\"q; \\\"v\\\" \xe9\"\r\nhello\r\n0\r\n\r\n"), app("/echo", body="hello"))
ok("chunk_extension_bws", "RFC 9112 §7.1.1 (BWS around ';' and '=')",
   chunked_req(b"5 ; a = b\t;\tc\r\nhello\r\n0\r\n\r\n"), app("/echo", body="hello"))
ok("chunk_trailers_not_in_environ", "RFC 9110 §6.5.2 (trailers are not merged into the header section)",
   chunked_req(b"5\r\nhello\r\n0\r\nX-Trailer: t\r\nX-Forwarded-For: evil\r\n\r\n"),
   app("/echo", body="hello", absent=["HTTP_X_TRAILER", "HTTP_X_FORWARDED_FOR"]))
ok("chunk_trailer_obs_text", "RFC 9110 §5.5", chunked_req(b"0\r\nX-T: a\tb \xe9\r\n\r\n"), app("/echo", body=""))
ok("chunk_data_contains_crlf_and_request", "RFC 9112 §7.1 (chunk-data is opaque)",
   chunked_req(chunks(b"\r\n0\r\n\r\n" + SMUGGLED)), app("/echo", body=("\r\n0\r\n\r\n" + SMUGGLED.decode())))
for name, body in [
    ("chunk_size_0x", b"0x5\r\nhello\r\n0\r\n\r\n"),
    ("chunk_size_plus", b"+5\r\nhello\r\n0\r\n\r\n"),
    ("chunk_size_minus", b"-5\r\nhello\r\n0\r\n\r\n"),
    ("chunk_size_underscore", b"5_0\r\n" + b"x" * 80 + b"\r\n0\r\n\r\n"),
    ("chunk_size_leading_space", b" 5\r\nhello\r\n0\r\n\r\n"),
    ("chunk_size_leading_tab", b"\t5\r\nhello\r\n0\r\n\r\n"),
    ("chunk_size_trailing_space", b"5 \r\nhello\r\n0\r\n\r\n"),
    ("chunk_last_trailing_space", b"5\r\nhello\r\n0 \r\n\r\n"),
    ("chunk_size_empty", b"\r\nhello\r\n0\r\n\r\n"),
    ("chunk_size_not_hex", b"g\r\nhello\r\n0\r\n\r\n"),
    ("chunk_size_fullwidth", "５".encode() + b"\r\nhello\r\n0\r\n\r\n"),
    ("chunk_size_ext_without_size", b";a\r\nhello\r\n0\r\n\r\n"),
    ("chunk_size_vt", b"5\x0b\r\nhello\r\n0\r\n\r\n"),
    ("chunk_size_nul", b"5\x00\r\nhello\r\n0\r\n\r\n"),
    ("chunk_size_overflow_17_digits", b"10000000000000000\r\nhello\r\n0\r\n\r\n"),
    ("chunk_size_overflow_long", b"f" * 32 + b"\r\nhello\r\n0\r\n\r\n"),
    ("chunk_size_lf_only", b"5\nhello\r\n0\r\n\r\n"),
    ("chunk_size_cr_only", b"5\rhello\r\n0\r\n\r\n"),
    ("chunk_size_lf_then_ext", b"5\n;\r\nhello\r\n0\r\n\r\n"),
    ("chunk_data_lf_only", b"5\r\nhello\n0\r\n\r\n"),
    ("chunk_data_cr_only", b"5\r\nhello\r0\r\n\r\n"),
    ("chunk_data_no_crlf", b"5\r\nhelloXX0\r\n\r\n"),
    ("chunk_data_longer_than_size", b"3\r\nhello\r\n0\r\n\r\n"),
    ("chunk_data_shorter_than_size", b"6\r\nhello\r\n0\r\n\r\n"),
    ("chunk_last_lf_only", b"5\r\nhello\r\n0\n\r\n"),
    ("chunk_final_lf_only", b"5\r\nhello\r\n0\r\n\n"),
    ("chunk_final_missing_then_request", b"5\r\nhello\r\n0\r\n" + SMUGGLED),
    ("chunk_ext_bare_cr", b"5;a\rb\r\nhello\r\n0\r\n\r\n"),
    ("chunk_ext_bare_lf", b"5;a\nb\r\nhello\r\n0\r\n\r\n"),
    ("chunk_ext_empty_name", b"5;\r\nhello\r\n0\r\n\r\n"),
    ("chunk_ext_empty_value", b"5;a=\r\nhello\r\n0\r\n\r\n"),
    ("chunk_ext_bad_char", b"5;a@b\r\nhello\r\n0\r\n\r\n"),
    ("chunk_ext_space_in_value", b"5;a=b c\r\nhello\r\n0\r\n\r\n"),
    ("chunk_ext_nul_in_quoted", b"5;a=\"x\x00y\"\r\nhello\r\n0\r\n\r\n"),
    ("chunk_ext_unterminated_quote", b"5;a=\"x\r\nhello\r\n0\r\n\r\n"),
    ("chunk_ext_too_long", b"5;a=" + b"x" * 5000 + b"\r\nhello\r\n0\r\n\r\n"),
    ("chunk_leading_zeros_too_long", b"0" * 5000 + b"5\r\nhello\r\n0\r\n\r\n"),
    ("trailer_content_length", b"5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n"),
    ("trailer_transfer_encoding", b"5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n"),
    ("trailer_host", b"5\r\nhello\r\n0\r\nHost: evil\r\n\r\n"),
    ("trailer_trailer", b"5\r\nhello\r\n0\r\nTrailer: X\r\n\r\n"),
    ("trailer_authorization", b"5\r\nhello\r\n0\r\nAuthorization: Basic eA==\r\n\r\n"),
    ("trailer_te", b"5\r\nhello\r\n0\r\nTE: trailers\r\n\r\n"),
    ("trailer_no_colon", b"5\r\nhello\r\n0\r\nBadTrailer\r\n\r\n"),
    ("trailer_space_before_colon", b"5\r\nhello\r\n0\r\nX-T : v\r\n\r\n"),
    ("trailer_obs_fold", b"5\r\nhello\r\n0\r\nX-T: a\r\n b\r\n\r\n"),
    ("trailer_bare_lf", b"5\r\nhello\r\n0\r\nX-T: a\n\r\n"),
    ("trailer_bare_cr", b"5\r\nhello\r\n0\r\nX-T: a\rb\r\n\r\n"),
    ("trailer_ctl_value", b"5\r\nhello\r\n0\r\nX-T: a\x07b\r\n\r\n"),
    ("trailer_nul_name", b"5\r\nhello\r\n0\r\nX\x00T: a\r\n\r\n"),
]:
    bad(name, RC + " / §7.1.1 / §7.1.2; Gunicorn invalid chunked corpus; waitress CVE-2022-24761",
        chunked_req(body) + SMUGGLED)
bad("trailer_section_too_large", "RFC 6585 §5 (bounded trailer section)",
    chunked_req(b"5\r\nhello\r\n0\r\n" + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 50) for i in range(200)) + b"\r\n"), 431)
silent("chunk_size_2_63_eof", RC + " (a huge size is a size; truncated body: no response)",
       chunked_req(b"8000000000000000\r\nabc"))
silent("chunk_size_max_u64_eof", RC, chunked_req(b"ffffffffffffffff\r\nabc"))
silent("chunk_missing_last_chunk_eof", "RFC 9112 §8 (incomplete message)", chunked_req(b"5\r\nhello\r\n"))
silent("chunk_missing_final_crlf_eof", "RFC 9112 §7.1 (Gunicorn ChunkMissingTerminator)",
       chunked_req(b"5\r\nhello\r\n0\r\n"))
silent("chunk_truncated_data_eof", "RFC 9112 §8", chunked_req(b"5\r\nhel"))
bad("chunk_second_message_after_terminator", "RFC 9112 §7.1 (bytes after the last chunk are a new request)",
    chunked_req(b"3\r\nabc\r\n0\r\n\r\n3\r\ndef\r\n0\r\n\r\n"), before=(app("/echo", body="abc"),))

# ---------------------------------------------------------------------------
# 11. Expect (RFC 9110 §10.1.1)
# ---------------------------------------------------------------------------
RE = "RFC 9110 §10.1.1"
ok("expect_continue_with_body", RE, cl(b"hello", extra=b"Expect: 100-continue\r\n"),
   app("/echo", body="hello"), continue_ok=True)
ok("expect_continue_case_insensitive", RE + " (value is case-insensitive)",
   cl(b"hello", extra=b"Expect: 100-Continue\r\n"), app("/echo", body="hello"), continue_ok=True)
ok("expect_continue_chunked", RE, chunked_req(chunks(b"hello"), extra=b"Expect: 100-continue\r\n"),
   app("/echo", body="hello"), continue_ok=True)
ok("expect_continue_http10_ignored", RE + " (MUST ignore 100-continue from HTTP/1.0)",
   post(b"Content-Length: 5\r\nExpect: 100-continue\r\n", b"hello", version=b"HTTP/1.0", host=b""),
   app("/echo", body="hello"), close=True)
ok("expect_continue_zero_length", RE, cl(b"", extra=b"Expect: 100-continue\r\n"), app("/echo", body=""),
   continue_ok=True)
ok("expect_early_response_large_body", RE + " (final response without reading: close, no 100)",
   post(b"Content-Length: 100000\r\nExpect: 100-continue\r\n", target=b"/noread"), app("/noread"), close=True,
   server=T)
ok("expect_early_response_chunked", RE + " (final response without reading: close, no 100)",
   post(b"Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n", target=b"/noread"), app("/noread"), close=True,
   server=T)
ok("expect_early_response_body_sent_anyway", RE + " (the body that follows is not a request)",
   post(b"Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n", chunks(SMUGGLED) + SMUGGLED, target=b"/noread"),
   app("/noread"), close=True, server=T)
silent("expect_large_body_never_sent_inline", RE + " (inline: 100 sent, the body awaited before the app)",
       post(b"Content-Length: 100000\r\nExpect: 100-continue\r\n", target=b"/noread"), continue_ok=True)
silent("expect_chunked_body_never_sent_inline", RE + " (inline: 100 sent, the body awaited before the app)",
       post(b"Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n", target=b"/noread"), continue_ok=True)
ok("expect_chunked_body_then_request_inline", RE + " (inline: the body is read whole; what follows its last"
   " chunk is the next request)",
   post(b"Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n", chunks(SMUGGLED) + SMUGGLED, target=b"/noread"),
   app("/noread"), app("/smuggled"), continue_ok=True)
silent("expect_small_body_never_sent", RE + " (100 sent, body awaited before the app)",
       post(b"Content-Length: 10\r\nExpect: 100-continue\r\n", target=b"/noread"), continue_ok=True)
bad("expect_unknown", RE + " (417 for an unsupported expectation)", cl(b"hello", extra=b"Expect: 200-ok\r\n"), 417)
bad("expect_empty", RE, cl(b"hello", extra=b"Expect:\r\n"), 417)
bad("expect_list", RE, cl(b"hello", extra=b"Expect: 100-continue, foo\r\n"), 417)

# ---------------------------------------------------------------------------
# 12. A body the application never reads (drained within a bound, or close)
# ---------------------------------------------------------------------------
RU = "RFC 9112 §9.3 / §6.3 (the next request is never taken from the body)"
ok("unread_small_cl_body", RU, post(b"Content-Length: %d\r\n" % len(SMUGGLED), SMUGGLED, target=b"/noread"),
   app("/noread"))
ok("unread_small_chunked_body", RU, chunked_req(chunks(SMUGGLED, SMUGGLED), target=b"/noread"), app("/noread"))
ok("partly_read_small_cl_body", RU, post(b"Content-Length: %d\r\n" % len(SMUGGLED), SMUGGLED, target=b"/read5"),
   app("/read5", body=SMUGGLED[:5].decode()))
ok("partly_read_small_chunked_body", RU, chunked_req(chunks(SMUGGLED), target=b"/read5"),
   app("/read5", body=SMUGGLED[:5].decode()))
_BIG = (SMUGGLED * 4000)[:100000]
ok("unread_large_cl_body_closes", RU + " (over the drain bound: close)",
   post(b"Content-Length: %d\r\n" % len(_BIG), _BIG, target=b"/noread"), app("/noread"), close=True, server=T)
ok("unread_large_chunked_body_closes", RU + " (over the drain bound: close)",
   chunked_req(chunks(*[_BIG[i:i + 30000] for i in range(0, len(_BIG), 30000)]), target=b"/noread"),
   app("/noread"), close=True, server=T)
ok("unread_large_cl_body_kept_inline", RU + " (inline: read whole before the app, so the connection stays)",
   post(b"Content-Length: %d\r\n" % len(_BIG), _BIG, target=b"/noread") + get(b"/after"),
   app("/noread"), app("/after"))
ok("unread_large_chunked_body_kept_inline", RU + " (inline: read whole before the app, so the connection stays)",
   chunked_req(chunks(*[_BIG[i:i + 30000] for i in range(0, len(_BIG), 30000)]), target=b"/noread")
   + get(b"/after"), app("/noread"), app("/after"))
ok("partly_read_large_cl_body_rest_drained", RU + " (the unread 40000 bytes are within the drain bound: kept)",
   post(b"Content-Length: %d\r\n" % len(_BIG), _BIG, target=b"/read60000") + get(b"/after"),
   app("/read60000", body_len=60000), app("/after"))
ok("partly_read_large_chunked_body_closes", RU + " (a chunked body's unread size is unknown when the"
   " response starts: the response says close, and nothing after the body is served)",
   chunked_req(chunks(*[_BIG[i:i + 30000] for i in range(0, len(_BIG), 30000)]), target=b"/read60000")
   + get(b"/after"), app("/read60000", body_len=60000), close=True, server=T)
ok("partly_read_large_chunked_body_kept_inline", RU + " (inline: the whole body was read before the app)",
   chunked_req(chunks(*[_BIG[i:i + 30000] for i in range(0, len(_BIG), 30000)]), target=b"/read60000")
   + get(b"/after"), app("/read60000", body_len=60000), app("/after"))
ok("read_large_cl_body", "RFC 9112 §6.2", post(b"Content-Length: %d\r\n" % len(_BIG), _BIG) + get(b"/after"),
   app("/echo", body_len=len(_BIG)), app("/after"))
ok("read_large_chunked_body", "RFC 9112 §7.1",
   chunked_req(chunks(*[_BIG[i:i + 30000] for i in range(0, len(_BIG), 30000)])) + get(b"/after"),
   app("/echo", body_len=len(_BIG)), app("/after"))

# ---------------------------------------------------------------------------
# 13. Pipelining, and nothing read after an error or a close
# ---------------------------------------------------------------------------
RP = "RFC 9112 §9.3.2 (pipelined requests answered in order)"
ok("pipeline_three_gets", RP, get(b"/1") + get(b"/2") + get(b"/3"), app("/1"), app("/2"), app("/3"))
ok("pipeline_mixed_bodies", RP, cl(b"abc", target=b"/a") + chunked_req(chunks(b"def"), target=b"/b") + get(b"/c"),
   app("/a", body="abc"), app("/b", body="def"), app("/c"))
ok("pipeline_head_then_get", RP + "; RFC 9110 §9.3.2", get(b"/h", method=b"HEAD") + get(b"/g"),
   app("/h", method="HEAD"), app("/g"))
bad("pipeline_error_second", "RFC 9112 §9.3.2 / §6.3 (nothing after an error)",
    get(b"/1") + b"get /2 HTTP/1.1\r\n" + H + b"\r\n" + get(b"/3"), before=(app("/1"),))
bad("pipeline_error_first", "RFC 9112 §6.3", b"GET / HTTP/1.1\r\n\r\n" + get(b"/2"))
bad("pipeline_bad_chunk_then_request", "RFC 9112 §7.1", chunked_req(b"zz\r\n") + get(b"/2"))
ok("pipeline_after_connection_close", "RFC 9112 §9.6 (no request after close is processed)",
   get(b"/1", headers=b"Connection: close\r\n") + get(b"/2"), app("/1"), close=True)
ok("pipeline_after_http10", "RFC 9112 §9.3 (1.0 without keep-alive closes)",
   get(b"/1", version=b"HTTP/1.0", host=b"") + get(b"/2"), app("/1"), close=True)
_pad = 8192 - len(get(b"/1", headers=b"Connection: close\r\nX-Pad: \r\n"))
ok("pipeline_after_close_at_8192", "waitress CVE-2024-49768 (request of exactly recv size, then another)",
   get(b"/1", headers=b"Connection: close\r\nX-Pad: " + b"p" * _pad + b"\r\n") + get(b"/2"), app("/1"), close=True)
ok("pipeline_after_error_body", "RFC 9112 §6.3", cl(b"abc", target=b"/1") + get(b"/2"),
   app("/1", body="abc"), app("/2"))
bad("pipeline_cl_te_then_request", RCLTE, get(b"/1") + post(b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
                                                        b"0\r\n\r\n") + get(b"/3"), before=(app("/1"),))
silent("pipeline_incomplete_second", "RFC 9112 §8", get(b"/1") + b"GET /2 HTTP/1.1\r\nHos", before=(app("/1"),))

# ---------------------------------------------------------------------------
# 14. Opt-in Gunicorn leniencies, tested both ways
# ---------------------------------------------------------------------------
L = "lenient"
ok("lenient_obs_fold_unfolded", "RFC 9112 §5.2 (replace obs-fold with SP); --permit-obsolete-folding",
   get(headers=b"X-A: one\r\n two\r\n\tthree\r\n"), app("/", headers={"HTTP_X_A": "one two three"}), server=L)
ok("lenient_obs_fold_cl", "RFC 9112 §5.2", post(b"Content-Length:\r\n 5\r\n", b"hello"),
   app("/echo", body="hello"), server=L)
ok("lenient_obs_fold_te", "RFC 9112 §5.2", post(b"Transfer-Encoding: identity,\r\n chunked\r\n", chunks(b"abc")),
   app("/echo", body="abc"), server=L)
ok("lenient_obs_fold_hides_te_name", "RFC 9112 §5.2 (a folded line is part of the previous value)",
   post(b"X-A: y\r\n Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", b"hello"),
   app("/echo", body="hello", headers={"HTTP_X_A": "y Transfer-Encoding: chunked"}), server=L)
bad("lenient_obs_fold_first_line", "RFC 9112 §5.2 (nothing to continue)",
    b"GET / HTTP/1.1\r\n folded\r\n" + H + b"\r\n", server=L)
bad("lenient_obs_fold_host_invalid", "RFC 9112 §3.2", get(host=b"Host: x\r\n y\r\n"), server=L)
bad("lenient_obs_fold_bare_lf", "RFC 9112 §2.2", get(headers=b"X-A: a\r\n b\nc\r\n"), server=L)
bad("lenient_obs_fold_duplicate_host", RH, get(headers=b"X: a\r\n b\r\nHost: y\r\n"), server=L)
ok("lenient_method_lowercase_folded", "--casefold-http-method + --permit-unconventional-http-method",
   get(method=b"get"), app("/", method="GET"), server=L)
ok("lenient_method_mixed_folded", "Gunicorn < 22 behaviour", get(method=b"pOsT"), app("/", method="POST"), server=L)
ok("lenient_method_short", "--permit-unconventional-http-method", get(method=b"G"), app("/", method="G"), server=L)
ok("lenient_method_hash", "--permit-unconventional-http-method", get(method=b"M#"), app("/", method="M#"), server=L)
ok("lenient_method_long", "--permit-unconventional-http-method", get(method=b"A" * 30), app("/", method="A" * 30),
   server=L)
bad("lenient_method_colon", "RFC 9110 §9.1 (still a token)", get(method=b"G:T"), server=L)
ok("lenient_connect_lowercase", "RFC 9112 §3.2.3 (folded method is CONNECT)",
   get(b"example.com:443", method=b"connect"), app("example.com:443", method="CONNECT"), close=True, server=L)
bad("lenient_connect_lowercase_origin_form", "RFC 9112 §3.2.3", get(b"/", method=b"connect"), server=L)
ok("lenient_options_lowercase_asterisk", "RFC 9112 §3.2.4", get(b"*", method=b"options"),
   app("*", method="OPTIONS"), server=L)
ok("lenient_header_map_dangerous", "--header-map dangerous (Gunicorn's mapping of '_' to '-')",
   get(headers=b"X_Under: u\r\n"), app("/", headers={"HTTP_X_UNDER": "u"}), server=L)
ok("lenient_header_map_dangerous_joined", "--header-map dangerous", get(headers=b"X-A: 1\r\nX_A: 2\r\n"),
   app("/", headers={"HTTP_X_A": "1,2"}), server=L)
ok("lenient_cl_te_tolerated", "RFC 9112 §6.3 (TE overrides CL, close after); --tolerate-dangerous-framing",
   post(b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n" + SMUGGLED),
   app("/echo", body="", content_length=None, absent=["HTTP_CONTENT_LENGTH"]), close=True, server=L)
bad("lenient_cl_te_http10_still_refused", "RFC 9112 §6.1",
    post(b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n", version=b"HTTP/1.0", host=b""), server=L)
bad("lenient_cl_te_not_last_still_refused", RTE,
    post(b"Content-Length: 5\r\nTransfer-Encoding: chunked, identity\r\n", b"hello"), server=L)
bad("lenient_cl_duplicate_still_refused", "RFC 9112 §6.3",
    post(b"Content-Length: 5\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"), server=L)
bad("lenient_still_bare_lf", "RFC 9112 §2.2", b"GET / HTTP/1.1\nHost: x\n\n", server=L)
bad("lenient_still_space_before_colon", "RFC 9112 §5.1", get(host=b"Host : x\r\n"), server=L)

bad("casefold_only_lowercase_refused", "Gunicorn: the method is checked before it is folded",
    get(method=b"get"), server="casefold")
ok("casefold_only_uppercase_ok", "--casefold-http-method", get(method=b"DELETE"), app("/", method="DELETE"),
   server="casefold")
ok("unconventional_lowercase_kept", "--permit-unconventional-http-method (no folding)", get(method=b"get"),
   app("/", method="get"), server="unconventional")
bad("unconventional_lowercase_connect_is_not_connect", "RFC 9110 §9.1 (methods are case-sensitive)",
    get(b"example.com:443", method=b"connect"), server="unconventional")
bad("header_map_refuse", "--header-map refuse (400 for a name with '_')", get(headers=b"X_A: 1\r\n"), server="refuse")
ok("header_map_refuse_dash_ok", "--header-map refuse", get(headers=b"X-A: 1\r\n"),
   app("/", headers={"HTTP_X_A": "1"}), server="refuse")

# ---------------------------------------------------------------------------
# 15. More attacker's corners
# ---------------------------------------------------------------------------
bad("absolute_form_without_host", "RFC 9112 §3.2 (Host is required in 1.1 even with absolute-form)",
    get(b"http://x/p", host=b""))
bad("content_type_duplicate", "Gunicorn 041 (duplicate singleton field)",
    cl(b"{}", extra=b"Content-Type: a/b\r\nContent-Type: c/d\r\n"))
bad("cl_one_empty_one_valid", RCL, post(b"Content-Length: 5\r\nContent-Length:\r\n", b"hello"))
bad("chunk_size_0X_upper", RC, chunked_req(b"0X5\r\nhello\r\n0\r\n\r\n"))
bad("chunk_ext_quoted_crlf", "RFC 9112 §7.1.1 (qdtext excludes CR/LF)", chunked_req(b"5;a=\"x\r\ny\"\r\nhello\r\n0\r\n\r\n"))
ok("chunk_ext_quoted_pair", "RFC 9110 §5.6.4 (quoted-pair)", chunked_req(b"5;a=\"\\\\\\\"\"\r\nhello\r\n0\r\n\r\n"),
   app("/echo", body="hello"))
ok("chunk_size_one_byte_chunks_with_ext", RC, chunked_req(b"".join(b"1;i=%d\r\n%c\r\n" % (i, 97 + i) for i in range(26))
                                                        + b"0\r\n\r\n"), app("/echo", body="abcdefghijklmnopqrstuvwxyz"))
ok("chunk_uppercase_ext_name_and_last_chunk_ext", RC, chunked_req(b"3;EXT=\"v\"\r\nabc\r\n0;Z\r\nX-T: 1\r\n\r\n"),
   app("/echo", body="abc"))
ok("upgrade_h2c_ignored", "RFC 9110 §7.8 (a server MAY ignore Upgrade; it then answers in HTTP/1.1)",
   get(headers=b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n")
   + get(b"/next"), app("/", headers={"HTTP_UPGRADE": "h2c"}), app("/next"))
ok("upgrade_websocket_ignored", "RFC 9110 §7.8", get(headers=b"Connection: Upgrade\r\nUpgrade: websocket\r\n"
                                                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                                     b"Sec-WebSocket-Version: 13\r\n") + get(b"/next"),
   app("/"), app("/next"))
ok("many_tabs_in_value", "waitress CVE-2020-5236 (no pathological whitespace handling)",
   get(headers=b"X-A: " + b"\t" * 8000 + b"a\r\n"), app("/", headers={"HTTP_X_A": "a"}))
ok("dot_segments_not_normalized", "RFC 3986 §5.2.4 is for reference resolution; the app sees the path as sent",
   get(b"/a/%2e%2e/b/../c"), app("/a/../b/../c", raw_uri="/a/%2e%2e/b/../c"))
ok("http10_keep_alive_then_error", "RFC 9112 §9.3",
   get(b"/1", version=b"HTTP/1.0", host=b"", headers=b"Connection: keep-alive\r\n") + b"GET / HTTP/1.1\r\n\r\n",
   app("/1"), Resp(400), close=True)
bad("leading_nul", "RFC 9112 §3", b"\x00" + get())
bad("tls_client_hello", "a TLS ClientHello on a plain-text port",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32)) + b"\r\n\r\n")
silent("only_empty_lines_eof", R2_2, b"\r\n\r\n")
silent("head_without_blank_line_eof", "RFC 9112 §8 (incomplete head)", b"GET / HTTP/1.1\r\nHost: x\r\n")
ok("chunk_error_after_buffer_threshold", "RFC 9112 §7.1 (a framing error found while the app reads is still a 400)",
   chunked_req(b"11170\r\n" + b"a" * 70000 + b"\r\n5\r\nhelloXX0\r\n\r\n"), app("/echo", status=400), close=True,
   server=T)
bad("chunk_error_after_buffer_threshold_inline", "RFC 9112 §7.1 (inline: the body is read whole first, so the"
    " app is never called)", chunked_req(b"11170\r\n" + b"a" * 70000 + b"\r\n5\r\nhelloXX0\r\n\r\n"))
ok("lenient_obs_fold_te_value_with_cl", "RFC 9112 §5.2 then §6.3 (--tolerate-dangerous-framing: TE wins, close)",
   post(b"Transfer-Encoding:\r\n chunked\r\nContent-Length: 5\r\n", chunks(b"abc")),
   app("/echo", body="abc", absent=["HTTP_CONTENT_LENGTH"]), close=True, server=L)
bad("final_line_cr_cr_lf", "RFC 9112 §2.2 (llhttp CVE-2025-23167: head ended by CR CR LF)", b"GET / HTTP/1.1\r\n" + H + b"\r\r\n")
ok("options_with_chunked_body", "RFC 9112 §6.3 (TE.0: framing applies to every method)",
   chunked_req(chunks(b"abc"), target=b"/o").replace(b"POST", b"OPTIONS", 1) + get(b"/next"),
   app("/o", method="OPTIONS", body="abc"), app("/next"))
ok("get_with_chunked_body", "RFC 9112 §6.3 (TE.0)", chunked_req(chunks(SMUGGLED), target=b"/g").replace(b"POST", b"GET", 1),
   app("/g", method="GET", body=SMUGGLED.decode()))
ok("expect_ows_trimmed", RE, cl(b"hello", extra=b"Expect: \t100-continue \r\n"), app("/echo", body="hello"),
   continue_ok=True)
bad("expect_obfuscated_value", RE + " (Expect-based desync: only the exact token)",
    cl(b"hello", extra=b"Expect: y 100-continue\r\n"), 417)
bad("expect_folded", RF, cl(b"hello", extra=b"Expect:\r\n 100-continue\r\n"))
ok("expect_large_body_read_then_next", RE + "; RFC 9112 §9.3",
   post(b"Content-Length: %d\r\nExpect: 100-continue\r\n" % len(_BIG), _BIG) + get(b"/after"),
   app("/echo", body_len=len(_BIG)), app("/after"), continue_ok=True)
bad("chunk_spill_one_byte", RC + " (funky chunks: SPILL)", chunked_req(b"5\r\nhelloX\r\n0\r\n\r\n") + SMUGGLED)
bad("chunk_ext_lf_then_crlf", RC + " (funky chunks: TERM.EXT)", chunked_req(b"5;a\n\r\nhello\r\n0\r\n\r\n"))
bad("chunk_data_then_lf_crlf", RC + " (funky chunks: TERM.SPILL)", chunked_req(b"5\r\nhello\n\r\n0\r\n\r\n"))
ok("script_name_header_ignored", "CVE-2015-0219 / Gunicorn forwarder_headers (not from an untrusted client)",
   get(b"/p", headers=b"Script_Name: /evil\r\n"), app("/p", script_name="", absent=["HTTP_SCRIPT_NAME"]))
bad("header_map_refuse_script_name", "--header-map refuse", get(headers=b"SCRIPT_NAME: /evil\r\n"), server="refuse")
