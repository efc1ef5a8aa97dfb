#!/usr/bin/env bash
# The full fault matrix: loss, reordering, duplication and corruption at 1, 5, 10 and 30 % on each
# stream (key, video, audio) of an SRTP service, each run through tests/faults/faults_test.py
# (6 s of faults, then clean traffic), two at a time. Prints a Markdown table for the README.
# usage: scripts/faults.sh [BUILD_DIR]   (default ./build; ~15 min on 2 cores)
# FAULTS_JOBS (default 2): cells run at the same time.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
# A build folder without build.ninja (binaries copied out of one) is used as it is.
[ ! -f "$build/build.ninja" ] ||
  ninja -C "$build" player/bcast-player samples/headend/bcast-headend gst-plugins/bcastprotect/libgstbcastprotect.so >/dev/null
out=$(mktemp -d /tmp/openbcast-faults-matrix-XXXXXX)
jobs=()
port=28500
for fault in loss reorder dup corrupt; do
  for rate in 1 5 10 30; do
    for stream in key video audio; do
      jobs+=("$fault $rate $stream $port")
      port=$((port + 20))
    done
  done
done
run_one() {
  set -- $1
  python3 tests/faults/faults_test.py --headend "$BUILD/samples/headend/bcast-headend" \
    --player "$BUILD/player/bcast-player" --media samples/media/sample.mp4 \
    --plugin-dir "$BUILD/gst-plugins/bcastprotect" --port-base "$4" --faults-on "$3" \
    --"$1" "$2" --seed "$4" >"$OUT/$1-$2-$3.log" 2>&1 && echo pass >"$OUT/$1-$2-$3.status" \
    || echo FAIL >"$OUT/$1-$2-$3.status"
}
export -f run_one
export BUILD=$build OUT=$out
echo "faults: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), build $build, ${FAULTS_JOBS:-2} cells at a time"
printf '%s\n' "${jobs[@]}" | xargs -P "${FAULTS_JOBS:-2}" -I{} bash -c 'run_one "{}"'
python3 - "$out" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
print("| fault | rate % | stream | datagrams hit | SRTP auth failures / damaged sent | replays / duplicates | TEK changes | video fps after recovery | result |")
print("|---|---|---|---|---|---|---|---|---|")
failed = 0
for fault in ("loss", "reorder", "dup", "corrupt"):
    for rate in (1, 5, 10, 30):
        for stream in ("key", "video", "audio"):
            name = f"{fault}-{rate}-{stream}"
            status = open(os.path.join(out, name + ".status")).read().strip()
            failed += status != "pass"
            result = None
            for line in open(os.path.join(out, name + ".log")):
                if line.startswith("result "):
                    result = json.loads(line[7:])
            if not result:
                print(f"| {fault} | {rate} | {stream} | | | | | | {status} (log {out}/{name}.log) |")
                continue
            c = result["relay"][stream]
            hit = {"loss": c["dropped"], "reorder": c["reordered"], "dup": c["duplicated"],
                   "corrupt": c["corrupted"]}[fault]
            s = result["streams"].get(stream)
            auth = f"{s['auth_failures']} / {s['damaged_sent']}" if s else "-"
            rep = f"{s['replays']} / {c['duplicated']}" if s else "-"
            print(f"| {fault} | {rate} | {stream} | {hit} of {c['received']} | {auth} | {rep} | "
                  f"{result['tek_changes']} | {result['recovered_fps']} | {status} |")
print(f"\n{failed} failed; logs in {out}")
sys.exit(1 if failed else 0)
PY
