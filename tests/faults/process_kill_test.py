#!/usr/bin/env python3
"""Process faults (issue 7, point 4): spcd and the head-end killed (SIGKILL) at random points and
restarted. Nothing acknowledged is lost: after every kill the key store passes PRAGMA
integrity_check, holds every right whose acquisition had been acknowledged to its caller (spcctl
exit 0: the D-Bus reply came, so spcd had committed), and nothing half-stored (a right without
its RO install record, an RO install without its right, a right of an RI the store does not know).

Scenarios (each with its own ports, see meson.build):
  spcd-roap         spcd killed while it registers with the head-end's RI and acquires rights by
                    2-pass ROAP (several services: the head-end changes the SEK every few seconds,
                    each change a new content ID) and runs the RI's roAcquisition triggers; after
                    each restart the acknowledged rights are there and the interrupted call,
                    retried, succeeds.
  spcd-bcro         a broadcast-only terminal: spcd killed while it receives the
                    device_registration_response and BCROs over broadcast; every BCRO it had
                    reported installed is still there after the restart and the carousel installs
                    the rest.
  headend-roap      the head-end killed during a ROAP transaction (registration or acquisition):
                    spcd answers a named error, its store is unchanged, and the same call succeeds
                    once the head-end (same PKI, key file and ports: the same RI and service) is
                    back.
  headend-playback  the head-end killed while bcast-player plays its SRTP service with TEKs from
                    spcd: the player goes on running, holds while the head-end is away, and
                    decodes again after it is back (its new TEKs followed, no SRTP authentication
                    failure, no forged packet passed on).

The kill delays come from a seeded RNG (printed; PROCESS_KILL_SEED=<n> reproduces a run,
PROCESS_KILL_ROUNDS=<n> changes the number of rounds). A kill delay is the fault itself; every
synchronisation is a wait for an event (an output line, a process exit, a D-Bus reply) with a
timeout.
"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from testproc import (Process, TestFailure, absolute_paths, check, run_scenario,  # noqa: E402
                      start_private_bus)

BASE_CID = "urn:openbcast:svc:sample:"
SAMPLE_CID = BASE_CID + "0000002a"
# Every error spcd may name for a ROAP call the RI did not complete (spc/daemon/roap_client.h).
NAMED_ERROR = re.compile(r"^org\.openbcast\.SPC1\.Error\.(Interaction|Roap)\.[A-Za-z.]+$")


def pause(seconds):
    """The random delay before a kill: the fault itself, not a synchronisation."""
    threading.Event().wait(seconds)


class Setup:
    def __init__(self, args):
        self.args = args
        self.seed = int(os.environ.get("PROCESS_KILL_SEED", str(random.SystemRandom().randrange(
            1, 1 << 31))))
        self.rounds = int(os.environ.get("PROCESS_KILL_ROUNDS", str(args.rounds)))
        self.rng = random.Random(self.seed)
        print(f"seed {self.seed} (PROCESS_KILL_SEED={self.seed} reproduces it), "
              f"{self.rounds} rounds", flush=True)
        self.workdir = tempfile.mkdtemp(prefix=f"process-kill-{args.scenario}-")
        self.env = dict(os.environ)
        if args.plugin_dir:
            path = self.env.get("GST_PLUGIN_PATH", "")
            self.env["GST_PLUGIN_PATH"] = args.plugin_dir + (os.pathsep + path if path else "")
        self.processes = []
        self.pki = os.path.join(self.workdir, "pki")
        if os.environ.get("PROCESS_KILL_PKI"):
            # A PKI made before (scripts/make-test-pki.sh DIR): RSA key generation is the slowest
            # step of the setup on a loaded machine.
            shutil.copytree(os.environ["PROCESS_KILL_PKI"], self.pki)
        else:
            subprocess.run(["sh", args.make_test_pki, self.pki, "2"], check=True,
                           stdout=subprocess.DEVNULL, timeout=300)
        self.keys = os.path.join(self.workdir, "keys.ini")
        subprocess.run([args.headend, "--write-key-file", self.keys], check=True,
                       stdout=subprocess.DEVNULL, timeout=30)
        _, self.bus = start_private_bus(self.workdir, self.env, self.processes)
        self.store = os.path.join(self.workdir, "spc.db")
        self.sdp = os.path.join(self.workdir, "headend.sdp")
        self.spcd = None
        self.spcd_starts = 0
        self.headend = None
        self.headend_starts = 0
        self.headend_argv = None

    # ---- processes ------------------------------------------------------------------------------

    def start_headend(self, extra):
        base = self.args.port_base
        if self.headend_argv is None:
            self.headend_argv = [
                self.args.headend, "--key-file", self.keys, "--media", self.args.media,
                "--dest", "127.0.0.1", "--key-port", str(base), "--video-port", str(base + 2),
                "--audio-port", str(base + 4), "--sdp-out", self.sdp, *extra]
        self.headend_starts += 1
        p = Process(f"headend-{self.headend_starts}", self.headend_argv, self.workdir, self.env)
        self.processes.append(p)
        self.headend = p
        p.wait_for_line(r"^ready sdp=", 150)
        self.headend_started = time.monotonic()
        return p

    def ri_of(self, headend):
        m = re.search(r"^roap ready url=(\S+) ri-id=([0-9a-f]{40})", "\n".join(headend.lines), re.M)
        if not m:
            raise TestFailure("the head-end's RI did not say ready")
        return m.group(1), m.group(2)

    def ri_id_from_pki(self):
        with open(os.path.join(self.pki, "ids.txt")) as f:
            for line in f:
                name, _, spki = line.partition(" ")
                if name == "ri":
                    return spki.strip()
        raise TestFailure("no RI in the test PKI's ids.txt")

    def start_spcd(self, extra=()):
        self.spcd_starts += 1
        argv = [self.args.spcd, "--bus-address", self.bus, "--store", self.store,
                "--device-cert", f"{self.pki}/device-1.pem",
                "--device-key", f"{self.pki}/device-1.key",
                "--trust-anchors", f"{self.pki}/root.pem", "--no-auto-acquire", *extra]
        p = Process(f"spcd-{self.spcd_starts}", argv, self.workdir, self.env, watch="stderr")
        self.processes.append(p)
        self.spcd = p
        p.wait_for_line(r"owns org\.openbcast\.SPC1; ready", 30)
        return p

    def kill(self, p):
        """SIGKILL to the process group; returns once the process is gone."""
        os.killpg(p.proc.pid, signal.SIGKILL)
        p.proc.wait(timeout=30)
        p.stop()

    def spcctl(self, *argv, timeout=120):
        r = subprocess.run([self.args.spcctl, "--bus-address", self.bus, "--json", *argv],
                           capture_output=True, text=True, timeout=timeout, env=self.env)
        out = r.stdout.strip()
        try:
            parsed = json.loads(out) if out.startswith(("{", "[")) else out
        except ValueError:
            parsed = out
        return r.returncode, parsed, r.stderr

    def rights_via_spcctl(self):
        rc, rights, err = self.spcctl("list-rights", timeout=30)
        if rc != 0:
            raise TestFailure(f"spcctl list-rights: exit {rc}: {rights} {err}")
        return {r["content_id"]: r for r in rights}

    def cleanup(self, passed):
        for p in reversed(self.processes):
            p.stop()
        if passed and not self.args.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            print(f"  work directory kept: {self.workdir}", flush=True)

    # ---- the key store, read directly (spcd is dead when this runs) -----------------------------

    def store_check(self, acknowledged, ris=()):
        """integrity_check, nothing half-stored, every acknowledged right (content ID -> RO ID or
        None) and RI context present. Returns {content_id: (ro_id, source)}."""
        if not os.path.exists(self.store):
            check(not acknowledged and not ris, "no store yet and nothing acknowledged")
            return {}
        db = sqlite3.connect(f"file:{self.store}?mode=ro", uri=True, timeout=30)
        try:
            integrity = db.execute("PRAGMA integrity_check").fetchall()
            if integrity != [("ok",)]:
                raise TestFailure(f"integrity_check: {integrity}")
            rights = {cid: (ro, src, issuer) for cid, ro, src, issuer in db.execute(
                "SELECT content_id, ro_id, source, issuer FROM rights")}
            installs = db.execute("SELECT issuer, ro_id, content_id FROM ro_installs").fetchall()
            contexts = {ri: (src, status) for ri, src, status in db.execute(
                "SELECT ri_id, source, status FROM ri_contexts")}
        finally:
            db.close()
        install_keys = {(i, r) for i, r, _ in installs}
        for cid, (ro, src, issuer) in rights.items():
            if src in ("roap", "bcro"):
                if (issuer, ro) not in install_keys:
                    raise TestFailure(f"half-stored: right {cid} (RO {ro}) without its install")
                if issuer not in contexts:
                    raise TestFailure(f"half-stored: right {cid} of an unknown RI {issuer}")
        for issuer, ro, cid in installs:
            if cid not in rights:
                raise TestFailure(f"half-stored: RO {ro} installed for {cid}, no right for it")
        for cid, ro in acknowledged.items():
            if cid not in rights:
                raise TestFailure(f"LOST: acknowledged right {cid} is not in the store")
            if ro is not None and not any(i[1] == ro and i[2] == cid for i in installs):
                raise TestFailure(f"LOST: acknowledged RO {ro} of {cid} is not in the store")
        for ri in ris:
            if contexts.get(ri, ("", ""))[1] != "registered":
                raise TestFailure(f"LOST: acknowledged registration with {ri} not in the store")
        return {cid: (ro, src) for cid, (ro, src, _) in rights.items()}

    def store_snapshot(self):
        if not os.path.exists(self.store):
            return None
        db = sqlite3.connect(f"file:{self.store}?mode=ro", uri=True, timeout=30)
        try:
            return (sorted(db.execute("SELECT content_id, ro_id, ro_timestamp, source, "
                                      "hex(encryption_key) FROM rights").fetchall()),
                    sorted(db.execute("SELECT issuer, ro_id, timestamp FROM ro_installs")),
                    sorted(db.execute("SELECT ri_id, source, status, timestamp FROM ri_contexts")))
        finally:
            db.close()


class Worker:
    """Runs spcctl calls one after another on a thread until stopped; each call's outcome is kept.
    A call that exited 0 was acknowledged."""

    def __init__(self, s, next_call, on_result):
        self.s = s
        self.next_call = next_call
        self.on_result = on_result
        self.calls = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            argv = self.next_call()
            if argv is None:
                return
            rc, out, err = self.s.spcctl(*argv)
            self.calls.append((argv, rc, out, err))
            self.on_result(argv, rc, out)
            if rc != 0 and self._stop.is_set():
                return

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=150)
        if self._thread.is_alive():
            raise TestFailure("an spcctl call did not return after spcd was killed")


def acquired_ros(out):
    return out.get("installed", []) if isinstance(out, dict) else []


# ---- scenario spcd-roap --------------------------------------------------------------------------

def scenario_spcd_roap(s):
    base = s.args.port_base
    he = s.start_headend([
        "--pki-dir", s.pki, "--ri-port", str(base + 9), "--trigger-dir",
        os.path.join(s.workdir, "triggers"), "--registration-port", str(base + 6),
        "--bcro-port", str(base + 7), "--sek-period", "2", "--sek-lead", "1",
        "--tek-period", "2", "--duration", "600"])
    url, ri_id = s.ri_of(he)
    check(True, f"head-end RI {ri_id} at {url}")

    def offered():
        """Content IDs the RI grants (the first one, then one per SEK announcement) and the
        trigger files it wrote."""
        text = "\n".join(he.lines)
        cids = [SAMPLE_CID] + re.findall(r"^roap trigger id=\S+ cids=(\S+) nonce=", text, re.M)
        files = re.findall(r"^roap trigger .* file=(\S+)", text, re.M)
        return cids, files

    acknowledged = {}  # content ID -> None (an acknowledged install of it)
    ris = set()
    registered = False
    kills = in_flight_kills = calls_ok = retries = 0
    pending = []  # calls not acknowledged when spcd died: retried after the restart

    def record(argv, out):
        """What an acknowledged call (spcctl exit 0) stored: registration, RI, installed rights."""
        nonlocal registered
        if argv[0] == "register":
            registered = True
            ris.add(out["ri_id"])
        for cid in acquired_ros(out):
            acknowledged[cid] = None
        if argv[0] == "handle-trigger":
            m = re.match(r"installed (\S+)", out.get("outcome", ""))
            for cid in (m.group(1).split(",") if m else []):
                acknowledged[cid] = None

    for rnd in range(s.rounds + 1):
        s.start_spcd()
        if rnd > 0:
            rights = s.rights_via_spcctl()
            missing = [c for c in acknowledged if c not in rights]
            if missing:
                raise TestFailure(f"LOST after restart {rnd}: {missing} not listed by spcd")
        for argv in pending:
            rc, out, err = s.spcctl(*argv)
            if rc != 0:
                raise TestFailure(f"retry of {' '.join(argv)} after the restart: exit {rc}: "
                                  f"{out} {err}")
            retries += 1
            record(argv, out)
        pending = []
        if rnd == s.rounds:
            break

        def next_call():
            nonlocal registered
            if not registered or s.rng.random() < 0.1:
                return ["register", url]
            cids, files = offered()
            if files and s.rng.random() < 0.3:
                return ["handle-trigger", s.rng.choice(files)]
            return ["acquire", *s.rng.sample(cids, min(len(cids), s.rng.randint(1, 3)))]

        def on_result(argv, rc, out):
            nonlocal calls_ok
            if rc != 0:
                return
            calls_ok += 1
            record(argv, out)

        worker = Worker(s, next_call, on_result)
        delay = s.rng.uniform(0.05, 2.0)
        pause(delay)
        s.kill(s.spcd)
        kills += 1
        worker.stop()
        for argv, rc, out, err in worker.calls:
            if rc != 0:
                print(f"    not acknowledged: spcctl {' '.join(argv)}: exit {rc} {out}",
                      flush=True)
                pending.append(argv)
                if isinstance(out, dict) and out.get("error_name", "").endswith("NoReply"):
                    in_flight_kills += 1
        stored = s.store_check(acknowledged, ris)
        print(f"  round {rnd + 1}: kill after {delay:.2f} s, {len(worker.calls)} calls "
              f"({sum(1 for c in worker.calls if c[1] == 0)} acknowledged), store: "
              f"{len(stored)} rights, {len(acknowledged)} acknowledged present", flush=True)
    check(kills == s.rounds, f"{kills} SIGKILLs of spcd, {in_flight_kills} during a call")
    check(calls_ok > 0 and len(acknowledged) >= 2,
          f"{calls_ok} acknowledged calls, {len(acknowledged)} services' rights checked after "
          f"every kill")
    check(retries >= in_flight_kills, f"{retries} calls not acknowledged (spcd killed during or "
          f"before them) retried with success after the restart")
    final = s.store_check(acknowledged, ris)
    print(f"PROCESS KILL RESULT spcd-roap: seed={s.seed} rounds={s.rounds} kills={kills} "
          f"interrupted={in_flight_kills} acknowledged-calls={calls_ok} "
          f"rights-checked={len(acknowledged)} retries-ok={retries} stored={len(final)}",
          flush=True)


# ---- scenario spcd-bcro --------------------------------------------------------------------------

def scenario_spcd_bcro(s):
    base = s.args.port_base
    he = s.start_headend([
        "--ri-key", f"{s.pki}/ri.key", "--ri-cert", f"{s.pki}/ri.pem",
        "--device-cert", f"{s.pki}/device-1.pem", "--registration-port", str(base + 6),
        "--bcro-port", str(base + 7), "--ltkm-repetition", "200", "--sek-period", "3",
        "--sek-lead", "2", "--tek-period", "2", "--duration", "600"])
    check(any(l.startswith("ltkm ready ") for l in he.lines), "the head-end's LTKM carousel runs")
    reported = {}  # content ID -> BCRO RO ID spcd reported installed
    registered_ri = set()
    kills = 0
    reported_before = 0
    for rnd in range(s.rounds + 1):
        p = s.start_spcd(["--service", s.sdp])
        if rnd == s.rounds:
            break
        delay = s.rng.uniform(0.1, 3.0)
        pause(delay)
        s.kill(p)
        kills += 1
        before = len(reported)
        for line in p.lines:
            m = re.search(r"BCRO (\S+) installed rights for (\S+) ", line)
            if m:
                reported[m.group(2)] = m.group(1)
            if "device_registration_response accepted" in line:
                registered_ri.add(s.ri_id_from_pki())
        stored = s.store_check(reported, registered_ri)
        print(f"  round {rnd + 1}: kill after {delay:.2f} s, {len(reported) - before} BCROs "
              f"reported by this spcd, store: {len(stored)} rights, all {len(reported)} "
              f"reported present", flush=True)
        reported_before = len(reported)
    # The carousel completes the rest: the BCRO of the SEK on the air now (and the next one, when
    # announced) reach the last spcd, which was not killed.
    m = None
    for line in reversed(he.lines):
        m = re.match(r"^bcro-sent ro=\S+ cid=(\S+) ", line)
        if m:
            break
    check(m is not None, "the carousel sends BCROs")
    on_air = m.group(1)
    rights = s.rights_via_spcctl()
    if on_air not in rights:
        s.spcd.wait_for_line(r"installed rights for " + re.escape(on_air), 30)
        rights = s.rights_via_spcctl()
    check(on_air in rights, f"the carousel completed the rest: {on_air} installed after the "
          f"last restart")
    check(all(c in rights for c in reported), f"all {len(reported)} BCROs reported installed "
          f"before a kill are listed by the last spcd")
    check(kills == s.rounds and reported_before >= 2,
          f"{kills} SIGKILLs of spcd, {reported_before} BCROs reported before a kill")
    check(registered_ri, "the broadcast registration reported accepted was kept through the kills")
    print(f"PROCESS KILL RESULT spcd-bcro: seed={s.seed} rounds={s.rounds} kills={kills} "
          f"bcros-checked={len(reported)} final-rights={len(rights)}", flush=True)


# ---- scenario headend-roap -----------------------------------------------------------------------

def scenario_headend_roap(s):
    base = s.args.port_base
    he = s.start_headend([
        "--pki-dir", s.pki, "--ri-port", str(base + 9), "--registration-port", str(base + 6),
        "--bcro-port", str(base + 7), "--tek-period", "2", "--duration", "600"])
    url, ri_id = s.ri_of(he)
    s.start_spcd(["--interaction-attempts", "2", "--interaction-backoff", "100"])
    # One undisturbed call of each kind: the kills are drawn within its length.
    t0 = time.monotonic()
    rc, out, err = s.spcctl("register", url)
    check(rc == 0 and out["ri_id"] == ri_id, f"registered with the RI {ri_id}")
    t_register = time.monotonic() - t0
    t0 = time.monotonic()
    rc, out, err = s.spcctl("acquire", SAMPLE_CID)
    check(rc == 0 and out["installed"] == [SAMPLE_CID], f"acquired {SAMPLE_CID}")
    t_acquire = time.monotonic() - t0
    print(f"  undisturbed: register {t_register * 1000:.0f} ms, acquire "
          f"{t_acquire * 1000:.0f} ms", flush=True)
    kills = errors = acknowledged = 0
    names = {}
    rnd = 0
    # More rounds (at most 3x) while no kill has yet landed inside a call: the delays are drawn
    # within an undisturbed call's length, but a call may still finish first.
    while rnd < s.rounds or (errors == 0 and rnd < 3 * s.rounds):
        call = ["register", url] if s.rng.random() < 0.35 else ["acquire", SAMPLE_CID]
        length = t_register if call[0] == "register" else t_acquire
        delay = s.rng.uniform(0.0, 1.2 * length)
        before = s.store_snapshot()
        result = {}

        def run():
            result["r"] = s.spcctl(*call)

        t = threading.Thread(target=run, daemon=True)
        t.start()
        pause(delay)
        s.kill(s.headend)
        kills += 1
        t.join(timeout=150)
        if t.is_alive():
            raise TestFailure(f"spcctl {call[0]} did not return with the head-end dead")
        rc, out, err = result["r"]
        after = s.store_snapshot()
        if rc == 0:
            acknowledged += 1
            outcome = "acknowledged before the kill"
            s.store_check({SAMPLE_CID: None} if call[0] == "acquire" else {},
                          [ri_id] if call[0] == "register" else [])
        else:
            name = out.get("error_name", "") if isinstance(out, dict) else ""
            if not NAMED_ERROR.match(name):
                raise TestFailure(f"spcctl {call[0]} with the head-end killed: not a named "
                                  f"ROAP/interaction error: {out} {err}")
            if after != before:
                raise TestFailure(f"the failed {call[0]} changed the store")
            errors += 1
            names[name] = names.get(name, 0) + 1
            outcome = f"{name}, store unchanged"
        he = s.start_headend(None)
        url2, ri2 = s.ri_of(he)
        if (url2, ri2) != (url, ri_id):
            raise TestFailure(f"the restarted head-end is another RI: {url2} {ri2}")
        rc, out, err = s.spcctl(*call)
        if rc != 0:
            raise TestFailure(f"spcctl {' '.join(call)} after the head-end restart: exit {rc}: "
                              f"{out} {err}")
        print(f"  round {rnd + 1}: {call[0]}, head-end killed after {delay * 1000:.0f} ms: "
              f"{outcome}; after the restart: ok", flush=True)
        rnd += 1
    check(kills == rnd, f"{kills} SIGKILLs of the head-end during ROAP calls")
    check(errors > 0, f"{errors} calls failed with a named error ({names}) and left the store "
          f"unchanged, {acknowledged} were acknowledged before the kill")
    check(True, f"every call succeeded after the head-end was back ({rnd})")
    print(f"PROCESS KILL RESULT headend-roap: seed={s.seed} rounds={rnd} kills={kills} "
          f"named-errors={errors} {names} acknowledged={acknowledged} retries-ok={rnd}",
          flush=True)


# ---- scenario headend-playback -------------------------------------------------------------------

def scenario_headend_playback(s):
    base = s.args.port_base
    tek_period = 2
    # A TEK lives 2 x period + 5 s after its first use (the head-end's STKM lifetime). The
    # restarted head-end numbers its TEKs from --first-tek-id again: each instance runs at least
    # that long before its kill, so that an ID it reuses never names a key still alive at the
    # terminal (which would rightly fail authentication until the new STKM came).
    lifetime = 2 * tek_period + 5
    he = s.start_headend([
        "--pki-dir", s.pki, "--ri-port", str(base + 9), "--registration-port", str(base + 6),
        "--bcro-port", str(base + 7), "--tek-period", str(tek_period), "--stkm-interval", "250",
        "--duration", "600"])
    url, _ = s.ri_of(he)
    s.start_spcd()
    rc, out, err = s.spcctl("register", url)
    check(rc == 0, "registered")
    rc, out, err = s.spcctl("acquire", SAMPLE_CID)
    check(rc == 0, f"acquired {SAMPLE_CID}")
    report = os.path.join(s.workdir, "player.json")
    player = Process("player", [s.args.player, "--headless", "--report", report,
                                "--bus-address", s.bus, s.sdp], s.workdir, s.env)
    s.processes.append(player)
    player.wait_for_line(r"^first-frame stream=video", 90)
    kills = 0
    resumed = []
    for rnd in range(s.rounds):
        delay = s.rng.uniform(0.3, 3.0)
        pause(max(0.0, lifetime - (time.monotonic() - s.headend_started)) + delay)
        s.kill(s.headend)
        kills += 1
        player.wait_for_line(r"^notice network-silent", 60)
        check(player.proc.poll() is None,
              f"round {rnd + 1}: head-end killed ({delay:.1f} s after its TEKs' lifetime); the "
              f"player runs on and "
              f"says the signal is gone")
        silent_at = len(player.lines)
        he = s.start_headend(None)
        # Decoding again: a packet decrypted under a TEK of the restarted head-end, then the
        # decoded-frame count rising between two progress reports.
        while True:
            m = player.wait_for_line(r"^key tek_id=(\d+) stream=", 60)
            if re.search(r"^tek id=" + m.group(1) + r" ", "\n".join(he.lines), re.M):
                break
        if not any(l.startswith("notice network-back") for l in player.lines[silent_at:]):
            player.wait_for_line(r"^notice network-back", 30)
        player.wait_for_line(r"^progress ", 30)
        first = frames_decoded(player)
        player.wait_for_line(r"^progress ", 30)
        resumed.append(frames_decoded(player) - first)
        check(resumed[-1] > 0, f"round {rnd + 1}: decoding again under the restarted head-end's "
              f"TEK {m.group(1)} ({resumed[-1]} video frames in 5 s)")
    player.wait_for_line(r"^progress ", 30)
    player.proc.send_signal(signal.SIGINT)
    status = player.wait(60)
    check(status == 0, f"the player exits 0 after {kills} head-end kills (status {status})")
    with open(report) as f:
        rep = json.load(f)
    stats = rep.get("srtp_stats", {})
    auth = sum(v.get("auth-failures", 0) for v in stats.values())
    malformed = sum(v.get("malformed", 0) for v in stats.values())
    decrypted = sum(v.get("decrypted", 0) for v in stats.values())
    reasons = {k: v for k, v in rep.get("decrypt_failures_by_reason", {}).items() if v}
    print(f"  report: frames {rep.get('frames_decoded')}, TEK changes {rep.get('tek_changes')}, "
          f"SRTP {stats}, failures {reasons}", flush=True)
    check(auth == 0 and malformed == 0,
          f"no SRTP authentication failure, no malformed packet ({decrypted} decrypted: only "
          f"packets that authenticated under the TEK they name were passed on)")
    check(rep.get("errors", []) == [], f"no player error ({rep.get('errors')})")
    print(f"PROCESS KILL RESULT headend-playback: seed={s.seed} rounds={s.rounds} kills={kills} "
          f"frames={rep.get('frames_decoded')} resumed-frames={resumed} auth-failures={auth} "
          f"tek-changes={rep.get('tek_changes')}", flush=True)


def frames_decoded(player):
    for line in reversed(player.lines):
        m = re.match(r"^progress ms=\d+ video=(\d+)", line)
        if m:
            return int(m.group(1))
    return 0


SCENARIOS = {"spcd-roap": scenario_spcd_roap, "spcd-bcro": scenario_spcd_bcro,
             "headend-roap": scenario_headend_roap, "headend-playback": scenario_headend_playback}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    for opt in ("--headend", "--player", "--spcd", "--spcctl", "--media", "--make-test-pki"):
        ap.add_argument(opt, required=True)
    ap.add_argument("--plugin-dir", default="")
    ap.add_argument("--port-base", type=int, required=True)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    absolute_paths(args, ("headend", "player", "spcd", "spcctl", "media", "make_test_pki",
                          "plugin_dir"))
    print(f"scenario {args.scenario}", flush=True)
    s = Setup(args)
    return run_scenario(lambda: SCENARIOS[args.scenario](s), s.cleanup)


if __name__ == "__main__":
    sys.exit(main())
