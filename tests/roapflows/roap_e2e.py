#!/usr/bin/env python3
"""End-to-end runs of a terminal with an interaction channel: the real bcast-headend with its ROAP
Rights Issuer (test PKI made by scripts/make-test-pki.sh at setup), spcd on a private bus holding
only its device certificate, and bcast-player taking its TEKs from spcd.

Scenarios:
  fresh   the terminal registers (spcctl register), acquires the service's rights (spcctl
          acquire, 2-pass ROAP) and the player plays the service end to end, frame-exact.
  auto    the terminal registers only; the first STKM names rights it lacks, spcd acquires them
          by itself and the already running player resumes by itself.
  rekey   the head-end changes the SEK while the terminal plays (--sek-period): each change goes
          out as an roAcquisition trigger on the trigger stream, spcd fetches the new key by 2-pass
          ROAP before the switch, and playback goes on with no lost frame.

The helpers (processes, private bus, report and frame checks) are tests/e2e/e2e_test.py's. Every
wait is for a line, a process exit or a D-Bus name, with a timeout: no fixed sleeps.
"""

import argparse
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import e2e_test  # noqa: E402
from e2e_test import TestFailure, check, check_frame_exact_playback, check_spcd_source  # noqa: E402
from testproc import run_scenario  # noqa: E402


class RoapScenario(e2e_test.Scenario):
    def make_pki(self):
        self.pki = os.path.join(self.workdir, "pki")
        out = subprocess.run([self.args.make_pki, self.pki, "2"], check=True, env=self.env,
                             timeout=120, capture_output=True, text=True)
        check(os.path.exists(os.path.join(self.pki, "device-1.pem")),
              f"test PKI made at setup ({len(out.stdout.splitlines())} certificates)")

    def start_roap_headend(self, extra):
        base = self.args.port_base
        argv = ["--pki-dir", self.pki, "--trigger-port", str(base + 10), "--registration-port",
                str(base + 11), "--bcro-port", str(base + 12), "--trigger-dir",
                os.path.join(self.workdir, "triggers")] + extra
        headend = self.start_headend(argv)
        m = re.search(r"^roap ready url=(\S+) ri-id=([0-9a-f]{40})", "\n".join(headend.lines),
                      re.M)
        check(m is not None, "head-end RI ready")
        self.ri_url, self.ri_id = m.group(1), m.group(2)
        return headend

    def start_terminal_spcd(self):
        """spcd holding only its device certificate (and the trust anchor), listening to the
        service's trigger stream."""
        store = os.path.join(self.workdir, "spc.db")
        argv = [self.args.spcd, "--bus-address", self.bus_address, "--store", store,
                "--device-cert", os.path.join(self.pki, "device-1.pem"),
                "--device-key", os.path.join(self.pki, "device-1.key"),
                "--trust-anchors", os.path.join(self.pki, "root.pem"),
                "--service", self.sdp]
        self.spcd = e2e_test.Process("spcd", argv, self.workdir, self.env)
        self.processes.append(self.spcd)
        subprocess.run(["gdbus", "wait", "--address", self.bus_address, "--timeout", "20",
                        "org.openbcast.SPC1"], check=True, env=self.env, timeout=30)
        check(self.spcd.proc.poll() is None, "spcd owns org.openbcast.SPC1")

    def spcctl(self, *args):
        out = subprocess.run([self.args.spcctl, "--bus-address", self.bus_address, "--json",
                              *args], env=self.env, timeout=150, capture_output=True, text=True)
        if out.returncode != 0:
            raise TestFailure(f"spcctl {' '.join(args)}: exit {out.returncode}: "
                              f"{out.stdout}{out.stderr}")
        return json.loads(out.stdout) if out.stdout.strip().startswith(("{", "[")) else out.stdout

    def status(self):
        out = subprocess.run(["gdbus", "call", "--address", self.bus_address, "--dest",
                              "org.openbcast.SPC1", "--object-path", "/org/openbcast/SPC1",
                              "--method", "org.openbcast.SPC1.Status"], env=self.env, timeout=30,
                             capture_output=True, text=True, check=True)
        return out.stdout

    def rights(self):
        return self.spcctl("list-rights")


def status_value(status, key):
    m = re.search(r"'" + re.escape(key) + r"': <(?:uint64 |uint32 )?([^>]*)>", status)
    return m.group(1).strip("'") if m else None


def fresh_terminal(s, extra=()):
    reference = s.reference()
    s.make_pki()
    s.write_keys()
    s.start_bus()
    headend = s.start_roap_headend(["--tek-period", "2", "--stkm-interval", "250", *extra])
    s.start_terminal_spcd()
    check(status_value(s.status(), "roap-state") == "unregistered", "terminal starts unregistered")
    check("urn:" not in json.dumps(s.rights()), "terminal starts with no rights")
    reg = s.spcctl("register", s.ri_url)
    check(reg["ri_id"] == s.ri_id, f"registered with the head-end RI {reg['ri_id']}")
    headend.wait_for_line(r"^roap registered device=", timeout=10)
    check(status_value(s.status(), "roap-state") == "registered", "terminal registered")
    return reference, headend


