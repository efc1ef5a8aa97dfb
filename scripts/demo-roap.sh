#!/usr/bin/env bash
# The sample setup of a terminal with an interaction channel, on this machine (after build.sh):
# makes the head-end's test PKI (scripts/make-test-pki.sh: root CA, RI, OCSP responder, device
# certificates; keys made here, never committed), provisions spcd with a device certificate issued
# by that CA (and nothing else: no keys), runs bcast-headend with its ROAP Rights Issuer and a SEK
# change every 10 s, registers the terminal (spcctl register), and plays the service headless for
# 30 s: the first STKM names rights spcd lacks, spcd acquires them by ROAP, and every SEK change
# reaches it as a trigger on the trigger stream before the switch.
# Exit status: the player's (0 when it played without error).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${OPENBCAST_BUILD:-build}
[ -x "$build/spc/daemon/spcd" ] || ./scripts/build.sh
./scripts/make-sample-media.sh

work="$(mktemp -d /tmp/openbcast-roap-demo.XXXXXX)"
headend=$build/samples/headend/bcast-headend
player=$build/player/bcast-player
spcd=$build/spc/daemon/spcd
spcctl=$build/spc/ctl/spcctl
export GST_PLUGIN_PATH="$PWD/$build/gst-plugins/bcastprotect${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"

pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
trap cleanup EXIT

echo "== test PKI: $work/pki"
./scripts/make-test-pki.sh "$work/pki" 1
"$headend" --write-key-file "$work/keys.ini" >/dev/null

echo "== D-Bus: private bus in $work"
{ read -r bus_address; read -r bus_pid; } < <(dbus-daemon --session --address="unix:dir=$work" \
  --fork --print-address=1 --print-pid=1)
pids+=("$bus_pid")

echo "== head-end: SRTP service + ROAP Rights Issuer, a new SEK every 10 s"
exec 3< <(exec "$headend" --key-file "$work/keys.ini" --sdp-out "$work/service.sdp" \
  --key-port 5100 --video-port 5102 --audio-port 5104 \
  --pki-dir "$work/pki" --trigger-port 5110 --registration-port 5111 --bcro-port 5112 \
  --trigger-dir "$work/triggers" --sek-period 10 --sek-lead 3 --tek-period 5 --duration 60 \
  2>"$work/headend.err")
pids+=("$!")
ri_url=""
ready=""
while IFS= read -r -t 30 line <&3; do
  echo "head-end: $line"
  if [[ "$line" == "roap ready url="* ]]; then ri_url=${line#roap ready url=}; ri_url=${ri_url%% *}; fi
  if [[ "$line" == ready* ]]; then ready=1; break; fi
done
if [ -z "$ready" ] || [ -z "$ri_url" ]; then
  echo "demo: the head-end did not start; see $work/headend.err" >&2
  cat "$work/headend.err" >&2 || true
  exit 1
fi
cat <&3 >"$work/headend.log" &

echo "== spcd: device certificate device-1 of the test CA, no keys"
"$spcd" --bus-address "$bus_address" --store "$work/spc.db" \
  --device-cert "$work/pki/device-1.pem" --device-key "$work/pki/device-1.key" \
  --trust-anchors "$work/pki/root.pem" --service "$work/service.sdp" 2>"$work/spcd.err" &
pids+=("$!")
if ! gdbus wait --address "$bus_address" --timeout 20 org.openbcast.SPC1; then
  echo "demo: spcd did not start; see $work/spcd.err" >&2
  exit 1
fi

echo "== spcctl register $ri_url"
"$spcctl" --bus-address "$bus_address" register "$ri_url"

echo "== player: 30 s headless, rights acquired by ROAP, TEKs from spcd"
set +e
"$player" --headless --duration 30 --bus-address "$bus_address" --report "$work/report.json" \
  "$work/service.sdp"
status=$?
set -e

echo "== spcctl list-rights"
"$spcctl" --bus-address "$bus_address" list-rights
grep -E "^(roap|sek-)" "$work/headend.log" || true
cleanup
trap - EXIT
echo "demo: player exit status $status (work folder $work)"
exit "$status"
