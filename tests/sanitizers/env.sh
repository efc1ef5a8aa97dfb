# The sanitizer environment of scripts/test-sanitizers.sh, also for running single tests by hand:
#   . tests/sanitizers/env.sh && meson test -C build-asan --no-rebuild <test>
# Expects $root (the source root) and build-asan built.
root=${root:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
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
