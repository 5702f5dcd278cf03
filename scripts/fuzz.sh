#!/usr/bin/env bash
# Coverage-guided fuzzing of ferricorn's byte-level code (fuzz/, cargo-fuzz +
# libFuzzer on the nightly toolchain). Targets: http_head, chunked_body,
# access_log — see fuzz/harness/src/*.rs for what each one checks.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]   libFuzzer, each target in turn (default 60 s)
#   scripts/fuzz.sh --smoke                CI: each target ~15 s with libFuzzer when
#                                          nightly + cargo-fuzz are usable (cargo-fuzz is
#                                          installed if missing), else the stable replay
#   scripts/fuzz.sh --replay [N]           stable toolchain only: replay the seed corpus
#                                          (and fuzz/work/ if present) + N random inputs
#                                          per target through the same harness (default 300000)
#   FUZZ_TARGETS="http_head chunked_body"  restricts the targets (all three by default).
#
# The growing corpus lives in fuzz/work/<target>/ (git-ignored); the committed
# seeds in fuzz/corpus/<target>/ are only read. A crash, failed invariant, leak
# or timeout exits non-zero and prints the reproducer path (fuzz/artifacts/<target>/...).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
FUZZ="$ROOT/fuzz"
TARGETS=${FUZZ_TARGETS:-"http_head chunked_body access_log"}
SMOKE_SECONDS=${FUZZ_SMOKE_SECONDS:-15}
# Everything builds into fuzz/target, whatever the environment says.
export CARGO_TARGET_DIR="$FUZZ/target"

mode=fuzz
seconds=60
replay_n=300000
case "${1:-}" in
  --smoke) mode=smoke; seconds=$SMOKE_SECONDS ;;
  --replay) mode=replay; replay_n=${2:-$replay_n} ;;
  -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
  "") ;;
  *)
    if [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -gt 0 ]; then seconds=$1
    else echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET | --smoke | --replay [N]]" >&2; exit 2; fi ;;
esac

t_start=$(date +%s)
log() { echo "[fuzz.sh +$(( $(date +%s) - t_start ))s] $*"; }

# --- the stable replay -------------------------------------------------------
run_replay() {
  log "stable replay: building fuzz/harness (profile replay)"
  if ! cargo build --quiet --profile replay --manifest-path "$FUZZ/Cargo.toml" \
      -p ferricorn-fuzz-harness --bin replay; then
    log "FAILED: the fuzz harness does not build"
    return 1
  fi
  local args=() t
  for t in $TARGETS; do args+=(--target "$t"); done
  args+=(--corpus "$FUZZ/corpus")
  [ -d "$FUZZ/work" ] && args+=(--corpus "$FUZZ/work")
  args+=(--iterations "$replay_n")
  if "$FUZZ/target/replay/replay" "${args[@]}"; then
    log "stable replay passed"
    return 0
  fi
  log "FAILED: see the reproducer path above"
  return 1
}

if [ "$mode" = replay ]; then
  run_replay; exit $?
fi

# --- libFuzzer -----------------------------------------------------------------
have_nightly() {
  command -v rustup >/dev/null 2>&1 && rustup run nightly rustc --version >/dev/null 2>&1
}
have_cargo_fuzz() { cargo +nightly fuzz --version >/dev/null 2>&1; }

fallback_or_fail() {
  # $1: why libFuzzer cannot run. The smoke falls back; a real run fails.
  if [ "$mode" = smoke ]; then
    log "$1; falling back to the stable replay"
    run_replay; exit $?
  fi
  log "$1"; exit 2
}

have_nightly || fallback_or_fail "no nightly toolchain (rustup toolchain install nightly)"
if ! have_cargo_fuzz; then
  log "cargo-fuzz missing: cargo install cargo-fuzz --locked"
  env -u CARGO_TARGET_DIR cargo install cargo-fuzz --locked --quiet >/dev/null 2>&1 || true
  have_cargo_fuzz || fallback_or_fail "cargo-fuzz could not be installed"
fi

log "building fuzz targets (cargo +nightly fuzz build: nightly, ASan, sancov)"
build_log="$FUZZ/target/fuzz-build.log"
mkdir -p "$FUZZ/target"
if ! cargo +nightly fuzz build --fuzz-dir "$FUZZ" >"$build_log" 2>&1; then
  tail -30 "$build_log"
  fallback_or_fail "cargo fuzz build failed (log: $build_log)"
fi
triple=$(rustc +nightly -vV | sed -n 's/^host: //p')
bindir="$FUZZ/target/$triple/release"

failed=0
summary=()
for t in $TARGETS; do
  bin="$bindir/$t"
  if [ ! -x "$bin" ]; then log "FAILED: no binary for target $t"; failed=1; continue; fi
  mkdir -p "$FUZZ/work/$t" "$FUZZ/artifacts/$t"
  out="$FUZZ/target/fuzz-$t.log"
  log "fuzzing $t for ${seconds}s (log: $out)"
  # Guard against a libFuzzer that does not stop by itself.
  guard=()
  command -v timeout >/dev/null 2>&1 && guard=(timeout -k 10 $((seconds + 120)))
  "${guard[@]}" "$bin" "$FUZZ/work/$t" "$FUZZ/corpus/$t" \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
      -dict="$FUZZ/http.dict" -artifact_prefix="$FUZZ/artifacts/$t/" \
      -print_final_stats=1 >"$out" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out" | tail -1)
  covline=$(grep -E '^#[0-9]+' "$out" | grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*' | tail -1)
  line="$t: ${execs:-?} execs, ${rate:-?}/s, ${covline:-no coverage line}"
  if [ $rc -ne 0 ]; then
    failed=1
    grep -m1 -A1 'panicked at' "$out"
    grep -m3 -E '^(==[0-9]+==ERROR|SUMMARY|ERROR: libFuzzer)' "$out"
    repro=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$out" | tail -1)
    if [ -n "$repro" ]; then
      log "FAILED: $t crashed (exit $rc); reproducer: $repro"
      log "reproduce: $bin $repro   (or: cargo +nightly fuzz run $t $repro)"
      line="$line  CRASH: $repro"
    else
      tail -20 "$out"
      log "FAILED: $t exited $rc without a reproducer (see $out)"
      line="$line  FAILED (exit $rc)"
    fi
  fi
  summary+=("$line")
done

log "summary:"
for l in "${summary[@]}"; do echo "  $l"; done
if [ $failed -ne 0 ]; then log "FAILED"; exit 1; fi
log "no crashes"
