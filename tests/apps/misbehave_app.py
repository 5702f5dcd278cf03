"""A WSGI application that breaks the WSGI contract in a way chosen per request.

Used by tests/test_wsgi_misbehaviour.py. ``GET /m?seed=N`` runs the plan
``make_plan(N)``: a mostly valid response (status, headers, a body of some
result type, maybe through write(), maybe with Content-Length) with one
misbehaviour injected somewhere - a bad status line, a bad header, a
non-bytes item, an exception at some step, a lying Content-Length, a write()
at the wrong time... The test builds the same plan from the same seed to
know what a correct server must answer, so any failure reproduces from its
seed alone.

``GET /pid`` answers the worker's pid.

Body bytes are made of the seed and item number, so a byte that belongs to
another response is recognisable. Exceptions carry ``MB-SECRET-<seed>``,
which must reach the error log and never the wire.
"""

import io
import os
import random
import sys
import threading
import time
from urllib.parse import parse_qs

# -- the plan -----------------------------------------------------------------------------

VALID_STATUSES = ["200 OK", "201 Created", "203 Whatever It Is", "404 Not Found", "418 I'm a teapot",
                  "500 Oops", "299 Custom Reason Phrase", "200 OK "]

# Misbehaviour -> class of correct answer:
#   pre          nothing could have been sent yet: exactly a 500
#   pre_or_post  a 500, or the app's head followed by a prefix (or all) of its body;
#                then close (or, if the response was complete, a usable connection)
#   either       a 500, or the planned response (lenient servers may accept it)
#   ok           the planned response, complete, and the connection stays usable
#   any          any well-formed response or a prefix of one, then close
BAD_STATUS = {
    "status_bytes": (b"200 OK", "pre"),
    "status_int": (200, "pre"),
    "status_none": (None, "pre"),
    "status_tuple": ((200, "OK"), "pre"),
    "status_no_reason": ("200", "either"),
    "status_2digit": ("20 OK", "pre"),
    "status_4digit": ("2000 OK", "pre"),
    "status_alpha": ("OK 200", "pre"),
    "status_crlf": ("200 OK\r\nX-Injected: 1", "pre"),
    "status_lf": ("200 OK\nX-Injected: 1", "pre"),
    "status_cr": ("200 OK\rX-Injected: 1", "pre"),
    "status_nul": ("200 O\x00K", "pre"),
    "status_del": ("200 O\x7fK", "pre"),
    "status_1xx": ("100 Continue", "pre"),
    "status_101": ("101 Switching Protocols", "pre"),
    "status_nonlatin1": ("200 \u2603", "pre"),
    "status_latin1": ("200 Caf\xe9", "either"),
    "status_empty": ("", "pre"),
    "status_leading_space": (" 200 OK", "pre"),
    "status_tab": ("200\tOK", "pre"),
    "status_6xx": ("600 Beyond", "either"),
    "status_negative": ("-20 OK", "pre"),
    "status_digits_only_long": ("2000", "pre"),
    "status_str_subclass": ("<StrSub>", "either"),
    # Valid statuses that forbid a body: the app's body must not reach the wire.
    "status_204_with_body": ("204 No Content", "ok"),
    "status_304_with_body": ("304 Not Modified", "ok"),
}

