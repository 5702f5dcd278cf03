#!/usr/bin/env python3
"""ferricorn side-by-side benchmark (issue 3). Called by ``bench/run``; see bench/README.md.

For every pass, workload and server configuration (configurations alternate inside a pass):
start the server pinned to core 1 (one worker process), wait until it answers, warm up, then
``taskset -c 0 wrk -t1 -c64 -dNs --latency``; sample the CPU time of the whole server process tree
before and after the measured run, and its RSS/PSS after. Writes bench/results/*.json and
regenerates docs/benchmarks.md. Standard library only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
APPS = BENCH / "apps"
VENV = BENCH / ".venv"
VBIN = VENV / "bin"
RESULTS = BENCH / "results"
DOC = REPO / "docs" / "benchmarks.md"
CEILING_BIN = BENCH / "ceiling" / "target" / "release" / "ferricorn-bench-ceiling"
POST_LUA = BENCH / "wrk" / "post16k.lua"
HOST = "127.0.0.1"
SERVER_CPU = "1"
CLIENT_CPU = "0"
CONNECTIONS = 64
IDLE_CONNS = 1000
CLK_TCK = os.sysconf("SC_CLK_TCK")
NOISY = 0.10  # a run is "noisy" when > 10% of core 1's time went to something else than the server
PAGE = os.sysconf("SC_PAGE_SIZE")

# --------------------------------------------------------------------------------------------
# Server configurations. {app} is module:callable, {port} the port. "ferricorn" marks ours,
# "ceiling" the no-Python ceiling; everything else is a peer.
# --------------------------------------------------------------------------------------------
SERVERS: dict[str, dict] = {
    "ceiling": {
        "kind": "ceiling",
        "cmd": [str(CEILING_BIN), HOST + ":{port}"],
        "note": "Rust, tokio current_thread + httparse, no Python; answers hello bytes only",
    },
    "ferricorn-t1": {
        "kind": "ferricorn",
        "cmd": [str(VBIN / "ferricorn"), "-w", "1", "--threads", "1", "--worker-connections", "4096",
                "-b", HOST + ":{port}", "{app}"],
    },
    "ferricorn-t8": {
        "kind": "ferricorn",
        "cmd": [str(VBIN / "ferricorn"), "-w", "1", "--threads", "8", "--worker-connections", "4096",
                "-b", HOST + ":{port}", "{app}"],
    },
    "ferricorn-t64": {
        "kind": "ferricorn",
        "cmd": [str(VBIN / "ferricorn"), "-w", "1", "--threads", "64", "--worker-connections", "4096",
                "-b", HOST + ":{port}", "{app}"],
        "workloads": ["sleep10ms"],
        "note": "only for the 10 ms sleep workload (one thread per connection, like granian's ~70)",
    },
    "gunicorn-sync": {
        "kind": "peer",
        "cmd": [str(VBIN / "gunicorn"), "-w", "1", "-k", "sync", "-b", HOST + ":{port}", "{app}"],
    },
    "gunicorn-gthread8": {
        "kind": "peer",
        "cmd": [str(VBIN / "gunicorn"), "-w", "1", "-k", "gthread", "--threads", "8",
                "-b", HOST + ":{port}", "{app}"],
    },
    "gunicorn-gevent": {
        "kind": "peer",
        "cmd": [str(VBIN / "gunicorn"), "-w", "1", "-k", "gevent", "-b", HOST + ":{port}", "{app}"],
    },
    "uwsgi": {
        "kind": "peer",
        # --http-socket closes the connection after every response without saying so; the
        # Connection: close header tells the client (wrk would count every close as a read error).
        "cmd": [str(VBIN / "uwsgi"), "--http-socket", HOST + ":{port}", "--module", "{app}",
                "--master", "--processes", "1", "--disable-logging", "--die-on-term",
                "--add-header", "Connection: close"],
        "note": "master + 1 worker; one request per connection",
    },
    "uwsgi-http11": {
        "kind": "peer",
        "cmd": [str(VBIN / "uwsgi"), "--http11-socket", HOST + ":{port}", "--module", "{app}",
                "--master", "--processes", "1", "--disable-logging", "--die-on-term"],
        "note": "master + 1 worker; HTTP/1.1 keep-alive socket (a sync worker serves one "
                "connection at a time: the other connections wait)",
    },
    "granian": {
        "kind": "peer",
        "cmd": [str(VBIN / "granian"), "--interface", "wsgi", "--workers", "1", "--http", "1",
                "--host", HOST, "--port", "{port}", "{app}"],
        "note": "default blocking threads",
    },
    "granian-bt1": {
        "kind": "peer",
        "cmd": [str(VBIN / "granian"), "--interface", "wsgi", "--workers", "1", "--http", "1",
                "--blocking-threads", "1", "--host", HOST, "--port", "{port}", "{app}"],
    },
    "granian-bt8": {
        "kind": "peer",
        "cmd": [str(VBIN / "granian"), "--interface", "wsgi", "--workers", "1", "--http", "1",
                "--blocking-threads", "8", "--host", HOST, "--port", "{port}", "{app}"],
    },
    "bjoern": {
        "kind": "peer",
        "cmd": [str(VBIN / "python"), str(APPS / "bjoern_launch.py"), HOST, "{port}", "{app}"],
        "note": "single process, single thread (libev)",
    },
    "waitress": {
        "kind": "peer",
        "cmd": [str(VBIN / "waitress-serve"), "--listen=" + HOST + ":{port}", "{app}"],
        "note": "default 4 threads",
    },
    "cheroot": {
        "kind": "peer",
        "cmd": [str(VBIN / "cheroot"), "--bind", HOST + ":{port}", "{app}"],
        "note": "default 10 threads",
    },
}

WORKLOADS: dict[str, dict] = {
    "hello": {"app": "wsgi_apps:hello", "title": "hello (13-byte body)", "ceiling": True},
    "big64k": {"app": "wsgi_apps:big", "title": "64 KiB body"},
    "echo16k": {"app": "wsgi_apps:echo", "title": "POST 16 KiB, echoed as its length",
                "lua": POST_LUA},
    "sleep10ms": {"app": "wsgi_apps:sleep10", "title": "app sleeps 10 ms (blocking backend call)",
                  "primary": "rps"},
    "flask": {"app": "flask_app:app", "title": "Flask hello route", "floor": True},
    "django": {"app": "django_app:application", "title": "Django hello view", "floor": True},
    "file1m": {"app": "wsgi_apps:filewrap", "title": "wsgi.file_wrapper of a 1 MiB file"},
    "idle1000": {"app": "wsgi_apps:hello", "title": "hello with 1 000 idle keep-alive connections open",
                 "ceiling": True, "idle": IDLE_CONNS},
}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# /proc helpers: process tree, CPU time, memory
# --------------------------------------------------------------------------------------------
def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may contain spaces/parens: split after the last ')'
    rest = raw[raw.rfind(")") + 2:].split()
    return rest  # rest[0] = state (field 3), rest[1] = ppid (field 4), utime = field 14


def tree_pids(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        f = _stat_fields(int(d))
        if f:
            children.setdefault(int(f[1]), []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        if _stat_fields(p) is None:
            continue
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def tree_cpu(root: int) -> float:
    """utime+stime (all threads) summed over the live process tree, in seconds."""
    total = 0
    for p in tree_pids(root):
        f = _stat_fields(p)
        if f:
            total += int(f[11]) + int(f[12])  # fields 14, 15
    return total / CLK_TCK


def tree_mem(root: int) -> dict:
    rss = pss = 0
    pids = tree_pids(root)
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            pass
    return {"rss_kib": rss, "pss_kib": pss, "procs": len(pids),
            "threads": sum(_threads(p) for p in pids)}


def cpu_times() -> dict:
    """Per-core busy and steal jiffies from /proc/stat, as seconds."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3:4].isdigit():
            f = line.split()
            v = list(map(int, f[1:]))
            idle = v[3] + (v[4] if len(v) > 4 else 0)
            steal = v[7] if len(v) > 7 else 0
            out[f[0]] = {"busy": (sum(v[:8]) - idle - steal) / CLK_TCK, "steal": steal / CLK_TCK}
    return out


