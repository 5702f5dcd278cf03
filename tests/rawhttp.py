"""A small raw-socket HTTP/1.x client for the integration tests.

It sends exact bytes (optionally one byte at a time) and parses exactly one
response at a time: status line, header fields and a body framed by
Content-Length, chunked coding or connection close. Everything has a timeout;
nothing here ever talks to anything but the address it is given (the tests
only pass 127.0.0.1, ::1 or a Unix socket).
"""

from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass, field

DEFAULT_TIMEOUT = 10.0

STATUS_LINE_RE = re.compile(rb"^HTTP/(\d)\.(\d) (\d{3})(?: (.*))?$")
IMF_FIXDATE_RE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"\d{4} \d{2}:\d{2}:\d{2} GMT$"
)


class ProtocolError(AssertionError):
    """The server sent something that is not a well-formed HTTP/1.x response."""


class IncompleteResponse(AssertionError):
    """The connection ended (EOF or reset) before a full response was read."""

    def __init__(self, msg: str, partial: bytes = b""):
        super().__init__(msg)
        self.partial = partial


class ResponseTimeout(AssertionError):
    """No complete response arrived within the timeout."""

    def __init__(self, msg: str, partial: bytes = b""):
        super().__init__(msg)
        self.partial = partial


@dataclass
class Response:
    version: str
    status: int
    reason: str
    headers: list  # list[tuple[str, str]] in wire order, names as sent
    body: bytes = b""
    raw: bytes = b""
    chunked: bool = False
    chunk_sizes: list = field(default_factory=list)
    trailers: list = field(default_factory=list)
    close_delimited: bool = False

    def header(self, name: str, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name: str) -> list:
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def has_header(self, name: str) -> bool:
        return self.header(name) is not None

    def connection_tokens(self) -> set:
        toks = set()
        for v in self.header_all("connection"):
            toks.update(t.strip().lower() for t in v.split(",") if t.strip())
        return toks

    @property
    def closes(self) -> bool:
        """True if the response announces ``Connection: close``."""
        return "close" in self.connection_tokens()

    def json(self):
        import json

        return json.loads(self.body.decode("utf-8"))

    def __repr__(self) -> str:  # keep assertion output readable
        body = self.body if len(self.body) <= 300 else self.body[:300] + b"...(%d bytes)" % len(self.body)
        return "Response(%s %d %r, headers=%r, body=%r)" % (self.version, self.status, self.reason, self.headers, body)


