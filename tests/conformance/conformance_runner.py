"""Runs one conformance case (conformance_cases.Case) against a live server.

Used by test_conformance.py, and directly as a script to try the same cases
against another server that runs tests/apps/conformance_app.py with one
worker (Gunicorn, Waitress, Granian, ...):

    python tests/conformance/conformance_runner.py 127.0.0.1:8000 [-k substring] [--mode whole|bytewise]

which prints one line per case that does not behave as ferricorn must.

Sending: "whole" is one sendall(); "bytewise" is one send() per byte (with
TCP_NODELAY) for the first BYTEWISE_LIMIT bytes, then 8 KiB pieces, so the
100 KB bodies stay quick. A send that fails because the server has already
closed is not an error: the server may answer and close early.

Checks, in order: the final responses (status; and for application answers,
what the application saw), interim 100 responses only where allowed, then the
connection: closed with nothing more sent (and ``Connection: close``
announced), or still open and in step (a probe request gets its own answer).
Finally ``/__stats`` on a fresh connection tells exactly which requests the
application was called for - which also shows that the worker still serves.
"""

from __future__ import annotations

import os
import socket
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
for p in (HERE, TESTS):
    if p not in sys.path:
        sys.path.insert(0, p)

from rawhttp import RawConnection, ResponseTimeout, IncompleteResponse, ProtocolError  # noqa: E402

BYTEWISE_LIMIT = 16 * 1024
READ_TIMEOUT = 5.0
PROBE = b"GET /__ping HTTP/1.1\r\nHost: x\r\n\r\n"


class CaseFailure(AssertionError):
    pass


def _send(conn: RawConnection, data: bytes, mode: str) -> bool:
    sock = conn.sock
    try:
        if mode == "whole":
            sock.sendall(data)
        else:
            head, rest = data[:BYTEWISE_LIMIT], data[BYTEWISE_LIMIT:]
            for i in range(len(head)):
                sock.sendall(head[i:i + 1])
            for i in range(0, len(rest), 8192):
                sock.sendall(rest[i:i + 8192])
        return True
    except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, socket.timeout):
        return False


