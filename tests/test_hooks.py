"""Gunicorn's server hooks, defined in a config file, run by the real server.

Each hook in the config below appends one JSON line to a file; the tests read
the file and check that the hooks ran at the right moments with the objects
real configs use (``server.cfg``, ``server.log``, ``worker.pid``, ``req.path``,
``resp.status``...).
"""

import json
import os
import signal
import socket
import textwrap
import time

import pytest
import requests

from conftest import wait_for

HOOKS_CONF = textwrap.dedent(
    '''
    import json, os

    OUT = os.environ["HOOK_OUT"]

    def note(name, **kw):
        kw["hook"] = name
        kw["in_pid"] = os.getpid()
        with open(OUT, "a") as f:
            f.write(json.dumps(kw) + "\\n")

    def on_starting(server):
        note("on_starting", workers=server.cfg.workers, bind=server.cfg.bind,
             timeout=server.cfg.settings["timeout"].value, pid=server.pid)

    def when_ready(server):
        note("when_ready", pid=server.pid, num_workers=server.num_workers)

    def on_reload(server):
        note("on_reload", pid=server.pid)

    def pre_fork(server, worker):
        note("pre_fork", age=worker.age, pid=str(worker.pid))

    def post_fork(server, worker):
        server.log.info("post_fork hook saw worker %s", worker.pid)
        note("post_fork", age=worker.age, pid=worker.pid, ppid=worker.ppid, alive=worker.alive,
             master=server.pid)

    def post_worker_init(worker):
        note("post_worker_init", pid=worker.pid, booted=worker.booted)

    def pre_request(worker, req):
        note("pre_request", pid=worker.pid, method=req.method, uri=req.uri, path=req.path,
             query=req.query, version=list(req.version),
             headers=[list(h) for h in req.headers])

    def post_request(worker, req, environ, resp):
        note("post_request", path=req.path, status=resp.status, code=resp.status_code,
             sent=resp.sent, headers=[list(h) for h in resp.headers],
             environ_path=environ["PATH_INFO"])

    def worker_int(worker):
        note("worker_int", pid=worker.pid, alive=worker.alive)

    def worker_abort(worker):
        note("worker_abort", pid=worker.pid)

    def worker_exit(server, worker):
        note("worker_exit", pid=worker.pid, alive=worker.alive)

    def child_exit(server, worker):
        note("child_exit", pid=worker.pid)

    def nworkers_changed(server, new_value, old_value):
        note("nworkers_changed", new=new_value, old=old_value)

    def on_exit(server):
        note("on_exit", pid=server.pid)
    '''
)


