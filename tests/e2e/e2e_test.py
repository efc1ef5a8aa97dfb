#!/usr/bin/env python3
"""End-to-end tests: the real bcast-headend and bcast-player on loopback.

Each scenario makes its own keys (bcast-headend --write-key-file) in a temporary directory, starts the
head-end on its own ports, waits for its `ready sdp=` line, runs bcast-player for a bounded time
(--duration) and checks the player's JSON report, its output lines and its decoded-frame checksums
against the clear source decoded straight from the file (e2e-reference). No fixed sleeps: every wait
is for a line, a process exit or a file, with a timeout.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from testproc import Process, TestFailure, check, start_private_bus  # noqa: E402,F401


def load_checksums(path):
    streams = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 3:
                continue
            streams.setdefault(parts[0], []).append((int(parts[1]), parts[2]))
    return {name: [h for _, h in sorted(rows)] for name, rows in streams.items()}


def reference_positions(reference, decoded):
    """Position of each decoded checksum in the reference sequence (None when not found)."""
    where = {}
    for i, h in enumerate(reference):
        where.setdefault(h, i)
    return [where.get(h) for h in decoded]


def check_contiguous_run(reference, decoded, what):
    """Every decoded frame is in the reference and each follows its predecessor, with no gap.

    The head-end loops its file, so the run may go from the reference's last frame to its first.
    """
    positions = reference_positions(reference, decoded)
    unknown = [i for i, p in enumerate(positions) if p is None]
    check(not unknown, f"{what}: all {len(decoded)} decoded frames are frames of the clear source"
          + (f" (first unknown: #{unknown[0]})" if unknown else ""))
    gaps = [(i, positions[i - 1], positions[i]) for i in range(1, len(positions))
            if positions[i] != (positions[i - 1] + 1) % len(reference)]
    check(not gaps, f"{what}: decoded frames form one contiguous run of the source (frames "
          f"{positions[0] if positions else '-'}..{positions[-1] if positions else '-'}, looping)"
          + (f"; first gap after decoded #{gaps[0][0] - 1}: source {gaps[0][1]} -> {gaps[0][2]}"
             if gaps else ""))


def check_ordered_subsequence(reference, decoded, what):
    """Every decoded frame is a source frame and they come in source order (gaps allowed)."""
    positions = reference_positions(reference, decoded)
    unknown = [i for i, p in enumerate(positions) if p is None]
    check(not unknown, f"{what}: all {len(decoded)} decoded frames are exact frames of the clear "
          "source" + (f" (first unknown: #{unknown[0]})" if unknown else ""))
    n = len(reference)
    backwards = [i for i in range(1, len(positions))
                 if (positions[i] - positions[i - 1]) % n == 0]
    check(not backwards, f"{what}: decoded frames keep the source order (no repeat)")


class Scenario:
    def __init__(self, args):
        self.args = args
        self.workdir = tempfile.mkdtemp(prefix=f"openbcast-e2e-{args.scenario}-")
        self.env = dict(os.environ)
        if args.plugin_dir:
            path = self.env.get("GST_PLUGIN_PATH", "")
            self.env["GST_PLUGIN_PATH"] = args.plugin_dir + (os.pathsep + path if path else "")
        self.processes = []
        self.keys = os.path.join(self.workdir, "keys.ini")
        self.sdp = os.path.join(self.workdir, "service.sdp")
        self.report = os.path.join(self.workdir, "report.json")
        self.checksums = os.path.join(self.workdir, "frames.txt")
        self.reference_file = os.path.join(self.workdir, "reference.txt")
        self.bus_address = None  # set by start_bus: the player then asks spcd there
        self.spcd = None
        print(f"workdir {self.workdir}", flush=True)

    def close(self, passed):
        for p in self.processes:
            p.stop()
        if passed and not self.args.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            print(f"(kept {self.workdir})")

    def media(self):
        media = self.args.media
        if not os.path.exists(media):
            subprocess.run([self.args.make_media, f"--output={media}"], check=True, env=self.env)
        return media

    def reference(self):
        subprocess.run([self.args.reference, self.media(), self.reference_file], check=True,
                       env=self.env, timeout=120)
        return load_checksums(self.reference_file)

    def write_keys(self):
        subprocess.run([self.args.headend, "--write-key-file", self.keys], check=True,
                       env=self.env, timeout=30, stdout=subprocess.DEVNULL)
        check(os.path.getsize(self.keys) > 0, "head-end wrote a key file")

    def start_headend(self, extra):
        base = self.args.port_base
        argv = [self.args.headend, "--key-file", self.keys, "--media", self.media(),
                "--dest", "127.0.0.1", "--key-port", str(base), "--video-port", str(base + 2),
                "--audio-port", str(base + 4), "--sdp-out", self.sdp] + extra
        p = Process("headend", argv, self.workdir, self.env)
        self.processes.append(p)
        m = p.wait_for_line(r"^ready sdp=(\S+)", timeout=60)
        self.sdp = m.group(1)
        check(os.path.exists(self.sdp), f"head-end ready, session description at {self.sdp}")
        return p

    def start_bus(self):
        """A private dbus-daemon in the work directory (testproc.start_private_bus)."""
        _, self.bus_address = start_private_bus(self.workdir, self.env, self.processes)
        check(True, f"private D-Bus at {self.bus_address}")

    def start_spcd(self, name="spcd"):
        """spcd on the private bus with its key store in the work directory; waits for its name."""
        store = os.path.join(self.workdir, "spc.db")
        self.spcd = Process(name, [self.args.spcd, "--bus-address", self.bus_address, "--store",
                                   store], self.workdir, self.env)
        self.processes.append(self.spcd)
        # gdbus wait returns as soon as the name has an owner (the event), or fails at the timeout.
        subprocess.run(["gdbus", "wait", "--address", self.bus_address, "--timeout", "20",
                        "org.openbcast.SPC1"], check=True, env=self.env, timeout=30)
        check(self.spcd.proc.poll() is None, f"{name} owns org.openbcast.SPC1")
        return self.spcd

    def import_keys(self):
        out = subprocess.run([self.args.spcctl, "--bus-address", self.bus_address, "import-keys",
                              self.keys], check=True, env=self.env, timeout=30,
                             capture_output=True, text=True)
        check(True, f"spcctl import-keys: {out.stdout.strip()}")

    def start_player(self, duration, extra=()):
        argv = [self.args.player, "--headless", "--duration", str(duration), "--report",
                self.report, "--frame-checksums", self.checksums, *extra]
        if self.bus_address:
            argv += ["--bus-address", self.bus_address]
        elif os.path.exists(self.keys):
            argv += ["--key-file", self.keys]
        argv.append(self.sdp)
        p = Process("player", argv, self.workdir, self.env)
        self.processes.append(p)
        return p

    def run_player(self, duration, extra=(), timeout_margin=60):
        return self.finish_player(self.start_player(duration, extra), duration, timeout_margin)

    def finish_player(self, p, duration, timeout_margin=60):
        status = p.wait(timeout=duration + timeout_margin)
        for line in p.lines:
            print(f"    | {line}")
        err = p.stderr_text().strip()
        if err:
            print("    player stderr:\n" + "\n".join("    ! " + l for l in err.splitlines()[-20:]))
        check(os.path.exists(self.report), f"player wrote its report (exit status {status})")
        with open(self.report) as f:
            report = json.load(f)
        frames = load_checksums(self.checksums) if os.path.exists(self.checksums) else {}
        return status, report, p.lines, frames


def srtp_total(report, field):
    return sum(s.get(field, 0) for s in report.get("srtp_stats", {}).values())


def tek_ids_by_stream(report):
    return {name: ids for name, ids in report.get("tek_ids_by_stream", {}).items() if ids}


def check_frame_exact_playback(report, lines, frames, reference, seconds, min_changes=3):
    """Played without a failure over >= min_changes TEK changes per protected stream, every video
    frame a frame of the clear source in one contiguous run, the audio decoded throughout."""
    check(report["errors"] == [], f"no errors ({report['errors']})")
    by_reason = {k: v for k, v in report.get("decrypt_failures_by_reason", {}).items() if v}
    check(report["decrypt_failures"] == 0,
          f"zero decrypt failures ({report['decrypt_failures']} {by_reason})")
    check(report["tek_changes"] >= min_changes, f"at least {min_changes} TEK changes while playing "
          f"({report['tek_changes']}: TEKs {report['tek_ids_in_use']})")
    for name, protection in report.get("protection", {}).items():
        if protection == "clear":
            continue
        ids = report["tek_ids_by_stream"].get(name, [])
        check(len(ids) - 1 >= min_changes,
              f"{name} ({protection}): {len(ids) - 1} TEK changes followed (TEKs {ids})")
    key_lines = [l for l in lines if l.startswith("key tek_id=")]
    check(len(key_lines) == report["tek_changes"] + 1, f"one 'key tek_id=' line per TEK in use "
          f"({len(key_lines)})")
    check(any(l.startswith("first-frame stream=video ms=") for l in lines), "first-frame line")
    video = frames.get("video", [])
    check(report["frames_decoded"]["video"] == len(video) >= seconds * 25 * 0.55,
          f"video frames decoded: {len(video)} (>= {int(seconds * 25 * 0.55)} of ~{seconds * 25} "
          "sent while playing)")
    check_contiguous_run(reference["video"], video, "video")
    audio = frames.get("audio", [])
    check(report["frames_decoded"]["audio"] == len(audio) >= seconds * 47 * 0.55,
          f"audio buffers decoded: {len(audio)} (>= {int(seconds * 47 * 0.55)} of "
          f"~{seconds * 47} sent while playing)")
    for name, stats in report["srtp_stats"].items():
        check(stats["decrypted"] > 0 and stats["auth-failures"] == 0 and stats["replays"] == 0,
              f"{name}: {stats['decrypted']} SRTP packets decrypted, none failed")
    for name, stats in report.get("ismacryp_stats", {}).items():
        check(stats["aus-decrypted"] > 0 and stats["aus-dropped"] == 0,
              f"{name}: {stats['aus-decrypted']} ISMACryp AUs decrypted, {stats['aus-clear']} "
              f"clear, {stats['aus-dropped']} dropped")
    check(report["time_to_first_frame_ms"] is not None, "time to first frame "
          f"{report['time_to_first_frame_ms']} ms")


def scenario_tek_changes(s):
    """(a) Every frame decoded over >= 3 TEK changes, no decrypt failure, output == clear source."""
    reference = s.reference()
    s.write_keys()
    s.start_headend(["--tek-period", "2", "--stkm-interval", "250"])
    status, report, lines, frames = s.run_player(11)
    check(status == 0, f"player exit status 0 (got {status})")
    check_frame_exact_playback(report, lines, frames, reference, 11)


def scenario_isma(s):
    """ISMACryp video and audio: >= 3 TEK changes, no AU dropped, video == clear source."""
    reference = s.reference()
    s.write_keys()
    s.start_headend(["--protection", "ismacryp", "--tek-period", "2", "--stkm-interval", "250"])
    status, report, lines, frames = s.run_player(11)
    check(status == 0, f"player exit status 0 (got {status})")
    check(report["protection"] == {"video": "ismacryp", "audio": "ismacryp"},
          f"both streams ISMACryp ({report['protection']})")
    check_frame_exact_playback(report, lines, frames, reference, 11)
    for name, stats in report["ismacryp_stats"].items():
        check(stats["aus-clear"] == 0, f"{name}: no AU sent clear without selective encryption")


def scenario_isma_selective(s):
    """ISMACryp with selective encryption (30 % of AUs clear), a key indicator in every AU header,
    delta IVs, 3 AUs per packet and fragments at a 600-byte MTU: frame-exact as without."""
    reference = s.reference()
    s.write_keys()
    s.start_headend(["--protection", "ismacryp", "--tek-period", "2", "--stkm-interval", "250",
                     "--isma-selective-encryption", "1", "--isma-clear-share", "30",
                     "--isma-key-indicator-per-au", "1", "--isma-delta-iv-length", "2",
                     "--isma-aus-per-packet", "3", "--mtu", "600"])
    with open(s.sdp) as f:
        sdp = f.read()
    check(sdp.count("ISMACrypSelectiveEncryption=1") == 2, "SDP: selective encryption on both")
    status, report, lines, frames = s.run_player(11)
    check(status == 0, f"player exit status 0 (got {status})")
    check_frame_exact_playback(report, lines, frames, reference, 11)
    for name, stats in report["ismacryp_stats"].items():
        total = stats["aus-clear"] + stats["aus-decrypted"]
        check(stats["aus-clear"] > 0 and stats["aus-decrypted"] > 0,
              f"{name}: {stats['aus-clear']} of {total} AUs came clear, the others encrypted")


def scenario_mixed(s):
    """Mixed service: SRTP video and ISMACryp audio with TEKs from two key streams."""
    reference = s.reference()
    s.write_keys()
    s.start_headend(["--protection", "mixed", "--tek-period", "2", "--stkm-interval", "250",
                     "--isma-key-port", str(s.args.port_base + 6)])
    status, report, lines, frames = s.run_player(11)
    check(status == 0, f"player exit status 0 (got {status})")
    check(report["protection"] == {"video": "srtp", "audio": "ismacryp"},
          f"video SRTP, audio ISMACryp ({report['protection']})")
    check_frame_exact_playback(report, lines, frames, reference, 11)
    ids = report["tek_ids_by_stream"]
    check(not set(ids["video"]) & set(ids["audio"]),
          f"the two streams used disjoint TEKs (video {ids['video']}, audio {ids['audio']})")


def check_spcd_source(report, lines):
    check(report["key_source"].startswith("spcd on the bus at unix:"),
          f"keys from spcd ({report['key_source']})")
    check(any(l.startswith("spcd available=1") for l in lines), "player saw spcd answer")


def scenario_spcd_tek_changes(s):
    """(a) with the TEKs from spcd (keys imported with spcctl), no key file given to the player."""
    reference = s.reference()
    s.write_keys()
    s.start_bus()
    s.start_spcd()
    s.import_keys()
    s.start_headend(["--tek-period", "2", "--stkm-interval", "250"])
    status, report, lines, frames = s.run_player(11)
    check(status == 0, f"player exit status 0 (got {status})")
    check_spcd_source(report, lines)
    check(report["spcd_outages"] == 0, "spcd never went away")
    check_frame_exact_playback(report, lines, frames, reference, 11)


def line_ms(line):
    m = re.search(r"\bms=(\d+)", line)
    return int(m.group(1)) if m else -1


def scenario_spcd_restart(s):
    """spcd killed (SIGKILL) while playing and restarted: no frame lost on the current TEK, and
    the STKMs after the restart are processed again (new TEKs learned and used)."""
    reference = s.reference()
    s.write_keys()
    s.start_bus()
    s.start_spcd()
    s.import_keys()
    s.start_headend(["--tek-period", "4", "--stkm-interval", "250"])
    duration = 17
    p = s.start_player(duration)
    p.wait_for_line(r"^spcd available=1", timeout=30)
    # Kill right after a TEK change, so the TEK in use (lifetime 2 x 4 + 5 s) is valid throughout
    # the outage.
    p.wait_for_line(r"^key tek_id=", timeout=30)
    changed = p.wait_for_line(r"^key tek_id=(\d+)", timeout=30)
    print(f"  TEK {changed.group(1)} in use: killing spcd", flush=True)
    os.kill(s.spcd.proc.pid, signal.SIGKILL)
    s.spcd.proc.wait(timeout=10)
    killed_at = time.monotonic()
    down = p.wait_for_line(r"^spcd available=0.*", timeout=20).group(0)
    check(True, f"player noticed that spcd went away: {down}")
    # The outage itself is the one bounded wait: spcd stays down 1.5 s.
    time.sleep(max(0.0, 1.5 - (time.monotonic() - killed_at)))
    s.start_spcd("spcd-restarted")
    back = p.wait_for_line(r"^spcd available=1.*", timeout=20).group(0)
    back_ms = line_ms(back)
    check(True, f"player sees spcd again: {back}")
    status, report, lines, frames = s.finish_player(p, duration)
    check(status == 0, f"player exit status 0 (got {status})")
    check_spcd_source(report, lines)
    check(report["spcd_outages"] == 1, f"one spcd outage reported ({report['spcd_outages']})")
    check(any(l.startswith("warning: spcd went away") for l in lines), "warning about spcd")
    # TEKs the player had learned (current and announced next) before spcd came back.
    learned_before = set()
    for l in lines:
        m = re.match(r"stkm tek_id=(\d+)(?: next=(\d+))?", l)
        if m and line_ms(l) < back_ms:
            learned_before.update(int(g) for g in m.groups() if g)
    new_stkms = [l for l in lines if l.startswith("stkm tek_id=") and line_ms(l) > back_ms]
    check(new_stkms, f"STKMs processed after the restart bring new TEKs: {new_stkms}")
    used_after = [int(re.match(r"key tek_id=(\d+)", l).group(1)) for l in lines
                  if l.startswith("key tek_id=") and line_ms(l) > back_ms]
    fresh = [t for t in used_after if t not in learned_before]
    check(fresh, f"TEK changes after the restart followed (TEKs {used_after}; learned from the "
          f"restarted spcd: {fresh}; known before: {sorted(learned_before)})")
    check_frame_exact_playback(report, lines, frames, reference, duration)


def scenario_spcd_errors(s):
    """No spcd on the bus: the player says how to start it. spcd without the rights: the player
    names the content ID and how to get the keys."""
    s.write_keys()
    s.start_bus()
    s.start_headend(["--tek-period", "2", "--stkm-interval", "250"])
    status, report, lines, frames = s.run_player(5, timeout_margin=30)
    err = s.processes[-1].stderr_text()
    check(status == 1, f"without spcd: exit status 1 (got {status})")
    check("spcd (org.openbcast.SPC1) is not reachable on the bus at " + s.bus_address in err
          and "start it with `spcd --bus-address" in err,
          "without spcd: the error says where spcd was looked for and how to start it: "
          + err.strip().splitlines()[0] if err.strip() else "(no stderr)")
    os.remove(s.report)

    s.start_spcd()  # no keys imported
    status, report, lines, frames = s.run_player(4)
    cid = "urn:openbcast:svc:sample:0000002a"
    text = (f"No rights for {cid}: import keys with `spcctl import-keys FILE` or acquire them "
            "from the service's Rights Issuer")
    check(status == 2, f"without rights: exit status 2, nothing played (got {status})")
    warned = [l for l in lines if l.startswith("warning:") and text in l]
    check(warned, "without rights: warning names the content ID and what to do: "
          + (warned[0] if warned else "-"))
    check(report["no_rights_content_ids"] == [cid], f"report names {cid}")
    check(report["stkm_rejected"]["no-rights"] > 0,
          f"STKMs rejected for no-rights: {report['stkm_rejected']['no-rights']}")
    check(any(text in e for e in report["errors"]), "the final error repeats it: "
          + "; ".join(report["errors"]))


def scenario_clear(s):
    """The head-end's --clear service (RTP/AVP) plays without keys and matches the source."""
    reference = s.reference()
    s.start_headend(["--clear"])
    status, report, lines, frames = s.run_player(5)
    check(status == 0, f"player exit status 0 (got {status})")
    check(report["srtp_stats"] == {}, "no SRTP stream in a clear service")
    video = frames.get("video", [])
    check(len(video) >= 50, f"video frames decoded: {len(video)}")
    check_contiguous_run(reference["video"], video, "video")


