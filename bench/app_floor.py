"""The framework floor: CPU time of one WSGI application call with no server around it.

``python bench/app_floor.py MODULE:CALLABLE [--seconds S]`` imports the app (with ``bench/apps``
on ``sys.path``), then calls it in a loop the way a server does - a fresh environ dict per request
(copied from a template holding the keys ferricorn and Gunicorn put there for ``GET /``), a
``start_response`` that checks its arguments, iteration of the result, ``close()`` - and prints one
JSON line: ``{"us_per_req": median µs of CPU time per request, "reps": [...], "calls": N}``.

No sockets, no parsing, no response bytes: what is left is the application's and its framework's
own Python, which every server pays the same. ``bench/run.py`` runs it pinned to the server core
and subtracts it from each server's CPU time per request, so its report can show each server's own
cost per request, and how far the Flask/Django targets are from what even a server with no cost of
its own could reach.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "apps"))


def template() -> dict:
    return {
        "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": "/", "QUERY_STRING": "",
        "RAW_URI": "/", "REQUEST_URI": "/", "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_SOFTWARE": "floor",
        "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "40000", "HTTP_HOST": "127.0.0.1:8000",
        "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr, "wsgi.multithread": False, "wsgi.multiprocess": True,
        "wsgi.run_once": False, "wsgi.input_terminated": True,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("app", help="module:callable")
    ap.add_argument("--seconds", type=float, default=4.0, help="measured CPU seconds, roughly")
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    mod, _, attr = args.app.partition(":")
    app = getattr(importlib.import_module(mod), attr or "application")
    env = template()
    seen = []

    def start_response(status, headers, exc_info=None):
        if not isinstance(status, str) or not isinstance(headers, list):
            raise TypeError("bad start_response arguments")
        seen.append(status)
        return None

    def one() -> int:
        result = app(env.copy(), start_response)
        n = 0
        try:
            for item in result:
                n += len(item)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return n

    one()
    if not seen or not seen[0].startswith("200"):
        print(json.dumps({"error": f"the app did not answer 200: {seen[:1]}"}))
        return 1
    # Warm up (imports on first use, caches, the interpreter's specialisation), and size a rep.
    t0 = time.process_time()
    calls = 0
    while time.process_time() - t0 < 0.5:
        one()
        calls += 1
    per_rep = max(100, int(calls / 0.5 * args.seconds / args.reps))
    reps = []
    for _ in range(args.reps):
        t0 = time.process_time()
        for _ in range(per_rep):
            one()
        reps.append((time.process_time() - t0) / per_rep * 1e6)
    print(json.dumps({"us_per_req": statistics.median(reps), "reps": [round(r, 3) for r in reps],
                      "calls": per_rep * args.reps}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
