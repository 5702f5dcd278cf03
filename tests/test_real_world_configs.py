"""Real-world gunicorn.conf.py files (tests/configs/) run unchanged: a Django
deployment (gthread, preload, proxy headers, recycling, stack-dumping
worker_int), a Flask service (logging dict, statsd, child_exit cleanup,
request timing hooks) and Gunicorn's own example config. Only the bind is
overridden on the command line (it wins over the file, as in Gunicorn)."""

import os
import re
import signal
from pathlib import Path

import requests

from conftest import wait_for

CONFIGS = Path(__file__).resolve().parent / "configs"


def test_django_production_config(server_factory):
    srv = server_factory("djproj.wsgi:application", "-c", str(CONFIGS / "django_production.conf.py"),
                         env={"WEB_CONCURRENCY": "2"}, boot_timeout=20)
    srv.wait_ready(timeout=20)
    wait_for(lambda: len(srv.worker_pids()) == 2, timeout=20, what="2 workers (WEB_CONCURRENCY)")
    r = requests.get(srv.url("/meta/"), headers={"X-Forwarded-Proto": "https"}, timeout=10)
    assert r.status_code == 200
    assert r.json()["scheme"] == "https"  # forwarded_allow_ips="*" + secure_scheme_headers
    err = srv.stderr()
    assert "Server is ready. Spawning workers" in err
    assert err.count("Worker spawned (pid: ") == 2
    assert "Using worker: gthread" in err
    # accesslog "-" with %(D)s appended
    wait_for(lambda: '"GET /meta/ HTTP/1.1" 200' in srv.stdout(), timeout=5, what=srv.stdout)
    srv.proc.send_signal(signal.SIGINT)
    assert srv.proc.wait(timeout=30) == 0
    assert srv.stderr().count("worker received INT or QUIT signal") == 2


def test_flask_observability_config(server_factory, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    srv = server_factory("flask_app:app", "-c", str(CONFIGS / "flask_observability.conf.py"),
                         env={"CONF_MARKS": str(marks)}, boot_timeout=20)
    srv.wait_ready(timeout=20)
    r = requests.get(srv.url("/hello/bob"), timeout=10)
    assert r.status_code == 200

    def json_lines():
        # The config's "JSON" formatter does not escape the message (an access
        # line has quotes), as with Gunicorn: read the fields with a regex.
        out = []
        for line in srv.stdout().splitlines():
            m = re.match(r'^\{"time": "[^"]*", "level": "(\w+)", "logger": "([\w.]+)", "message": "(.*)"\}$', line)
            if m:
                out.append({"level": m.group(1), "logger": m.group(2), "message": m.group(3)})
        return out

    wait_for(lambda: any(j["logger"] == "gunicorn.access" for j in json_lines()), timeout=10,
             what=srv.stdout)
    lines = json_lines()
    assert any(j["logger"] == "gunicorn.error" and "Booting worker" in j["message"] for j in lines)
    assert any(j["logger"] == "gunicorn.access" and "GET /hello/bob" in j["message"] for j in lines)
    assert any("timing path=/hello/bob status=200" in j["message"] for j in lines)
    # TTOU: one worker retires; child_exit ran for it in the master. (The
    # error log goes to stdout through the logging dict here.)
    def workers():
        return [int(m) for m in re.findall(r"Booting worker with pid: (\d+)", srv.stdout())]

    wait_for(lambda: len(workers()) == 2, timeout=20, what="2 workers")
    srv.proc.send_signal(signal.SIGTTOU)
    wait_for(lambda: any(p.name.startswith("dead-") for p in marks.iterdir()), timeout=20,
             what="child_exit mark")
    dead = [int(p.name[5:]) for p in marks.iterdir()]
    assert set(dead) <= set(workers())


def test_gunicorn_example_config(server_factory):
    srv = server_factory("app:application", "-c", str(CONFIGS / "gunicorn_example.conf.py"))
    srv.wait_ready()
    r = requests.get(srv.url("/hello"), timeout=10)
    assert r.status_code == 200
    err = srv.stderr()
    assert "Server is ready. Spawning workers" in err and "Worker spawned (pid: " in err
    wait_for(lambda: '"GET /hello HTTP/1.1" 200' in srv.stdout(), timeout=5, what=srv.stdout)
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(timeout=30) == 0
