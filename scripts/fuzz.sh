#!/usr/bin/env bash
# Long fuzzing runs (outside CI; CI runs each target for 30 s through `meson test --suite fuzz`).
# Every libFuzzer target of the fuzz suite, two at a time, from its committed seeds, in a clang
# ASan+UBSan fuzz build (./build-fuzz); prints a Markdown table of executions, exec/s, time and
# result per target (a crash, hang or leak fails the target and leaves its input in
# build-fuzz/tests/fuzz/fuzz-work/<target>/).
# usage: scripts/fuzz.sh [SECONDS]             each target for SECONDS (default 600)
#        scripts/fuzz.sh --runs N [TARGET...]  each target for N executions (the README figures:
#                                              --runs 10000000)
# FUZZ_JOBS (default 2): targets run at the same time.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=
seconds=600
if [ "${1:-}" = --runs ]; then
  runs=$2
  shift 2
elif [ $# -gt 0 ]; then
  seconds=$1
  shift
fi
dir=build-fuzz
if [ ! -f $dir/build.ninja ]; then
  CC=clang CXX=clang++ meson setup $dir -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false
fi
ninja -C $dir build.ninja >/dev/null  # reconfigure first: the suite lists the targets
targets=${*:-$(meson test -C $dir --list --suite fuzz 2>/dev/null | grep ' / ' | sed 's/.* \/ //')}
ninja -C $dir $(for t in $targets; do echo tests/fuzz/$t; done)
if [ -n "$runs" ]; then
  export FUZZ_RUNS=$runs
  unset FUZZ_SECONDS
else
  export FUZZ_SECONDS=$seconds
  unset FUZZ_RUNS
fi
logbase=fuzz-long-$(date -u +%Y%m%dT%H%M%S)
set +e
# shellcheck disable=SC2046
meson test -C $dir --no-rebuild --num-processes "${FUZZ_JOBS:-2}" --timeout-multiplier 0 \
  --logbase "$logbase" $targets >"$dir/meson-logs/$logbase.out" 2>&1
rc=$?
set -e
echo "fuzz: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)," \
  "$(if [ -n "$runs" ]; then echo "$runs executions"; else echo "$seconds s"; fi) per target," \
  "log $dir/meson-logs/$logbase.txt"
python3 - "$dir/meson-logs/$logbase.json" <<'PY'
import json, re, sys
print("| target | executions | exec/s | time s | corpus | peak RSS MB | result |")
print("|---|---|---|---|---|---|---|")
for line in open(sys.argv[1]):
    r = json.loads(line)
    text = (r.get("stdout") or "") + (r.get("stderr") or "")
    stat = lambda k: (re.findall(rf"stat::{k}:\s+(\d+)", text) or ["?"])[-1]
    corpus = re.findall(r"corp: (\d+)/", text)
    n = stat("number_of_executed_units")
    secs = r.get("duration", 0)
    result = "ok (no crash, hang or leak)" if r["result"] == "OK" else r["result"]
    for kind in ("deadly signal", "Timeout", "LeakSanitizer", "AddressSanitizer", "runtime error"):
        if kind in text and r["result"] != "OK":
            result += f" ({kind})"
            break
    eps = stat("average_exec_per_sec")
    print(f"| {r['name']} | {int(n):,} | {eps} | {secs:.0f} | {corpus[-1] if corpus else '?'} | "
          f"{stat('peak_rss_mb')} | {result} |" if n != "?" else
          f"| {r['name']} | ? | ? | {secs:.0f} | ? | ? | {result} |")
PY
exit $rc
