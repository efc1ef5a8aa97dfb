#!/usr/bin/env bash
# Benchmarks (issue 8): configures a release build in ./build-release (once), builds it, runs
# `meson test --benchmark` (tests/bench/bench.py, which also runs tests/bench/bench_zap.py for
# zapping with prefetch on/off) and prints the table. Results: build-release/bench-results.json
# (+ bench-zap.json) and build-release/bench-results.txt. Takes about 10 minutes on 2 cores.
# Other load on the machine skews every figure: the table records the load average before each
# part, and docs/benchmarks.md says how the latest figures were taken.
#
# werror is off in this build only: GCC 12 at -O3 reports false positives (-Wrestrict in
# std::string) that -O2 builds do not; the warnings are still printed.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build-release/build.ninja ]; then
  meson setup build-release -Dbuildtype=release -Dwerror=false "$@"
fi
# Only what the benchmark runs (unrelated targets cannot break or slow the measurement build).
ninja -C build-release tests/bench/bench_srtp tests/bench/bench_ismacryp tests/bench/bench_keys \
  spc/daemon/spcd spc/ctl/spcctl samples/headend/bcast-headend player/bcast-player \
  gst-plugins/bcastprotect/libgstbcastprotect.so
if [ ! -f samples/media/sample.mp4 ]; then
  scripts/make-sample-media.sh
fi
rm -f build-release/bench-results.txt
meson test -C build-release --benchmark --no-rebuild --num-processes 1 --quiet >/dev/null || true
if [ ! -f build-release/bench-results.txt ]; then
  echo "bench: no results; see build-release/meson-logs/benchmarklog.txt" >&2
  exit 1
fi
cat build-release/bench-results.txt
echo "JSON: build-release/bench-results.json"
