"""Python ``logging`` in charge of the logs: ``logconfig_dict``,
``--log-config-json``, ``--log-config`` (Gunicorn's logconfig family).

Without these settings ferricorn writes its logs from Rust and this module is
never imported. With one of them, it sets up the ``gunicorn.error`` and
``gunicorn.access`` loggers exactly as Gunicorn's ``glogging.Logger.setup``
does (handlers for ``--error-logfile`` / ``--access-logfile`` in Gunicorn's
formats, then the user's configuration on top, ``logconfig_dict``
shallow-merged over Gunicorn's ``CONFIG_DEFAULTS``), and the core hands every
error-log line and every access-log line to those loggers. Runs in the master
before the first fork; workers inherit the configured loggers.
"""

import copy
import json
import logging
import logging.config
import os
import sys

# Gunicorn's defaults, merged under a logconfig_dict (shallow dict.update,
# as Gunicorn does: a "loggers" key replaces all of these loggers).
CONFIG_DEFAULTS = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": "INFO", "handlers": ["console"]},
    "loggers": {
        "gunicorn.error": {
            "level": "INFO",
            "handlers": ["error_console"],
            "propagate": True,
            "qualname": "gunicorn.error",
        },
        "gunicorn.access": {
            "level": "INFO",
            "handlers": ["console"],
            "propagate": True,
            "qualname": "gunicorn.access",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "generic", "stream": "ext://sys.stdout"},
        "error_console": {"class": "logging.StreamHandler", "formatter": "generic", "stream": "ext://sys.stderr"},
    },
    "formatters": {
        "generic": {
            "format": "%(asctime)s [%(process)d] [%(levelname)s] %(message)s",
            "datefmt": "[%Y-%m-%d %H:%M:%S %z]",
            "class": "logging.Formatter",
        }
    },
}

ERROR_FMT = "%(asctime)s [%(process)d] [%(levelname)s] %(message)s"
DATEFMT = "[%Y-%m-%d %H:%M:%S %z]"
ACCESS_FMT = "%(message)s"

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "error": logging.ERROR, "critical": logging.CRITICAL}

#: The logconfig_dict of the config file, as Python objects (set by _config).
LOGCONFIG_DICT = None

error_log = logging.getLogger("gunicorn.error")
access_log = logging.getLogger("gunicorn.access")


class LogConfigError(Exception):
    """A one-line problem with the logging configuration."""


def _handler(logger, output, fmt, stream=None):
    """Gunicorn's _set_handler: '-' is a stream, anything else a file."""
    for h in list(logger.handlers):
        if getattr(h, "_ferricorn", False):
            logger.removeHandler(h)
    if output is None:
        return
    if output == "-":
        h = logging.StreamHandler(stream or sys.stderr)
    else:
        h = logging.FileHandler(output)
    h.setFormatter(fmt)
    h._ferricorn = True
    logger.addHandler(h)


def setup(loglevel, errorlog, accesslog, logconfig, logconfig_json, has_dict):
    """Configures the loggers; raises LogConfigError with a one-line message."""
    error_log.propagate = False
    access_log.propagate = False
    error_log.setLevel(LEVELS.get(loglevel, logging.INFO))
    access_log.setLevel(logging.INFO)
    _handler(error_log, errorlog, logging.Formatter(ERROR_FMT, DATEFMT))
    if accesslog is not None:
        _handler(access_log, accesslog, logging.Formatter(ACCESS_FMT), stream=sys.stdout)
    try:
        if has_dict and LOGCONFIG_DICT:
            config = copy.deepcopy(CONFIG_DEFAULTS)
            config.update(LOGCONFIG_DICT)
            logging.config.dictConfig(config)
        elif logconfig_json:
            with open(logconfig_json) as f:
                config = json.load(f)
            logging.config.dictConfig(config)
        elif logconfig:
            if not os.path.exists(logconfig):
                raise LogConfigError("--log-config: no such file: %r" % logconfig)
            defaults = CONFIG_DEFAULTS.copy()
            defaults["__file__"] = logconfig
            defaults["here"] = os.path.dirname(logconfig)
            logging.config.fileConfig(logconfig, defaults=defaults, disable_existing_loggers=False)
    except LogConfigError:
        raise
    except (OSError, ValueError, TypeError, KeyError, AttributeError, ImportError) as e:
        raise LogConfigError("invalid logging configuration: %s: %s" % (type(e).__name__, e)) from None


def error(level, message):
    """An error-log line from the core."""
    error_log.log(LEVELS.get(level, logging.INFO), message)


def access(line):
    """An access-log line from the core (already formatted)."""
    access_log.info(line)


def reopen():
    """USR1: reopen every file handler (as Gunicorn's reopen_files)."""
    for logger in [logging.getLogger()] + [logging.getLogger(n) for n in logging.root.manager.loggerDict]:
        for h in getattr(logger, "handlers", []):
            if isinstance(h, logging.FileHandler):
                h.acquire()
                try:
                    if h.stream:
                        h.close()
                        h.stream = h._open()
                finally:
                    h.release()
