"""A WSGI application that crashes its worker in the ways real applications do.

Used by tests/test_faults.py. Every fault route first writes a marker file
``fault-<ident>`` (content: the worker's pid) into FERRICORN_TEST_MARK_DIR,
so the test knows which worker took the request before the fault hits.

Routes:
  /pid                          {"pid": ...} (normal request)
  every /fault/ route takes &delay=S: seconds spent in the request before the fault
  /fault/sleep?id=&s=           sleeps (the test SIGKILLs the worker meanwhile)
  /fault/exit?id=&code=         os._exit(code) in the middle of the request
  /fault/segv?id=               dereferences NULL (SIGSEGV), as a broken C extension would
  /fault/block?id=              never returns (fault_app_block_forever)
  /fault/leak?id=&mb=&s=        keeps mb MiB alive for good, then sleeps s seconds and answers
  /error?id=                    raises (500, traceback in the error log)
  /openfile                     opens and closes a file (fails while descriptors are exhausted)
"""

import ctypes
import json
import os
import time
from urllib.parse import parse_qs

MARK_DIR = os.environ.get("FERRICORN_TEST_MARK_DIR")

# What /fault/leak allocates stays here for the life of the worker.
_LEAKED = []


def mark(name):
    if not MARK_DIR:
        return
    path = os.path.join(MARK_DIR, name)
    with open(path + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.replace(path + ".tmp", path)


def qs(environ):
    return {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}


def send_json(start_response, obj, status="200 OK"):
    body = json.dumps(obj).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def fault_app_block_forever():
    # A request that never ends (a lost lock, a call to a dead backend...).
    while True:
        time.sleep(0.2)


def fault_app_segfault():
    ctypes.string_at(0)


def fault_app_leak(mb):
    for _ in range(mb):
        # bytearray() writes every page, so the RSS really grows.
        _LEAKED.append(bytearray(1024 * 1024))


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    q = qs(environ)
    ident = q.get("id", "x")

    if path == "/pid":
        return send_json(start_response, {"pid": os.getpid()})

    if path.startswith("/fault/"):
        kind = path[len("/fault/"):]
        mark("fault-" + ident)
        # Busy in the request for a while first: the window in which the
        # other workers must keep serving.
        time.sleep(float(q.get("delay", "0")))
        if kind == "sleep":
            time.sleep(float(q.get("s", "30")))
        elif kind == "exit":
            os._exit(int(q.get("code", "7")))
        elif kind == "segv":
            fault_app_segfault()
        elif kind == "block":
            fault_app_block_forever()
        elif kind == "leak":
            fault_app_leak(int(q.get("mb", "100")))
            mark("leaked-" + ident)
            time.sleep(float(q.get("s", "0")))
            return send_json(start_response, {"pid": os.getpid(), "leaked_mib": len(_LEAKED)})
        return send_json(start_response, {"pid": os.getpid(), "survived": kind})

    if path == "/error":
        raise RuntimeError("fault-app-error-" + ident)

    if path == "/openfile":
        with open(__file__, "rb") as f:
            f.read(1)
        return send_json(start_response, {"pid": os.getpid(), "opened": True})

    return send_json(start_response, {"pid": os.getpid(), "path": path})


app = application
