#!/usr/bin/env bash
# The README's first command, for a fresh Debian 12 machine (run as root, or have the packages):
# installs the dependencies, builds, makes the sample content, then plays a protected service end to
# end on this machine: bcast-headend broadcasts it on loopback (SRTP media, STKM key stream, a new
# TEK every 5 s), the SP-C daemon spcd holds the service keys (imported with spcctl into a key store
# in a temporary folder, on a private D-Bus bus), and bcast-player plays it headless for 20 s with
# the TEKs from spcd, printing key changes and frames.
# Exit status: the player's (0 when it played without error).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
./scripts/build.sh
./scripts/make-sample-media.sh

work="$(mktemp -d /tmp/openbcast-demo.XXXXXX)"
headend=build/samples/headend/bcast-headend
player=build/player/bcast-player
spcd=build/spc/daemon/spcd
spcctl=build/spc/ctl/spcctl
export GST_PLUGIN_PATH="$PWD/build/gst-plugins/bcastprotect${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"

pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
trap cleanup EXIT

echo "== keys: $work/keys.ini"
"$headend" --write-key-file "$work/keys.ini"

# A bus of its own: works the same with or without a system bus (containers, fresh installs).
echo "== D-Bus: private bus in $work"
{ read -r bus_address; read -r bus_pid; } < <(dbus-daemon --session --address="unix:dir=$work" \
  --fork --print-address=1 --print-pid=1)
pids+=("$bus_pid")
echo "bus: $bus_address"

echo "== spcd: key store $work/spc.db"
"$spcd" --bus-address "$bus_address" --store "$work/spc.db" 2>"$work/spcd.err" &
pids+=("$!")
# Wait for spcd to own its name (the event, not a delay).
if ! gdbus wait --address "$bus_address" --timeout 20 org.openbcast.SPC1; then
  echo "demo: spcd did not start; see $work/spcd.err" >&2
  cat "$work/spcd.err" >&2 || true
  exit 1
fi
echo "== spcctl import-keys $work/keys.ini"
"$spcctl" --bus-address "$bus_address" import-keys "$work/keys.ini"

echo "== head-end: SRTP service on 127.0.0.1 (key stream :5000, video :5002, audio :5004)"
exec 3< <(exec "$headend" --key-file "$work/keys.ini" --sdp-out "$work/service.sdp" \
  --tek-period 5 --duration 60 2>"$work/headend.err")
pids+=("$!")

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

echo "== player: 20 s headless, TEKs from spcd"
set +e
"$player" --headless --duration 20 --bus-address "$bus_address" --report "$work/report.json" \
  "$work/service.sdp"
status=$?
set -e

cleanup
trap - EXIT
echo "== report: $work/report.json"
cat "$work/report.json"
echo "demo: player exit status $status"
exit "$status"
