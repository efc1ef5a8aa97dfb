#!/usr/bin/env python3
"""Soak run: bcast-headend (TEK change every --tek-period s) -> relay.py (--loss % on every stream for
the whole run) -> bcast-player for --seconds. Samples the player's resident memory (VmRSS) every
--sample seconds and reports its growth after the first minute, and checks that every TEK the
head-end switched to was followed on every stream. Prints `soak {...}` (JSON) and exits 1 when the
growth reaches --max-growth-kb or a key change was missed.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faults_test import Process  # noqa: E402


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--headend", required=True)
    ap.add_argument("--player", required=True)
    ap.add_argument("--media", required=True)
    ap.add_argument("--plugin-dir", default="")
    ap.add_argument("--port-base", type=int, default=28900)
    ap.add_argument("--seconds", type=int, default=1800)
    ap.add_argument("--tek-period", type=int, default=10)
    ap.add_argument("--loss", type=float, default=5.0)
    ap.add_argument("--sample", type=float, default=5.0)
    ap.add_argument("--max-growth-kb", type=int, default=1024)
    args = ap.parse_args()
    for name in ("headend", "player", "media", "plugin_dir"):
        if getattr(args, name):
            setattr(args, name, os.path.abspath(getattr(args, name)))

    workdir = tempfile.mkdtemp(prefix="openbcast-soak-")
    env = dict(os.environ)
    if args.plugin_dir:
        env["GST_PLUGIN_PATH"] = args.plugin_dir
    base = args.port_base
    keys = os.path.join(workdir, "keys.ini")
    subprocess.run([args.headend, "--write-key-file", keys], check=True, env=env, timeout=30,
                   stdout=subprocess.DEVNULL)
    procs = []
    try:
        headend = Process("headend", [
            args.headend, "--key-file", keys, "--media", args.media, "--key-port", str(base),
            "--video-port", str(base + 2), "--audio-port", str(base + 4),
            "--tek-period", str(args.tek_period), "--sdp-out", os.path.join(workdir, "h.sdp")],
            workdir, env)
        procs.append(headend)
        sdp_path = headend.wait_for_line(r"^ready sdp=(\S+)", timeout=60).group(1)
        sdp = open(sdp_path).read()
        for port in (base, base + 2, base + 4):
            sdp = re.sub(rf"^(m=\S+ ){port}\b", rf"\g<1>{port + 10}", sdp, flags=re.M)
        player_sdp = os.path.join(workdir, "player.sdp")
        open(player_sdp, "w").write(sdp)
        report_path = os.path.join(workdir, "report.json")
        player = Process("player", [args.player, "--headless", "--quiet", "--duration",
                                    str(args.seconds), "--key-file", keys, "--report",
                                    report_path, player_sdp], workdir, env)
        procs.append(player)
        relay = Process("relay", [sys.executable, os.path.join(os.path.dirname(
            os.path.abspath(__file__)), "relay.py"), "--stream", f"key:{base}:{base + 10}:raw",
            "--stream", f"video:{base + 2}:{base + 12}:srtp",
            "--stream", f"audio:{base + 4}:{base + 14}:srtp", "--loss", str(args.loss),
            "--max-seconds", str(args.seconds + 60), "--max-packets", "100000000"], workdir, env)
        procs.append(relay)
        relay.wait_for_line(r"^ready$", timeout=20)
        t0 = time.monotonic()
        samples = []
        done = threading.Event()
        # Memory is sampled at a fixed cadence (a measurement, not a synchronisation); the run
        # ends when the player exits.
        while not done.wait(args.sample):
            if player.proc.poll() is not None:
                break
            kb = rss_kb(player.proc.pid)
            if kb is not None:
                samples.append((time.monotonic() - t0, kb))
        status = player.wait(timeout=120)
        report = json.load(open(report_path))
        t_end = time.monotonic()
        switched = [int(m.group(1)) for t, m in
                    ((t, re.match(r"^tek id=(\d+)", l)) for t, l in headend.timed_lines)
                    if m and t0 + args.tek_period < t < t_end - args.tek_period]
        missed = {name: [i for i in switched if i not in ids]
                  for name, ids in report["tek_ids_by_stream"].items()}
        after_minute = [kb for t, kb in samples if t >= 60] or [kb for _, kb in samples]
        growth = (after_minute[-1] - after_minute[0]) if after_minute else None
        result = {
            "seconds": args.seconds, "tek_period": args.tek_period, "loss": args.loss,
            "player_status": status,
            "rss_kb_first": samples[0][1] if samples else None,
            "rss_kb_at_60s": after_minute[0] if after_minute else None,
            "rss_kb_end": samples[-1][1] if samples else None,
            "rss_kb_max": max(kb for _, kb in samples) if samples else None,
            "rss_growth_kb_after_60s": growth,
            "tek_changes_headend": len(switched),
            "tek_changes_player": report["tek_changes"],
            "missed_key_changes": missed,
            "frames_decoded": report["frames_decoded"],
            "decrypt_failures_by_reason": report.get("decrypt_failures_by_reason"),
            "samples": samples,
        }
        print("soak " + json.dumps(result), flush=True)
        ok = (status == 0 and growth is not None and growth < args.max_growth_kb and
              not any(missed.values()))
        print("soak: " + ("PASS" if ok else "FAIL"))
        return 0 if ok else 1
    finally:
        for p in procs:
            p.stop()


if __name__ == "__main__":
    sys.exit(main())
