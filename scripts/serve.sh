#!/usr/bin/env bash
# Sets everything up (first run: builds ferricorn into .venv) and serves the
# example app on http://127.0.0.1:8000/ with Gunicorn-style flags.
#   scripts/serve.sh [extra ferricorn flags]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/ferricorn ] || scripts/setup.sh
exec .venv/bin/ferricorn --chdir examples -b 127.0.0.1:8000 "$@" hello:application
