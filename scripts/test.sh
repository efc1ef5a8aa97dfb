#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine (what CI runs: .ci/run calls this script).
#   stage 1, default:    installs what is missing, builds ./build, runs every test (unit, element,
#                        interop, end to end, faults) — at most 15 min on 2 cores.
#   stage 2, sanitizers: scripts/test-sanitizers.sh — the whole suite again under ASan+UBSan
#                        (LeakSanitizer on) in ./build-asan, then every fuzz target for 30 s in a
#                        clang build (./build-fuzz) — 45–55 min on a 2-core machine
#                        (docs/robustness.md has the measured phases).
# Prints the wall time of each stage and one line "tests: N passed, N failed, N skipped" over
# both; fails if either stage fails. Extra arguments go to every `meson test` (e.g. --suite srtp).
# CI runs both stages; OPENBCAST_SANITIZERS=0 runs the default stage alone (the quick check while
# developing).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
rm -f build/meson-logs/testlog.json build-asan/meson-logs/testlog.json \
  build-fuzz/meson-logs/testlog.json
stage_start=$SECONDS
./scripts/build.sh
set +e
meson test -C build --print-errorlogs --num-processes 2 "$@"
rc_default=$?
set -e
t_default=$((SECONDS - stage_start))

rc_sanitizers=0
t_sanitizers=
if [ "${OPENBCAST_SANITIZERS:-1}" != 0 ]; then
  stage_start=$SECONDS
  set +e
  ./scripts/test-sanitizers.sh "$@"
  rc_sanitizers=$?
  set -e
  t_sanitizers=$((SECONDS - stage_start))
fi

echo "stage default (build + suite): $((t_default / 60)) min $((t_default % 60)) s, exit $rc_default"
if [ -n "$t_sanitizers" ]; then
  echo "stage sanitizers (ASan+UBSan build + suite, fuzz build + 30 s per target):" \
    "$((t_sanitizers / 60)) min $((t_sanitizers % 60)) s, exit $rc_sanitizers"
fi
python3 - build/meson-logs/testlog.json build-asan/meson-logs/testlog.json \
  build-fuzz/meson-logs/testlog.json <<'PY'
import json, os, sys
passed = failed = skipped = 0
for path in sys.argv[1:]:
    if not os.path.exists(path):
        continue
    for line in open(path):
        r = json.loads(line)["result"]
        if r in ("OK", "EXPECTEDFAIL"): passed += 1
        elif r == "SKIP": skipped += 1
        else: failed += 1
print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
PY
[ $rc_default -eq 0 ] && [ $rc_sanitizers -eq 0 ]
