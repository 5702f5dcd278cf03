"""Opens N keep-alive connections to a server, completes one GET on each, then holds them idle.

Usage: python idle_conns.py HOST PORT N [DEADLINE_S]
Prints one line ``ready opened=<n> answered=<n> failed=<n> elapsed=<s>`` once every connection was
answered (or the deadline passed), then waits on stdin: each ``status`` line is answered with
``alive=<n>`` (connections the server has not closed); EOF or SIGTERM closes everything and exits.
"""

import resource
import selectors
import socket
import sys
import time

REQ = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: ferricorn-bench-idle\r\n\r\n"


def response_complete(buf: bytes) -> bool:
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                return len(body) >= int(value.strip())
            except ValueError:
                return True
    return True  # no Content-Length: headers are enough to call the request answered


def main() -> None:
    host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    deadline_s = float(sys.argv[4]) if len(sys.argv) > 4 else 20.0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, n + 256)), hard))
    sel = selectors.DefaultSelector()
    t0 = time.monotonic()
    deadline = t0 + deadline_s
    state = {}  # sock -> ["connecting"|"reading"|"done"|"failed", buffer]
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect_ex((host, port))
        except OSError:
            pass
        socks.append(s)
        state[s] = ["connecting", b""]
        sel.register(s, selectors.EVENT_WRITE)
    pending = n
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            st = state[s]
            if st[0] == "connecting":
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    st[0] = "failed"
                    sel.unregister(s)
                    pending -= 1
                    continue
                try:
                    s.sendall(REQ)  # small: fits the socket buffer
                except OSError:
                    st[0] = "failed"
                    sel.unregister(s)
                    pending -= 1
                    continue
                st[0] = "reading"
                sel.modify(s, selectors.EVENT_READ)
            elif st[0] == "reading":
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    st[0] = "failed"
                    sel.unregister(s)
                    pending -= 1
                    continue
                st[1] += data
                if response_complete(st[1]):
                    st[0] = "done"
                    sel.unregister(s)
                    pending -= 1
    answered = sum(1 for s in socks if state[s][0] == "done")
    failed = sum(1 for s in socks if state[s][0] == "failed")
    print(
        f"ready opened={n} answered={answered} failed={failed} "
        f"elapsed={time.monotonic() - t0:.2f}",
        flush=True,
    )
    for line in sys.stdin:
        if line.strip() == "status":
            alive = 0
            for s in socks:
                if state[s][0] != "done":
                    continue
                try:
                    s.setblocking(False)
                    if s.recv(1, socket.MSG_PEEK) == b"":
                        continue  # closed by the server
                    alive += 1  # unexpected bytes, but still open
                except BlockingIOError:
                    alive += 1
                except OSError:
                    pass
            print(f"alive={alive}", flush=True)
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