BAD_HEADER = {
    "hdr_list_pair": (["X-A", "b"], "either"),
    "hdr_3tuple": (("X-A", "b", "c"), "pre"),
    "hdr_1tuple": (("X-A",), "pre"),
    "hdr_str_item": ("X-A: b", "pre"),
    "hdr_none_item": (None, "pre"),
    "hdr_name_bytes": ((b"X-A", "b"), "pre"),
    "hdr_value_bytes": (("X-A", b"b"), "pre"),
    "hdr_value_int": (("X-A", 5), "pre"),
    "hdr_value_none": (("X-A", None), "pre"),
    "hdr_name_crlf": (("X-A\r\nX-Injected", "1"), "pre"),
    "hdr_value_crlf": (("X-A", "b\r\nX-Injected: 1"), "pre"),
    "hdr_value_lf": (("X-A", "b\nX-Injected: 1"), "pre"),
    "hdr_value_cr": (("X-A", "b\rX-Injected: 1"), "pre"),
    "hdr_value_nul": (("X-A", "b\x00c"), "pre"),
    "hdr_name_space": (("X A", "b"), "pre"),
    "hdr_name_empty": (("", "b"), "pre"),
    "hdr_name_colon": (("X-A:", "b"), "pre"),
    "hdr_name_nonlatin1": (("X-\u2603", "b"), "pre"),
    "hdr_value_nonlatin1": (("X-A", "snow \u2603"), "pre"),
    "hdr_value_latin1": (("X-A", "caf\xe9"), "either"),
    "hdr_value_empty": (("X-Empty", ""), "ok"),
    "hdr_value_ows": (("X-A", "  padded  "), "either"),
    "hdr_te_chunked": (("Transfer-Encoding", "chunked"), "ok"),
    "hdr_te_gzip": (("Transfer-Encoding", "gzip"), "ok"),
    "hdr_connection_close": (("Connection", "close"), "ok"),
    "hdr_connection_keepalive": (("Connection", "keep-alive"), "ok"),
    "hdr_connection_upgrade": (("Connection", "Upgrade"), "ok"),
    "hdr_keep_alive": (("Keep-Alive", "timeout=5"), "ok"),
    "hdr_upgrade": (("Upgrade", "websocket"), "ok"),
    "hdr_proxy_connection": (("Proxy-Connection", "close"), "ok"),
    "hdr_trailer": (("Trailer", "X-T"), "ok"),
    "hdr_server_custom": (("Server", "custom/1"), "ok"),
    "hdr_date_custom": (("Date", "Tue, 01 Jan 2030 00:00:00 GMT"), "ok"),
    "hdr_cl_invalid": (("Content-Length", "abc"), "pre"),
    "hdr_cl_negative": (("Content-Length", "-1"), "pre"),
    "hdr_cl_plus": (("Content-Length", "+1"), "pre"),
    "hdr_cl_list": (("Content-Length", "1, 1"), "either"),
    "hdr_cl_huge": (("Content-Length", "99999999999999999999999"), "pre"),
    "hdr_cl_dup_diff": ("<two different Content-Length>", "pre"),
    "hdr_cl_dup_same": ("<two identical Content-Length>", "either"),
    "hdr_many": ("<300 headers>", "ok"),
    "hdr_long_value": (("X-Long", "v" * 60000), "ok"),
}

HEADERS_CONTAINER = {
    "hdrs_none": "pre",
    "hdrs_dict": "pre",
    "hdrs_str": "pre",
    "hdrs_tuple": "either",
    "hdrs_generator": "either",
    "hdrs_int": "pre",
}

# Faults that happen at item k of the body (class depends on k).
ITEM_FAULTS = ["item_str", "item_none", "item_int", "item_bytearray", "item_memoryview", "item_list",
               "raise_next_k", "exc_info_after", "huge_then_raise", "write_non_bytes_in_iter"]

OTHER_FAULTS = {
    "raise_call": "pre",
    "raise_after_start": "pre",
    "raise_iter_create": "pre",
    "raise_in_lazy_start": "pre",
    "raise_close": "pre_or_post",
    "close_not_callable": "pre_or_post",
    "exc_str_raises": "pre",
    "exc_crlf_message": "pre",
    "exc_stopiteration": "pre",
    "exc_memoryerror": "pre",
    "exc_recursion": "pre",
    "exc_unicode_message": "pre",
    "no_start": "pre",
    "start_twice": "pre",
    "start_twice_caught": "either",
    "exc_info_before": "ok",
    "exc_info_none": "ok",
    "exc_info_garbage_before": "any",
    "ret_none": "pre",
    "ret_int": "pre",
    "ret_str": "pre",
    "ret_bytes": "either",
    "ret_dict": "pre",
    "ret_object": "pre",
    "iter_returns_non_iterator": "pre",
    "ret_empty_gen": "ok",
    "item_bytes_subclass": "ok",
    "write_non_bytes": "pre",
    "write_none": "pre",
    "write_after_return_thread": "ok",
    "write_in_close": "ok_or_extra",
    "write_in_iter": "any",
    "stash_write": "ok",
    "cl_short": "ok_truncated",
    "cl_long": "pre_or_post",
    "cl_zero_with_body": "ok_truncated",
    "huge_item": "ok",
    "many_small_items": "ok",
    "list_mutated_by_thread": "any",
    "listsub_close": "ok",
    "iterclass_len_lies": "ok",
    "post_unread_body": "ok",
    "post_partial_read_then_raise": "pre",
    "file_wrapper_bytesio": "ok",
    "file_wrapper_read_raises": "pre",
    "file_wrapper_read_returns_str": "pre",
    "start_response_kwargs": "either",
}

