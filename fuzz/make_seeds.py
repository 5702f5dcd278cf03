#!/usr/bin/env python3
"""Writes the committed seed corpora, fuzz/corpus/<target>/, in the input
layouts described in fuzz/harness/src/{head,chunked,access}.rs.

    python3 fuzz/make_seeds.py      (rewrites the seed-* files; idempotent)
"""
import base64
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


# --- http_head: [flags] [sizes] [field_size] head... ------------------------
DEFAULT = b"\x00\x00\x00"
FOLD, UNCONV, CASEFOLD, TOLERATE = 1, 2, 4, 8

heads = {
    "get": b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
    "browser": (
        b"GET /favicon.ico?x=1&y=%20 HTTP/1.1\r\n"
        b"Host: 0.0.0.0=5000\r\n"
        b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
        b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
        b"Accept-Language: en-us,en;q=0.5\r\n"
        b"Accept-Encoding: gzip,deflate\r\n"
        b"Accept-Charset: ISO-8859-1,utf-8;q=0.7,*;q=0.7\r\n"
        b"Keep-Alive: 300\r\n"
        b"Connection: keep-alive\r\n"
        b"Cookie: a=b; c=d\r\n"
        b"\r\n"
    ),
    "post-cl": b"POST /submit HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"a\": \"b\"}\r\n",
    "post-chunked": b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "te-chunked": b"PUT /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n",
    "pipelined": b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    "http10-keepalive": b"GET /old HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
    "http10-bare": b"HEAD /index.html HTTP/1.0\r\n\r\n",
    "http12": b"GET / HTTP/1.2\r\nHost: h\r\n\r\n",
    "absolute": b"GET http://example.com:8080/p/a/t/h?query=string#frag HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
    "absolute-userinfo": b"GET http://user:pw@example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n",
    "connect": b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    "options-star": b"OPTIONS * HTTP/1.1\r\nHost: [::1]:8000\r\n\r\n",
    "expect": b"POST /big HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 100000\r\n\r\n",
    "leading-crlf": b"\r\n\r\nDELETE /thing/1 HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 203.0.113.9, 10.0.0.1\r\n\r\n",
    "nonascii": b"GET /\xc3\xa9t\xc3\xa9/%22q%22 HTTP/1.1\r\nHost: h\r\nX-Note: caf\xc3\xa9\t tab\r\nReferer: \r\n\r\n",
    "underscore": b"GET / HTTP/1.1\r\nHost: h\r\nX_Forwarded_For: spoof\r\nContent_Length: 5\r\n\r\n",
    "partial": b"GET /slow HTTP/1.1\r\nHost: h\r\nX-Incomplete: ",
    "bare-lf": b"GET / HTTP/1.1\nHost: h\n\n",
    "dup-cl": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
    "cl-te": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te-after-chunked": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
    "te-chunked-params": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked;q=1\r\n\r\n",
    "te-http10": b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
    "expect-other": b"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n",
    "tls-hello": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    "http2-preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
}
for name, h in heads.items():
    write("http_head", name, DEFAULT + h)
