"""Test app for tests/test_master_signals.py: reports the worker's process
facts (pid, parent, ids, groups, cwd, environment variables).

GET /pid            {"pid", "ppid"}
GET /ids            {"uid", "gid", "euid", "egid", "groups"}
GET /env?name=X     {"value": os.environ.get(X)}
GET /cenv?name=X    {"value": getenv(X)} from the C library (process titles move
                    the C environment; it must still read the same)
GET /cwd            {"cwd"}
GET /anything-else  "ok"
"""

import json
import os
from urllib.parse import parse_qs


def _json(start_response, obj):
    body = json.dumps(obj, sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    q = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    if path == "/pid":
        return _json(start_response, {"pid": os.getpid(), "ppid": os.getppid()})
    if path == "/ids":
        return _json(start_response, {
            "uid": os.getuid(), "gid": os.getgid(), "euid": os.geteuid(), "egid": os.getegid(),
            "groups": sorted(os.getgroups()),
        })
    if path == "/env":
        return _json(start_response, {"value": os.environ.get(q.get("name", ""))})
    if path == "/cenv":
        import ctypes

        libc = ctypes.CDLL(None)
        libc.getenv.restype = ctypes.c_char_p
        v = libc.getenv(q.get("name", "").encode())
        return _json(start_response, {"value": v.decode() if v is not None else None})
    if path == "/cwd":
        return _json(start_response, {"cwd": os.getcwd()})
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
