"""An app that sets REMOTE_USER in the environ, as auth middleware does
(for the access log's {name}e atoms)."""


def application(environ, start_response):
    environ["REMOTE_USER"] = "alice"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
