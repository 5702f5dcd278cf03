"""The Gunicorn-compatible command line."""

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import APPS_DIR, free_port, run_cli, wait_for
from rawhttp import build_request, exchange

LOG_LINE_RE = r"^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} [+-]\d{4}\] \[(\d+)\] \[(\w+)\] (.*)$"


def assert_clean_failure(res, *needles):
    err = res.stderr
    assert res.returncode != 0, "expected failure, got exit 0; stderr:\n%s" % err
    assert "Traceback (most recent call last)" not in err, err
    assert "panicked at" not in err, err
    low = err.lower()
    for n in needles:
        assert n.lower() in low, "%r not named in stderr:\n%s" % (n, err)


def get_version():
    if os.environ.get("FERRICORN_TEST_CMD"):
        return None
    import ferricorn

    return ferricorn.__version__


# -- informational ------------------------------------------------------------------

@pytest.mark.parametrize("flag", ["-v", "--version"])
def test_version(flag):
    res = run_cli([flag])
    assert res.returncode == 0, res.stderr
    out = res.stdout + res.stderr
    v = get_version()
    if v:
        assert v in out
        assert re.search(r"ferricorn \(version %s\)" % re.escape(v), out), out
    assert "Traceback" not in out


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help(flag):
    res = run_cli([flag])
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "usage" in out.lower()
    for opt in ("--bind", "--workers", "--threads", "--timeout", "--keep-alive", "--access-logfile",
                "--body-buffer-size", "--header-timeout", "--body-timeout"):
        assert opt in out, "%s missing from --help" % opt


def test_console_script_installed():
    if os.environ.get("FERRICORN_TEST_CMD"):
        pytest.skip("custom server command")
    script = Path(sys.executable).parent / "ferricorn"
    assert script.exists(), "console script %s missing" % script
    res = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=20)
    assert res.returncode == 0 and get_version() in res.stdout + res.stderr


# -- usage errors: one line, exit 2 ---------------------------------------------------------

BAD_ARGS = [
    (["--no-such-flag", "app:application"], "--no-such-flag"),
    (["-w", "abc", "app:application"], "abc"),
    (["--workers", "abc", "app:application"], "abc"),
    (["--threads", "x1", "app:application"], "x1"),
    (["-t", "soon", "app:application"], "soon"),
    (["--keep-alive", "forever", "app:application"], "forever"),
    (["--graceful-timeout", "zz", "app:application"], "zz"),
    (["--limit-request-line", "lots", "app:application"], "lots"),
    (["--limit-request-fields", "many", "app:application"], "many"),
    (["--limit-request-field_size", "big", "app:application"], "big"),
    (["--body-buffer-size", "huge", "app:application"], "huge"),
    (["--header-timeout", "later", "app:application"], "later"),
    (["--body-timeout", "never", "app:application"], "never"),
    (["-w"], "-w"),
    ([], None),  # missing APP_MODULE
]


