"""Records the pid of the process that imported it (for --preload tests)."""

import json
import os

IMPORTED_IN = os.getpid()


def application(environ, start_response):
    body = json.dumps({"imported_in": IMPORTED_IN, "pid": os.getpid(), "ppid": os.getppid()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
