"""Other listeners: IPv6 loopback, Unix sockets, inherited file descriptors."""

import os
import socket

import httpx
import pytest

from conftest import free_port, ipv6_available
from rawhttp import RawConnection, build_request, exchange

needs_ipv6 = pytest.mark.skipif(not ipv6_available(), reason="::1 not available")


@needs_ipv6
def test_ipv6_bind(server_factory):
    port = free_port("::1")
    srv = server_factory("app:application", bind="[::1]:%d" % port)
    with RawConnection(port, host="::1") as c:
        c.send(build_request("GET", "/environ"))
        env = c.read_response().json()
        local = c.local_port
    assert env["REMOTE_ADDR"] == "::1"
    assert env["REMOTE_PORT"] == str(local)
    assert "Listening at: http://[::1]:%d" % port in srv.stderr()


@needs_ipv6
def test_ipv4_and_ipv6_together(server_factory):
    p4, p6 = free_port(), free_port("::1")
    server_factory("app:application", bind=["127.0.0.1:%d" % p4, "[::1]:%d" % p6])
    assert exchange(p4, build_request("GET", "/v4")).body == b"ok path=/v4"
    assert exchange(p6, build_request("GET", "/v6"), host="::1").body == b"ok path=/v6"


@needs_ipv6
def test_ipv6_httpx(server_factory):
    port = free_port("::1")
    server_factory("app:application", bind="[::1]:%d" % port)
    r = httpx.get("http://[::1]:%d/hi" % port, timeout=10)
    assert r.status_code == 200 and r.text == "ok path=/hi"


def test_unix_socket(server_factory, short_tmp):
    path = str(short_tmp / "s.sock")
    srv = server_factory("app:application", bind="unix:" + path)
    with RawConnection(unix_path=path) as c:
        c.send(build_request("GET", "/environ/unix"))
        r = c.read_response()
        assert r.status == 200
        env = r.json()
        assert env["PATH_INFO"] == "/environ/unix"
        c.send(build_request("POST", "/echo", body=b"over unix"))
        assert c.read_response().body == b"over unix"
    assert "Listening at: unix:%s" % path in srv.stderr()


def test_unix_socket_httpx(server_factory, short_tmp):
    path = str(short_tmp / "h.sock")
    server_factory("app:application", bind="unix:" + path)
    with httpx.Client(transport=httpx.HTTPTransport(uds=path), timeout=10) as client:
        r = client.get("http://localhost/via-uds")
        r2 = client.post("http://localhost/echo", content=b"x" * 100_000)
    assert r.text == "ok path=/via-uds"
    assert r2.content == b"x" * 100_000


def test_unix_and_tcp_together(server_factory, short_tmp):
    path = str(short_tmp / "b.sock")
    port = free_port()
    server_factory("app:application", bind=["unix:" + path, "127.0.0.1:%d" % port])
    assert exchange(port, build_request("GET", "/tcp")).body == b"ok path=/tcp"
    assert exchange(None, build_request("GET", "/uds"), unix_path=path).body == b"ok path=/uds"


def test_unix_socket_stale_file_replaced(server_factory, short_tmp):
    """A leftover socket file from a dead server does not prevent binding."""
    path = str(short_tmp / "stale.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()  # leaves the file behind, nobody listening
    assert os.path.exists(path)
    server_factory("app:application", bind="unix:" + path)
    assert exchange(None, build_request("GET", "/stale"), unix_path=path).body == b"ok path=/stale"


def test_bind_inherited_fd(server_factory):
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(16)
    port = lsock.getsockname()[1]
    fd = lsock.fileno()
    os.set_inheritable(fd, True)
    try:
        srv = server_factory("app:application", bind="fd://%d" % fd, pass_fds=[fd], wait=False)
        srv.port = port
        srv.wait_ready()
        lsock.close()  # only the server holds it now
        assert exchange(port, build_request("GET", "/fd")).body == b"ok path=/fd"
    finally:
        lsock.close()
