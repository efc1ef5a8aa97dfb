#!/bin/sh
# An uninstrumented program that hosts the ASan-built bcastprotect plugin (gst-plugin-scanner,
# gst-launch-1.0, gst-play-1.0, gst-inspect-1.0), run with libasan loaded first.
# scripts/test-sanitizers.sh links this script under each program's name in a folder it puts first
# in PATH (and names the scanner in GST_PLUGIN_SCANNER). Without it the plugin pulls libasan in late
# and the process then free()s memory that ASan did not allocate (bad-free in libmfx, playbin).
# Leaks of these programs are not ours: detect_leaks=0 here only; ASan and UBSan stay on.
name=$(basename "$0")
if [ "$name" = gst-plugin-scanner ]; then
  real=$(pkg-config --variable=pluginscannerdir gstreamer-1.0)/gst-plugin-scanner
else
  real=/usr/bin/$name
fi
LD_PRELOAD="${SANITIZER_LIBASAN:?}${LD_PRELOAD:+ $LD_PRELOAD}" \
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" exec "$real" "$@"