def _threads(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


# --------------------------------------------------------------------------------------------
# server lifecycle
# --------------------------------------------------------------------------------------------
def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


_port = [20000 + (os.getpid() % 1000) * 10]


def next_port() -> int:
    while True:
        _port[0] += 1
        if _port[0] > 60000:
            _port[0] = 20001
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((HOST, _port[0]))
                return _port[0]
            except OSError:
                continue


def server_env(file_path: str) -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{VBIN}:{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(VENV)
    env["PYTHONPATH"] = str(APPS)
    env["FERRICORN_BENCH_FILE"] = file_path
    env.pop("PYTHONHOME", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Server:
    def __init__(self, name: str, cmd: list[str], env: dict, logpath: Path):
        self.name, self.cmd, self.logpath = name, cmd, logpath
        self.logf = open(logpath, "wb")
        self.proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, *cmd], cwd=APPS, env=env, stdin=subprocess.DEVNULL,
            stdout=self.logf, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_raise_nofile,
        )
        self.pid = self.proc.pid  # taskset execs the server: same PID; own process group

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        pgid = self.pid
        pids = tree_pids(self.pid) if self.alive() else []
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                pass
            end = time.monotonic() + wait
            while time.monotonic() < end:
                if self.proc.poll() is not None and not any(_pg_alive(p, pgid) for p in pids):
                    break
                time.sleep(0.05)
            else:
                continue
            break
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
        self.logf.close()

    def log_tail(self, n: int = 6) -> str:
        try:
            lines = self.logpath.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(l.strip() for l in lines[-n:])


def _pg_alive(pid: int, pgid: int) -> bool:
    try:
        return os.getpgid(pid) == pgid and _stat_fields(pid) is not None and _stat_fields(pid)[0] != "Z"
    except OSError:
        return False


def probe(port: int, workload: str, timeout: float = 3.0) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        if workload == "echo16k":
            conn.request("POST", "/", body=b"x" * 16384,
                         headers={"Content-Type": "application/octet-stream"})
        else:
            conn.request("GET", "/")
        r = conn.getresponse()
        body = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    finally:
        conn.close()


def wait_ready(srv: Server, port: int, workload: str, timeout: float) -> tuple[bool, str, dict]:
    end = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < end:
        if not srv.alive():
            return False, f"exited with status {srv.proc.returncode}: {srv.log_tail()}", {}
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                pass
        except OSError as e:
            last = f"port closed ({e})"
            time.sleep(0.05)
            continue
        try:
            status, headers, body = probe(port, workload, timeout=max(0.5, end - time.monotonic()))
        except (OSError, http.client.HTTPException) as e:
            last = f"probe failed: {e!r}"
            time.sleep(0.1)
            continue
        if status != 200:
            return False, f"probe answered HTTP {status}: {body[:200]!r}", headers
        expect = EXPECT.get(workload)
        if expect is not None and len(body) != expect[0]:
            return False, f"probe body has {len(body)} bytes, expected {expect[0]}", headers
        if expect is not None and expect[1] is not None and body != expect[1]:
            return False, f"probe body {body[:60]!r} != {expect[1]!r}", headers
        return True, "", headers
    return False, f"not ready after {timeout:.0f}s ({last}): {srv.log_tail()}", {}


EXPECT = {
    "hello": (13, b"Hello, World!"),
    "idle1000": (13, b"Hello, World!"),
    "flask": (13, b"Hello, World!"),
    "django": (13, b"Hello, World!"),
    "sleep10ms": (13, b"Hello, World!"),
    "big64k": (65536, None),
    "echo16k": (5, b"16384"),
    "file1m": (1 << 20, None),
}


# --------------------------------------------------------------------------------------------
# wrk
# --------------------------------------------------------------------------------------------
_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _ms(tok: str) -> float | None:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", tok.strip())
    return float(m.group(1)) * _UNIT[m.group(2)] if m else None


def wrk_cmd(port: int, duration: float, lua: Path | None, latency: bool = True) -> list[str]:
    cmd = ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{int(duration)}s"]
    if latency:
        cmd.append("--latency")
    if lua:
        cmd += ["-s", str(lua)]
    return cmd + [f"http://{HOST}:{port}/"]


def run_wrk(cmd: list[str], duration: float) -> tuple[dict, str]:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30)
        out = p.stdout + p.stderr
    except subprocess.TimeoutExpired as e:
        return {"error": "wrk timed out"}, str(e.stdout or "")
    return parse_wrk(out), out