class RawConnection:
    """One client connection. Use as a context manager."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1", unix_path: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT, family: int | None = None):
        self.timeout = timeout
        if unix_path is not None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(unix_path)
        else:
            if family is None:
                family = socket.AF_INET6 if ":" in host else socket.AF_INET
            self.sock = socket.socket(family, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock.connect((host, port))
        self.buf = bytearray()
        self.eof = False
        self.reset = False
        self.send_failed = False

    # -- context manager -------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    @property
    def local_port(self) -> int:
        return self.sock.getsockname()[1]

    # -- sending ---------------------------------------------------------
    def send(self, data: bytes, bytewise: bool = False, delay: float = 0.0) -> bool:
        """Send ``data``; returns False (and remembers it) if the peer closed
        or reset the connection before everything was sent."""
        try:
            if bytewise:
                for i in range(len(data)):
                    self.sock.sendall(data[i:i + 1])
                    if delay:
                        time.sleep(delay)
            else:
                self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.send_failed = True
            return False

    def shutdown_write(self):
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    # -- receiving -------------------------------------------------------
    def _fill(self, deadline: float) -> bool:
        """Read more bytes into the buffer. False on EOF/reset; raises
        socket.timeout when the deadline passes."""
        if self.eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("deadline passed")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(262144)
        except (ConnectionResetError, ConnectionAbortedError):
            self.eof = True
            self.reset = True
            return False
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _read_until(self, marker: bytes, deadline: float) -> bytes:
        start = 0
        while True:
            idx = self.buf.find(marker, start)
            if idx >= 0:
                out = bytes(self.buf[:idx + len(marker)])
                del self.buf[:idx + len(marker)]
                return out
            start = max(0, len(self.buf) - len(marker) + 1)
            if not self._fill(deadline):
                raise IncompleteResponse("connection closed while waiting for %r" % marker, bytes(self.buf))

    def _read_exact(self, n: int, deadline: float) -> bytes:
        while len(self.buf) < n:
            if not self._fill(deadline):
                raise IncompleteResponse("connection closed after %d of %d body bytes" % (len(self.buf), n),
                                         bytes(self.buf))
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_response(self, method: str = "GET", timeout: float | None = None) -> Response:
        """Read exactly one response (an interim 1xx response counts as one)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        raw = bytearray()
        try:
            head = self._read_until(b"\r\n\r\n", deadline)
        except socket.timeout:
            raise ResponseTimeout("timed out waiting for a response head", bytes(self.buf)) from None
        except IncompleteResponse as e:
            if not e.partial:
                raise IncompleteResponse("connection closed before any response bytes", b"") from None
            raise
        raw += head
        lines = head[:-4].split(b"\r\n")
        m = STATUS_LINE_RE.match(lines[0])
        if not m:
            raise ProtocolError("malformed status line %r" % lines[0])
        version = "HTTP/%s.%s" % (m.group(1).decode(), m.group(2).decode())
        status = int(m.group(3))
        reason = (m.group(4) or b"").decode("latin-1")
        headers = []
        for line in lines[1:]:
            if b":" not in line:
                raise ProtocolError("malformed header line %r" % line)
            if line[:1] in (b" ", b"\t"):
                raise ProtocolError("obs-fold in response: %r" % line)
            name, _, value = line.partition(b":")
            if name != name.strip() or not name:
                raise ProtocolError("bad header name %r" % name)
            if b"\r" in line or b"\n" in line or b"\0" in line:
                raise ProtocolError("CR/LF/NUL in response header %r" % line)
            headers.append((name.decode("latin-1"), value.strip(b" \t").decode("latin-1")))
        resp = Response(version=version, status=status, reason=reason, headers=headers)

        te = ",".join(resp.header_all("transfer-encoding")).lower()
        cls = resp.header_all("content-length")
        try:
            if method.upper() == "HEAD" or 100 <= status < 200 or status in (204, 304):
                pass
            elif te:
                if te.replace(" ", "").split(",")[-1] != "chunked":
                    raise ProtocolError("response Transfer-Encoding without final chunked: %r" % te)
                resp.chunked = True
                body = bytearray()
                while True:
                    size_line = self._read_until(b"\r\n", deadline)
                    raw += size_line
                    size_txt = size_line[:-2].split(b";", 1)[0].strip()
                    if not size_txt or not re.fullmatch(rb"[0-9a-fA-F]+", size_txt):
                        raise ProtocolError("bad chunk size line %r" % size_line)
                    size = int(size_txt, 16)
                    resp.chunk_sizes.append(size)
                    if size == 0:
                        break
                    data = self._read_exact(size + 2, deadline)
                    raw += data
                    if data[-2:] != b"\r\n":
                        raise ProtocolError("chunk data not followed by CRLF: %r" % data[-2:])
                    body += data[:-2]
                while True:
                    line = self._read_until(b"\r\n", deadline)
                    raw += line
                    if line == b"\r\n":
                        break
                    name, _, value = line[:-2].partition(b":")
                    resp.trailers.append((name.decode("latin-1"), value.strip().decode("latin-1")))
                resp.body = bytes(body)
            elif cls:
                if len(set(v.strip() for v in cls)) != 1 or not cls[0].strip().isdigit():
                    raise ProtocolError("bad response Content-Length %r" % cls)
                n = int(cls[0])
                data = self._read_exact(n, deadline)
                raw += data
                resp.body = data
            else:
                # close-delimited body
                while self._fill(deadline):
                    pass
                data = bytes(self.buf)
                self.buf.clear()
                raw += data
                resp.body = data
                resp.close_delimited = True
        except socket.timeout:
            raise ResponseTimeout("timed out reading the body of %r" % resp, bytes(raw) + bytes(self.buf)) from None
        except IncompleteResponse as e:
            raise IncompleteResponse("%s (response so far: %r)" % (e, resp), bytes(raw) + e.partial) from None
        resp.raw = bytes(raw)
        return resp

    def read_until_close(self, timeout: float | None = None) -> bytes:
        """Everything still to come, until EOF/reset. Raises ResponseTimeout if the
        server keeps the connection open past the timeout."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        try:
            while self._fill(deadline):
                pass
        except socket.timeout:
            raise ResponseTimeout("connection still open after timeout", bytes(self.buf)) from None
        out = bytes(self.buf)
        self.buf.clear()
        return out

    def read_available(self, wait: float = 0.3) -> bytes:
        """Bytes that arrive within ``wait`` seconds (no error on timeout)."""
        deadline = time.monotonic() + wait
        try:
            while self._fill(deadline):
                pass
        except socket.timeout:
            pass
        out = bytes(self.buf)
        self.buf.clear()
        return out

    def is_closed(self, timeout: float = 5.0) -> tuple:
        """(closed, extra_bytes): waits up to ``timeout`` for EOF/reset."""
        try:
            extra = self.read_until_close(timeout)
            return True, extra
        except ResponseTimeout as e:
            return False, e.partial


# -- convenience -----------------------------------------------------------

def build_request(method: str = "GET", target: str = "/", headers=None, body: bytes = b"",
                  version: str = "HTTP/1.1", host: str | None = "localhost",
                  content_length: bool | None = None) -> bytes:
    """Build request bytes. ``headers`` is a list of (name, value) pairs sent in
    order. Host is added first unless ``host`` is None or a Host header is given.
    Content-Length is added when a body is given (or ``content_length`` is True)."""
    headers = list(headers or [])
    names = {k.lower() for k, _ in headers}
    lines = ["%s %s %s" % (method, target, version)]
    if host is not None and "host" not in names:
        lines.append("Host: %s" % host)
    for k, v in headers:
        lines.append("%s: %s" % (k, v))
    if content_length is None:
        content_length = bool(body) and "content-length" not in names and "transfer-encoding" not in names
    if content_length:
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked(*parts: bytes, trailers: bytes = b"") -> bytes:
    out = b""
    for p in parts:
        out += b"%x\r\n%s\r\n" % (len(p), p)
    return out + b"0\r\n" + trailers + b"\r\n"


def exchange(port: int, data: bytes, method: str = "GET", bytewise: bool = False, delay: float = 0.0,
             host: str = "127.0.0.1", timeout: float = DEFAULT_TIMEOUT, unix_path: str | None = None) -> Response:
    """Open a connection, send ``data``, read one response, close."""
    with RawConnection(port, host=host, unix_path=unix_path, timeout=timeout) as c:
        c.send(data, bytewise=bytewise, delay=delay)
        return c.read_response(method=method)


def get(port: int, target: str = "/", headers=None, version: str = "HTTP/1.1", **kw) -> Response:
    return exchange(port, build_request("GET", target, headers=headers, version=version), **kw)
