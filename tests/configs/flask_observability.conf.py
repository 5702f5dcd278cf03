# A Flask service's gunicorn.conf.py: logging dict, statsd, prometheus-style
# child_exit cleanup, request timing in pre/post_request.
import os
import time

bind = ["127.0.0.1:8000"]
workers = 2
timeout = 30
accesslog = "-"
statsd_host = os.environ.get("STATSD_ADDR", "127.0.0.1:9125")
statsd_prefix = "flaskapp"
raw_env = ["APP_ENV=production"]

logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": "INFO", "handlers": ["console"]},
    "formatters": {
        "json": {"format": '{"time": "%(asctime)s", "level": "%(levelname)s", "logger": "%(name)s", "message": "%(message)s"}'},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"},
    },
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
    },
}

_MARKS = os.environ.get("CONF_MARKS")


def child_exit(server, worker):
    # prometheus_client.multiprocess.mark_process_dead(worker.pid), in spirit
    if _MARKS:
        with open(os.path.join(_MARKS, "dead-%s" % worker.pid), "w") as f:
            f.write("1")


def pre_request(worker, req):
    req.start_time = time.time()
    worker.log.debug("%s %s", req.method, req.path)


def post_request(worker, req, environ, resp):
    took = time.time() - getattr(req, "start_time", time.time())
    worker.log.info("timing path=%s status=%s took_ms=%d", req.path, resp.status_code, took * 1000)
