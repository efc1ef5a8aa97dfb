#!/usr/bin/env bash
# Installs the Debian 12 packages openbcast builds, tests and plays with (architecture.md). Needs root.
set -euo pipefail

PACKAGES=(
  build-essential meson ninja-build pkg-config git
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-libav gstreamer1.0-tools gstreamer1.0-plugins-base-apps
  libsrtp2-dev libssl-dev libglib2.0-dev libsoup-3.0-dev libxml2-dev libsqlite3-dev
  libgtest-dev libgmock-dev ffmpeg dbus-daemon tshark clang libclang-rt-14-dev
  libpcsclite-dev pcscd vsmartcard-vpcd python3 tmux
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing ${missing[*]}; run as root (or with sudo)" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