def parse_wrk(out: str) -> dict:
    r: dict = {}
    m = re.search(r"Requests/sec:\s*([\d.]+)", out)
    if m:
        r["rps"] = float(m.group(1))
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    if m:
        r["requests"] = int(m.group(1))
        r["wrk_seconds"] = float(m.group(2)) * _UNIT[m.group(3)] / 1e3
    dist = re.search(r"Latency Distribution\s*\n((?:\s+\d+%\s+\S+\s*\n)+)", out)
    if dist:
        for pct, val in re.findall(r"(\d+)%\s+(\S+)", dist.group(1)):
            r[f"p{pct}_ms"] = _ms(val)
    m = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    r["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    r["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"),
                                  map(int, m.groups()))) if m else {}
    r["errors"] = r["non2xx"] + sum(r["socket_errors"].values())
    if "rps" not in r:
        r["error"] = "could not parse wrk output: " + out.strip()[-300:]
    return r


# --------------------------------------------------------------------------------------------
# one measurement
# --------------------------------------------------------------------------------------------
def measure(server: str, workload: str, args, env: dict, pass_no: int) -> dict:
    spec, wl = SERVERS[server], WORKLOADS[workload]
    port = next_port()
    app = wl["app"]
    cmd = [c.replace("{port}", str(port)).replace("{app}", app) for c in spec["cmd"]]
    res: dict = {"server": server, "workload": workload, "pass": pass_no, "port": port,
                 "cmd": "taskset -c " + SERVER_CPU + " " + shlex.join(cmd)}
    if not Path(cmd[0]).exists():
        res.update(status="failed", reason=f"{cmd[0]} is not installed (see bench/setup.sh output)")
        return res
    logpath = RESULTS / "logs" / f"{args.stamp}-p{pass_no}-{workload}-{server}.log"
    t_start = time.monotonic()
    srv = Server(server, cmd, env, logpath)
    helper = None
    try:
        ok, why, headers = wait_ready(srv, port, workload, args.start_timeout)
        res["startup_s"] = round(time.monotonic() - t_start, 3)
        if not ok:
            res.update(status="failed", reason="start: " + why)
            return res
        res["server_header"] = headers.get("server", "")
        if workload == "file1m":
            res["file_wrapper"] = headers.get("x-file-wrapper", "?")
        time.sleep(0.3)
        res["mem_idle"] = tree_mem(srv.pid)
        lua = wl.get("lua")
        # warm-up (discarded)
        if args.warmup > 0:
            run_wrk(wrk_cmd(port, args.warmup, lua, latency=False), args.warmup)
        if not srv.alive():
            res.update(status="failed", reason="died during warm-up: " + srv.log_tail())
            return res
        if wl.get("idle"):
            res["mem_before_idle"] = tree_mem(srv.pid)
            helper = subprocess.Popen(
                ["taskset", "-c", CLIENT_CPU, sys.executable, str(BENCH / "idle_conns.py"),
                 HOST, str(port), str(wl["idle"]), "10"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                text=True, start_new_session=True, preexec_fn=_raise_nofile)
            line = _readline(helper, 30)
            m = re.search(r"answered=(\d+) failed=(\d+) elapsed=([\d.]+)", line or "")
            res["idle_open"] = {"requested": wl["idle"], "answered": int(m.group(1)) if m else 0,
                                "failed": int(m.group(2)) if m else None,
                                "elapsed_s": float(m.group(3)) if m else None, "raw": line}
            time.sleep(0.5)
            res["mem_with_idle"] = tree_mem(srv.pid)
            res["idle_alive_before"] = _helper_status(helper)
        sys0 = cpu_times()
        cpu0, t0 = tree_cpu(srv.pid), time.monotonic()
        w, out = run_wrk(wrk_cmd(port, args.duration, lua), args.duration)
        cpu1, t1 = tree_cpu(srv.pid), time.monotonic()
        sys1 = cpu_times()
        core = "cpu" + SERVER_CPU
        if core in sys0 and core in sys1:
            busy = sys1[core]["busy"] - sys0[core]["busy"]
            # CPU time on the server's core not charged to the server tree (other processes,
            # interrupts), and time stolen by the hypervisor: both are noise indicators.
            res["server_core_other_s"] = round(busy - (cpu1 - cpu0), 3)
            res["steal_s"] = round(sum(sys1[c]["steal"] - sys0[c]["steal"] for c in sys1 if c in sys0), 3)
        res["loadavg"] = os.getloadavg()[0]
        res["wrk"] = w
        res["wrk_tail"] = out.strip().splitlines()[-12:]
        res["cpu_s"] = round(cpu1 - cpu0, 3)
        res["wall_s"] = round(t1 - t0, 3)
        if res.get("server_core_other_s") is not None and res["wall_s"] > 0:
            res["noisy"] = res["server_core_other_s"] / res["wall_s"] > NOISY
        res["mem_after"] = tree_mem(srv.pid)
        if helper:
            res["idle_alive_after"] = _helper_status(helper)
        idle_ctx = ""
        if helper:
            io = res.get("idle_open", {})
            idle_ctx = (f" [idle helper: {io.get('answered')}/{wl['idle']} connections answered in "
                        f"{io.get('elapsed_s')} s, {res.get('idle_alive_before')} still open before wrk]")
        if "error" in w:
            res.update(status="failed", reason="wrk: " + w["error"] + idle_ctx)
        elif not srv.alive():
            res.update(status="failed", reason="server died during the run: " + srv.log_tail())
        elif w.get("requests", 0) == 0:
            res.update(status="failed", reason="no request completed" + idle_ctx)
        else:
            res["rps"] = w["rps"]
            res["req_per_cpu_s"] = round(w["requests"] / res["cpu_s"], 1) if res["cpu_s"] > 0 else None
            if w["errors"]:
                res.update(status="errored", reason=_err_text(w) + idle_ctx)
            else:
                res["status"] = "ok"
        return res
    finally:
        if helper:
            _stop_helper(helper)
        srv.stop()


def measure_floor(workload: str, env: dict, pass_no: int) -> dict:
    """The framework floor of a workload's app: its CPU time per call with no server
    (bench/app_floor.py, pinned to the server core)."""
    app = WORKLOADS[workload]["app"]
    res: dict = {"workload": workload, "pass": pass_no}
    cmd = ["taskset", "-c", SERVER_CPU, str(VBIN / "python"), str(BENCH / "app_floor.py"), app,
           "--seconds", "3"]
    try:
        p = subprocess.run(cmd, cwd=APPS, env=env, capture_output=True, text=True, timeout=120)
        out = json.loads(p.stdout.strip().splitlines()[-1]) if p.stdout.strip() else {}
    except (subprocess.TimeoutExpired, json.JSONDecodeError, OSError) as e:
        return dict(res, status="failed", reason=f"app_floor.py: {e!r}")
    if p.returncode != 0 or "us_per_req" not in out:
        why = out.get("error") or (p.stderr.strip().splitlines() or ["no output"])[-1]
        return dict(res, status="failed", reason=f"app_floor.py exited {p.returncode}: {why[:300]}")
    return dict(res, status="ok", us_per_req=out["us_per_req"], reps=out["reps"], calls=out["calls"])


def floors_of(floors: list[dict]) -> dict:
    """workload -> median framework floor (µs per request) over the passes."""
    by: dict[str, list[float]] = {}
    for f in floors:
        if f.get("status") == "ok":
            by.setdefault(f["workload"], []).append(f["us_per_req"])
    return {w: statistics.median(v) for w, v in by.items()}


def _err_text(w: dict) -> str:
    parts = []
    if w.get("non2xx"):
        parts.append(f"{w['non2xx']} non-2xx")
    for k, v in (w.get("socket_errors") or {}).items():
        if v:
            parts.append(f"{v} {k} errors")
    return ", ".join(parts)


def _readline(p: subprocess.Popen, timeout: float) -> str | None:
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    if sel.select(timeout):
        return p.stdout.readline().strip()
    return None


def _helper_status(helper: subprocess.Popen) -> int | None:
    try:
        helper.stdin.write("status\n")
        helper.stdin.flush()
    except OSError:
        return None
    line = _readline(helper, 10) or ""
    m = re.search(r"alive=(\d+)", line)
    return int(m.group(1)) if m else None


def _stop_helper(helper: subprocess.Popen) -> None:
    try:
        helper.stdin.close()
    except OSError:
        pass
    try:
        helper.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(helper.pid, signal.SIGKILL)
        helper.wait(timeout=5)


# --------------------------------------------------------------------------------------------
# aggregation and report
# --------------------------------------------------------------------------------------------
def primary_key(workload: str) -> str:
    return WORKLOADS[workload].get("primary", "req_per_cpu_s")


def aggregate(runs: list[dict]) -> dict:
    """(workload, server) -> medians over the passes that produced numbers."""
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault((r["workload"], r["server"]), []).append(r)
    agg = {}
    for key, rs in groups.items():
        num = [r for r in rs if r.get("status") in ("ok", "errored")]
        a: dict = {"passes": len(rs), "ok": sum(r.get("status") == "ok" for r in rs),
                   "errored": sum(r.get("status") == "errored" for r in rs),
                   "failed": sum(r.get("status") == "failed" for r in rs),
                   "reasons": sorted({r["reason"] for r in rs if r.get("reason")}),
                   "cmd": rs[0].get("cmd")}
        a["noisy"] = sum(bool(r.get("noisy")) for r in num)
        a["status"] = "ok" if a["ok"] == len(rs) else ("failed" if not num else "errored" if not a["failed"] else "partial")

        def med(f):
            vals = [f(r) for r in num]
            vals = [v for v in vals if v is not None]
            return statistics.median(vals) if vals else None

        a["rps"] = med(lambda r: r.get("rps"))
        a["req_per_cpu_s"] = med(lambda r: r.get("req_per_cpu_s"))
        a["rpcs_all"] = [r.get("req_per_cpu_s") for r in num]
        a["cpu_s"] = med(lambda r: r.get("cpu_s"))
        a["p50_ms"] = med(lambda r: r["wrk"].get("p50_ms"))
        a["p99_ms"] = med(lambda r: r["wrk"].get("p99_ms"))
        a["rss_kib"] = med(lambda r: r["mem_after"]["rss_kib"])
        a["pss_kib"] = med(lambda r: r["mem_after"]["pss_kib"])
        a["threads"] = med(lambda r: r["mem_after"]["threads"])
        a["procs"] = med(lambda r: r["mem_after"]["procs"])
        started = [r for r in rs if "mem_idle" in r]
        a["idle_rss_kib"] = statistics.median([r["mem_idle"]["rss_kib"] for r in started]) if started else None
        a["idle_pss_kib"] = statistics.median([r["mem_idle"]["pss_kib"] for r in started]) if started else None
        a["errors"] = sum(r["wrk"].get("errors", 0) for r in num)
        if key[0] == "file1m":
            a["file_wrapper"] = ",".join(sorted({r.get("file_wrapper", "?") for r in started}))
        if WORKLOADS[key[0]].get("idle"):
            per = []
            alive = []
            for r in num:
                before, during = r.get("mem_before_idle"), r.get("mem_with_idle")
                n = r.get("idle_alive_before") or 0
                alive.append((r.get("idle_open", {}).get("answered"), r.get("idle_alive_before"),
                              r.get("idle_alive_after")))
                if before and during and n:
                    per.append(((during["pss_kib"] - before["pss_kib"]) / n,
                                (during["rss_kib"] - before["rss_kib"]) / n))
            a["idle_kib_per_conn_pss"] = statistics.median([p[0] for p in per]) if per else None
            a["idle_kib_per_conn_rss"] = statistics.median([p[1] for p in per]) if per else None
            a["idle_alive"] = alive
        agg[key] = a
    return agg


def fmt(v, spec=",.0f", none="–"):
    return none if v is None else format(v, spec)


def mib(kib):
    return "–" if kib is None else f"{kib / 1024:.1f}"


def best_of(agg: dict, workload: str, kinds: set, key: str) -> tuple[str | None, float | None]:
    best = (None, None)
    for (w, s), a in agg.items():
        if w != workload or SERVERS[s]["kind"] not in kinds or a["status"] not in ("ok",):
            continue
        v = a.get(key)
        if v is not None and (best[1] is None or v > best[1]):
            best = (s, v)
    return best


def machine_info() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    distro = ""
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                distro = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    wrk_v = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(), "memory": mem,
            "os": distro, "wrk": (wrk_v[0] if wrk_v else "?"),
            "python": subprocess.run([str(VBIN / "python"), "-VV"], capture_output=True,
                                     text=True).stdout.strip().replace("\n", " ")}