ALL_FAULTS = (sorted(BAD_STATUS) + sorted(BAD_HEADER) + sorted(HEADERS_CONTAINER) + ITEM_FAULTS
              + sorted(OTHER_FAULTS))

EXTRA = b"<CLOSE-WRITE>"


def make_plan(seed):
    """Everything about request ``seed``: what the app does and how the request is sent."""
    rnd = random.Random(seed)
    fault = None if rnd.random() < 0.12 else rnd.choice(ALL_FAULTS)
    p = {
        "seed": seed,
        "fault": fault,
        "status": rnd.choice(VALID_STATUSES),
        "result": rnd.choice(["list", "list", "tuple", "gen", "gen", "iterclass", "listsub"]),
        "lazy": rnd.random() < 0.3,
        "use_write": rnd.random() < 0.2,
        "cl": rnd.random() < 0.4,
        "sizes": [rnd.choice([0, 1, 7, 100, 1000, 5000, 70000]) for _ in range(rnd.randint(1, 4))],
        "method": rnd.choices(["GET", "HEAD", "POST"], [70, 15, 15])[0],
        "version": rnd.choices(["HTTP/1.1", "HTTP/1.0"], [85, 15])[0],
        "post_size": rnd.choice([0, 10, 3000, 100000]),
        "read_body": rnd.random() < 0.5,
        "k": 0,
        "delta": rnd.randint(1, 5),
        # how the request is sent
        "keepalive10": rnd.random() < 0.5,   # HTTP/1.0 with Connection: keep-alive
        "pipelined": rnd.random() < 0.25,    # the follow-up request sent at once
        "expect100": rnd.random() < 0.3,     # POST with Expect: 100-continue
    }
    if fault in ("huge_item", "huge_then_raise"):
        p["sizes"] = [3 * 1024 * 1024] + p["sizes"][:1]
    if fault == "list_mutated_by_thread":
        p["sizes"] = [3 * 1024 * 1024, 10]
        p["result"] = "list"
    if fault == "many_small_items":
        p["sizes"] = [1] * 2000
    if fault in ("post_unread_body", "post_partial_read_then_raise"):
        p["method"] = "POST"
        p["post_size"] = rnd.choice([10, 3000, 100000])
        p["read_body"] = fault != "post_unread_body"
    if fault in ("cl_short", "cl_zero_with_body"):
        p["cl"] = True
        if sum(p["sizes"]) == 0:
            p["sizes"] = [rnd.choice([7, 100, 1000])]
        if fault == "cl_short":
            p["delta"] = rnd.randint(1, sum(p["sizes"]))
    if fault == "cl_long":
        p["cl"] = True
    if fault and fault.startswith("file_wrapper"):
        p["sizes"] = [20000]
    if fault == "ret_empty_gen":
        p["sizes"] = [0]
    if fault in ITEM_FAULTS:
        # k == len(sizes): the fault comes after the last item.
        p["k"] = rnd.randint(0, len(p["sizes"]))
        if fault == "huge_then_raise":
            p["k"] = 1
    if fault in ("raise_next_k", "exc_info_after", "huge_then_raise", "write_non_bytes_in_iter",
                 "raise_in_lazy_start"):
        p["result"] = rnd.choice(["gen", "iterclass"])
    if fault == "exc_info_after":
        p["result"] = "gen"
        p["k"] = max(1, p["k"])
        p["use_write"] = False
    if fault in ("raise_close", "close_not_callable", "raise_iter_create", "write_in_close",
                 "iterclass_len_lies", "write_after_return_thread"):
        p["result"] = "iterclass"
    if fault == "listsub_close":
        p["result"] = "listsub"
    if fault in ("raise_in_lazy_start",):
        p["lazy"] = True
        p["use_write"] = False
    if fault in ("write_non_bytes", "write_none", "stash_write"):
        p["use_write"] = True
        p["lazy"] = False
    if fault in ("exc_info_before", "start_twice", "start_twice_caught", "no_start", "exc_info_none",
                 "exc_info_garbage_before", "start_response_kwargs"):
        p["lazy"] = False
    if fault and fault.startswith(("ret_", "iter_returns", "file_wrapper")):
        p["lazy"] = False
        p["use_write"] = False
    if fault in ("write_in_iter", "write_non_bytes_in_iter"):
        p["use_write"] = False
    if p["result"] not in ("gen", "iterclass"):
        p["lazy"] = False
    if p["lazy"]:
        p["use_write"] = False
    if p["use_write"] and fault in ITEM_FAULTS:
        p["k"] = max(1, p["k"])  # item 0 goes through write()
    return p