def read_notes(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def notes_of(path, hook):
    return [n for n in read_notes(path) if n["hook"] == hook]


@pytest.fixture
def hooked(server_factory, tmp_path):
    """Starts a server with the hooks config; returns (server, notes path)."""
    conf = tmp_path / "hooks.conf.py"
    conf.write_text(HOOKS_CONF)
    out = str(tmp_path / "hooks.jsonl")

    def start(*args, conf_text=None):
        if conf_text is not None:
            conf.write_text(conf_text)
        srv = server_factory("app:application", "-c", str(conf), *args, env={"HOOK_OUT": out})
        srv.wait_ready()
        return srv

    return start, out


def test_worker_hooks_run_with_gunicorn_objects(hooked):
    start, out = hooked
    srv = start("--timeout", "30")
    wait_for(lambda: notes_of(out, "post_worker_init"), what="post_worker_init")
    (worker_pid,) = srv.worker_pids()

    starting = notes_of(out, "on_starting")
    assert len(starting) == 1
    assert starting[0]["in_pid"] == srv.pid
    assert starting[0]["workers"] == 1 and starting[0]["timeout"] == 30
    assert starting[0]["bind"] == ["127.0.0.1:%d" % srv.port]

    (pf,) = notes_of(out, "post_fork")
    assert pf["in_pid"] == worker_pid == pf["pid"]
    assert pf["ppid"] == srv.pid == pf["master"]
    assert pf["alive"] is True and isinstance(pf["age"], int)
    assert "post_fork hook saw worker %d" % worker_pid in srv.stderr()
    (pwi,) = notes_of(out, "post_worker_init")
    assert pwi["pid"] == worker_pid and pwi["booted"] is True

    r = requests.get(srv.url("/hello?x=1"), headers={"X-Trace": "abc"}, timeout=10)
    assert r.status_code == 200
    wait_for(lambda: notes_of(out, "post_request"), what="post_request")
    (pre,) = notes_of(out, "pre_request")
    assert pre["method"] == "GET" and pre["path"] == "/hello" and pre["query"] == "x=1"
    assert pre["uri"] == "/hello?x=1" and pre["version"] == [1, 1]
    assert ["X-TRACE", "abc"] in pre["headers"]
    (post,) = notes_of(out, "post_request")
    assert post["path"] == "/hello" and post["environ_path"] == "/hello"
    assert post["status"].startswith("200") and post["code"] == 200
    assert post["sent"] == len(r.content)


def test_post_request_with_two_arguments_and_failing_hooks(hooked):
    """Gunicorn accepts post_request(worker, req); a hook that raises is
    logged with its traceback and the request is still answered."""
    start, out = hooked
    conf = HOOKS_CONF + textwrap.dedent(
        '''
        def post_request(worker, req):
            note("post_request2", path=req.path)

        def pre_request(worker, req):
            raise RuntimeError("boom in pre_request")
        '''
    )
    srv = start(conf_text=conf)
    for _ in range(3):
        r = requests.get(srv.url("/hello"), timeout=10)
        assert r.status_code == 200
    wait_for(lambda: len(notes_of(out, "post_request2")) == 3, what="3 post_request calls")
    err = srv.stderr()
    assert "Exception in pre_request hook" in err and "boom in pre_request" in err
    assert "boom" not in r.text


def test_worker_exit_on_graceful_stop_and_on_exit(hooked):
    start, out = hooked
    srv = start()
    wait_for(lambda: notes_of(out, "post_worker_init"), what="boot")
    (worker_pid,) = srv.worker_pids()
    srv.proc.send_signal(signal.SIGTERM)
    srv.proc.wait(timeout=30)
    (we,) = notes_of(out, "worker_exit")
    assert we["in_pid"] == worker_pid and we["alive"] is False


def test_worker_int_on_fast_stop(hooked):
    """INT on the master: workers get QUIT; worker_int runs in each (even
    while the worker sleeps in its event loop), then worker_exit."""
    start, out = hooked
    srv = start()
    wait_for(lambda: notes_of(out, "post_worker_init"), what="boot")
    (worker_pid,) = srv.worker_pids()
    srv.proc.send_signal(signal.SIGINT)
    srv.proc.wait(timeout=30)
    (wi,) = notes_of(out, "worker_int")
    assert wi["in_pid"] == worker_pid
    names = [n["hook"] for n in read_notes(out) if n["in_pid"] == worker_pid]
    assert names.index("worker_int") < names.index("worker_exit")


def test_worker_abort_on_timeout(hooked):
    """A request stuck past --timeout: the master sends SIGABRT, the stacks go
    to the error log and worker_abort runs in the stuck worker."""
    start, out = hooked
    srv = start("--timeout", "2")
    wait_for(lambda: notes_of(out, "post_worker_init"), what="boot")
    (worker_pid,) = srv.worker_pids()
    with pytest.raises((requests.RequestException, socket.error)):
        requests.get(srv.url("/sleep?s=20"), timeout=15)
    wait_for(lambda: notes_of(out, "worker_abort"), timeout=15, what="worker_abort")
    (wa,) = notes_of(out, "worker_abort")
    assert wa["in_pid"] == worker_pid
    wait_for(lambda: len(srv.worker_pids()) >= 2, timeout=15, what="replacement worker")
    assert "WORKER TIMEOUT" in srv.stderr()
    r = requests.get(srv.url("/hello"), timeout=10)
    assert r.status_code == 200


def test_python_hook_list_matches_the_settings_table():
    """ferricorn._config.HOOK_NAMES (which decides what a config file's
    hooks are) is the settings table's list (docs/settings.md is generated
    from it), in the same order."""
    import re
    from pathlib import Path

    from ferricorn._config import HOOK_NAMES

    doc = (Path(__file__).resolve().parent.parent / "docs" / "settings.md").read_text()
    section = doc.split("## Server Hooks", 1)[1].split("\n## ", 1)[0]
    assert tuple(re.findall(r"^\| `(\w+)` ", section, re.M)) == HOOK_NAMES
