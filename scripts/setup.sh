#!/usr/bin/env bash
# Creates (or refreshes) a virtualenv with ferricorn built from this checkout
# in release mode, plus the test dependencies.
#   scripts/setup.sh [PYTHON] [VENV_DIR]     defaults: python3, .venv
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-python3}
VENV=${2:-.venv}
case "$VENV" in /*) ;; *) VENV="$PWD/$VENV" ;; esac
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
"$VENV/bin/python" -m pip install -q "maturin>=1.5,<2" -r requirements-test.txt
# maturin develop builds the Rust extension for this venv's interpreter and
# installs the package in editable mode (python/ stays the source of truth).
VIRTUAL_ENV="$VENV" "$VENV/bin/maturin" develop --release -q 2>&1 | grep -vE '^(📦|🔗|🐍|✏️|🛠|⚠️  Warning: You)' || true
"$VENV/bin/python" -c "import ferricorn, sys; print('ferricorn', ferricorn.__version__, 'on Python', sys.version.split()[0], 'in $VENV')"
