#!/usr/bin/env python3
"""Fault injection on loopback: bcast-headend -> relay.py (drops, reorders, duplicates, corrupts)
-> bcast-player, for a fault window, then clean traffic.

Checks: the player exits normally and writes its report; SRTP authentication failures never exceed
the damaged datagrams the relay sent (and equal them when the key stream is clean: each damaged
packet rejected, none passed on); replays never exceed the duplicates; after the faults stop, every
TEK the head-end switches to is followed on every stream and video is decoded again at >= 40 % of
the frame rate within one key period. Prints `result {...}` (JSON) for scripts/faults.sh.

--join-behind-key: no faults; the terminal tunes in with its media path a second behind its key
path across a TEK change (the relay passes the key stream only from just after the head-end's next
TEK change and delays the media by 1 s), so the first TEK it learns is newer than the first second
of media. Those packets are the join, never decrypt failures: none is counted as one; the player
counts them as packets before the first key (ISMACryp) or bcastsrtpdec as held packets dropped at
the join (SRTP).

No fixed sleeps: every wait is for a line, a process exit or a file, with a timeout.
"""

import argparse
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from e2e_test import Process as _Process, TestFailure, check  # noqa: E402


class Process(_Process):
    """e2e_test's Process that also keeps when each line arrived (monotonic clock)."""

    def __init__(self, *args, **kwargs):
        self.timed_lines = []
        super().__init__(*args, **kwargs)

    def _read(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.timed_lines.append((time.monotonic(), line))
            self.lines.append(line)
            self._log.write(line + "\n")
            self._log.flush()
            self._queue.put(line)
        self._queue.put(None)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--headend", required=True)
    ap.add_argument("--player", required=True)
    ap.add_argument("--media", required=True)
    ap.add_argument("--plugin-dir", default="")
    ap.add_argument("--port-base", type=int, required=True)
    ap.add_argument("--protection", default="srtp")
    ap.add_argument("--faults-on", default="key,video,audio")
    for name in ("loss", "reorder", "dup", "corrupt"):
        ap.add_argument(f"--{name}", type=float, default=0.0)
    ap.add_argument("--fault-seconds", type=float, default=6.0)
    ap.add_argument("--tek-period", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--join-behind-key", action="store_true")
    args = ap.parse_args()
    # The processes run in the work directory.
    for name in ("headend", "player", "media", "plugin_dir"):
        if getattr(args, name):
            setattr(args, name, os.path.abspath(getattr(args, name)))

    import shutil
    import tempfile
    workdir = tempfile.mkdtemp(prefix="openbcast-faults-")
    env = dict(os.environ)
    if args.plugin_dir:
        env["GST_PLUGIN_PATH"] = args.plugin_dir + (os.pathsep + env["GST_PLUGIN_PATH"]
                                                    if env.get("GST_PLUGIN_PATH") else "")
    procs = []
    passed = False
    try:
        base = args.port_base
        keys = os.path.join(workdir, "keys.ini")
        import subprocess
        subprocess.run([args.headend, "--write-key-file", keys], check=True, env=env, timeout=30,
                       stdout=subprocess.DEVNULL)
        headend = Process("headend", [
            args.headend, "--key-file", keys, "--media", args.media, "--dest", "127.0.0.1",
            "--key-port", str(base), "--video-port", str(base + 2), "--audio-port", str(base + 4),
            "--isma-key-port", str(base + 6), "--protection", args.protection,
            "--tek-period", str(args.tek_period), "--stkm-interval", "250",
            "--sdp-out", os.path.join(workdir, "headend.sdp")], workdir, env)
        procs.append(headend)
        sdp_path = headend.wait_for_line(r"^ready sdp=(\S+)", timeout=60).group(1)
        # The player listens 10 ports higher; the relay sits on the head-end's ports.
        with open(sdp_path) as f:
            sdp = f.read()
        for port in (base, base + 2, base + 4, base + 6):
            sdp = re.sub(rf"^(m=\S+ ){port}\b", rf"\g<1>{port + 10}", sdp, flags=re.M)
        player_sdp = os.path.join(workdir, "player.sdp")
        with open(player_sdp, "w") as f:
            f.write(sdp)

        duration = int(args.fault_seconds + 2 * args.tek_period + 7)
        report_path = os.path.join(workdir, "report.json")
        player = Process("player", [args.player, "--headless", "--duration", str(duration),
                                    "--key-file", keys, "--report", report_path, player_sdp],
                         workdir, env)
        procs.append(player)
        player.wait_for_line(r"^playing ", timeout=30)
        t_player = time.monotonic()

        media_kind = "srtp" if args.protection == "srtp" else "raw"
        streams = [f"key:{base}:{base + 10}:raw", f"video:{base + 2}:{base + 12}:{media_kind}",
                   f"audio:{base + 4}:{base + 14}:{'raw' if args.protection != 'srtp' else 'srtp'}"]
        if args.protection == "mixed":
            streams[1] = f"video:{base + 2}:{base + 12}:srtp"
            streams.append(f"key2:{base + 6}:{base + 16}:raw")
        join = []
        if args.join_behind_key:
            # Up to the next TEK change the player gets media only (at least 1 s of it, under the
            # TEK before), then STKMs announcing the new TEK and its successor.
            rotations = [t for t, line in headend.timed_lines if line.startswith("tek id=")]
            now = time.monotonic()
            change = rotations[-1] + args.tek_period if rotations else now
            while change - now < 1.0:
                change += args.tek_period
            join = ["--block", f"key:{change - now + 0.1:.3f}", "--delay", "video:1000",
                    "--delay", "audio:1000"]
        relay = Process("relay", [sys.executable, os.path.join(os.path.dirname(
            os.path.abspath(__file__)), "relay.py"), *sum((["--stream", s] for s in streams), []),
            *join,
            "--loss", str(args.loss), "--reorder", str(args.reorder), "--dup", str(args.dup),
            "--corrupt", str(args.corrupt), "--faults-on", args.faults_on + (
                ",key2" if "key" in args.faults_on.split(",") else ""),
            "--fault-seconds", str(args.fault_seconds), "--max-seconds", str(duration + 30),
            "--seed", str(args.seed)], workdir, env)
        procs.append(relay)
        relay.wait_for_line(r"^ready$", timeout=20)
        relay.wait_for_line(r"^faults-stopped$", timeout=duration)
        t_stop = time.monotonic()
        stop_ms = (t_stop - t_player) * 1000

        status = player.wait(timeout=duration + 60)
        relay.proc.terminate()
        counts = json.loads(relay.wait_for_line(r"^counts (.*)$", timeout=20).group(1))
        for line in player.lines:
            print(f"    | {line}")
        check(status == 0, f"player exit status 0 (got {status})")
        check(os.path.exists(report_path), "player wrote its report")
        with open(report_path) as f:
            report = json.load(f)
        print(f"  relay counts: {json.dumps(counts)}")

        key_clean = "key" not in args.faults_on.split(",")
        result = {"protection": args.protection, "faults_on": args.faults_on,
                  "loss": args.loss, "reorder": args.reorder, "dup": args.dup,
                  "corrupt": args.corrupt, "relay": counts, "streams": {}}
        for name, stats in report.get("srtp_stats", {}).items():
            c = counts.get(name, {})
            damaged = c.get("corrupted_sent", 0)
            auth = stats["auth-failures"]
            check(auth <= damaged, f"{name}: {auth} SRTP auth failures <= {damaged} damaged "
                  "datagrams sent")
            if key_clean:
                check(auth == damaged, f"{name}: every damaged datagram rejected, none passed on "
                      f"({auth} auth failures == {damaged} damaged)")
            check(stats["replays"] <= c.get("duplicated", 0),
                  f"{name}: {stats['replays']} replays <= {c.get('duplicated', 0)} duplicates")
            result["streams"][name] = {"received": stats["received"],
                                       "decrypted": stats["decrypted"], "auth_failures": auth,
                                       "replays": stats["replays"],
                                       "dropped_held": stats["dropped-held"],
                                       "damaged_sent": damaged}

        if args.join_behind_key:
            check(counts["key"]["blocked"] > 0, f"key stream withheld until the TEK change "
                  f"({counts['key']['blocked']} STKMs)")
            check(report["decrypt_failures"] == 0, "no decrypt failure at the join "
                  f"({report.get('decrypt_failures_by_reason')})")
            # ISMACryp: dropped by the player before ismacrypdec; SRTP: held by bcastsrtpdec, then
            # dropped as packets held before the first decrypted one.
            before = {name: stats.get("packets-before-first-key", 0)
                      for name, stats in report.get("ismacryp_stats", {}).items()}
            before.update({name: stats.get("dropped-held-at-join", 0)
                           for name, stats in report.get("srtp_stats", {}).items()})
            check(before and all(n > 0 for n in before.values()),
                  f"media under the TEK before the first one learnt counted as the join: {before}")
        # Recovery: the TEKs the head-end switched to after the faults stopped (leaving one key
        # period for the change to arrive) are all followed, on every protected stream.
        t_end = t_player + report["duration_ms"] / 1000
        later = [(t, int(m.group(1))) for t, m in
                 ((t, re.match(r"^tek id=(\d+)", line)) for t, line in headend.timed_lines)
                 if m and t >= t_stop and t <= t_end - args.tek_period]
        for name, protection in report.get("protection", {}).items():
            if protection == "clear":
                continue
            followed = set(report["tek_ids_by_stream"].get(name, []))
            missing = [tek for _, tek in later if tek not in followed]
            check(later and not missing, f"{name}: TEK changes after the faults all followed "
                  f"({[tek for _, tek in later]} in {sorted(followed)})")
        # Video decoded again within one key period of the faults stopping.
        progress = [(int(m.group(1)), int(m.group(2))) for m in
                    (re.match(r"^progress ms=(\d+) video=(\d+)", l) for l in player.lines) if m]
        after = [(ms, v) for ms, v in progress if ms >= stop_ms + args.tek_period * 1000]
        check(after, f"a progress line more than one key period after the faults stopped "
              f"(stop at {stop_ms:.0f} ms; {progress})")
        ms0, v0 = after[0]
        final = report["frames_decoded"]["video"]
        rate = (final - v0) / max(0.001, (report["duration_ms"] - ms0) / 1000)
        check(rate >= 10, f"video decoded at {rate:.1f} frames/s after recovery (>= 10 of 25)")
        result["recovered_fps"] = round(rate, 1)
        result["tek_changes"] = report["tek_changes"]
        print("result " + json.dumps(result, sort_keys=True), flush=True)
        passed = True
    except TestFailure as e:
        print(f"FAIL: {e}", flush=True)
    finally:
        for p in procs:
            p.stop()
        if passed and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"(kept {workdir})")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
