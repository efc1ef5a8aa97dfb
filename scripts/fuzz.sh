#!/usr/bin/env bash
# Runs every libFuzzer target for SECONDS each (default 600), two at a time, from its committed
# seeds, in a clang ASan+UBSan fuzz build (./build-fuzz), and prints a table of executions.
# Outside CI (CI runs each for 30 s through `meson test --suite fuzz`). usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
dir=build-fuzz
if [ ! -f $dir/build.ninja ]; then
  CC=clang CXX=clang++ meson setup $dir -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false
fi
targets="fuzz_stkm fuzz_key_file fuzz_roap fuzz_drr fuzz_bcro fuzz_sdp fuzz_ismacryp fuzz_srtp"
ninja -C $dir $(for t in $targets; do echo tests/fuzz/$t; done)
out=$dir/fuzz-runs
mkdir -p $out
export FUZZ_SECONDS=$seconds
# Each target as `meson test --suite fuzz` runs it (tests/fuzz/run_fuzz.sh), longer.
set +e
meson test -C $dir --no-rebuild --suite fuzz --num-processes 2 --timeout-multiplier 0 >$out/meson.log 2>&1
rc=$?
set -e
echo "| target | seconds | executions | exec/s | corpus | result |"
echo "|---|---|---|---|---|---|"
for t in $targets; do
  log=$dir/meson-logs/testlog.txt
  python3 - "$dir/meson-logs/testlog.json" "$t" "$seconds" <<'PY'
import json, re, sys
path, target, seconds = sys.argv[1:]
for line in open(path):
    r = json.loads(line)
    if r["name"] != target:
        continue
    text = r.get("stdout", "") + r.get("stderr", "")
    execs = re.findall(r"stat::number_of_executed_units: (\d+)", text)
    corpus = re.findall(r"corp: (\d+)/", text)
    n = int(execs[-1]) if execs else 0
    print(f"| {target} | {seconds} | {n:,} | {n // max(1, int(seconds)):,} | "
          f"{corpus[-1] if corpus else '?'} | {'ok' if r['result'] == 'OK' else r['result']} |")
PY
done
exit $rc