def roc_headend_options(rcc):
    # Sequence numbers start just below the wrap and the ROC is already 5: a terminal that tunes
    # in can only learn the ROC from the stream itself (RFC 4771).
    return ["--tek-period", "4", "--initial-seq", "65400", "--initial-roc", "5",
            "--rcc-mode", rcc, "--roc-tx-rate", str(ROC_TX_RATE)]


ROC_TX_RATE = 4


def scenario_roc_rcc(s):
    """(b) With RCCm2 the player learns the ROC in-band and decrypts across the wrap."""
    reference = s.reference()
    s.write_keys()
    s.start_headend(roc_headend_options("rccm2"))
    status, report, lines, frames = s.run_player(7)
    check(status == 0, f"player exit status 0 (got {status})")
    video = frames.get("video", [])
    check(len(video) >= 75, f"video frames decoded: {len(video)}")
    check_contiguous_run(reference["video"], video, "video")
    check(report["frames_decoded"].get("audio", 0) >= 100,
          f"audio buffers decoded: {report['frames_decoded'].get('audio', 0)}")
    for name, stats in report["srtp_stats"].items():
        check(stats["lost"] < ROC_TX_RATE, f"{name}: {stats['lost']} packets lost, only before "
              f"the first ROC-carrying packet (ROC sent every {ROC_TX_RATE} packets)")
        check(stats["roc"] >= 5, f"{name}: ROC {stats['roc']} learnt from the stream (>= 5)")