def item_bytes(seed, i, size):
    unit = b"[%d.%d]" % (seed, i)
    return (unit * (size // len(unit) + 1))[:size]


def planned_body(p):
    """The body a correct app with this plan sends (before any truncation)."""
    return b"".join(item_bytes(p["seed"], i, n) for i, n in enumerate(p["sizes"]))


def planned_code(p):
    """The status code of the planned response (for 'either'/'ok' status faults: if accepted)."""
    f = p["fault"]
    if f == "exc_info_before":
        return 503
    if f in BAD_STATUS and BAD_STATUS[f][1] in ("either", "ok"):
        s = BAD_STATUS[f][0]
        return 200 if s == "<StrSub>" else int(s[:3])
    return int(p["status"][:3])


def expectation(p):
    """The class of correct answers (see the table at the top)."""
    f = p["fault"]
    if f is None:
        return "ok"
    if f in BAD_STATUS:
        return BAD_STATUS[f][1]
    if f in BAD_HEADER:
        return BAD_HEADER[f][1]
    if f in HEADERS_CONTAINER:
        return HEADERS_CONTAINER[f]
    if f in ITEM_FAULTS:
        # Before the first item nothing can have been sent, unless write() was used.
        if f == "exc_info_after" or p["k"] > 0 or p["use_write"]:
            return "pre_or_post"
        return "pre"
    cls = OTHER_FAULTS[f]
    if f in ("raise_after_start", "raise_iter_create") and p["use_write"]:
        return "pre_or_post"  # write() already sent the head
    return cls


# -- the application ----------------------------------------------------------------------

_STASH = {}


class Secret(Exception):
    pass


class UnprintableError(Exception):
    def __str__(self):
        raise ValueError("no str for you")


class StrSub(str):
    pass


class BytesSub(bytes):
    pass


def secret(p, where):
    return "MB-SECRET-%d at %s" % (p["seed"], where)


class IterClass:
    """An iterable result with __iter__/__next__/close, for faults inside them."""

    def __init__(self, p, items, on_item, close_hook=None):
        self.p = p
        self.items = items
        self.i = 0
        self.on_item = on_item
        self.close_hook = close_hook
        if p["fault"] == "close_not_callable":
            self.close = 5

    def __iter__(self):
        if self.p["fault"] == "raise_iter_create":
            raise Secret(secret(self.p, "__iter__"))
        return self

    def __next__(self):
        i = self.i
        self.i += 1
        item = self.on_item(i)
        if item is StopIteration:
            raise StopIteration
        return item

    def __len__(self):
        return 1 if self.p["fault"] == "iterclass_len_lies" else len(self.items)

    def close(self):
        if self.close_hook:
            self.close_hook()
        if self.p["fault"] == "raise_close":
            raise Secret(secret(self.p, "close"))


class ListSub(list):
    closed = False

    def close(self):
        ListSub.closed = True


def headers_for(p, body_len):
    f = p["fault"]
    h = [("Content-Type", "application/octet-stream"), ("X-Seed", str(p["seed"]))]
    if p["cl"]:
        n = body_len
        if f == "cl_short":
            n = body_len - p["delta"]
        elif f == "cl_long":
            n = body_len + p["delta"]
        elif f == "cl_zero_with_body":
            n = 0
        h.append(("Content-Length", str(n)))
    if f in BAD_HEADER:
        bad = BAD_HEADER[f][0]
        if bad == "<two different Content-Length>":
            h = [x for x in h if x[0] != "Content-Length"]
            h += [("Content-Length", str(body_len)), ("Content-Length", str(body_len + 1))]
        elif bad == "<two identical Content-Length>":
            h = [x for x in h if x[0] != "Content-Length"]
            h += [("Content-Length", str(body_len)), ("Content-Length", str(body_len))]
        elif bad == "<300 headers>":
            h += [("X-H%d" % i, "v%d" % i) for i in range(300)]
        else:
            if isinstance(bad, tuple) and bad and bad[0] == "Content-Length":
                h = [x for x in h if x[0] != "Content-Length"]
            h.append(bad)
    if f == "hdrs_none":
        return None
    if f == "hdrs_dict":
        return dict(h)
    if f == "hdrs_str":
        return "Content-Type: text/plain"
    if f == "hdrs_tuple":
        return tuple(h)
    if f == "hdrs_generator":
        return (x for x in h)
    if f == "hdrs_int":
        return 42
    return h


def status_for(p):
    f = p["fault"]
    if f in BAD_STATUS:
        s = BAD_STATUS[f][0]
        if s == "<StrSub>":
            return StrSub("200 OK")
        return s
    return p["status"]


def application(environ, start_response):
    q = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    if environ.get("PATH_INFO") == "/pid":
        body = str(os.getpid()).encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    path = environ.get("PATH_INFO", "")
    if path.startswith("/base/"):
        # BaseExceptions escaping from the application.
        kind = path[len("/base/"):]
        if kind == "systemexit":
            sys.exit(3)
        if kind == "keyboardinterrupt":
            raise KeyboardInterrupt("MB-SECRET-base")
        if kind == "generatorexit":
            raise GeneratorExit("MB-SECRET-base")
        if kind == "systemexit_in_iter":
            def g():
                yield b"first"
                sys.exit(4)
            start_response("200 OK", [("Content-Type", "text/plain")])
            return g()

    # A write() kept from an earlier request must never reach this connection.
    stale = _STASH.pop("write", None)
    if stale is not None:
        try:
            stale(b"STALE-GARBAGE")
        except Exception:
            pass

    p = make_plan(int(q["seed"]))
    f = p["fault"]

    if p["method"] == "POST" and p["read_body"]:
        inp = environ["wsgi.input"]
        if f == "post_partial_read_then_raise":
            inp.read(5)
            raise Secret(secret(p, "after a partial read"))
        inp.read()

    if f == "raise_call":
        raise Secret(secret(p, "app call"))
    if f == "exc_str_raises":
        raise UnprintableError()
    if f == "exc_crlf_message":
        raise Secret(secret(p, "crlf") + "\r\nHTTP/1.1 200 OK\r\nX-Injected: 1\r\n\r\nINJECTED")
    if f == "exc_unicode_message":
        raise Secret(secret(p, "unicode") + " \u2603 \udcff")
    if f == "exc_stopiteration":
        raise StopIteration(secret(p, "StopIteration"))
    if f == "exc_memoryerror":
        raise MemoryError(secret(p, "MemoryError"))
    if f == "exc_recursion":
        def down(n):
            return down(n + 1) + 1
        down(0)

    items = [item_bytes(p["seed"], i, n) for i, n in enumerate(p["sizes"])]
    body_len = sum(len(x) for x in items)
    status = status_for(p)
    headers = headers_for(p, body_len)
    write = None

    def start():
        if f == "no_start":
            return None
        if f == "start_response_kwargs":
            return start_response(status=status, response_headers=headers)
        if f == "exc_info_none":
            return start_response(status, headers, None)
        if f == "exc_info_garbage_before":
            start_response(status, headers)
            return start_response("500 X", [("Content-Length", "0")], ("not", "an", "exc_info"))
        w = start_response(status, headers)
        if f in ("start_twice", "start_twice_caught"):
            try:
                start_response("201 Second", [("Content-Type", "text/plain")])
            except Exception:
                if f == "start_twice":
                    raise
        if f == "exc_info_before":
            try:
                raise Secret(secret(p, "exc_info_before"))
            except Secret:
                n = sum(len(x) for x in items)
                w = start_response("503 Replaced", [("Content-Type", "application/octet-stream"),
                                                   ("Content-Length", str(n))] if p["cl"] else
                                   [("Content-Type", "application/octet-stream")], sys.exc_info())
        return w

    if not p["lazy"]:
        write = start()
        if p["use_write"]:
            if f == "write_non_bytes":
                write("not bytes")
            elif f == "write_none":
                write(None)
            else:
                write(items[0]) if items else write(b"")
                items = items[1:]
                if f == "stash_write":
                    _STASH["write"] = write
    if f == "raise_after_start":
        raise Secret(secret(p, "after start_response"))

    # -- the result -------------------------------------------------------------------
    if f == "ret_none":
        return None
    if f == "ret_int":
        return 42
    if f == "ret_str":
        return "a str is not a body"
    if f == "ret_bytes":
        return b"".join(items)
    if f == "ret_dict":
        return {"a": 1}
    if f == "ret_object":
        return object()
    if f == "iter_returns_non_iterator":
        class Bad:
            def __iter__(self):
                return 5
        return Bad()
    if f == "ret_empty_gen":
        return (x for x in ())
    if f == "file_wrapper_bytesio":
        return environ["wsgi.file_wrapper"](io.BytesIO(items[0]), 4096)
    if f in ("file_wrapper_read_raises", "file_wrapper_read_returns_str"):
        class Reader:
            def read(self, n=-1):
                if f == "file_wrapper_read_raises":
                    raise Secret(secret(p, "file read"))
                return "not bytes"
        return environ["wsgi.file_wrapper"](Reader(), 4096)

    skip = 1 if p["use_write"] else 0   # items already sent through write()

    def item_at(i):
        """What the body iteration yields at position i (absolute), or a fault."""
        if f in ITEM_FAULTS and i == p["k"]:
            marker = secret(p, "item %d" % i)
            if f == "item_str":
                return "a str item"
            if f == "item_none":
                return None
            if f == "item_int":
                return 7
            if f == "item_bytearray":
                return bytearray(b"bytearray")
            if f == "item_memoryview":
                return memoryview(b"memoryview")
            if f == "item_list":
                return [b"nested"]
            if f in ("raise_next_k", "huge_then_raise"):
                raise Secret(marker)
            if f == "exc_info_after":
                try:
                    raise Secret(marker)
                except Secret:
                    start_response("500 Too Late", [("Content-Type", "text/plain")], sys.exc_info())
                return b"NOT-RERAISED"
            if f == "write_non_bytes_in_iter":
                write_cb[0]("not bytes")
        j = i - skip
        if j >= len(items):
            return StopIteration
        if f == "item_bytes_subclass":
            return BytesSub(items[j])
        if f == "write_in_iter" and j == 0 and write_cb[0] is not None:
            write_cb[0](b"<W>")
        return items[j]

    write_cb = [write]

    def gen():
        if p["lazy"]:
            if f == "raise_in_lazy_start":
                raise Secret(secret(p, "lazy start"))
            write_cb[0] = start()
        i = skip
        while True:
            x = item_at(i)
            if x is StopIteration:
                return
            yield x
            i += 1

    if f == "list_mutated_by_thread":
        result = list(items)

        def mutate():
            end = time.monotonic() + 0.3
            while time.monotonic() < end:
                result.append(b"MUTATED")
                if len(result) > 50:
                    del result[2:]
                time.sleep(0.001)
        threading.Thread(target=mutate, daemon=True).start()
        return result

    if p["result"] in ("list", "tuple", "listsub"):
        out = []
        i = skip
        while True:
            x = item_at(i)
            if x is StopIteration:
                break
            out.append(x)
            i += 1
        if p["result"] == "tuple":
            return tuple(out)
        if p["result"] == "listsub":
            return ListSub(out)
        return out

    if p["result"] == "gen":
        return gen()

    # iterclass
    close_hook = None
    if f == "write_in_close":
        def close_hook():
            try:
                write_cb[0](EXTRA)
            except Exception:
                pass
    if f == "write_after_return_thread":
        done = threading.Event()

        def late():
            done.wait(5)
            time.sleep(0.01)
            try:
                write_cb[0](b"LEAK-AFTER-RETURN")
            except Exception:
                pass
        threading.Thread(target=late, daemon=True).start()
        close_hook = done.set

    if p["lazy"]:
        # A lazy iterclass calls start_response on its first __next__.
        started = [False]

        def lazy_item(i):
            if not started[0]:
                started[0] = True
                if f == "raise_in_lazy_start":
                    raise Secret(secret(p, "lazy start"))
                write_cb[0] = start()
            return item_at(i + skip)
        return IterClass(p, items, lazy_item, close_hook)
    return IterClass(p, items, lambda i: item_at(i + skip), close_hook)


app = application