def versions() -> dict:
    code = ("import importlib.metadata as m, json\n"
            "out = {}\n"
            "for n in ['ferricorn','gunicorn','gevent','uWSGI','granian','bjoern','waitress','cheroot','Flask','Django']:\n"
            "    try: out[n] = m.version(n)\n"
            "    except Exception: out[n] = None\n"
            "print(json.dumps(out))")
    try:
        v = json.loads(subprocess.run([str(VBIN / "python"), "-c", code], capture_output=True,
                                      text=True, timeout=30).stdout)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        v = {}
    built = VENV / "ferricorn-commit.txt"  # written by setup.sh when it installed ferricorn
    if built.exists():
        v["ferricorn_commit"] = built.read_text().strip()
        return v
    try:
        head = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%h %s"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "src", "python",
                                "Cargo.toml", "Cargo.lock", "pyproject.toml"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        v["ferricorn_commit"] = head + (" (+ uncommitted changes in src/python)" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        pass
    return v


def targets(agg: dict, floors: dict | None = None) -> list[tuple[str, str, str]]:
    """[(target, figures, verdict)] for the targets of issue 3."""
    rows = []
    floors = floors or {}

    def get(w, s, k="req_per_cpu_s"):
        a = agg.get((w, s))
        return a.get(k) if a and a["status"] == "ok" else None

    def best_f(w, k="req_per_cpu_s"):
        return best_of(agg, w, {"ferricorn"}, k)

    def verdict(ok):
        return "n/a" if ok is None else ("**met**" if ok else "**missed**")

    def ratio_target(label, w, ref_name, ref_val, factor, k="req_per_cpu_s", why=None):
        """`why(fv)`: more figures behind the ratio, given ferricorn's value."""
        fs, fv = best_f(w, k)
        if fv is None or ref_val is None:
            rows.append((label, f"ferricorn {fmt(fv)} ({fs or 'no ok run'}), {ref_name} {fmt(ref_val)}",
                         verdict(None)))
            return
        r = fv / ref_val
        rows.append((label, f"ferricorn {fmt(fv)} ({fs}) / {ref_name} {fmt(ref_val)} = {r:.2f}× "
                            f"(needs ≥ {factor}×)" + (why(fv) if why else ""), verdict(r >= factor)))

    def own_cost(floor, pv):
        """The Flask/Django rows: each server's own µs per request above the framework floor."""
        def why(fv):
            f = (f"; framework floor {floor:.1f} µs/req, so the server's own cost is "
                 f"{1e6 / fv - floor:.1f} µs/req (ferricorn) vs {1e6 / pv - floor:.1f} (best peer); "
                 f"1.15× needs ≤ {1e6 / (1.15 * pv) - floor:.1f} µs")
            ceil = get("hello", "ceiling")
            if ceil:
                f += f" (the ceiling's whole hello exchange: {1e6 / ceil:.1f} µs)"
            return f
        return why if floor and pv else None

    ratio_target("hello ≥ 0.85× ceiling", "hello", "ceiling", get("hello", "ceiling"), 0.85)
    ratio_target("hello ≥ 1.1× bjoern", "hello", "bjoern", get("hello", "bjoern"), 1.1)
    ratio_target("16 KiB echo ≥ 1.1× bjoern", "echo16k", "bjoern", get("echo16k", "bjoern"), 1.1)
    for w, label in (("big64k", "64 KiB body ≥ 1.3× granian"), ("file1m", "file_wrapper 1 MiB ≥ 1.3× granian")):
        gs, gv = best_of(agg, w, {"peer"}, "req_per_cpu_s") if False else (None, None)
        gs, gv = max(((s, get(w, s)) for s in ("granian", "granian-bt1", "granian-bt8")
                      if get(w, s) is not None), key=lambda x: x[1], default=(None, None))
        ratio_target(label, w, f"best granian ({gs})" if gs else "granian", gv, 1.3)
    for w, label in (("flask", "Flask ≥ 1.15× best peer"), ("django", "Django ≥ 1.15× best peer")):
        ps, pv = best_of(agg, w, {"peer"}, "req_per_cpu_s")
        ratio_target(label, w, f"best peer ({ps})" if ps else "best peer", pv, 1.15,
                     why=own_cost(floors.get(w), pv))
    fs, fv = best_f("sleep10ms", "rps")
    rows.append(("10 ms sleep, c64: ≥ 95% of 6 400 req/s",
                 f"ferricorn {fmt(fv)} req/s ({fs or 'no ok run'}) = "
                 f"{(fv or 0) / 6400 * 100:.1f}% of ideal", verdict(None if fv is None else fv >= 0.95 * 6400)))
    # idle connections: per ferricorn config, throughput vs its own hello, and memory per conn
    best_row = None
    for s in [n for n, sp in SERVERS.items() if sp["kind"] == "ferricorn"]:
        h, i = get("hello", s), get("idle1000", s)
        a = agg.get(("idle1000", s))
        if h is None or i is None or a is None:
            continue
        loss = 1 - i / h
        kib = a.get("idle_kib_per_conn_pss")
        ok = loss <= 0.10 and kib is not None and kib <= 16
        row = (f"1 000 idle conns: ≤ 10% throughput cost, ≤ 16 KiB each",
               f"{s}: {fmt(i)} vs {fmt(h)} req/CPU-s without = {loss * 100:.1f}% cost; "
               f"{fmt(kib, '.1f')} KiB PSS per idle connection", verdict(ok))
        if best_row is None or ok:
            best_row = row
    rows.append(best_row or ("1 000 idle conns: ≤ 10% throughput cost, ≤ 16 KiB each",
                             "no ok ferricorn run of hello and idle1000", verdict(None)))
    mem = [(s, agg[("hello", s)]["idle_rss_kib"]) for s, sp in SERVERS.items()
           if sp["kind"] == "ferricorn" and ("hello", s) in agg and agg[("hello", s)]["idle_rss_kib"]]
    if mem:
        s, kib = min(mem, key=lambda x: x[1])
        rows.append(("RSS master + idle worker (hello) ≤ 30 MiB",
                     f"{s}: {kib / 1024:.1f} MiB (sum of RSS over the tree, before load)",
                     verdict(kib <= 30 * 1024)))
    else:
        rows.append(("RSS master + idle worker (hello) ≤ 30 MiB", "ferricorn did not start", verdict(None)))
    return rows


def render(doc: dict) -> str:
    agg = doc["agg"]
    args = doc["args"]
    mi, ver = doc["machine"], doc["versions"]
    L = []
    L.append("# ferricorn benchmarks\n")
    L.append(f"_Generated by `bench/run` ({' '.join(doc['argv']) or 'full run'}) on {doc['date']} — "
             "do not edit by hand; see bench/README.md._\n")
    if args["quick"]:
        L.append("> **Quick run** (smoke test): 1 pass, short runs — figures are indicative only.\n")
    L.append("## Machine\n")
    L.append(f"- CPU: {mi['cpu']} — {mi['cores']} cores; memory {mi['memory']}")
    L.append(f"- OS: {mi['os']}, kernel {mi['kernel']}")
    L.append(f"- Python: {mi['python']}; load generator: {mi['wrk']}\n")
    L.append("## Versions\n")
    L.append("| package | version |\n|---|---|")
    for k, v in ver.items():
        if k != "ferricorn_commit":
            L.append(f"| {k} | {v or 'not installed'} |")
    if ver.get("ferricorn_commit"):
        L.append(f"\nferricorn built from commit `{ver['ferricorn_commit']}`.")
    L.append("\n## Method\n")
    L.append(
        f"- Each server runs pinned to core {SERVER_CPU} (`taskset -c {SERVER_CPU}`), one worker process; "
        f"wrk runs pinned to core {CLIENT_CPU}: `taskset -c {CLIENT_CPU} wrk -t1 -c{CONNECTIONS} "
        f"-d{int(args['duration'])}s --latency http://127.0.0.1:PORT/` (keep-alive; the POST workload adds "
        "`-s bench/wrk/post16k.lua`).")
    L.append(f"- Per run: start the server, wait until a probe request gets the expected answer, "
             f"{int(args['warmup'])} s warm-up at the same concurrency (discarded), then the measured run. "
             f"{args['passes']} pass(es); inside a pass every workload runs every configuration in turn, "
             "so configurations alternate. Figures are the **median over passes**.")
    L.append("- **req/CPU-s** (the primary figure) = requests completed in the measured run ÷ CPU time "
             "(utime + stime, all threads) of the whole server process tree during it, from "
             "/proc/PID/stat before and after. wrk saturates its own core near the ceiling, so req/s "
             "flattens out there while req/CPU-s stays comparable. For the 10 ms sleep workload req/s is "
             "the primary figure.")
    L.append("- **RSS / PSS**: summed over the server process tree (master + worker(s)) from "
             "/proc/PID/smaps_rollup right after the measured run; RSS double-counts pages shared "
             "between master and worker, PSS does not. MiB.")
    L.append("- **vs best peer** / **vs ceiling**: ratio of the primary figure to the best peer's "
             "(any non-ferricorn server with a clean run) and to the no-Python ceiling (hello workloads only).")
    L.append("- A server that failed to start, died, or got wrk errors (non-2xx, socket errors) is shown "
             "as **FAILED** / **ERRORED** with the reason below its table; errored figures are shown "
             "but never count as best peer.")
    L.append("- Idle connections: a helper (`bench/idle_conns.py`, on core 0) opens 1 000 connections, "
             "completes one GET on each and holds them open; then wrk runs hello. Memory per idle "
             "connection = PSS growth of the server tree while they are open ÷ connections still open.")
    noise = [r for r in doc.get("runs", []) if r.get("wall_s") and "server_core_other_s" in r]
    if noise:
        other = sorted(r["server_core_other_s"] / r["wall_s"] for r in noise)
        steal = sorted(r.get("steal_s", 0) / r["wall_s"] for r in noise)
        la = max(r.get("loadavg", 0) for r in noise)
        L.append(f"- Noise during the measured runs: CPU time on core {SERVER_CPU} not charged to the "
                 f"server tree (other processes, interrupts) median {statistics.median(other) * 100:.1f}% "
                 f"/ max {other[-1] * 100:.1f}% of wall time; hypervisor steal (both cores) median "
                 f"{statistics.median(steal) * 100:.1f}% / max {steal[-1] * 100:.1f}%; highest 1-min "
                 f"load average {la:.2f}. Runs where more than {NOISY:.0%} of core {SERVER_CPU}'s time went "
                 f"elsewhere are marked ⚠ noisy ({sum(bool(r.get('noisy')) for r in noise)} of "
                 f"{len(noise)} here): rerun those on a quiet machine. Per-run values are in the raw JSON.")
    L.append("")
    L.append("## Server configurations\n")
    L.append("`PORT` and `APP` (the module:callable of the workload) are filled in per run; every "
             "server runs with `bench/apps` as working directory and on `PYTHONPATH`.\n")
    L.append("| name | command | note |\n|---|---|---|")
    for name, sp in SERVERS.items():
        if name not in doc["servers"]:
            continue
        cmd = " ".join(c.replace(str(VBIN) + "/", "").replace(str(BENCH) + "/", "bench/")
                       .replace("{port}", "PORT").replace("{app}", "APP") for c in sp["cmd"])
        cmd = shlex.join(["taskset", "-c", SERVER_CPU] + shlex.split(cmd))
        L.append(f"| {name} | `{cmd}` | {sp.get('note', '')} |")
    L.append("")
    L.append("Workload apps: " + ", ".join(f"{w} = `{WORKLOADS[w]['app']}`" for w in doc["workloads"])
             + " (ceiling: built-in hello).\n")

    L.append("## Targets (issue 3)\n")
    L.append("| target | figures (this run) | verdict |\n|---|---|---|")
    for t, f, v in doc["targets"]:
        L.append(f"| {t} | {f} | {v} |")
    L.append("")

    for w in doc["workloads"]:
        wl = WORKLOADS[w]
        pk = primary_key(w)
        L.append(f"## {w}: {wl['title']}\n")
        if pk == "rps":
            L.append("Primary figure here: req/s (ideal for 64 connections × 10 ms = 6 400 req/s).\n")
        rows = [(s, agg[(w, s)]) for s in doc["servers"] if (w, s) in agg]
        if not rows:
            L.append("_no configuration ran_\n")
            continue
        bp_name, bp = best_of(agg, w, {"peer"}, pk)
        _, ceil = best_of(agg, w, {"ceiling"}, pk)
        extra = ""
        if wl.get("idle"):
            extra = " KiB/idle conn | idle conns open |"
        if w == "file1m":
            extra = " file_wrapper |"
        floor = doc.get("floor_us", {}).get(w)
        if floor:
            extra = " µs/req | own µs/req |"
        hdr = ("| server | status | req/s | p50 ms | p99 ms | CPU s | req/CPU-s | RSS MiB | PSS MiB | threads"
               f" | vs best peer | vs ceiling |{extra}")
        L.append(hdr)
        L.append("|" + "---|" * (hdr.count("|") - 1))
        order = sorted(rows, key=lambda x: -(x[1].get(pk) or -1))
        notes = []
        for s, a in order:
            st = {"ok": "ok", "failed": "**FAILED**", "errored": "**ERRORED**",
                  "partial": "**PARTIAL**"}[a["status"]]
            if a["status"] != "ok":
                st += f" ({a['ok']}/{a['passes']} ok)"
            if a.get("noisy"):
                st += f" ⚠ noisy {a['noisy']}/{a['passes']}"
                for rsn in a["reasons"]:
                    notes.append(f"- {s}: {rsn[:400]}")
            v = a.get(pk)
            vbp = f"{v / bp:.2f}×" if v and bp else "–"
            vc = f"{v / ceil:.2f}×" if v and ceil and WORKLOADS[w].get("ceiling") else "–"
            name = f"**{s}**" if SERVERS[s]["kind"] == "ferricorn" else s
            line = (f"| {name} | {st} | {fmt(a['rps'])} | {fmt(a['p50_ms'], '.2f')} | {fmt(a['p99_ms'], '.2f')}"
                    f" | {fmt(a['cpu_s'], '.2f')} | {fmt(a['req_per_cpu_s'])} | {mib(a['rss_kib'])}"
                    f" | {mib(a['pss_kib'])} | {fmt(a['threads'], '.0f')} | {vbp} | {vc} |")
            if wl.get("idle"):
                alive = "; ".join(f"{x[0]}→{x[1]}→{x[2]}" for x in a.get("idle_alive", []))
                line += f" {fmt(a.get('idle_kib_per_conn_pss'), '.1f')} | {alive or '–'} |"
            if w == "file1m":
                line += f" {a.get('file_wrapper', '?')} |"
            if floor:
                us = 1e6 / v if v else None
                line += f" {fmt(us, '.1f')} | {fmt(us - floor if us else None, '.1f')} |"
            L.append(line)
        L.append("")
        if bp_name:
            L.append(f"Best peer: {bp_name} ({fmt(bp)}).")
        if wl.get("idle"):
            L.append("\nidle conns open: answered → still open before the wrk run → still open after it "
                     "(of 1 000 requested), per pass. KiB/idle conn: PSS growth ÷ connections open.")
        if w == "file1m":
            L.append("\nfile_wrapper: whether the server offered `wsgi.file_wrapper` (`no` = the app "
                     "fell back to iterating 64 KiB blocks).")
        if floor:
            runs_f = [f for f in doc.get("floors", []) if f.get("workload") == w and f.get("status") == "ok"]
            L.append(f"\nFramework floor: **{floor:.1f} µs** of CPU per request — the app called in a loop "
                     f"in one process on core {SERVER_CPU}, no server and no sockets (`bench/app_floor.py "
                     f"{wl['app']}`; median over {len(runs_f)} pass(es)). µs/req = 1 000 000 ÷ req/CPU-s; "
                     "**own µs/req** = µs/req − floor: what the server itself costs per request (parsing, "
                     "environ, start_response, the kernel's TCP work, and the caches the framework's "
                     "Python finds cold afterwards). Every server pays the floor; only the own part "
                     "differs.")
        for f in doc.get("floors", []):
            if f.get("workload") == w and f.get("status") != "ok":
                L.append(f"\n- framework floor, pass {f.get('pass')}: FAILED ({f.get('reason', '')[:300]})")
        if notes:
            L.append("\n" + "\n".join(notes))
        L.append("")
    L.append("## Raw data\n")
    L.append(f"`bench/results/{doc['json_name']}` (git-ignored) holds every run: command, wrk output "
             "tail, CPU and memory samples. Server logs are in `bench/results/logs/`.\n")
    return "\n".join(L)


# --------------------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 pass, 3 s runs, 1 s warm-up")
    ap.add_argument("--only", help="comma-separated server configurations (default: all)")
    ap.add_argument("--workload", help="comma-separated workloads (default: all)")
    ap.add_argument("--passes", type=int, help="passes (default 2; --quick 1)")
    ap.add_argument("--duration", type=float, help="measured seconds per run (default 8; --quick 3)")
    ap.add_argument("--warmup", type=float, help="warm-up seconds (default 2; --quick 1)")
    ap.add_argument("--start-timeout", type=float, default=30.0, help="seconds to wait for a server")
    ap.add_argument("--no-doc", action="store_true", help="don't rewrite docs/benchmarks.md")
    ap.add_argument("--list", action="store_true", help="list servers and workloads")
    ap.add_argument("--render", metavar="JSON", help="only regenerate docs/benchmarks.md from a results JSON")
    args = ap.parse_args()
    if args.render:
        raw = json.loads(Path(args.render).read_text())
        doc = dict(raw)
        doc["agg"] = aggregate(raw["runs"])
        doc["floor_us"] = floors_of(raw.get("floors", []))
        doc["targets"] = targets(doc["agg"], doc["floor_us"])
        doc["json_name"] = Path(args.render).name
        DOC.write_text(render(doc))
        log(f"wrote {DOC} from {args.render}")
        return 0
    if args.list:
        print("servers:  " + ", ".join(SERVERS))
        print("workloads: " + ", ".join(WORKLOADS))
        return 0
    args.passes = args.passes or (1 if args.quick else 2)
    args.duration = args.duration or (3.0 if args.quick else 8.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 2.0)
    servers = list(SERVERS)
    if args.only:
        want = [s.strip() for s in args.only.split(",") if s.strip()]
        # a bare prefix selects its family: --only granian,ferricorn
        servers = [s for s in SERVERS if any(s == w or s.startswith(w + "-") for w in want)]
        bad = [w for w in want if not any(s == w or s.startswith(w + "-") for s in SERVERS)]
        if bad:
            ap.error(f"unknown server(s) {bad}; known: {', '.join(SERVERS)}")
    workloads = list(WORKLOADS)
    if args.workload:
        workloads = [w.strip() for w in args.workload.split(",") if w.strip()]
        bad = [w for w in workloads if w not in WORKLOADS]
        if bad:
            ap.error(f"unknown workload(s) {bad}; known: {', '.join(WORKLOADS)}")
    for tool in ("wrk", "taskset"):
        if not shutil.which(tool):
            log(f"{tool} is missing: run bench/setup.sh")
            return 2
    if not (VBIN / "python").exists():
        log("bench/.venv is missing: run bench/setup.sh")
        return 2
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "logs").mkdir(exist_ok=True)
    args.stamp = time.strftime("%Y%m%d-%H%M%S")

    tmpdir = tempfile.mkdtemp(prefix="ferricorn-bench-")
    file_path = os.path.join(tmpdir, "1mib.bin")
    with open(file_path, "wb") as f:
        f.write(os.urandom(1 << 20))
    env = server_env(file_path)

    plan = [(p, w, s) for p in range(1, args.passes + 1) for w in workloads
            for s in ([None] if WORKLOADS[w].get("floor") else [])  # the framework floor first
            + (servers if p % 2 else list(reversed(servers)))
            if s is None or ((SERVERS[s]["kind"] != "ceiling" or WORKLOADS[w].get("ceiling"))
                             and w in SERVERS[s].get("workloads", [w]))]
    per_run = args.warmup + args.duration + 2
    log(f"{len(plan)} runs, roughly {len(plan) * per_run / 60:.0f} min")
    runs = []
    floors: list[dict] = []
    json_name = f"results-{args.stamp}.json"
    try:
        for i, (p, w, s) in enumerate(plan, 1):
            if s is None:
                f = measure_floor(w, env, p)
                floors.append(f)
                log(f"[{i}/{len(plan)}] pass {p} {w:<9} {'framework floor':<18} {f['status']}  "
                    + (f"{f['us_per_req']:.2f} µs/req (app alone)" if f["status"] == "ok" else f["reason"]))
                continue
            try:
                r = measure(s, w, args, env, p)
            except Exception as e:  # a harness bug must not lose the other runs
                r = {"server": s, "workload": w, "pass": p, "status": "failed",
                     "reason": f"harness error: {e!r}"}
            runs.append(r)
            msg = r["status"]
            if r.get("rps") is not None:
                msg += (f"  {r['rps']:>9,.0f} req/s  {fmt(r.get('req_per_cpu_s')):>9} req/CPU-s"
                        f"  p99 {fmt(r['wrk'].get('p99_ms'), '.2f')} ms")
            if r.get("noisy"):
                msg += f"  [noisy: {r['server_core_other_s']:.1f} s of core {SERVER_CPU} went elsewhere]"
            if r.get("reason"):
                msg += f"  ({r['reason'][:200]})"
            log(f"[{i}/{len(plan)}] pass {p} {w:<9} {s:<18} {msg}")
    except KeyboardInterrupt:
        log("interrupted: writing what was measured")
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)

    agg = aggregate(runs)
    doc = {"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "argv": sys.argv[1:], "args": {k: v for k, v in vars(args).items()},
           "machine": machine_info(), "versions": versions(), "servers": servers,
           "workloads": workloads, "json_name": json_name}
    doc["agg"] = agg
    doc["runs"] = runs
    doc["floors"] = floors
    doc["floor_us"] = floors_of(floors)
    doc["targets"] = targets(agg, doc["floor_us"])
    raw = dict(doc, agg={f"{w}/{s}": a for (w, s), a in agg.items()})
    (RESULTS / json_name).write_text(json.dumps(raw, indent=1, default=str))
    shutil.copyfile(RESULTS / json_name, RESULTS / "latest.json")
    log(f"raw results: {RESULTS / json_name}")
    if not args.no_doc:
        DOC.parent.mkdir(parents=True, exist_ok=True)
        DOC.write_text(render(doc))
        log(f"wrote {DOC}")
    for t, f, v in doc["targets"]:
        log(f"target: {t}: {v.strip('*')} — {f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
