#!/usr/bin/env python3
"""Broadcast-only terminals end to end: the real bcast-headend, spcd (on a private dbus-daemon),
spcctl and bcast-player on loopback, with no interaction channel.

Scenarios:
  no-interaction  device data out-of-band (spcctl device-data -> bcast-headend --device-cert) ->
                  device_registration_response -> BCRO -> playback through spcd; no HTTP server
                  anywhere and no TCP socket in spcd, the player or the head-end.
  rekey           two terminals (a UDP relay copies every stream to both); the head-end re-keys the
                  group without device 2 and changes the SEK: terminal 1 plays through the change,
                  terminal 2 stops at it and spcd says why (registration revoked).
  loss            30 % of the registration/BCRO datagrams dropped (seeded) by a relay: the carousel
                  still registers the terminal and installs its BCRO within a bounded number of
                  repetitions; device data by POST /device-data.

No fixed sleeps: every wait is for an output line or a process exit, with a timeout.
"""

import argparse
import json
import os
import random
import re
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from testproc import Process, TestFailure, check  # noqa: E402,F401


class Relay:
    """UDP relay on loopback: every datagram arriving on an input port goes to each of its output
    ports, except those dropped (seeded, per input port, only on ports in `lossy`). Bounded: it
    stops after `max_packets` datagrams or when stopped."""

    def __init__(self, routes, lossy=(), drop=0.0, seed=1, max_packets=2_000_000):
        self.routes = routes
        self.drop = drop
        self.lossy = set(lossy)
        self.max_packets = max_packets
        self.received = {p: 0 for p in routes}
        self.dropped = {p: 0 for p in routes}
        self.latest = {}
        self._rng = {p: random.Random(seed * 100003 + p) for p in routes}
        self._socks = {}
        for port in routes:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", port))
            self._socks[s] = port
        self._out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._stop = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        total = 0
        while not self._stop and total < self.max_packets:
            ready, _, _ = select.select(list(self._socks), [], [], 0.2)
            for s in ready:
                data = s.recv(65536)
                port = self._socks[s]
                total += 1
                with self._lock:
                    self.received[port] += 1
                    self.latest[port] = data
                    if port in self.lossy and self._rng[port].random() < self.drop:
                        self.dropped[port] += 1
                        continue
                for out in self.routes[port]:
                    try:
                        self._out.sendto(data, ("127.0.0.1", out))
                    except OSError:
                        pass

    def counts(self, port):
        with self._lock:
            return self.received[port], self.dropped[port]

    def last(self, port):
        with self._lock:
            return self.latest.get(port)

    def stop(self):
        self._stop = True
        self._thread.join(timeout=5)
        for s in self._socks:
            s.close()
        self._out.close()