def scenario_roc_norcc(s):
    """(b) Without RFC 4771 the player cannot know the ROC: it says so, it is not silent."""
    s.write_keys()
    s.start_headend(roc_headend_options("none"))
    status, report, lines, frames = s.run_player(4)
    check(status != 0, f"player exit status non-zero (got {status}): it played nothing")
    check(report["decrypt_failures"] > 0, f"decrypt failures reported "
          f"({report['decrypt_failures']})")
    check(report["frames_decoded"].get("video", 0) == 0, "no video frame decoded")
    warnings = [l for l in lines if l.startswith("warning:") and "roll-over counter (ROC)" in l]
    check(warnings, "warning names the unknown roll-over counter: "
          + (warnings[0] if warnings else "-"))


def scenario_faults(s):
    """(c) Forged/foreign/garbage key messages, broken SRTP tags and replays on a live stream."""
    reference = s.reference()
    s.write_keys()
    s.start_headend(["--tek-period", "3", "--stkm-interval", "250", "--corrupt-stkm-every", "3",
                     "--foreign-stkm-every", "4", "--inject-random-key-datagrams", "2",
                     "--break-srtp-tag-every", "300", "--replay-srtp-every", "50"])
    status, report, lines, frames = s.run_player(12)
    check(status == 0, f"player exit status 0 (got {status})")
    rejected = report["stkm_rejected"]
    for reason in ("bad-mac", "no-rights", "malformed"):
        check(rejected.get(reason, 0) > 0, f"STKMs rejected for {reason}: {rejected.get(reason)}")
    check(srtp_total(report, "auth-failures") > 0,
          f"SRTP authentication failures counted: {srtp_total(report, 'auth-failures')}")
    check(srtp_total(report, "replays") > 0, f"SRTP replays counted: {srtp_total(report, 'replays')}")
    for text in ("STKM rejected: MAC check failed", "STKM rejected: No rights for urn:",
                 "STKM rejected: malformed", "failed authentication", "replayed SRTP packets"):
        check(any(l.startswith("warning:") and text in l for l in lines), f"warning '{text}'")
    progress = [int(m.group(1)) for m in
                (re.search(r"\bvideo=(\d+)", l) for l in lines if l.startswith("progress "))
                if m]
    final = report["frames_decoded"]["video"]
    counts = progress + [final]
    check(len(counts) >= 3 and all(b > a for a, b in zip(counts, counts[1:])),
          f"video frames decoded keep increasing: {counts}")
    check(final >= 100, f"video frames decoded: {final}")
    # The head-end still sends every genuine packet, so no frame may be missing either.
    check_contiguous_run(reference["video"], frames.get("video", []), "video")
    check(report["frames_decoded"].get("audio", 0) >= 200,
          f"audio buffers decoded: {report['frames_decoded'].get('audio', 0)}")
    check(report["tek_changes"] >= 2, f"TEK changes still followed: {report['tek_changes']}")


