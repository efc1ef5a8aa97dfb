#!/usr/bin/env bash
# Makes the sample content the head-end broadcasts: samples/media/sample.mp4 (H.264 + AAC).
# Generated at setup time (meson runs it when configuring samples/), never committed.
#
# Video: 320x240, 25 fps, a test pattern with the frame number drawn on it, GOP of 25 frames (one IDR
# per second) and no B-frames, so a player that joins mid-stream decodes within a second and the
# decode order equals the display order. Audio: 440 Hz sine, 48 kHz stereo AAC-LC. 12 s unless
# --duration says otherwise (tests make short clips to see the head-end loop).
#
# Idempotent: does nothing when the file exists (delete it or pass --force to remake). Writes to a
# temporary file and renames it, so builds configuring in parallel never see a half-written file.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
out="${OPENBCAST_SAMPLE_MEDIA:-$root/samples/media/sample.mp4}"
force=0
duration=12
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -o=*|--output=*) out="${arg#*=}" ;;
    --duration=*) duration="${arg#*=}" ;;
    -h|--help) echo "usage: $0 [--force] [--output=FILE] [--duration=SECONDS]"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

if [ "$force" = 0 ] && [ -s "$out" ]; then
  echo "sample media present: $out"
  exit 0
fi
command -v ffmpeg >/dev/null || { echo "ffmpeg is needed to make $out" >&2; exit 1; }

mkdir -p "$(dirname "$out")"
tmp="$(mktemp "$(dirname "$out")/.sample.XXXXXX.mp4")"
trap 'rm -f "$tmp"' EXIT

font=""
for f in /usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf; do
  [ -f "$f" ] && { font="$f"; break; }
done

video="testsrc2=size=320x240:rate=25:duration=$duration"
filters="$(ffmpeg -hide_banner -filters 2>/dev/null || true)"
if [ -n "$font" ] && grep -q ' drawtext ' <<<"$filters"; then
  video="$video,drawtext=fontfile=$font:text='%{frame_num}':x=8:y=8:fontsize=32:fontcolor=white:box=1:boxcolor=black"
else
  # testsrc draws its own running counter when drawtext (libfreetype) is missing.
  video="testsrc=size=320x240:rate=25:duration=$duration"
fi

ffmpeg -nostdin -hide_banner -loglevel error -y \
  -f lavfi -i "$video" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=$duration" \
  -map 0:v -map 1:a \
  -c:v libx264 -profile:v main -preset veryfast -pix_fmt yuv420p \
  -g 25 -keyint_min 25 -sc_threshold 0 -bf 0 -x264-params repeat-headers=1 \
  -c:a aac -b:a 96k -ac 2 -ar 48000 \
  -map_metadata -1 -fflags +bitexact -flags:v +bitexact -flags:a +bitexact \
  -movflags +faststart -f mp4 "$tmp"

chmod 644 "$tmp"
mv -f "$tmp" "$out"
trap - EXIT
echo "made sample media: $out"
