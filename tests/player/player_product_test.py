#!/usr/bin/env python3
"""bcast-player as a product: interactive terminal mode (driven through tmux), recording and its
playback, refused recordings, parental block and PIN, every failure message for its cause, and the
conformance mode. Real processes on loopback: bcast-headend, a private dbus-daemon with spcd, and
bcast-player. No fixed sleeps: every wait is for an output line, a screen content, a file or an
exit, with a timeout.
"""

import argparse
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from testproc import Process, TestFailure, check, start_private_bus  # noqa: E402,F401


class Tmux:
    """One tmux server on its own socket with one 250x50 window running a command."""

    def __init__(self, workdir, env, name):
        self.socket = os.path.join(workdir, f"tmux-{name}")
        self.env = env
        self.workdir = workdir
        self.name = name
        self.started = False

    def _tmux(self, *args, check_status=True):
        return subprocess.run(["tmux", "-S", self.socket, *args], env=self.env, check=check_status,
                              capture_output=True, text=True, timeout=30)

    def start(self, argv):
        script = os.path.join(self.workdir, f"{self.name}.sh")
        with open(script, "w") as f:
            f.write("#!/bin/sh\n")
            f.write(" ".join("'" + a.replace("'", "'\\''") + "'" for a in argv))
            # Keep the pane after the player exits, with its status, until the server is killed.
            f.write("\necho \"player exit status $?\"\nexec cat\n")
        os.chmod(script, 0o755)
        print(f"  tmux {self.name}: {' '.join(argv)}", flush=True)
        self._tmux("new-session", "-d", "-s", "main", "-x", "250", "-y", "50", script)
        self.started = True

    def keys(self, *keys):
        self._tmux("send-keys", "-t", "main", *keys)

    def screen(self):
        return self._tmux("capture-pane", "-p", "-J", "-t", "main", "-S", "-1000").stdout

    def status_line(self):
        lines = [l for l in self.screen().splitlines() if l.strip()]
        return lines[-1] if lines else ""

    def wait_screen(self, pattern, timeout, what):
        """Polls the pane until `pattern` shows (the screen is the event source here)."""
        regex = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.screen()
            m = regex.search(text)
            if m:
                check(True, f"{what}: {m.group(0)[:160]!r}")
                return m
            time.sleep(0.2)  # polling interval of the screen, not a synchronisation
        with open(os.path.join(self.workdir, f"{self.name}.screen"), "w") as f:
            f.write(self.screen())
        raise TestFailure(f"{what}: {pattern!r} not on the screen within {timeout} s "
                          f"(screen saved to {self.name}.screen)")

    def wait_status(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            last = self.status_line()
            if predicate(last):
                check(True, f"{what}: {last[:200]!r}")
                return last
            time.sleep(0.2)  # polling interval of the screen, not a synchronisation
        raise TestFailure(f"{what}: status line never matched within {timeout} s; last: {last!r}")

    def stop(self):
        if self.started:
            with open(os.path.join(self.workdir, f"{self.name}.screen"), "w") as f:
                f.write(self.screen())
            self._tmux("kill-server", check_status=False)
            self.started = False


def frames_of(status):
    m = re.search(r"frames (\d+)", status)
    return int(m.group(1)) if m else -1


class Scenario:
    def __init__(self, args):
        self.args = args
        self.workdir = tempfile.mkdtemp(prefix=f"openbcast-player-{args.scenario}-")
        self.env = dict(os.environ)
        if args.plugin_dir:
            path = self.env.get("GST_PLUGIN_PATH", "")
            self.env["GST_PLUGIN_PATH"] = args.plugin_dir + (os.pathsep + path if path else "")
        self.env.pop("DISPLAY", None)
        self.env.pop("WAYLAND_DISPLAY", None)
        self.env["XDG_CONFIG_HOME"] = os.path.join(self.workdir, "config")
        self.env["TERM"] = "xterm"
        self.processes = []
        self.tmuxes = []
        self.bus_address = None
        print(f"workdir {self.workdir}", flush=True)

    def close(self, passed):
        for t in self.tmuxes:
            t.stop()
        for p in reversed(self.processes):
            p.stop()
        if passed and not self.args.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            print(f"(kept {self.workdir})")

    def path(self, name):
        return os.path.join(self.workdir, name)

    def media(self):
        media = self.args.media
        if not os.path.exists(media):
            subprocess.run([self.args.make_media, f"--output={media}"], check=True, env=self.env)
        return media

    def write_keys(self, name, cid_extension="0x2a"):
        path = self.path(name)
        subprocess.run([self.args.headend, "--write-key-file", path, "--cid-extension",
                        cid_extension], check=True, env=self.env, timeout=30,
                       stdout=subprocess.DEVNULL)
        return path

    def rights_file(self, keys, name, not_after=None, record=None):
        """A copy of a key file with spcd's rights fields (the head-end reads plain key files)."""
        with open(keys) as f:
            text = f.read()
        if not_after is not None:
            text += f"not-after={not_after}\n"
        if record is not None:
            text += f"record={'true' if record else 'false'}\n"
        path = self.path(name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def start_headend(self, name, keys, port, extra=(), session_name=None, cid_extension="0x2a"):
        sdp = self.path(f"{name}.sdp")
        argv = [self.args.headend, "--key-file", keys, "--media", self.media(), "--dest",
                "127.0.0.1", "--key-port", str(port), "--video-port", str(port + 2),
                "--audio-port", str(port + 4), "--isma-key-port", str(port + 6), "--sdp-out", sdp,
                "--cid-extension", cid_extension, "--tek-period", "2",
                # A fixed start: the head-end's random sequence number can wrap between two player
                # runs, and a stream without RFC 4771 cannot be joined after a wrap (by design).
                "--initial-seq", "0",
                "--session-name", session_name or name, *extra]
        p = Process(f"headend-{name}", argv, self.workdir, self.env)
        self.processes.append(p)
        p.wait_for_line(r"^ready sdp=", timeout=60)
        check(os.path.exists(sdp), f"head-end {name} ready on port {port}")
        return sdp, p

    def start_bus(self):
        """A private dbus-daemon in the work directory (testproc.start_private_bus)."""
        _, self.bus_address = start_private_bus(self.workdir, self.env, self.processes)

    def start_spcd(self, extra=()):
        spcd = Process("spcd", [self.args.spcd, "--bus-address", self.bus_address, "--store",
                                self.path("spc.db"), *extra], self.workdir, self.env)
        self.processes.append(spcd)
        subprocess.run(["gdbus", "wait", "--address", self.bus_address, "--timeout", "20",
                        "org.openbcast.SPC1"], check=True, env=self.env, timeout=30)
        check(spcd.proc.poll() is None, "spcd owns org.openbcast.SPC1 on the private bus")
        return spcd

    def import_keys(self, path):
        subprocess.run([self.args.spcctl, "--bus-address", self.bus_address, "import-keys", path],
                       check=True, env=self.env, timeout=30, capture_output=True, text=True)

    def set_config(self, max_age, pin):
        config = self.path("player.ini")
        out = subprocess.run([self.args.player, "--config", config, "--set-pin",
                              "--set-parental-rating", str(max_age)], input=pin + "\n",
                             env=self.env, capture_output=True, text=True, timeout=60)
        check(out.returncode == 0, f"bcast-player --set-pin --set-parental-rating {max_age}: "
              f"{out.stdout.strip()}")
        mode = stat.S_IMODE(os.stat(config).st_mode)
        check(mode == 0o600, f"config file mode is 0600 ({oct(mode)})")
        with open(config) as f:
            text = f.read()
        check(pin not in text and "pbkdf2-sha256:" in text,
              "the PIN is stored as a PBKDF2 hash, never in clear")
        return config

    def player(self, name, argv, stdin=None):
        p = Process(name, [self.args.player, *argv], self.workdir, self.env, stdin=stdin)
        self.processes.append(p)
        return p

    def tmux(self, name):
        t = Tmux(self.workdir, self.env, name)
        self.tmuxes.append(t)
        return t


# --- scenarios -------------------------------------------------------------------------------


def scenario_interactive(s, base):
    """Channel list, status line updates, zapping, recording from the keyboard, quit."""
    s.start_bus()
    s.start_spcd()
    keys_a = s.write_keys("a.ini", "0x2a")
    keys_b = s.write_keys("b.ini", "0x2b")
    s.import_keys(keys_a)
    s.import_keys(keys_b)
    sdp_a, _ = s.start_headend("news", keys_a, base, cid_extension="0x2a",
                               extra=["--protection-after-reception", "2"])
    sdp_b, _ = s.start_headend("sports", keys_b, base + 8, cid_extension="0x2b",
                               extra=["--protection", "ismacryp", "--first-tek-id", "100"])
    t = s.tmux("ui")
    t.start([s.args.player, "--interactive", "--headless", "--bus-address", s.bus_address,
             "--config", s.path("player.ini"), "--record-dir", s.workdir, sdp_a, sdp_b])
    t.wait_screen(r"bcast-player: 2 channels", 20, "header with the channel count")
    t.wait_screen(r"^\s*1\s+news\s+\(", 5, "channel list: 1 news")
    t.wait_screen(r"^\s*2\s+sports\s+\(", 5, "channel list: 2 sports")
    first = t.wait_status(lambda l: l.startswith("[1/2 news]") and re.search(r"TEK \d+", l)
                          and frames_of(l) > 0, 30, "status line: channel 1, a TEK, frames")
    check("rights valid, no time limit" in first, "status line shows the rights' validity")
    check(re.search(r"decrypt-fail \d+ lost \d+", first) is not None,
          "status line shows decrypt and loss counters")
    check(re.search(r"\d+ kbit/s", first) is not None, "status line shows the bitrate")
    t.wait_status(lambda l: frames_of(l) > frames_of(first), 10,
                  "status line updates (frames count goes up)")
    t.wait_status(lambda l: re.search(r"TEK \d+ next \d+ in \d+s", l), 20,
                  "status line shows the next TEK and the time to the key change")
    # Recording from the keyboard: r starts, r stops.
    t.keys("r")
    t.wait_screen(r"RECORDING: Recording to \S+\.bcrec \(protection_after_reception 2", 20,
                  "r starts a recording")
    t.wait_status(lambda l: re.search(r"REC \d+\.\d MB|REC ([2-9]\d\d|\d{4}) kB", l), 30,
                  "status line shows REC and the recording grows past 200 kB")
    t.keys("r")
    t.wait_screen(r"RECORDING: Recording stopped: \S+\.bcrec, \d+ datagrams", 10,
                  "r stops the recording")
    # Zap by number, then with n (wraps to 1), then p.
    t.keys("2")
    t.wait_screen(r"channel 2: sports", 10, "key 2 zaps to sports")
    t.wait_status(lambda l: l.startswith("[2/2 sports]") and re.search(r"TEK 1\d\d", l)
                  and frames_of(l) > 0, 30, "sports plays with its own TEKs (IDs from 100)")
    t.keys("n")
    t.wait_status(lambda l: l.startswith("[1/2 news]") and frames_of(l) > 0, 30,
                  "n zaps (wrapping) back to news")
    t.keys("Left")
    t.wait_status(lambda l: l.startswith("[2/2 sports]") and frames_of(l) > 0, 30,
                  "the left arrow zaps to the previous channel")
    t.keys("h")
    t.wait_screen(r"keys: 1-9 go to channel N", 5, "h shows the help")
    t.keys("q")
    t.wait_screen(r"player exit status 0", 20, "q quits with status 0")
    recordings = [f for f in os.listdir(s.workdir) if f.endswith(".bcrec")]
    check(len(recordings) == 1, f"one recording in the record folder: {recordings}")
    p = s.player("playback", ["--headless", "--bus-address", s.bus_address, "--report",
                              s.path("playback.json"), s.path(recordings[0])])
    check(p.wait(60) == 0, "the recording made from the keyboard plays back (exit 0)")
    with open(s.path("playback.json")) as f:
        back = json.load(f)
    check(back["frames_decoded"]["video"] > 0 and back["decrypt_failures"] == 0,
          f"its playback decodes {back['frames_decoded']} with no decrypt failure")


def scenario_failures(s, base):
    """Each failure shown for its cause, with what to do."""
    s.start_bus()
    s.start_spcd()
    keys_a = s.write_keys("a.ini", "0x2a")  # never imported: no rights
    keys_e = s.write_keys("e.ini", "0x2d")
    keys_p = s.write_keys("p.ini", "0x2c")
    sdp_a, _ = s.start_headend("norights", keys_a, base, cid_extension="0x2a")
    sdp_e, _ = s.start_headend("expired", keys_e, base + 8, cid_extension="0x2d")
    sdp_p, _ = s.start_headend("adult", keys_p, base + 16, cid_extension="0x2c",
                               extra=["--parental-rating", "18"])
    # A service nobody broadcasts: its head-end's session description, ports nobody sends to.
    with open(sdp_a) as f:
        silent = f.read().replace(f" {base} ", f" {base + 24} ").replace(
            f" {base + 2} ", f" {base + 26} ").replace(f" {base + 4} ", f" {base + 28} ")
    silent = re.sub(r"^s=.*$", "s=silent", silent, flags=re.M)
    sdp_s = s.path("silent.sdp")
    with open(sdp_s, "w") as f:
        f.write(silent)
    config = s.set_config(12, "4711")

    # 1. spcd holds no rights at all: not registered.
    t = s.tmux("unregistered")
    t.start([s.args.player, "--headless", "--bus-address", s.bus_address, "--config", config,
             sdp_a])
    t.wait_screen(r"NOT REGISTERED: Not registered: this terminal holds no rights at all.*"
                  r"spcctl register", 30, "not registered, with how to register")
    t.wait_status(lambda l: l.startswith("[1/1 norights]") and l.endswith("! NOT REGISTERED"),
                  5, "status line names the problem")
    t.keys("q")
    t.wait_screen(r"player exit status 0", 20, "q quits")
    t.stop()

    # 2. Registered (rights for other services), none for this one; expired; parental; silent.
    s.import_keys(s.rights_file(keys_e, "e-rights.ini", not_after="946684800"))  # ended in 2000
    s.import_keys(keys_p)
    t = s.tmux("failures")
    t.start([s.args.player, "--interactive", "--headless", "--bus-address", s.bus_address,
             "--config", config, "--silence-timeout", "2", sdp_a, sdp_e, sdp_p, sdp_s])
    t.wait_screen(r"NO RIGHTS: No rights for urn:openbcast:svc:sample:0000002a: the terminal is "
                  r"registered but holds no key.*spcctl acquire", 30, "no rights, with what to do")
    t.keys("2")
    t.wait_screen(r"RIGHTS EXPIRED: Rights expired for urn:openbcast:svc:sample:0000002d "
                  r"\(EXPIRED since 2000-01-01 00:00 UTC\): renew them", 30,
                  "rights expired, with the date and what to do")
    t.wait_status(lambda l: l.startswith("[2/4 expired]") and l.endswith("! RIGHTS EXPIRED"),
                  5, "status line: rights expired")
    t.keys("3")
    t.wait_screen(r"PARENTAL BLOCK: Parental block: this programme is rated 18\+ and this "
                  r"terminal's setting allows up to 12\. Press u and enter the PIN", 30,
                  "parental block, with how to unlock")
    blocked = t.wait_status(lambda l: l.startswith("[3/4 adult]") and re.search(r"TEK \d+", l)
                            and l.endswith("! PARENTAL BLOCK"), 20,
                            "keys flow but the programme is blocked")
    check(frames_of(blocked) == 0, "nothing shown while blocked")
    t.keys("u")
    t.wait_status(lambda l: l.startswith("Enter PIN"), 5, "u asks for the PIN")
    t.keys("0000", "Enter")
    # PBKDF2 (200000 rounds) takes ~0.1 s, but ~6 s under ASan with full malloc stacks
    # (scripts/test-sanitizers.sh): OpenSSL allocates in every HMAC round.
    t.wait_screen(r"PIN: wrong PIN", 60, "a wrong PIN is refused")
    t.keys("u")
    t.wait_status(lambda l: l.startswith("Enter PIN"), 5, "u asks for the PIN again")
    t.keys("4711", "Enter")
    t.wait_screen(r"UNLOCKED: PIN accepted: the programme rated 18\+ is shown", 60,
                  "the right PIN unlocks")
    t.wait_status(lambda l: l.startswith("[3/4 adult]") and frames_of(l) > 0
                  and "PARENTAL" not in l, 20, "the programme plays after the PIN")
    t.keys("4")
    t.wait_screen(r"NO SIGNAL: No signal: nothing received for \d+ s on key stream "
                  rf"127\.0\.0\.1:{base + 24}.*Check the network connection", 20,
                  "network silent, with where and what to check")
    t.wait_status(lambda l: l.startswith("[4/4 silent]") and l.endswith("! NO SIGNAL"), 5,
                  "status line: no signal")
    t.keys("3")
    t.wait_screen(r"channel 3: adult", 10, "back to the adult channel")
    t.wait_status(lambda l: l.startswith("[3/4 adult]") and "! PARENTAL BLOCK" in l, 20,
                  "zapping away and back locks the programme again")
    t.keys("q")
    t.wait_screen(r"player exit status 0", 20, "q quits")

    # 3. spcd's own parental setting: the player's PIN raises it for the session and puts it back.
    out = subprocess.run([s.args.spcctl, "--bus-address", s.bus_address, "set-parental-rating",
                          "16"], env=s.env, capture_output=True, text=True, timeout=30)
    check(out.returncode == 0, "spcd parental setting 16")
    p = s.player("player-pin", ["--headless", "--bus-address", s.bus_address, "--config", config,
                                "--duration", "8", "--pin", "4711", "--report",
                                s.path("pin.json"), sdp_p])
    status = p.wait(60)
    with open(s.path("pin.json")) as f:
        report = json.load(f)
    check(status == 0 and report["frames_decoded"]["video"] > 0,
          f"--pin: spcd's refusal (rating 18 > 16) is lifted for the session, frames decoded "
          f"({report['frames_decoded']})")
    out = subprocess.run([s.args.spcctl, "--bus-address", s.bus_address, "--json", "status"],
                         env=s.env, capture_output=True, text=True, timeout=30)
    check(json.loads(out.stdout)["parental_rating"] == 16,
          "spcd's parental setting is back to 16 after the session")
    p = s.player("player-nopin", ["--headless", "--bus-address", s.bus_address, "--config",
                                  config, "--duration", "5", sdp_p])
    p.wait_for_line(r"^notice parental: Parental block: this programme is rated 18\+ and "
                    r"(spcd's|this terminal's) setting allows up to 1[26]\. Give the PIN", 30)
    check(True, "without the PIN the command line says how to unlock (--pin)")
    check(p.wait(30) == 2, "and exits 2: nothing decoded")
    bad = subprocess.run([s.args.player, "--config", config, "--pin", "9999", sdp_p], env=s.env,
                         capture_output=True, text=True, timeout=30)
    check(bad.returncode == 1 and "wrong PIN" in bad.stderr, "--pin with a wrong PIN is refused")


def scenario_record(s, base):
    """A recording kept encrypted, played back through spcd (purpose record)."""
    s.start_bus()
    s.start_spcd()
    keys = s.write_keys("keys.ini")
    s.import_keys(keys)
    sdp, _ = s.start_headend("svc", keys, base, extra=["--protection-after-reception", "2"])
    rec = s.path("svc.bcrec")
    p = s.player("record", ["--headless", "--bus-address", s.bus_address, "--duration", "8",
                            "--record", rec, "--report", s.path("live.json"), sdp])
    p.wait_for_line(r"^notice record-started: Recording to \S+ \(protection_after_reception 2: "
                    r"content protection and protection of recorded playback\)", 30)
    check(True, "recording started: the STKMs allow it (value 2) and spcd's record check passed")
    p.wait_for_line(r"^notice record-stopped: Recording stopped: \S+, \d+ datagrams", 30)
    check(p.wait(30) == 0, "live playback while recording: exit 0")
    mode = stat.S_IMODE(os.stat(rec).st_mode)
    check(mode == 0o600, f"recording file mode 0600 ({oct(mode)})")
    with open(rec, "rb") as f:
        head = f.read(4096)
    check(head.startswith(b"OBCASTREC1\n") and b"RTP/SAVP" in head,
          "recording: magic and the session description (SRTP profile) at its start")
    with open(s.path("live.json")) as f:
        live = json.load(f)

    p = s.player("playback", ["--headless", "--bus-address", s.bus_address, "--report",
                              s.path("playback.json"), "--frame-checksums",
                              s.path("playback.txt"), rec])
    p.wait_for_line(r"^eos$", 60)
    check(p.wait(30) == 0, "playback of the recording through spcd: EOS, exit 0")
    with open(s.path("playback.json")) as f:
        back = json.load(f)
    frames = back["frames_decoded"]
    check(frames.get("video", 0) > 0 and frames.get("audio", 0) > 0,
          f"playback decoded video and audio: {frames}")
    # Playback keeps the recording's timing, so packets received live before their TEK came (held
    # and dropped there: a slow start, e.g. under ASan) are dropped again; nothing else may fail.
    reasons = back["decrypt_failures_by_reason"]
    live_held = live["decrypt_failures_by_reason"].get("srtp-dropped-held", 0)
    check(back["decrypt_failures"] == reasons.get("srtp-dropped-held", 0) <= live_held,
          f"playback: no decrypt failure but the live run's dropped-held packets ({reasons}, "
          f"live dropped-held {live_held})")
    check(len(back["tek_ids_in_use"]) >= 2,
          f"playback followed the recorded key changes: TEKs {back['tek_ids_in_use']}")
    check(set(back["tek_ids_in_use"]) <= set(live["tek_ids_in_use"]),
          "playback used TEKs of the live run")

    # Still protected: with a key file that lacks the service's keys nothing decodes.
    other = s.write_keys("other.ini", "0x77")
    p = s.player("playback-nokeys", ["--headless", "--key-file", other, "--report",
                                     s.path("nokeys.json"), rec])
    check(p.wait(60) == 2, "without the rights the recording does not play (exit 2: nothing "
          "decoded): it is still encrypted")
    # And with the key file of the service (conformance labs), it plays.
    p = s.player("playback-keyfile", ["--headless", "--key-file", keys, "--report",
                                      s.path("keyfile.json"), rec])
    check(p.wait(60) == 0, "the recording plays with the service's key file too")
    # A damaged recording is an error naming the field and offset, not a crash.
    with open(rec, "rb") as f:
        data = f.read()
    with open(s.path("cut.bcrec"), "wb") as f:
        f.write(data[:len(data) // 2 + 7])
    p = s.player("playback-cut", ["--headless", "--key-file", keys, s.path("cut.bcrec")])
    status = p.wait(60)
    check(status == 1 and re.search(r"recording .*cut\.bcrec: file ends inside .*offset \d+",
                                    p.stderr_text()),
          f"a truncated recording: error with field and offset (exit {status})")


def scenario_record_forbidden(s, base):
    s.start_bus()
    s.start_spcd()
    keys = s.write_keys("keys.ini")
    s.import_keys(keys)
    sdp, _ = s.start_headend("noreq", keys, base, extra=["--protection-after-reception", "3"])
    p = s.player("record-spcd", ["--headless", "--bus-address", s.bus_address, "--duration", "20",
                                 "--record", s.path("x.bcrec"), sdp])
    p.wait_for_line(r"^notice record-refused: Recording refused by spcd for "
                    r"urn:openbcast:svc:sample:0000002a: recording not permitted: "
                    r"protection_after_reception 3", 30)
    check(True, "spcd refuses the recording and the reason is shown")
    check(p.wait(30) == 1, "--record of a service that forbids it: exit 1")
    check(not os.path.exists(s.path("x.bcrec")), "no file was written")
    p = s.player("record-keyfile", ["--headless", "--key-file", keys, "--duration", "20",
                                    "--record", s.path("y.bcrec"), sdp])
    p.wait_for_line(r"^notice record-refused: Recording refused: the service forbids it \(its "
                    r"STKM says protection_after_reception 3", 30)
    check(p.wait(30) == 1 and not os.path.exists(s.path("y.bcrec")),
          "with a key file the player itself refuses (protection_after_reception 3), no file")
    # Rights without the record permission: spcd refuses even where the STKM would allow it.
    keys2 = s.write_keys("norecord.ini", "0x2e")
    s.import_keys(s.rights_file(keys2, "norecord-rights.ini", record=False))
    sdp2, _ = s.start_headend("norecright", keys2, base + 8, cid_extension="0x2e")
    p = s.player("record-noright", ["--headless", "--bus-address", s.bus_address, "--duration",
                                    "20", "--record", s.path("z.bcrec"), sdp2])
    p.wait_for_line(r"^notice record-refused: Recording refused by spcd for "
                    r"urn:openbcast:svc:sample:0000002e: the rights of \S+ do not permit record",
                    30)
    check(p.wait(30) == 1, "rights without record permission: refused with the reason")


def scenario_conformance(s, base):
    keys = {}
    sdps = {}
    for i, (name, extra) in enumerate([("srtp", []), ("isma", ["--protection", "ismacryp"]),
                                       ("mixed", ["--protection", "mixed"])]):
        keys[name] = s.write_keys(f"{name}.ini", f"0x{0x30 + i:x}")
        # Ports base+0..6, +6..12, +12..18 (the mixed service's second key stream), then +20.
        sdps[name], _ = s.start_headend(name, keys[name], base + 6 * i, extra=extra,
                                        cid_extension=f"0x{0x30 + i:x}")
    plan = s.path("plan.ini")
    with open(plan, "w") as f:
        for name in ("srtp", "isma", "mixed"):
            f.write(f"[service {name}]\nsdp={os.path.basename(sdps[name])}\nduration=5\n"
                    f"key-file={os.path.basename(keys[name])}\nmin-keys=2\n\n")
    p = s.player("conformance-pass", ["--conformance", plan, "--report", s.path("pass.json"),
                                      "--text-report", s.path("pass.txt")])
    status = p.wait(120)
    with open(s.path("pass.txt")) as f:
        text = f.read()
    print(text)
    check(status == 0, "conformance over the sample services passes (exit 0)")
    check("3 passed, 0 failed" in text, "human report: 3 passed, 0 failed")
    with open(s.path("pass.json")) as f:
        report = json.load(f)
    check(report["passed"] and len(report["services"]) == 3, "JSON report: passed, 3 services")
    for svc in report["services"]:
        check(svc["passed"] and len(svc["keys_seen"]) >= 1 and
              all(n > 0 for n in svc["frames_decoded"].values()) and
              svc["decrypt_failures"] == 0 and all(v >= 0 for v in svc["first_frame_ms"].values()),
              f"{svc['name']}: keys {svc['keys_seen']}, frames {svc['frames_decoded']}, first "
              f"frames {svc['first_frame_ms']} ms, no decrypt failure")

    # The head-end corrupts one service's keys: every STKM with a bad MAC.
    bad_keys = s.write_keys("bad.ini", "0x40")
    bad_sdp, _ = s.start_headend("corrupt", bad_keys, base + 20, extra=["--bad-stkm-mac"],
                                 cid_extension="0x40")
    with open(plan, "a") as f:
        f.write(f"[service corrupt]\nsdp={os.path.basename(bad_sdp)}\nduration=5\n"
                f"key-file={os.path.basename(bad_keys)}\n")
    p = s.player("conformance-fail", ["--conformance", plan, "--report", s.path("fail.json")])
    status = p.wait(150)
    text = "\n".join(p.lines)
    print(text)
    check(status == 1, "with one service's keys corrupt the conformance run fails (exit 1)")
    check(re.search(r"^FAIL  corrupt", text, re.M) and "3 passed, 1 failed" in text,
          "human report: the corrupt service FAILs, the others pass")
    check(re.search(r"FAILED: keys: 0 TEKs obtained, at least 1 required \(\d+ STKMs rejected: "
                    r"bad-mac\)", text),
          "human report: the failure names the cause (STKMs rejected: bad-mac)")
    with open(s.path("fail.json")) as f:
        report = json.load(f)
    corrupt = [x for x in report["services"] if x["name"] == "corrupt"][0]
    check(not report["passed"] and not corrupt["passed"] and corrupt["keys_seen"] == [] and
          corrupt["stkm_rejected"]["bad-mac"] > 0 and
          any("KEY ERROR" in n or "bad-keys" in n for n in corrupt["notices"]),
          f"JSON: corrupt service failed, no keys, bad-mac {corrupt['stkm_rejected']['bad-mac']}")
    # A wrong plan is a usage error.
    with open(s.path("bad-plan.ini"), "w") as f:
        f.write("[service x]\nduration=5\n")
    out = subprocess.run([s.args.player, "--conformance", s.path("bad-plan.ini")], env=s.env,
                         capture_output=True, text=True, timeout=30)
    check(out.returncode == 2 and "has no sdp=" in out.stderr, "a plan without sdp= is refused")


SCENARIOS = {
    "interactive": scenario_interactive,
    "failures": scenario_failures,
    "record": scenario_record,
    "record-forbidden": scenario_record_forbidden,
    "conformance": scenario_conformance,
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--headend", required=True)
    parser.add_argument("--player", required=True)
    parser.add_argument("--spcd", required=True)
    parser.add_argument("--spcctl", required=True)
    parser.add_argument("--media", required=True)
    parser.add_argument("--make-media", required=True)
    parser.add_argument("--plugin-dir", default="")
    parser.add_argument("--port-base", type=int, required=True)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    # meson passes build-dir relative paths; the processes run in their work directory.
    for name in ("headend", "player", "spcd", "spcctl", "media", "make_media"):
        setattr(args, name, os.path.abspath(getattr(args, name)))
    if args.scenario in ("interactive", "failures") and shutil.which("tmux") is None:
        print("tmux is not installed (scripts/install-deps.sh installs it)")
        return 77
    s = Scenario(args)
    passed = False
    try:
        SCENARIOS[args.scenario](s, args.port_base)
        passed = True
        print(f"PASS {args.scenario}")
    except TestFailure as e:
        print(f"FAIL {args.scenario}: {e}")
    finally:
        s.close(passed)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