def readme_block(readme, marker):
    """The fenced code block that follows `<!-- e2e:MARKER -->` in README.md, as written."""
    with open(readme) as f:
        text = f.read()
    m = re.search(r"<!-- e2e:" + re.escape(marker) + r" -->\s*```[a-z]*\n(.*?)```", text, re.S)
    if not m:
        raise TestFailure(f"README.md has no block marked e2e:{marker}")
    return m.group(1).strip()


def scenario_readme(s):
    """The README's head-end and gst-launch-1.0 commands work verbatim."""
    args = s.args
    # Only what the README's commands set themselves (GST_PLUGIN_PATH) may find the plugin.
    s.env.pop("GST_PLUGIN_PATH", None)
    # The README's commands run from the repository root, where the build is in ./build.
    os.symlink(os.path.abspath(args.build_dir), os.path.join(s.workdir, "build"))
    keys_cmd = readme_block(args.readme, "keys")
    headend_cmd = readme_block(args.readme, "headend")
    launch_cmd = readme_block(args.readme, "gst-launch")
    print(f"  README keys command: {keys_cmd}")
    subprocess.run(["bash", "-ec", keys_cmd], cwd=s.workdir, env=s.env, check=True, timeout=30)
    headend = Process("headend", ["bash", "-c", "exec " + headend_cmd], s.workdir, s.env)
    s.processes.append(headend)
    headend.wait_for_line(r"^ready sdp=", timeout=60)
    check(True, "README head-end command is running")
    env = dict(s.env)
    # Decoded pictures leave a debug line each; the command itself is run as written.
    env["GST_DEBUG"] = "videodecoder:5"
    env["GST_DEBUG_NO_COLOR"] = "1"
    # No display here: autovideosink would fall back to DirectFB's sink, which crashes in its own
    # thread on headless machines (as README.md says). Same for a user; not a property of the line.
    env["GST_PLUGIN_FEATURE_RANK"] = "dfbvideosink:NONE"
    launch = Process("gst-launch", ["bash", "-c", "exec 2>&1; " + launch_cmd], s.workdir, env)
    s.processes.append(launch)
    for _ in range(50):
        launch.wait_for_line(r"avdec_h264.*pushing buffer", timeout=30)
    check(True, "gst-launch-1.0 decodes video from the protected service (50 pictures)")
    errors = [l for l in launch.lines if l.startswith("ERROR")]
    check(not errors, "gst-launch-1.0 reports no error" + (f": {errors[0]}" if errors else ""))