@pytest.mark.parametrize("args,needle", BAD_ARGS, ids=[" ".join(a[0]) or "no-args" for a in BAD_ARGS])
def test_usage_error_one_line_exit_2(args, needle):
    res = run_cli(args, timeout=15)
    assert res.returncode == 2, "exit %s; stderr:\n%s" % (res.returncode, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, "expected one line on stderr, got:\n%s" % res.stderr
    assert lines[0].startswith("ferricorn: error:"), lines[0]
    if needle:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in res.stderr and "panicked at" not in res.stderr


def test_usage_error_names_the_flag_for_bad_value():
    res = run_cli(["--threads", "x1", "app:application"], timeout=15)
    assert res.returncode == 2
    assert "threads" in res.stderr


# -- startup errors -------------------------------------------------------------------------

def test_module_not_found():
    res = run_cli(["-b", "127.0.0.1:%d" % free_port(), "ferricorn_no_such_module_xyz:application"], timeout=30)
    assert_clean_failure(res, "ferricorn_no_such_module_xyz")


def test_attribute_missing():
    res = run_cli(["-b", "127.0.0.1:%d" % free_port(), "app:no_such_attr_xyz"], timeout=30)
    assert_clean_failure(res, "no_such_attr_xyz")


def test_attribute_not_callable():
    res = run_cli(["-b", "127.0.0.1:%d" % free_port(), "notcallable:application"], timeout=30)
    assert_clean_failure(res)
    assert "callable" in res.stderr.lower() or "application" in res.stderr


def test_bad_app_spec_syntax():
    res = run_cli(["-b", "127.0.0.1:%d" % free_port(), "app:create_app(("], timeout=30)
    assert_clean_failure(res)


def test_bad_chdir():
    res = run_cli(["--chdir", "/nonexistent/ferricorn-dir", "-b", "127.0.0.1:%d" % free_port(),
                   "app:application"], timeout=30)
    assert_clean_failure(res, "/nonexistent/ferricorn-dir")


def test_address_in_use():
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        res = run_cli(["-b", "127.0.0.1:%d" % port, "app:application"], timeout=40)
    assert_clean_failure(res, str(port))


def test_bad_bind_address():
    res = run_cli(["-b", "127.0.0.1:notaport", "app:application"], timeout=30)
    assert_clean_failure(res)
    assert "notaport" in res.stderr


# -- running ---------------------------------------------------------------------------------

def test_listening_and_booting_log_lines(server_factory):
    srv = server_factory("app:application", "-w", "2")
    srv.wait_workers(2)
    lines = srv.stderr().splitlines()
    listening = [ln for ln in lines if "Listening at:" in ln]
    assert len(listening) == 1, lines
    m = re.match(LOG_LINE_RE, listening[0])
    assert m, listening[0]
    assert int(m.group(1)) == srv.pid
    assert m.group(2) == "INFO"
    assert m.group(3) == "Listening at: http://127.0.0.1:%d (%d)" % (srv.port, srv.pid)
    booting = [re.match(LOG_LINE_RE, ln) for ln in lines if "Booting worker with pid:" in ln]
    assert len(booting) == 2 and all(booting), lines
    for b in booting:
        assert b.group(2) == "INFO"
        wpid = int(b.group(1))
        assert b.group(3) == "Booting worker with pid: %d" % wpid
        assert wpid != srv.pid
    assert "Traceback" not in srv.stderr()


def test_default_application_attribute(server_factory):
    srv = server_factory("app")
    assert exchange(srv.port, build_request("GET", "/x")).body == b"ok path=/x"


def test_factory_no_args(server_factory):
    srv = server_factory("app:create_app()")
    r = exchange(srv.port, build_request("GET", "/"))
    assert r.json() == {"factory": True, "args": [], "kwargs": {}}


def test_factory_with_args(server_factory):
    srv = server_factory("app:create_app('x', n=1)")
    r = exchange(srv.port, build_request("GET", "/"))
    assert r.json() == {"factory": True, "args": ["x"], "kwargs": {"n": 1}}


def test_chdir(server_factory, tmp_path):
    srv = server_factory("app:application", "--chdir", str(APPS_DIR), cwd=tmp_path)
    assert exchange(srv.port, build_request("GET", "/chdir")).body == b"ok path=/chdir"


def test_pythonpath(server_factory, tmp_path):
    srv = server_factory("app:application", "--pythonpath", str(APPS_DIR), cwd=tmp_path)
    assert exchange(srv.port, build_request("GET", "/pp")).body == b"ok path=/pp"


def test_env_flag(server_factory):
    srv = server_factory("app:application", "-e", "FERRICORN_T1=one", "--env", "FERRICORN_T2=a=b")
    assert exchange(srv.port, build_request("GET", "/env?name=FERRICORN_T1")).json() == {"value": "one"}
    assert exchange(srv.port, build_request("GET", "/env?name=FERRICORN_T2")).json() == {"value": "a=b"}


def test_multiple_binds(server_factory):
    p2 = free_port()
    srv = server_factory("app:application", "-b", "127.0.0.1:%d" % p2)
    assert exchange(srv.port, build_request("GET", "/one")).body == b"ok path=/one"
    assert exchange(p2, build_request("GET", "/two")).body == b"ok path=/two"
    listening = " ".join(ln for ln in srv.stderr().splitlines() if "Listening at:" in ln)
    ports = set(re.findall(r"http://127\.0\.0\.1:(\d+)", listening))
    assert ports == {str(srv.port), str(p2)}, listening


ACCESS_RE = re.compile(
    r'^127\.0\.0\.1 - - \[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] '
    r'"GET /logged\?q=1 HTTP/1\.1" 200 15 "http://ref\.example/" "test-agent/1\.0"$', re.M)


def test_access_log_stdout(server_factory):
    srv = server_factory("app:application", "--access-logfile", "-")
    r = exchange(srv.port, build_request("GET", "/logged?q=1", headers=[("Referer", "http://ref.example/"),
                                                                        ("User-Agent", "test-agent/1.0")]))
    assert r.body == b"ok path=/logged"
    wait_for(lambda: ACCESS_RE.search(srv.stdout()), timeout=5,
             what=lambda: "access log line on stdout:\n" + srv.stdout())


def test_access_log_default_dash_fields(server_factory):
    srv = server_factory("app:application", "--access-logfile", "-")
    exchange(srv.port, b"GET /nolog HTTP/1.0\r\n\r\n")
    pat = re.compile(r'^127\.0\.0\.1 - - \[[^\]]+\] "GET /nolog HTTP/1\.0" 200 \d+ "-" "-"$', re.M)
    wait_for(lambda: pat.search(srv.stdout()), timeout=5, what="access log line with '-' fields")


def test_no_access_log_by_default(server_factory):
    srv = server_factory("app:application")
    exchange(srv.port, build_request("GET", "/quiet"))
    time.sleep(0.5)
    assert "/quiet" not in srv.stdout()
    assert "/quiet" not in srv.stderr()


def test_access_and_error_log_files(server_factory, tmp_path):
    acc = tmp_path / "access.log"
    err = tmp_path / "error.log"
    srv = server_factory("app:application", "--access-logfile", str(acc), "--error-logfile", str(err))
    exchange(srv.port, build_request("GET", "/tofile"))
    wait_for(lambda: acc.exists() and "GET /tofile HTTP/1.1" in acc.read_text(), timeout=5, what="access log file")
    wait_for(lambda: err.exists() and "Listening at:" in err.read_text(), timeout=5, what="error log file")
    assert "Listening at:" not in srv.stderr()


def test_log_file_alias(server_factory, tmp_path):
    err = tmp_path / "log-file.log"
    srv = server_factory("app:application", "--log-file", str(err))
    wait_for(lambda: err.exists() and "Listening at:" in err.read_text(), timeout=5, what="--log-file output")
    assert "Listening at:" not in srv.stderr()


def test_log_level_warning_hides_info(server_factory):
    srv = server_factory("app:application", "--log-level", "warning")
    exchange(srv.port, build_request("GET", "/"))
    assert "[INFO]" not in srv.stderr()


def test_log_level_debug(server_factory):
    srv = server_factory("app:application", "--log-level", "debug")
    exchange(srv.port, build_request("GET", "/"))
    assert "[DEBUG]" in srv.stderr() or "[INFO]" in srv.stderr()
    assert "Listening at:" in srv.stderr()


def test_short_and_long_flags_equivalent(server_factory):
    srv = server_factory("app:application", "--workers", "1", "--threads", "1", "--timeout", "30",
                         "--keep-alive", "2", "--graceful-timeout", "5", "--body-buffer-size", "1024",
                         "--header-timeout", "5", "--body-timeout", "5")
    assert exchange(srv.port, build_request("POST", "/echo", body=b"z" * 5000)).body == b"z" * 5000


def test_body_buffer_size_small_still_correct(server_factory):
    srv = server_factory("app:application", "--body-buffer-size", "16")
    body = b"0123456789" * 1000
    r = exchange(srv.port, build_request("POST", "/input?mode=readline", body=body))
    assert r.json()["len"] == len(body)