class Terminal:
    """A private dbus-daemon with a real spcd holding one device identity."""

    def __init__(self, t, name, device):
        self.t = t
        self.name = name
        self.dir = os.path.join(t.workdir, name)
        os.makedirs(self.dir, mode=0o700)
        self.bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                    start_new_session=True)
        t.terminals.append(self)
        self.spcd = None
        self.address = self.bus.stdout.readline().strip()
        if not self.address:
            raise TestFailure("dbus-daemon gave no address")
        pki = t.pki
        self.spcd = Process(f"{name}-spcd", [
            t.args.spcd, "--bus-address", self.address, "--store", os.path.join(self.dir, "spc.db"),
            "--device-cert", f"{pki}/device-{device}.pem", "--device-key", f"{pki}/device-{device}.key",
            "--trust-anchors", f"{pki}/root.pem"], t.workdir, watch="stderr")
        self.spcd.wait_for_line(r"owns org\.openbcast\.SPC1; ready", 20)

    def spcctl(self, *argv):
        r = subprocess.run([self.t.args.spcctl, "--bus-address", self.address, *argv],
                           capture_output=True, timeout=30)
        return r.returncode, r.stdout, r.stderr.decode(errors="replace")

    def status(self):
        r = subprocess.run(["gdbus", "call", "--address", self.address, "--dest",
                            "org.openbcast.SPC1", "--object-path", "/org/openbcast/SPC1",
                            "--method", "org.openbcast.SPC1.Status"],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise TestFailure(f"Status: {r.stderr}")
        values = {k: int(v) for k, v in re.findall(
            r"'([a-z-]+)': <(?:uint64|uint32|byte)? ?(\d+)>", r.stdout)}
        ignored = {k: int(v) for k, v in re.findall(r"'((?:drr|bcro):[a-z-]+)': (?:uint64 )?(\d+)",
                                                    r.stdout)}
        return values, ignored, r.stdout

    def stop(self):
        if self.spcd:
            self.spcd.stop()
        if self.bus.poll() is None:
            self.bus.terminate()
            self.bus.wait(timeout=10)


class Setup:
    def __init__(self, args):
        self.args = args
        self.workdir = tempfile.mkdtemp(prefix="bcastonly-")
        self.pki = os.path.join(self.workdir, "pki")
        subprocess.run(["sh", args.make_test_pki, self.pki, "3"], check=True,
                       stdout=subprocess.DEVNULL)
        self.keys = os.path.join(self.workdir, "keys.ini")
        subprocess.run([args.headend, "--write-key-file", self.keys], check=True,
                       stdout=subprocess.DEVNULL)
        self.env = dict(os.environ)
        if args.plugin_dir:
            path = self.env.get("GST_PLUGIN_PATH", "")
            self.env["GST_PLUGIN_PATH"] = args.plugin_dir + (os.pathsep + path if path else "")
        self.children = []
        self.terminals = []

    def headend(self, ports, extra, dest_ports=None):
        """ports: dict key/video/audio/registration/bcro -> port the head-end sends to."""
        sdp = os.path.join(self.workdir, "headend.sdp")
        argv = [self.args.headend, "--key-file", self.keys, "--media", self.args.media,
                "--ri-key", f"{self.pki}/ri.key", "--ri-cert", f"{self.pki}/ri.pem",
                "--key-port", str(ports["key"]), "--video-port", str(ports["video"]),
                "--audio-port", str(ports["audio"]), "--registration-port",
                str(ports["registration"]), "--bcro-port", str(ports["bcro"]),
                "--sdp-out", sdp, "--duration", "120", *extra]
        p = Process("headend", argv, self.workdir, env=self.env)
        self.children.append(p)
        return p, sdp

    def player(self, name, sdp, terminal, duration):
        report = os.path.join(self.workdir, f"{name}.json")
        argv = [self.args.player, "--headless", "--duration", str(duration), "--report", report,
                "--bus-address", terminal.address, sdp]
        p = Process(name, argv, self.workdir, env=self.env)
        self.children.append(p)
        return p, report

    def cleanup(self):
        for c in self.children:
            c.stop()
        for t in self.terminals:
            t.stop()


def rewrite_ports(sdp_text, mapping):
    def repl(m):
        port = int(m.group(2))
        return f"m={m.group(1)} {mapping.get(port, port)} "
    return re.sub(r"m=(\w+) (\d+) ", repl, sdp_text)


def tcp_sockets(pid):
    """TCP sockets (IPv4/IPv6) the process holds, from /proc."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            m = re.match(r"socket:\[(\d+)\]", target)
            if m:
                inodes.add(m.group(1))
    except OSError:
        return set()
    tcp = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                for line in f.readlines()[1:]:
                    fields = line.split()
                    if len(fields) > 9 and fields[9] in inodes:
                        tcp.add(fields[9])
        except OSError:
            pass
    return tcp


def mapped_libraries(pid):
    """Base names of the shared objects mapped into the process, from /proc."""
    names = set()
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 6 and ".so" in fields[5]:
                names.add(os.path.basename(fields[5]))
    return names


def scenario_no_interaction(s):
    base = s.args.port_base
    t = Terminal(s, "term", 1)
    try:
        # (1) Device data out-of-band: the certificate spcd keeps, exported by spcctl.
        dev_pem = os.path.join(s.workdir, "device-data.pem")
        dev_der = os.path.join(s.workdir, "device-data.der")
        rc, _, err = t.spcctl("device-data", "-o", dev_pem)
        check(rc == 0, f"spcctl device-data -o FILE (PEM) {err}")
        rc, _, err = t.spcctl("device-data", "--der", "-o", dev_der)
        check(rc == 0, "spcctl device-data --der -o FILE")
        der_from_pem = subprocess.run(["openssl", "x509", "-in", dev_pem, "-outform", "DER"],
                                      capture_output=True, check=True).stdout
        check(der_from_pem == open(dev_der, "rb").read(), "PEM and DER exports are one certificate")
        provisioned = subprocess.run(["openssl", "x509", "-in", f"{s.pki}/device-1.pem", "-outform",
                                      "DER"], capture_output=True, check=True).stdout
        check(der_from_pem == provisioned, "it is the device certificate spcd was provisioned with")

        ports = {"key": base, "video": base + 2, "audio": base + 4, "registration": base + 6,
                 "bcro": base + 7}
        he, sdp = s.headend(ports, ["--device-cert", dev_der, "--ltkm-repetition", "300"])
        m = he.wait_for_line(r"^ltkm ready .* http=(\S+)", 30)
        check(m.group(1) == "off", "the head-end runs no HTTP server (http=off)")
        he.wait_for_line(r"^ready sdp=", 30)
        text = open(sdp).read()
        check("bcast-roap-url" not in text and "bcast-stkm-url" not in text,
              "the session description names no interaction-channel URL")
        check("vnd.oma.bcast.registration" in text and "vnd.oma.bcast.bcro" in text,
              "the session description has the registration and BCRO streams")
        # (2)+(3) spcd listens to them (D-Bus AddBroadcastService through spcctl).
        rc, out, err = t.spcctl("add-service", sdp)
        check(rc == 0 and b"2 broadcast" in out, f"spcctl add-service: {out!r} {err}")
        t.spcd.wait_for_line(r"device_registration_response accepted", 30)
        t.spcd.wait_for_line(r"installed rights for urn:openbcast:svc:sample:0000002a", 30)
        rc, out, _ = t.spcctl("list-rights")
        check(rc == 0 and b"from bcro" in out, "the rights came from a BCRO")
        # (4) Playback with the TEKs from spcd.
        player, report_path = s.player("player", sdp, t, 8)
        player.wait_for_line(r"^first-frame stream=video", 40)
        tcp = {name: tcp_sockets(p.proc.pid) for name, p in
               (("spcd", t.spcd), ("player", player), ("headend", he))}
        check(not any(tcp.values()), f"no TCP socket in spcd, the player or the head-end: {tcp}")
        status = player.wait(60)
        report = json.load(open(report_path))
        check(status == 0, f"the player exits 0 (status {status})")
        video = report["frames_decoded"]["video"]
        check(video >= 8 * 25 * 0.4, f"video frames decoded with keys from the broadcast: {video}")
        values, ignored, raw = t.status()
        check(values.get("interaction-requests") == 0,
              "spcd: interaction-requests 0 (spcd has no HTTP client)")
        check(values.get("drrs-accepted", 0) >= 1 and values.get("bcros-installed", 0) >= 1,
              f"spcd: drrs-accepted {values.get('drrs-accepted')}, bcros-installed "
              f"{values.get('bcros-installed')}")
        check(values.get("stkms-processed", 0) > 0, "the STKMs were answered by spcd")
        # libsoup and libxml2 are bound on first use, the session description parser has no
        # GStreamer: a terminal without an interaction channel never maps them (issue 8, memory).
        unused = sorted(n for n in mapped_libraries(t.spcd.proc.pid)
                        if n.startswith(("libsoup", "libxml2", "libicu", "libgst")))
        check(not unused, f"spcd maps no HTTP, XML or GStreamer library: {unused}")
        print(f"  spcd ignored: {ignored}")
    finally:
        t.stop()


def scenario_rekey(s):
    base = s.args.port_base
    names = ["key", "video", "audio", "registration", "bcro"]
    src = {n: base + i for i, n in enumerate(names)}
    outs = [{n: base + 10 * (k + 1) + i for i, n in enumerate(names)} for k in range(2)]
    relay = Relay({src[n]: [outs[0][n], outs[1][n]] for n in names})
    terms = []
    try:
        terms = [Terminal(s, "term1", 1), Terminal(s, "term2", 2)]
        he, sdp = s.headend(src, [
            "--device-cert", f"{s.pki}/device-1.pem", "--device-cert", f"{s.pki}/device-2.pem",
            "--revoke-device", f"{s.pki}/device-2.pem", "--revoke-at", "6", "--sek-lead", "3",
            "--tek-period", "3", "--ltkm-repetition", "300"])
        he.wait_for_line(r"^ready sdp=", 30)
        text = open(sdp).read()
        sdps = []
        for k, t in enumerate(terms):
            path = os.path.join(s.workdir, f"term{k + 1}.sdp")
            with open(path, "w") as f:
                f.write(rewrite_ports(text, {src[n]: outs[k][n] for n in names}))
            sdps.append(path)
            rc, out, err = t.spcctl("add-service", path)
            check(rc == 0, f"terminal {k + 1}: add-service {err}")
        for t in terms:
            t.spcd.wait_for_line(r"installed rights for urn:openbcast:svc:sample:0000002a", 30)
        players = [s.player(f"player{k + 1}", sdps[k], terms[k], 22) for k in range(2)]
        for p, _ in players:
            p.wait_for_line(r"^first-frame stream=video", 40)
        m = he.wait_for_line(r"^rekey generation=(\d+) group=\d+ without=([0-9a-f]+)", 30)
        check(m.group(1) == "2", "the head-end moved the group to generation 2")
        new_cid = "urn:openbcast:svc:sample:0000002b"
        terms[0].spcd.wait_for_line(r"installed rights for " + new_cid, 30)
        he.wait_for_line(r"^sek-switch cid=" + new_cid, 30)
        terms[1].spcd.wait_for_line(r"device_registration_response withdrawn: .* revoked", 30)
        # An STKM of the new SEK, as it is on the air now, for terminal 2's spcd.
        players[0][0].wait_for_line(r"^stkm .*content_id=" + new_cid, 30)
        stkm = relay.last(src["key"])
        stkm_path = os.path.join(s.workdir, "after-switch.stkm")
        with open(stkm_path, "wb") as f:
            f.write(stkm)
        rc, out, err = terms[1].spcctl("process-stkm", stkm_path, "--base-cid",
                                       "urn:openbcast:svc:sample:")
        check(rc == 1 and "NoRights" in err and "revoked" in err,
              f"terminal 2's spcd refuses the new SEK's STKM and says why: {err.strip()}")
        rc, out, err = terms[0].spcctl("process-stkm", stkm_path, "--base-cid",
                                       "urn:openbcast:svc:sample:")
        check(rc == 0, "terminal 1's spcd answers it")
        results = []
        for k, (p, report_path) in enumerate(players):
            status = p.wait(60)
            if not os.path.exists(report_path):
                err = open(os.path.join(s.workdir, f"player{k + 1}.err")).read().splitlines()
                raise TestFailure(f"player {k + 1} exited with status {status} without a report: "
                                  f"{err[-3:]}")
            results.append((status, json.load(open(report_path)), p.lines))
        def keys_used(lines):
            return [int(x) for x in re.findall(r"^key tek_id=(\d+) stream=", "\n".join(lines),
                                               re.M)]
        def cids(lines):
            return set(re.findall(r"^stkm .*content_id=(\S+)", "\n".join(lines), re.M))
        k1, k2 = keys_used(results[0][2]), keys_used(results[1][2])
        check(new_cid in cids(results[0][2]), "terminal 1 got TEKs under the new SEK")
        check(new_cid not in cids(results[1][2]), "terminal 2 never got a TEK under the new SEK")
        check(k1 and k2 and max(k1) > max(k2),
              f"terminal 1 kept decrypting with later TEKs ({k1}) than terminal 2 ({k2})")
        check(results[0][0] == 0 and results[0][1]["frames_decoded"]["video"] >= 22 * 25 * 0.4,
              f"terminal 1 played through the change: {results[0][1]['frames_decoded']}")
        summary1 = [l for l in results[0][2] if l.startswith("summary:")]
        check(summary1 and "decrypt_failures=0" in summary1[-1],
              f"terminal 1: no decrypt failure across the change ({summary1[-1:]})")
        check(any("No rights for " + new_cid in l for l in
                  open(os.path.join(s.workdir, "player2.err")).read().splitlines()) or
              any("No rights for " + new_cid in l for l in results[1][2]),
              "terminal 2's player reports no rights for the new SEK")
        v2, ignored2, _ = terms[1].status()
        check(v2.get("registrations-withdrawn") == 1, "terminal 2: registration withdrawn")
        v1, ignored1, _ = terms[0].status()
        check(v1.get("registrations-withdrawn", 0) == 0 and v1.get("drrs-accepted", 0) >= 2,
              f"terminal 1: re-keyed registration accepted ({v1.get('drrs-accepted')})")
        print(f"  terminal 1 ignored: {ignored1}\n  terminal 2 ignored: {ignored2}")
        rc, out, _ = terms[1].spcctl("list-rights")
        check(rc == 0 and b"urn:" not in out, "terminal 2 holds no rights from that RI any more")
    finally:
        for t in terms:
            t.stop()
        relay.stop()


def scenario_loss(s):
    base = s.args.port_base
    src_reg, src_bcro = base + 6, base + 7
    out_reg, out_bcro = base + 16, base + 17
    relay = Relay({src_reg: [out_reg], src_bcro: [out_bcro]}, lossy=(src_reg, src_bcro),
                  drop=0.30, seed=s.args.seed)
    t = None
    try:
        t = Terminal(s, "term", 1)
        ports = {"key": base, "video": base + 2, "audio": base + 4, "registration": src_reg,
                 "bcro": src_bcro}
        he, sdp = s.headend(ports, ["--http-port", "0", "--ltkm-repetition", "150"])
        m = he.wait_for_line(r"^ltkm ready .* http=(\d+)", 30)
        http_port = int(m.group(1))
        he.wait_for_line(r"^ready sdp=", 30)
        spcd_sdp = os.path.join(s.workdir, "term.sdp")
        with open(spcd_sdp, "w") as f:
            f.write(rewrite_ports(open(sdp).read(), {src_reg: out_reg, src_bcro: out_bcro}))
        rc, _, err = t.spcctl("add-service", spcd_sdp)
        check(rc == 0, f"add-service {err}")
        # Device data out-of-band to the BSM over its HTTP intake (not the terminal's channel).
        rc, der, _ = t.spcctl("device-data", "--der")
        req = urllib.request.Request(f"http://127.0.0.1:{http_port}/device-data", data=der,
                                     headers={"Content-Type": "application/pkix-cert"})
        with urllib.request.urlopen(req, timeout=10) as r:
            check(r.status == 202, "POST /device-data: 202")
        he.wait_for_line(r"^device-added id=", 10)
        t.spcd.wait_for_line(r"installed rights for urn:openbcast:svc:sample:0000002a", 60)
        reg_seen, reg_dropped = relay.counts(src_reg)
        bcro_seen, bcro_dropped = relay.counts(src_bcro)
        # One DRR and one BCRO per cycle on each stream: datagrams seen = repetitions sent.
        repetitions = max(reg_seen, bcro_seen)
        print(f"  LOSS RESULT: registered and BCRO installed after {reg_seen} registration and "
              f"{bcro_seen} BCRO repetitions ({reg_dropped} and {bcro_dropped} dropped)", flush=True)
        check(repetitions <= s.args.max_repetitions,
              f"delivered within {repetitions} <= {s.args.max_repetitions} repetitions at 30 % loss")
        # Keep the carousel going a little to measure the drop rate the relay achieved.
        he.wait_for_line(r"^bcro-sent .* repetition=60\b", 60)
        seen, dropped = relay.counts(src_bcro)
        seen_r, dropped_r = relay.counts(src_reg)
        rate = (dropped + dropped_r) / max(1, seen + seen_r)
        check(0.2 <= rate <= 0.4, f"the relay dropped {rate:.0%} of {seen + seen_r} datagrams")
        values, ignored, _ = t.status()
        check(values.get("bcros-installed") == 1 and values.get("drrs-accepted") == 1,
              "spcd: one registration, one BCRO installed")
        check(values.get("interaction-requests") == 0, "spcd: no interaction-channel request")
        print(f"  spcd ignored: {ignored}")
    finally:
        if t:
            t.stop()
        relay.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=["no-interaction", "rekey", "loss"])
    for opt in ("--headend", "--player", "--spcd", "--spcctl", "--media", "--make-test-pki",
                "--plugin-dir"):
        ap.add_argument(opt, default="")
    ap.add_argument("--port-base", type=int, default=27300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-repetitions", type=int, default=10)
    args = ap.parse_args()
    for name in ("headend", "player", "spcd", "spcctl", "media", "make_test_pki", "plugin_dir"):
        if getattr(args, name):
            setattr(args, name, os.path.abspath(getattr(args, name)))
    s = Setup(args)
    print(f"scenario {args.scenario} in {s.workdir}", flush=True)
    try:
        {"no-interaction": scenario_no_interaction, "rekey": scenario_rekey,
         "loss": scenario_loss}[args.scenario](s)
    except TestFailure as e:
        print(f"FAIL: {e}", flush=True)
        return 1
    finally:
        s.cleanup()
    print("PASS", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
