-- POST a 16 KiB body; the echo app answers with the body's length.
wrk.method = "POST"
wrk.body = string.rep("x", 16384)
wrk.headers["Content-Type"] = "application/octet-stream"
