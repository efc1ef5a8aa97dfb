#!/usr/bin/env bash
# The README's first command, for a fresh Debian 12 machine (run as root, or have the packages):
# installs the dependencies, builds, makes the sample content, then plays a protected service end to
# end on this machine: bcast-headend broadcasts it on loopback (SRTP media, STKM key stream, a new
# TEK every 5 s) and bcast-player plays it headless for 20 s, printing key changes and frames.
# Exit status: the player's (0 when it played without error).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
./scripts/build.sh
./scripts/make-sample-media.sh

work="$(mktemp -d /tmp/openbcast-demo.XXXXXX)"
headend=build/samples/headend/bcast-headend
player=build/player/bcast-player
export GST_PLUGIN_PATH="$PWD/build/gst-plugins/bcastprotect${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"

echo "== keys: $work/keys.ini"
"$headend" --write-key-file "$work/keys.ini"

echo "== head-end: SRTP service on 127.0.0.1 (key stream :5000, video :5002, audio :5004)"
exec 3< <(exec "$headend" --key-file "$work/keys.ini" --sdp-out "$work/service.sdp" \
  --tek-period 5 --duration 60 2>"$work/headend.err")
headend_pid=$!
stop_headend() {
  kill "$headend_pid" 2>/dev/null || true
  wait "$headend_pid" 2>/dev/null || true
}
trap stop_headend EXIT

# Wait for the head-end's "ready" line (not a fixed delay), then keep draining its output.
ready=""
while IFS= read -r -t 30 line <&3; do
  echo "head-end: $line"
  if [[ "$line" == ready* ]]; then ready=1; break; fi
done
if [ -z "$ready" ]; then
  echo "demo: the head-end did not start; see $work/headend.err" >&2
  cat "$work/headend.err" >&2 || true
  exit 1
fi
cat <&3 >"$work/headend.log" &

echo "== player: 20 s headless"
set +e
"$player" --headless --duration 20 --key-file "$work/keys.ini" --report "$work/report.json" \
  "$work/service.sdp"
status=$?
set -e

stop_headend
trap - EXIT
echo "== report: $work/report.json"
cat "$work/report.json"
echo "demo: player exit status $status"
exit "$status"
