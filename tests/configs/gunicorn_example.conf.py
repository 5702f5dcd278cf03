# Modelled on Gunicorn's own examples/example_config.py: every commonly
# listed setting at an explicit value, plus its hooks.
import os

bind = "127.0.0.1:8000"
backlog = 2048
workers = 1
worker_class = "sync"
worker_connections = 1000
timeout = 30
keepalive = 2
spew = False
daemon = False
raw_env = ["DJANGO_SECRET_KEY=something", "SPAM=eggs"]
pidfile = None
umask = 0
user = None
group = None
tmp_upload_dir = None
errorlog = "-"
loglevel = "info"
accesslog = "-"
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'
proc_name = None


def post_fork(server, worker):
    server.log.info("Worker spawned (pid: %s)", worker.pid)


def pre_fork(server, worker):
    pass


def pre_exec(server):
    server.log.info("Forked child, re-executing.")


def when_ready(server):
    server.log.info("Server is ready. Spawning workers")


def worker_int(worker):
    worker.log.info("worker received INT or QUIT signal")


def worker_abort(worker):
    worker.log.info("worker received SIGABRT signal")