def scenario_fresh(s):
    """A fresh terminal with only its device certificate registers with the head-end RI,
    acquires the sample service's rights and plays it end to end."""
    reference, headend = fresh_terminal(s)
    sample = "urn:openbcast:svc:sample:0000002a"
    got = s.spcctl("acquire", sample)
    check(got["installed"] == [sample], f"spcctl acquire {sample}: {got}")
    check(any(l.startswith("roap ro-sent ") for l in headend.lines), "the RI sent the RO")
    rights = json.dumps(s.rights())
    check('"roap"' in rights, f"rights from ROAP in the store ({rights[:160]})")
    status, report, lines, frames = s.run_player(11)
    check(status == 0, f"player exit status 0 (got {status})")
    check_spcd_source(report, lines)
    check_frame_exact_playback(report, lines, frames, reference, 11)


def scenario_auto(s):
    """A registered terminal without rights: the first STKM names them, spcd acquires them by
    itself and the running player resumes by itself."""
    reference, headend = fresh_terminal(s)
    status, report, lines, frames = s.run_player(11)
    check(status == 0, f"player exit status 0 (got {status})")
    check_spcd_source(report, lines)
    st = s.status()
    check(int(status_value(st, "roap-auto-acquisitions")) >= 1,
          "spcd acquired the missing rights by itself")
    check(int(status_value(st, "roap-ros-installed")) >= 1, "an RO was installed")
    check(any(l.startswith("roap ro-sent ") for l in headend.lines), "the RI sent the RO")
    # The player names the missing rights ("no-rights"; "not-registered" when it saw a store with
    # no rights at all, before the acquisition finished).
    check(any(l.startswith(("notice no-rights", "notice not-registered")) for l in lines),
          "the player saw no rights first")
    # Packets that came before the rights are held and then dropped; nothing else may fail.
    reasons = report["decrypt_failures_by_reason"]
    check(all(v == 0 for k, v in reasons.items() if k != "srtp-dropped-held"),
          f"no decrypt failure once the key came ({reasons})")
    check(report["errors"] == [], f"no errors ({report['errors']})")
    check(report["tek_changes"] >= 3, f"TEK changes followed after it ({report['tek_changes']})")
    video = frames.get("video", [])
    check(len(video) >= 11 * 25 * 0.5, f"video played after the rights came ({len(video)} frames)")
    e2e_test.check_contiguous_run(reference["video"], video, "video")


def scenario_rekey(s):
    """The SEK changes while the terminal plays; triggers arrive, 2-pass ROAP fetches the new key
    before the switch, and playback goes on with no lost frame."""
    reference = s.reference()
    s.make_pki()
    s.write_keys()
    s.start_bus()
    headend = s.start_roap_headend(["--tek-period", "2", "--stkm-interval", "250",
                                    "--sek-period", "4", "--sek-lead", "2"])
    s.start_terminal_spcd()
    s.spcctl("register", s.ri_url)
    sample = "urn:openbcast:svc:sample:0000002a"
    got = s.spcctl("acquire", sample)
    check(sample in got["installed"], f"spcctl acquire {sample}")
    status, report, lines, frames = s.run_player(14)
    check(status == 0, f"player exit status 0 (got {status})")
    check_spcd_source(report, lines)
    switches = [l for l in headend.lines if l.startswith("sek-switch ")]
    triggers = [l for l in headend.lines if l.startswith("roap trigger ")]
    by_trigger = [l for l in headend.lines if l.startswith("roap ro-sent ") and "trigger-nonce=" in l]
    check(len(switches) >= 2, f"the SEK changed {len(switches)} times while playing")
    check(len(by_trigger) >= len(switches),
          f"{len(by_trigger)} ROs fetched by trigger ({len(triggers)} triggers sent)")
    st = s.status()
    check(int(status_value(st, "roap-triggers")) >= len(switches), "spcd ran the triggers")
    check(status_value(st, "roap-failures") == "0", "no ROAP failure")
    check(int(status_value(st, "stkms-rejected")) == 0, "no STKM refused (the new SEK was always "
          "there before its STKMs)")
    check_frame_exact_playback(report, lines, frames, reference, 14)


SCENARIOS = {"fresh": scenario_fresh, "auto": scenario_auto, "rekey": scenario_rekey}


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    for name in ("--headend", "--player", "--reference", "--media", "--make-media", "--spcd",
                 "--spcctl", "--make-pki"):
        parser.add_argument(name, required=True)
    parser.add_argument("--plugin-dir", default="")
    parser.add_argument("--port-base", type=int, required=True)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    for name in ("headend", "player", "reference", "media", "make_media", "plugin_dir", "spcd",
                 "spcctl", "make_pki"):
        if getattr(args, name):
            setattr(args, name, os.path.abspath(getattr(args, name)))
    args.readme = args.build_dir = ""
    print(f"scenario {args.scenario}: {SCENARIOS[args.scenario].__doc__}", flush=True)
    s = RoapScenario(args)
    return run_scenario(lambda: SCENARIOS[args.scenario](s), s.close)


if __name__ == "__main__":
    sys.exit(main())