write("http_head", "fold", bytes([FOLD, 0, 0]) + b"GET / HTTP/1.1\r\nHost: h\r\nX-Long: first\r\n  second\r\n\tthird\r\nX-B: b\r\n\r\n")
write("http_head", "fold-cl", bytes([FOLD, 0, 0]) + b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n 3\r\n\r\nabc")
write("http_head", "fold-tolerate", bytes([FOLD | TOLERATE, 0, 0]) + b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n")
write("http_head", "casefold", bytes([UNCONV | CASEFOLD, 0, 0]) + b"get /x HTTP/1.1\r\nHost: h\r\n\r\n")
write("http_head", "unconventional", bytes([UNCONV, 0, 0]) + b"M-SEARCH * HTTP/1.1\r\nHost: 239.255.255.250:1900\r\n\r\n")
write("http_head", "tolerate", bytes([TOLERATE, 0, 0]) + heads["cl-te"])
# line limit 16 (index 3), 2 fields (index 3 << 3), field size 8 (index 3)
write("http_head", "small-limits", bytes([0, 3 | (3 << 3), 3]) + b"GET /abc HTTP/1.1\r\nHost: a\r\nX: 1\r\n\r\n")
write("http_head", "many-fields", bytes([0, 4 << 3, 0]) + b"GET / HTTP/1.1\r\nHost: h\r\n" + b"".join(b"X-%d: %d\r\n" % (i, i) for i in range(40)) + b"\r\n")

# --- chunked_body: [ext] [trailers] [n] n*u16 cuts, body... -----------------
def chunked(name, body, cuts=(), ext=0, trailers=0):
    hdr = bytes([ext, trailers, len(cuts)]) + b"".join(struct.pack("<H", c) for c in cuts)
    write("chunked_body", name, hdr + body)

chunked("simple", b"1e\r\nall your base are belong to us\r\n0\r\n\r\n")
chunked("two-chunks-trailers", b"5\r\nhello\r\n6\r\n world\r\n0\r\nVary: *\r\nContent-Type: text/plain\r\n\r\n", cuts=(3, 9, 10, 30))
chunked("extensions", b"5; ihatew3;whatthefuckaretheseparametersfor\r\nhello\r\n6; blahblah; blah\r\n world\r\n0\r\n\r\n", cuts=(1, 2))
chunked("quoted-ext", b"5;name=\"quoted; \\\"value\\\"\" ;b=tok\r\nhello\r\n0 ; last\r\n\r\n", cuts=(12,))
chunked("leading-zeros-hex", b"000A\r\n0123456789\r\nFf\r\n" + bytes(range(255)) + b"\r\n000\r\n\r\n", cuts=(5, 20, 200))
chunked("pipelined", b"3\r\nabc\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n", cuts=(8,))
chunked("empty", b"0\r\n\r\n")
chunked("incomplete", b"10\r\nonly part of the", cuts=(4,))
chunked("huge-size", b"fffffffffffffff\r\nabc")
chunked("forbidden-trailer", b"0\r\nContent-Length: 5\r\n\r\n")
chunked("small-limits", b"2;e=v\r\nab\r\n0\r\nX: y\r\n\r\n", ext=3, trailers=3)
chunked("bad-crlf", b"3\r\nabcX\r\n0\r\n\r\n")

# --- access_log: [mode] ... --------------------------------------------------
GUNICORN = b'%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'


def s(b):
    assert len(b) < 256
    return bytes([len(b)]) + b


def record(headers=(), resp=()):
    out = s(b"127.0.0.1") + s(b"GET") + s(b"/a/b?c=1") + s(b"/a/b") + s(b"c=1") + s(b"HTTP/1.1")
    out += struct.pack("<HQQ", 200, 1234, 1_500_000)
    out += bytes([len(headers)]) + b"".join(s(n) + s(v) for n, v in headers)
    out += bytes([len(resp)]) + b"".join(s(n) + s(v) for n, v in resp)
    return out


req_h = [(b"User-Agent", b"curl/8.5.0"), (b"Referer", b"http://example.com/"), (b"X-Id", b"abc-123"),
         (b"Authorization", b"Basic " + base64.b64encode(b"alice:secret"))]
resp_h = [(b"Content-Type", b"text/html; charset=utf-8"), (b"X-Id", b"r-1")]
write("access_log", "gunicorn-default", b"\x00" + s(GUNICORN) + record(req_h, resp_h))
write("access_log", "all-atoms", b"\x00" + s(b"%(h)s %(m)s %(U)s %(q)s %(H)s %(s)s %(B)s %(b)s %(T)s %(D)s %(M)s %(L)s %(p)s %({x-id}i)s %({X-ID}o)s %({HOME}e)s %(zz)s 100%% %(unterminated") + record(req_h, resp_h))
write("access_log", "broken-format", b"\x00" + s(b"%( %()s %(h)s)s %%(h)s %(%(h)s)s %(\xc3\xa9)s \xff%") + record())
write("access_log", "atoms", b"\x01" + bytes([8, 0, 3, 60, 4, 255]) + s(b" lit%eral ") + bytes([17, 20, 21]) + record(req_h, resp_h))
ATOMS_COUNT = 25
write("access_log", "atoms-all", b"\x01" + bytes([11]) + bytes(range(0, 2 * ATOMS_COUNT, 5)) + bytes([49]) + record(req_h, resp_h))


def contract(fmt, wire, flags=0, resp=()):
    out = b"\x02" + s(fmt) + bytes([0]) + struct.pack("<HQQ", 200, 42, 12_345_678)
    out += bytes([len(resp)]) + b"".join(s(n) + s(v) for n, v in resp)
    return out + bytes([flags]) + wire


write("access_log", "contract-default", contract(GUNICORN, heads["browser"], resp=resp_h))
write("access_log", "contract-headers", contract(b'%({x-note}i)s|%({referer}i)s|%({content-type}o)s|%(U)s|%(q)s', heads["nonascii"], resp=[(b"Content-Type", b"a\tb")]))
write("access_log", "contract-fold", contract(b"%({x-long}i)s %(r)s", b"GET http://h/p?q HTTP/1.1\r\nHost: h\r\nX-Long: first\r\n second\r\n\r\n", flags=FOLD))
write("access_log", "contract-user", contract(b"%(u)s %(l)s %(h)s",
      b"GET / HTTP/1.1\r\nHost: h\r\nAuthorization: basic " + base64.b64encode(b"a\r\n\x00\x7fb\xff:pw:x") + b"\r\n\r\n"))
write("access_log", "atoms-user", b"\x01" + bytes([2, 2, 1]) + record([(b"authorization", b"Basic YWxpY2U=")]))
write("access_log", "contract-absolute", contract(b"%(U)s?%(q)s %(H)s", heads["absolute"]))
