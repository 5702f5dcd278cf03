"""Gunicorn configuration files: `-c FILE`, `-c python:module`, the implicit
./gunicorn.conf.py, precedence (file < GUNICORN_CMD_ARGS < argv) and
one-line errors. The real server, started the way users start it."""

import json
import textwrap
from pathlib import Path

from conftest import free_port, run_cli
from rawhttp import build_request, exchange

APPS = Path(__file__).resolve().parent / "apps"


def write_conf(directory, body, name="gunicorn.conf.py"):
    path = Path(directory) / name
    path.write_text(textwrap.dedent(body))
    return path


def environ(port):
    r = exchange(port, build_request("GET", "/environ"))
    assert r.status == 200, r
    return json.loads(r.body)


def test_implicit_gunicorn_conf_py_is_read(server_factory, tmp_path):
    port = free_port()
    write_conf(tmp_path, f"""
        import multiprocessing            # modules and helpers are ignored
        bind = "127.0.0.1:{port}"
        workers = 2
        threads = 3
        pythonpath = {str(APPS)!r}
        raw_env = ["FROM_CONF=yes"]
        wsgi_app = "app:application"
        def helper():
            return 1
    """)
    srv = server_factory(None, bind=False, cwd=tmp_path, wait=False)
    srv.port = port
    srv.wait_ready()
    env = environ(port)
    assert env["wsgi.multiprocess"] is True and env["wsgi.multithread"] is True
    r = exchange(port, build_request("GET", "/env?name=FROM_CONF"))
    assert json.loads(r.body)["value"] == "yes"
    assert len(srv.wait_workers(2)) == 2


def test_explicit_config_and_precedence(server_factory, tmp_path):
    conf = write_conf(tmp_path, f"""
        workers = 3
        timeout = 5
        chdir = {str(APPS)!r}
        access_log_format = "CONF %(m)s %(U)s %(s)s"
    """, name="prod.py")
    srv = server_factory("app:application", "-c", str(conf), "-w", "1", "--access-logfile", "-",
                         env={"GUNICORN_CMD_ARGS": "--threads 2"}, cwd=tmp_path)
    env = environ(srv.port)
    assert env["wsgi.multiprocess"] is False          # argv -w 1 beats the file's 3
    assert env["wsgi.multithread"] is True            # GUNICORN_CMD_ARGS applies
    srv.wait_for_log(r"CONF GET /environ 200", stream="stdout")   # the file's format is used


def test_python_module_config(server_factory, tmp_path):
    write_conf(tmp_path, "workers = 2\n", name="myconf.py")
    srv = server_factory("app:application", "-c", "python:myconf", "--pythonpath", str(APPS), cwd=tmp_path)
    assert environ(srv.port)["wsgi.multiprocess"] is True


def _fails(tmp_path, body, *needles):
    write_conf(tmp_path, body)
    res = run_cli(["-b", "127.0.0.1:%d" % free_port(), "app:application"], cwd=tmp_path, timeout=30)
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("ferricorn: error: "), res.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_bad_value_in_config_file(tmp_path):
    _fails(tmp_path, "workers = 'many'\n", "workers")


def test_hook_that_is_not_callable_is_refused(tmp_path):
    _fails(tmp_path, "post_fork = 3\n", "post_fork", "not callable")


def test_syntax_error_in_config_file(tmp_path):
    _fails(tmp_path, "workers = = 2\n", "SyntaxError", "line 1")


def test_exception_in_config_file(tmp_path):
    _fails(tmp_path, "import os\nworkers = int(os.environ['NO_SUCH_VARIABLE_XYZ'])\n", "KeyError",
           "NO_SUCH_VARIABLE_XYZ", "line 2")


def test_missing_config_file(tmp_path):
    res = run_cli(["-c", str(tmp_path / "nope.py"), "app:application"], timeout=30)
    assert res.returncode == 2
    assert "nope.py" in res.stderr and "Traceback" not in res.stderr


def test_print_config_shows_final_values(tmp_path):
    write_conf(tmp_path, "workers = 3\ntimeout = 77\n")
    res = run_cli(["--print-config", "-t", "12"], cwd=tmp_path, timeout=30)
    assert res.returncode == 0, res.stderr
    rows = {ln.split("=", 1)[0].strip(): ln.split("=", 1)[1].strip() for ln in res.stdout.splitlines() if "=" in ln}
    assert rows["workers"] == "3" and rows["timeout"] == "12"


def test_check_config(tmp_path):
    ok = run_cli(["--check-config", "--chdir", str(APPS), "app:application"], timeout=30)
    assert ok.returncode == 0, ok.stderr
    bad = run_cli(["--check-config", "--chdir", str(APPS), "app:no_such_attr_xyz"], timeout=30)
    assert bad.returncode != 0
    assert "no_such_attr_xyz" in bad.stderr and "Traceback" not in bad.stderr