SCENARIOS = {
    "readme": scenario_readme,
    "tek-changes": scenario_tek_changes,
    "clear": scenario_clear,
    "roc-rcc": scenario_roc_rcc,
    "roc-no-rcc": scenario_roc_norcc,
    "faults": scenario_faults,
    "isma": scenario_isma,
    "isma-selective": scenario_isma_selective,
    "mixed": scenario_mixed,
    "spcd-tek-changes": scenario_spcd_tek_changes,
    "spcd-restart": scenario_spcd_restart,
    "spcd-errors": scenario_spcd_errors,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--headend", required=True)
    parser.add_argument("--player", required=True)
    parser.add_argument("--reference", required=True)
    parser.add_argument("--media", required=True)
    parser.add_argument("--make-media", required=True)
    parser.add_argument("--plugin-dir", default="")
    parser.add_argument("--port-base", type=int, required=True)
    parser.add_argument("--spcd", default="")
    parser.add_argument("--spcctl", default="")
    parser.add_argument("--readme", default="")
    parser.add_argument("--build-dir", default="")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()

    for name in ("headend", "player", "reference", "media", "make_media", "plugin_dir", "readme",
                 "build_dir", "spcd", "spcctl"):
        if getattr(args, name):
            setattr(args, name, os.path.abspath(getattr(args, name)))
    print(f"scenario {args.scenario}: {SCENARIOS[args.scenario].__doc__}", flush=True)
    s = Scenario(args)
    passed = False
    try:
        SCENARIOS[args.scenario](s)
        passed = True
    except TestFailure as e:
        print(f"FAIL: {e}")
    except subprocess.CalledProcessError as e:
        print(f"FAIL: {e}")
    finally:
        s.close(passed)
    print("PASS" if passed else "FAILED", flush=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
