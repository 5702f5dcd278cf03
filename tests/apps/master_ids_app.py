"""Reports who the worker runs as: "uid gid euid egid groups" (plain text).

Imports nothing but `os`: a worker that dropped privileges may be unable to
read the Python installation (e.g. under /root), and `os` is already loaded.
"""

import os


def application(environ, start_response):
    groups = ",".join(str(g) for g in sorted(os.getgroups()))
    body = ("%d %d %d %d %s" % (os.getuid(), os.getgid(), os.geteuid(), os.getegid(), groups)).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
