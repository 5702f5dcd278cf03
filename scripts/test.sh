#!/usr/bin/env bash
# The whole test suite: Rust unit tests, then the integration tests (the real
# server over real sockets) on python3, then again on a second CPython
# (3.12 or 3.13 from pyenv when present).
#   scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo test (unit tests) =="
cargo test --release --quiet

echo "== fuzz smoke (scripts/fuzz.sh) =="
scripts/fuzz.sh --smoke

echo "== pytest on $(python3 --version) =="
scripts/setup.sh python3 .venv
.venv/bin/python -m pytest tests -q -p no:cacheprovider "$@"

second=""
for v in 3.12 3.13 3.10; do
  for cand in "$HOME/.pyenv/versions/$v"*/bin/python3 "$(command -v python$v || true)"; do
    if [ -n "$cand" ] && [ -x "$cand" ]; then second=$cand; break 2; fi
  done
done
if [ -n "$second" ]; then
  echo "== pytest on $("$second" --version) =="
  scripts/setup.sh "$second" .venv-second
  .venv-second/bin/python -m pytest tests -q -p no:cacheprovider "$@"
else
  echo "== no second CPython found; skipped the second run =="
fi
