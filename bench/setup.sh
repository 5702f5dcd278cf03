#!/usr/bin/env bash
# Idempotent setup for the ferricorn benchmark (bench/run calls it).
#  - Debian: wrk (load generator), libev-dev (bjoern), linux-perf (optional, for profiling)
#  - bench/.venv: the peers (pinned in requirements.txt) and ferricorn built from this repository
#  - bench/ceiling: the no-Python Rust ceiling server (built once; rebuilt only if its sources change)
# Environment knobs:
#   FERRICORN_BENCH_SKIP_APT=1     don't touch apt (wrk and libev-dev must already be there)
#   FERRICORN_BENCH_NO_FERRICORN=1 don't (re)install ferricorn into the venv
#   FERRICORN_BENCH_PYTHON=...     interpreter for the venv (default: python3)
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$BENCH/.." && pwd)"
VENV="$BENCH/.venv"
PY="${FERRICORN_BENCH_PYTHON:-python3}"
log() { printf '[setup] %s\n' "$*" >&2; }

# --- Debian packages -------------------------------------------------------------------------
if [ "${FERRICORN_BENCH_SKIP_APT:-0}" != 1 ]; then
  need=()
  command -v wrk >/dev/null 2>&1 || need+=(wrk)
  dpkg -s libev-dev >/dev/null 2>&1 || need+=(libev-dev)
  command -v taskset >/dev/null 2>&1 || need+=(util-linux)
  if [ ${#need[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    log "apt-get install ${need[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  if ! command -v perf >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    log "optional: apt-get install linux-perf"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq linux-perf >/dev/null 2>&1 \
      || log "linux-perf not installed (optional; only needed for profiling)"
  fi
fi
command -v wrk >/dev/null || { log "wrk is missing"; exit 1; }

# --- virtualenv with the peers ---------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip wheel setuptools
fi
PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)

# bjoern compiles against libev; uWSGI compiles its own core: both are sdists.
# One at a time so that one failing peer does not keep the others out; failures are reported,
# and the benchmark shows that server as "failed to start".
failed=()
while read -r req; do
  case "$req" in ''|'#'*) continue ;; esac
  if ! "${PIP[@]}" "$req" >"$VENV/pip-${req%%[=<>]*}.log" 2>&1; then
    log "FAILED to install $req (see $VENV/pip-${req%%[=<>]*}.log)"
    failed+=("$req")
  fi
done < "$BENCH/requirements.txt"

# --- ferricorn from this repository (maturin, release build via pyproject) --------------------
if [ "${FERRICORN_BENCH_NO_FERRICORN:-0}" != 1 ]; then
  log "installing ferricorn from $REPO (maturin release build, may take a few minutes)"
  # Own cargo target dir: never waits on (or invalidates) the developer's target/ lock.
  if ! CARGO_TARGET_DIR="$VENV/ferricorn-target" "${PIP[@]}" --force-reinstall --no-deps "$REPO" >"$VENV/pip-ferricorn.log" 2>&1; then
    log "FAILED to build/install ferricorn (see $VENV/pip-ferricorn.log)"
    failed+=(ferricorn)
    # never benchmark a stale build under the current commit's name: it shows as FAILED instead
    "$VENV/bin/python" -m pip uninstall -q -y ferricorn >/dev/null 2>&1 || true
    rm -f "$VENV/ferricorn-commit.txt"
  else
    # what was built, for docs/benchmarks.md (pip builds the working tree, committed or not)
    {
      git -C "$REPO" log -1 --format='%h %s' 2>/dev/null || echo "unknown commit"
      if [ -n "$(git -C "$REPO" status --porcelain -- src python Cargo.toml Cargo.lock pyproject.toml 2>/dev/null)" ]; then
        echo " (+ uncommitted changes in src/python, built $(date -u '+%Y-%m-%d %H:%M UTC'))"
      fi
    } | tr -d '\n' > "$VENV/ferricorn-commit.txt"
  fi
fi

# --- the no-Python ceiling -------------------------------------------------------------------
CEIL="$BENCH/ceiling"
BIN="$CEIL/target/release/ferricorn-bench-ceiling"
if [ ! -x "$BIN" ] || [ -n "$(find "$CEIL/src" "$CEIL/Cargo.toml" -newer "$BIN" 2>/dev/null)" ]; then
  log "building the ceiling server"
  (cd "$CEIL" && cargo build --release --quiet --target-dir "$CEIL/target") \
    || { log "FAILED to build the ceiling"; failed+=(ceiling); }
fi

if [ ${#failed[@]} -gt 0 ]; then
  log "setup finished with failures: ${failed[*]} (the benchmark reports them as failed)"
else
  log "setup complete"
fi
exit 0
