"""WSGI app for tests/test_header_cache.py: header tuples that are constants of the
code (the same objects on every call), and per-response tuples that a second list
also holds (as werkzeug's Headers does).

Routes (PATH_INFO):
  /const        200, constant tuples (Content-Type, Content-Length: 5, X-Const)
  /server       200, a constant Server header (the server must not add its own)
  /nocontent    204 with a constant Content-Length tuple (never sent on a 204)
  /bad          a constant tuple whose value holds a newline (a 500, every time)
  /kept?i=N     per-response tuples also held in a list kept by the app
"""

KEPT = []


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/const":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5"), ("X-Const", "yes")])
        return [b"const"]
    if path == "/server":
        start_response("200 OK", [("Server", "app-server/1"), ("Content-Length", "2")])
        return [b"ok"]
    if path == "/nocontent":
        start_response("204 No Content", [("Content-Length", "0"), ("X-Const", "yes")])
        return []
    if path == "/bad":
        start_response("200 OK", [("X-Bad", "line\nbreak")])
        return [b"never"]
    if path == "/kept":
        i = environ.get("QUERY_STRING", "").partition("=")[2]
        body = ("kept %s" % i).encode()
        held = [("X-Seq", i), ("Content-Length", str(len(body)))]
        KEPT.append(held)
        del KEPT[:-4]
        start_response("200 OK", list(held))
        return [body]
    start_response("404 Not Found", [("Content-Length", "0")])
    return []
