#!/bin/sh
# Runs one libFuzzer target for a bounded time from its committed seeds (meson test --suite fuzz).
# usage: run_fuzz.sh TARGET SEED_DIR WORK_DIR [libFuzzer options...]
# FUZZ_SECONDS (default 30) bounds the run; FUZZ_RUNS, when set, bounds it by executions instead
# (FUZZ_SECONDS then defaults to no time limit). New inputs go to WORK_DIR/corpus, never to the
# seeds; a crash, a hang (-timeout, 10 s per input) or a leak leaves its input in WORK_DIR/ and
# fails the test (exit 1: libFuzzer's default 77 would read as "skipped" to meson).
set -eu
target=$1
seeds=$2
work=$3
shift 3
mkdir -p "$work/corpus"
if [ -n "${FUZZ_RUNS:-}" ]; then
  limits="-runs=$FUZZ_RUNS -max_total_time=${FUZZ_SECONDS:-0}"
else
  limits="-max_total_time=${FUZZ_SECONDS:-30}"
fi
# shellcheck disable=SC2086  # two options in $limits
exec "$target" $limits -timeout=10 -rss_limit_mb=2048 \
  -error_exitcode=1 -timeout_exitcode=1 -print_final_stats=1 -artifact_prefix="$work/" "$@" \
  "$work/corpus" "$seeds"
