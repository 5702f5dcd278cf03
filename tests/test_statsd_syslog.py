"""--statsd-host and --log-syslog: the metrics and log lines leave the server
in Gunicorn's formats, over real UDP sockets on 127.0.0.1."""

import re
import socket
import time

import requests


def udp_listener():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.2)
    return s


def collect(sock, until, timeout=10.0):
    """Datagrams received until ``until(list)`` is true (or the timeout)."""
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not until(got):
        try:
            got.append(sock.recv(65536))
        except socket.timeout:
            pass
    return got


def test_statsd_metrics_use_gunicorn_names(server_factory):
    sock = udp_listener()
    port = sock.getsockname()[1]
    srv = server_factory("app:application", "--statsd-host", "127.0.0.1:%d" % port,
                         "--statsd-prefix", "shop", "--dogstatsd-tags", "env:test")
    srv.wait_ready()
    for path in ("/hello", "/hello", "/status?code=404"):
        requests.get(srv.url(path), timeout=10)
    lines = []
    collect(sock, lambda got: (lines.__setitem__(slice(None), b"\n".join(got).decode().split("\n"))
                               or sum(1 for l in lines if l.startswith("shop.gunicorn.requests:")) >= 3))
    text = "\n".join(lines)
    assert sum(1 for l in lines if l == "shop.gunicorn.requests:1|c|@1.0|#env:test") == 3, text
    assert re.search(r"^shop\.gunicorn\.request\.duration:[\d.]+\|ms\|#env:test$", text, re.M), text
    assert "shop.gunicorn.request.status.200:1|c|@1.0|#env:test" in lines, text
    sock.close()


def test_syslog_receives_error_and_access_lines(server_factory):
    sock = udp_listener()
    port = sock.getsockname()[1]
    srv = server_factory("app:application", "--log-syslog", "--log-syslog-to", "udp://127.0.0.1:%d" % port,
                         "--log-syslog-prefix", "shop", "--log-syslog-facility", "local0")
    srv.wait_ready()
    requests.get(srv.url("/hello"), timeout=10)
    got = collect(sock, lambda got: any(b".access:" in g for g in got))
    msgs = [g.decode("utf-8", "replace") for g in got]
    # facility local0 (16): info = 16*8+6 = 134
    assert any(re.match(r"^<134>gunicorn\.shop\.error: \[\d+\] Booting worker with pid: \d+", m) for m in msgs), msgs
    assert any(re.match(r'^<134>gunicorn\.shop\.access: \[\d+\] 127\.0\.0\.1 - - \[.*\] "GET /hello HTTP/1\.1" 200 ', m)
               for m in msgs), msgs
    # The error log file still gets its lines.
    assert "Booting worker" in srv.stderr()
    sock.close()


def test_bad_statsd_or_syslog_address_is_one_line(tmp_path):
    from conftest import run_cli

    res = run_cli(["--statsd-host", "host:notaport", "app:application"], timeout=30)
    assert res.returncode == 2
    err = res.stderr.strip()
    assert "statsd" in err and "\n" not in err and "Traceback" not in err
    res = run_cli(["--log-syslog", "--log-syslog-facility", "nosuch", "app:application"], timeout=30)
    assert res.returncode == 2
    err = res.stderr.strip()
    assert "facility" in err and "\n" not in err


def test_hooks_can_send_metrics_through_the_logger(server_factory, tmp_path):
    """Gunicorn configs call worker.log.increment(...) in pre_request; with
    --statsd-host the metric goes out with the prefix."""
    sock = udp_listener()
    port = sock.getsockname()[1]
    conf = tmp_path / "metrics.conf.py"
    conf.write_text("def pre_request(worker, req):\n"
                    "    worker.log.increment('myapp.hits', 1)\n"
                    "    worker.log.gauge('myapp.level', 7)\n")
    srv = server_factory("app:application", "-c", str(conf), "--statsd-host", "127.0.0.1:%d" % port,
                         "--statsd-prefix", "shop")
    srv.wait_ready()
    requests.get(srv.url("/hello"), timeout=10)
    got = collect(sock, lambda got: any(b"myapp.level" in g for g in got))
    lines = b"\n".join(got).decode().split("\n")
    assert "shop.myapp.hits:1|c|@1.0" in lines, lines
    assert "shop.myapp.level:7|g" in lines, lines
    assert "Exception in pre_request" not in srv.stderr()
    sock.close()


def test_hup_warns_that_statsd_and_log_settings_need_a_restart(server_factory, tmp_path):
    import signal

    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text('statsd_host = "127.0.0.1:9"\nstatsd_prefix = "one"\n')
    srv = server_factory("app:application", "-c", str(conf))
    srv.wait_ready()
    conf.write_text('statsd_host = "127.0.0.1:9"\nstatsd_prefix = "two"\nloglevel = "warning"\n')
    srv.signal(signal.SIGHUP)
    srv.wait_for_log(r"Changed settings take effect only after a restart or USR2: loglevel, statsd_prefix")
    assert requests.get(srv.url("/hello"), timeout=10).status_code == 200
