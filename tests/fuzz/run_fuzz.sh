#!/bin/sh
# Runs one libFuzzer target for a bounded time from its committed seeds (meson test --suite fuzz).
# usage: run_fuzz.sh TARGET SEED_DIR WORK_DIR [libFuzzer options...]
# FUZZ_SECONDS (default 30) bounds the run. New inputs go to WORK_DIR/corpus, never to the seeds;
# a crash leaves its input in WORK_DIR/crash-* and fails the test (exit 1: libFuzzer's default 77
# would read as "skipped" to meson).
set -eu
target=$1
seeds=$2
work=$3
shift 3
mkdir -p "$work/corpus"
exec "$target" -max_total_time="${FUZZ_SECONDS:-30}" -timeout=10 -rss_limit_mb=2048 \
  -error_exitcode=1 -timeout_exitcode=1 -print_final_stats=1 -artifact_prefix="$work/" "$@" \
  "$work/corpus" "$seeds"
