#!/usr/bin/env bash
# The whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer (LeakSanitizer on), then
# every fuzz target for FUZZ_SECONDS (default 30) in a clang fuzz build. Prints
# "tests: N passed, N failed, N skipped" over both runs. Budget on 2 cores: ~30 min.
#   build-asan : gcc, -Db_sanitize=address,undefined, the whole suite except fuzz and bench
#   build-fuzz : clang, -Dfuzzing=true (ASan+UBSan too), only the fuzz targets are built
# Extra arguments go to the first `meson test` (e.g. --suite srtp).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# Wall time of each phase on stderr (CI budget decisions).
phase() { echo "== $1: $((SECONDS - t0)) s" >&2; t0=$SECONDS; }
t0=$SECONDS

if [ ! -f build-asan/build.ninja ]; then
  meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false
fi
ninja -C build-asan
phase "build-asan"

# halt_on_error/abort: the first report fails the test. detect_leaks: LeakSanitizer at exit.
# verify_asan_link_order=0: uninstrumented programs the tests start (gst-launch-1.0,
# gst-plugin-scanner) dlopen the ASan-built plugin, which pulls libasan in late; the plugin's
# code is still checked there.
# fast_unwind_on_malloc=0: GLib/GStreamer are built without frame pointers, so the fast unwinder
# stops at g_malloc and no suppression in lsan.supp could name the library frame that allocated.
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:verify_asan_link_order=0:strict_string_checks=1:detect_stack_use_after_return=0:fast_unwind_on_malloc=0:malloc_context_size=20"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export LSAN_OPTIONS="suppressions=$root/tests/sanitizers/lsan.supp:print_suppressions=0"
# GLib 2.74 still honours G_SLICE: plain malloc so that every block is visible to ASan/LSan.
export G_SLICE=always-malloc
# Uninstrumented programs that load the ASan-built plugin (the registry scanner, the gst-*-1.0 tools
# some tests run by name) get libasan preloaded through tests/sanitizers/asan-host.sh: loaded late
# by the plugin, it makes them free() memory that ASan did not allocate.
hosts=$root/build-asan/sanitizer-hosts
mkdir -p "$hosts"
for p in gst-plugin-scanner gst-launch-1.0 gst-play-1.0 gst-inspect-1.0; do
  ln -sf "$root/tests/sanitizers/asan-host.sh" "$hosts/$p"
done
SANITIZER_LIBASAN=$(gcc -print-file-name=libasan.so)
export SANITIZER_LIBASAN PATH="$hosts:$PATH" GST_PLUGIN_SCANNER="$hosts/gst-plugin-scanner"
set +e
meson test -C build-asan --no-rebuild --print-errorlogs --num-processes 2 --timeout-multiplier 3 \
  --no-suite fuzz --no-suite bench "$@"
rc_asan=$?
set -e
phase "test build-asan"

if [ ! -f build-fuzz/build.ninja ]; then
  CC=clang CXX=clang++ meson setup build-fuzz -Dfuzzing=true -Db_sanitize=address,undefined \
    -Db_lundef=false
fi
ninja -C build-fuzz $(for t in fuzz_stkm fuzz_key_file fuzz_roap fuzz_drr fuzz_bcro fuzz_sdp \
  fuzz_ismacryp fuzz_srtp; do echo tests/fuzz/$t; done)
phase "build-fuzz"
export FUZZ_SECONDS=${FUZZ_SECONDS:-30}
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
