#!/usr/bin/env bash
# The whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer (LeakSanitizer on), then
# every fuzz target for FUZZ_SECONDS (default 30) in a clang fuzz build. Prints
# "tests: N passed, N failed, N skipped" over both runs. Budget on 2 cores: 45–55 min.
#   build-asan : gcc, -Db_sanitize=address,undefined, the whole suite except fuzz and bench
#   build-fuzz : clang, -Dfuzzing=true (ASan+UBSan too), only the fuzz targets are built
# Both at -O1 with line tables only (-g1): the level ASan's authors recommend, and on a 2-core
# machine far cheaper to compile and link than the default -O2 -g, with the same stack traces.
# Extra arguments go to the first `meson test` (e.g. --suite srtp).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# Wall time of each phase on stderr (CI budget decisions).
phase() { echo "== $1: $((SECONDS - t0)) s" >&2; t0=$SECONDS; }
t0=$SECONDS
san_opts=(-Doptimization=1 -Ddebug=false -Dc_args=-g1 -Dcpp_args=-g1)

if [ ! -f build-asan/build.ninja ]; then
  meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false "${san_opts[@]}"
fi
ninja -C build-asan
phase "build-asan"

. tests/sanitizers/env.sh
set +e
# One test at a time: ASan+UBSan triple each process's CPU, and an end-to-end test runs four or
# five processes against real-time deadlines (hold queues, key periods); two such tests at once on
# 2 cores missed them (docs/robustness.md).
meson test -C build-asan --no-rebuild --print-errorlogs --num-processes 1 --timeout-multiplier 3 \
  --no-suite fuzz --no-suite bench "$@"
rc_asan=$?
set -e
phase "test build-asan"

if [ ! -f build-fuzz/build.ninja ]; then
  CC=clang CXX=clang++ meson setup build-fuzz -Dfuzzing=true -Db_sanitize=address,undefined \
    -Db_lundef=false "${san_opts[@]}"
fi
ninja -C build-fuzz build.ninja >/dev/null  # reconfigure first: the fuzz suite lists the targets
fuzz_targets=$(meson test -C build-fuzz --list --suite fuzz 2>/dev/null | grep ' / ' | sed 's/.* \/ //')
# shellcheck disable=SC2046
ninja -C build-fuzz $(for t in $fuzz_targets; do echo tests/fuzz/$t; done)
phase "build-fuzz"
export FUZZ_SECONDS=${FUZZ_SECONDS:-30}
unset FUZZ_RUNS
set +e
meson test -C build-fuzz --no-rebuild --print-errorlogs --num-processes 2 --suite fuzz
rc_fuzz=$?
set -e
phase "test build-fuzz"

python3 - build-asan/meson-logs/testlog.json build-fuzz/meson-logs/testlog.json <<'PY'
import json, sys
passed = failed = skipped = 0
for path in sys.argv[1:]:
    for line in open(path):
        r = json.loads(line)["result"]
        if r in ("OK", "EXPECTEDFAIL"): passed += 1
        elif r == "SKIP": skipped += 1
        else: failed += 1
print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
PY
[ $rc_asan -eq 0 ] && [ $rc_fuzz -eq 0 ]