def stats(port: int, host: str = "127.0.0.1") -> list:
    """The application calls since the previous stats call (and resets them)."""
    with RawConnection(port, host=host, timeout=READ_TIMEOUT) as c:
        c.send(b"GET /__stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        r = c.read_response()
    if r.status != 200:
        raise CaseFailure("the server did not serve /__stats after the case: %r" % r)
    return [tuple(x) for x in r.json()["calls"]]


def _short(b: bytes, n: int = 300) -> str:
    return repr(b if len(b) <= n else b[:n] + b"...(%d bytes)" % len(b))


def _check_sees(resp, sees: dict, where: str):
    try:
        got = resp.json()
    except ValueError:
        raise CaseFailure("%s: expected the app's JSON, got %r" % (where, resp)) from None
    for key, want in sees.items():
        if key == "headers":
            hs = got.get("headers", {})
            for hk, hv in want.items():
                if hs.get(hk) != hv:
                    raise CaseFailure("%s: app saw %s=%r, expected %r (all: %r)" % (where, hk, hs.get(hk), hv, hs))
        elif key == "absent":
            hs = got.get("headers", {})
            for hk in want:
                if hk in hs:
                    raise CaseFailure("%s: app saw %s=%r, which must be absent" % (where, hk, hs[hk]))
        elif got.get(key) != want:
            raise CaseFailure("%s: app saw %s=%r, expected %r" % (where, key, got.get(key), want))


def run_case(case, port: int, mode: str, host: str = "127.0.0.1"):
    """Raises CaseFailure (an AssertionError) describing the first difference."""
    ctx = "[%s %s] %s\nsent: %s" % (case.id, mode, case.ref, _short(case.raw))
    stats(port, host)  # forget calls left over by anything before
    with RawConnection(port, host=host, timeout=READ_TIMEOUT) as c:
        _send(c, case.raw, mode)
        if case.eof:
            c.shutdown_write()
        got = []
        try:
            for i, exp in enumerate(case.responses):
                while True:
                    r = c.read_response(method=exp.method)
                    if r.status == 100 and case.continue_ok:
                        continue
                    break
                got.append(r)
                if r.status != exp.status:
                    raise CaseFailure("%s\nresponse %d: status %d, expected %d: %r"
                                      % (ctx, i + 1, r.status, exp.status, r))
                # JSON only from a 200 (an app whose body read failed answers otherwise)
                # with a body (not for HEAD)
                if exp.sees is not None and exp.status == 200 and exp.method != "HEAD":
                    try:
                        _check_sees(r, exp.sees, "response %d" % (i + 1))
                    except CaseFailure as e:
                        raise CaseFailure("%s\n%s" % (ctx, e)) from None
        except (ResponseTimeout, IncompleteResponse, ProtocolError) as e:
            raise CaseFailure("%s\nafter %d of %d expected responses: %s: %s; partial: %s"
                              % (ctx, len(got), len(case.responses), type(e).__name__, e,
                                 _short(getattr(e, "partial", b"")))) from None

        last = got[-1] if got else None
        expect_close = case.close
        if expect_close is None:
            expect_close = bool(last and last.closes)
        if expect_close:
            if case.announce_close and not last.closes:
                raise CaseFailure("%s\nthe server closes after the last response but did not say "
                                  "'Connection: close': %r" % (ctx, last))
            closed, extra = c.is_closed(READ_TIMEOUT)
            while case.continue_ok and extra.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"):
                extra = extra[len(b"HTTP/1.1 100 Continue\r\n\r\n"):]
            if not closed:
                raise CaseFailure("%s\nthe connection stayed open (expected close); pending: %s"
                                  % (ctx, _short(extra)))
            if extra:
                raise CaseFailure("%s\nunexpected bytes before close: %s" % (ctx, _short(extra)))
        else:
            if last is not None and last.closes:
                raise CaseFailure("%s\nthe last response says Connection: close; expected a persistent "
                                  "connection: %r" % (ctx, last))
            if not _send(c, PROBE, "whole"):
                raise CaseFailure("%s\nthe connection was closed (expected it to stay open)" % ctx)
            try:
                r = c.read_response()
            except (ResponseTimeout, IncompleteResponse, ProtocolError) as e:
                raise CaseFailure("%s\nno answer to a request sent after the case on the same connection "
                                  "(expected keep-alive): %s: %s; partial: %s"
                                  % (ctx, type(e).__name__, e, _short(getattr(e, "partial", b"")))) from None
            if r.status != 200 or r.body != b"pong":
                raise CaseFailure("%s\nthe connection is out of step: a probe request got %r" % (ctx, r))

    calls = stats(port, host)
    want = [(r.sees.get("method"), r.sees["path"]) for r in case.responses if r.sees is not None]
    if [p for _, p in calls] != [p for _, p in want] or any(
            wm is not None and wm != m for (m, _), (wm, _) in zip(calls, want)):
        raise CaseFailure("%s\nthe application was called for %r, expected %r" % (ctx, calls, want))


def main(argv):
    import argparse

    from conformance_cases import CASES

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("target", help="host:port of a server running conformance_app with one worker")
    ap.add_argument("-k", default="", help="only cases whose id contains this")
    ap.add_argument("--mode", choices=["whole", "bytewise", "both"], default="both")
    ap.add_argument("--server", default="default", help="case group to run (see SERVERS)")
    ap.add_argument("-v", action="store_true", help="print the full failure text")
    a = ap.parse_args(argv)
    host, _, port = a.target.rpartition(":")
    modes = ["whole", "bytewise"] if a.mode == "both" else [a.mode]
    fails = total = 0
    for case in CASES:
        if case.server != a.server or a.k not in case.id:
            continue
        for mode in modes:
            total += 1
            try:
                run_case(case, int(port), mode, host=host.strip("[]") or "127.0.0.1")
            except (AssertionError, OSError) as e:
                fails += 1
                text = str(e)
                if not a.v:
                    text = text.split("\n")[-1][:240]
                print("FAIL %-45s %-8s %s" % (case.id, mode, text))
    print("%d passed, %d failed" % (total - fails, fails))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
