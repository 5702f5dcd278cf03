"""--proxy-protocol: a HAProxy PROXY header (v1 text or v2 binary) at the start
of a connection names the real client, as Gunicorn does it: REMOTE_ADDR /
REMOTE_PORT become the client's, PROXY_PROTOCOL / PROXY_ADDR / PROXY_PORT are
added; only --proxy-allow-from peers may send one (else 403); a malformed
header is 400; a connection without a header is served as plain HTTP."""

import json
import socket
import struct

import pytest

from rawhttp import build_request, exchange

GET_ENVIRON = build_request("GET", "/environ")


def v2_header(src, sport, dst, dport):
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    addrs = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return sig + bytes([0x21, 0x11]) + struct.pack("!H", len(addrs)) + addrs


@pytest.fixture(scope="module")
def proxied(module_server_factory):
    srv = module_server_factory("app:application", "--proxy-protocol")
    return srv.wait_ready()


@pytest.mark.parametrize("bytewise", [False, True])
def test_v1_header_sets_client_address(proxied, bytewise):
    r = exchange(proxied.port, b"PROXY TCP4 203.0.113.7 192.0.2.1 40123 443\r\n" + GET_ENVIRON,
                 bytewise=bytewise)
    assert r.status == 200
    env = json.loads(r.body)
    assert env["REMOTE_ADDR"] == "203.0.113.7" and env["REMOTE_PORT"] == "40123"
    assert env["PROXY_PROTOCOL"] == "TCP4"
    assert env["PROXY_ADDR"] == "192.0.2.1" and env["PROXY_PORT"] == "443"


def test_v2_header_sets_client_address(proxied):
    r = exchange(proxied.port, v2_header("198.51.100.9", 5555, "192.0.2.2", 8443) + GET_ENVIRON)
    assert r.status == 200
    env = json.loads(r.body)
    assert env["REMOTE_ADDR"] == "198.51.100.9" and env["REMOTE_PORT"] == "5555"
    assert env["PROXY_PROTOCOL"] == "TCP4" and env["PROXY_PORT"] == "8443"


def test_header_applies_to_every_request_of_the_connection(proxied):
    from rawhttp import RawConnection

    with RawConnection(proxied.port) as c:
        c.send(b"PROXY TCP6 2001:db8::5 2001:db8::1 1234 80\r\n" + GET_ENVIRON)
        first = json.loads(c.read_response().body)
        c.send(GET_ENVIRON)
        second = json.loads(c.read_response().body)
    assert first["REMOTE_ADDR"] == second["REMOTE_ADDR"] == "2001:db8::5"
    assert second["PROXY_PROTOCOL"] == "TCP6"


def test_plain_http_still_served(proxied):
    r = exchange(proxied.port, GET_ENVIRON)
    assert r.status == 200
    env = json.loads(r.body)
    assert env["REMOTE_ADDR"] == "127.0.0.1" and "PROXY_PROTOCOL" not in env


@pytest.mark.parametrize("header", [
    b"PROXY TCP4 203.0.113.7 192.0.2.1 40123\r\n",          # missing field
    b"PROXY TCP4 203.0.113.7  192.0.2.1 40123 443\r\n",     # double space
    b"PROXY TCP4 2001:db8::1 192.0.2.1 1 2\r\n",            # wrong family
    b"PROXY TCP4 203.0.113.7 192.0.2.1 70000 443\r\n",      # port out of range
    b"PROXY TCP4 203.0.113.7 192.0.2.1 1 443\n",            # bare LF
])
def test_malformed_header_is_400_and_worker_keeps_serving(proxied, header):
    r = exchange(proxied.port, header + GET_ENVIRON)
    assert r.status == 400
    assert exchange(proxied.port, GET_ENVIRON).status == 200


def test_header_from_a_peer_not_allowed_is_403(server_factory):
    srv = server_factory("app:application", "--proxy-protocol", "--proxy-allow-from", "10.9.9.9")
    srv.wait_ready()
    r = exchange(srv.port, b"PROXY TCP4 203.0.113.7 192.0.2.1 40123 443\r\n" + GET_ENVIRON)
    assert r.status == 403
    # Without a header the same peer is served normally.
    env = json.loads(exchange(srv.port, GET_ENVIRON).body)
    assert env["REMOTE_ADDR"] == "127.0.0.1"


def test_without_the_option_a_proxy_line_is_a_bad_request(server_factory):
    srv = server_factory("app:application")
    srv.wait_ready()
    r = exchange(srv.port, b"PROXY TCP4 203.0.113.7 192.0.2.1 40123 443\r\n" + GET_ENVIRON)
    assert r.status == 400
