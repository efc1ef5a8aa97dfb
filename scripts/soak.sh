#!/usr/bin/env bash
# Soak run (outside CI): 30 minutes (or SECONDS) of an SRTP service with a TEK change every 10 s
# and 5 % loss on every stream; checks the player's resident memory stays flat (growth under 1 MB
# after the first minute) and that every key change is followed.
# usage: scripts/soak.sh [SECONDS] [BUILD_DIR]   (defaults: 1800, ./build)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-1800}
build=${2:-build}
# A build folder without build.ninja (binaries copied out of one) is used as it is.
[ ! -f "$build/build.ninja" ] ||
  ninja -C "$build" player/bcast-player samples/headend/bcast-headend gst-plugins/bcastprotect/libgstbcastprotect.so >/dev/null
echo "soak: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), build $build"
exec python3 tests/faults/soak.py --headend "$build/samples/headend/bcast-headend" \
  --player "$build/player/bcast-player" --media samples/media/sample.mp4 \
  --plugin-dir "$build/gst-plugins/bcastprotect" --seconds "$seconds" --tek-period 10 --loss 5
