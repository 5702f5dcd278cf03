"""The logconfig family hands the logs to Python's ``logging``, as Gunicorn
does: ``logconfig_dict`` in a config file (merged over Gunicorn's defaults),
``--log-config-json`` and ``--log-config`` (ini). The ``gunicorn.error`` and
``gunicorn.access`` loggers receive ferricorn's error and access lines."""

import json
import textwrap

import requests

from conftest import run_cli, wait_for


def _read(path):
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def test_logconfig_dict_routes_error_and_access_lines(server_factory, tmp_path):
    out = tmp_path / "app.log"
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text(textwrap.dedent(f'''
        logconfig_dict = {{
            "version": 1,
            "disable_existing_loggers": False,
            # A "handlers" key replaces Gunicorn's default handlers (shallow
            # merge), so the default root logger's "console" must be replaced too.
            "root": {{"level": "INFO", "handlers": []}},
            "formatters": {{"tagged": {{"format": "TAGGED %(levelname)s %(name)s %(message)s"}}}},
            "handlers": {{"file": {{"class": "logging.FileHandler", "filename": {str(out)!r},
                                   "formatter": "tagged"}}}},
            "loggers": {{
                "gunicorn.error": {{"level": "INFO", "handlers": ["file"], "propagate": False}},
                "gunicorn.access": {{"level": "INFO", "handlers": ["file"], "propagate": False}},
            }},
        }}
    '''))
    srv = server_factory("app:application", "-c", str(conf))
    srv.wait_ready()
    r = requests.get(srv.url("/hello"), headers={"User-Agent": "logtest"}, timeout=10)
    assert r.status_code == 200
    wait_for(lambda: "gunicorn.access" in _read(out), timeout=10, what=lambda: _read(out))
    text = _read(out)
    assert "TAGGED INFO gunicorn.error Booting worker with pid:" in text
    assert 'TAGGED INFO gunicorn.access 127.0.0.1 - - [' in text
    assert '"GET /hello HTTP/1.1" 200' in text and '"logtest"' in text
    # The error log no longer gets those lines: the config sent them to the file.
    assert "Booting worker" not in srv.stderr()


def test_log_config_json_and_ini(server_factory, tmp_path):
    out = tmp_path / "json.log"
    cfg = {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"f": {"format": "JSONCFG %(name)s %(message)s"}},
        "handlers": {"h": {"class": "logging.FileHandler", "filename": str(out), "formatter": "f"}},
        "loggers": {"gunicorn.error": {"level": "INFO", "handlers": ["h"], "propagate": False}},
    }
    jpath = tmp_path / "log.json"
    jpath.write_text(json.dumps(cfg))
    srv = server_factory("app:application", "--log-config-json", str(jpath))
    srv.wait_ready()
    wait_for(lambda: "Booting worker" in _read(out), timeout=10, what=lambda: _read(out))
    assert "JSONCFG gunicorn.error Booting worker with pid:" in _read(out)
    srv.stop() if hasattr(srv, "stop") else None

    ini_out = tmp_path / "ini.log"
    ini = tmp_path / "log.ini"
    ini.write_text(textwrap.dedent(f"""
        [loggers]
        keys=root,error
        [handlers]
        keys=file
        [formatters]
        keys=plain
        [logger_root]
        level=INFO
        handlers=
        [logger_error]
        level=INFO
        handlers=file
        propagate=0
        qualname=gunicorn.error
        [handler_file]
        class=FileHandler
        formatter=plain
        args=({str(ini_out)!r},)
        [formatter_plain]
        format=INICFG %(message)s
    """))
    srv2 = server_factory("app:application", "--log-config", str(ini))
    srv2.wait_ready()
    wait_for(lambda: "Booting worker" in _read(ini_out), timeout=10, what=lambda: _read(ini_out))
    assert "INICFG Booting worker with pid:" in _read(ini_out)


def test_bad_logging_config_is_one_line(tmp_path):
    conf = tmp_path / "bad.conf.py"
    conf.write_text('logconfig_dict = {"version": 1, "handlers": {"h": {"class": "no.such.Handler"}}}\n')
    res = run_cli(["-c", str(conf), "app:application"], timeout=30)
    assert res.returncode == 2
    lines = [l for l in res.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "logging configuration" in lines[0], res.stderr
