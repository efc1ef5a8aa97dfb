#!/usr/bin/env python3
"""STKM fetching over the interaction channel and key prefetch for zapping (issue 5), end to end:
the real bcast-headend (STKM fetch endpoint, key stream control on stdin, fault modes), spcd on a
private bus, bcast-player / gst-launch-1.0 with tekdec, real UDP and HTTP on loopback.

Scenarios:
  blocked   the service's key stream is off: bcast-player plays it from STKMs that tekdec has spcd
            fetch (fetch-after); when the key stream comes back, fetching stops (the BSM sees no
            more requests) and the TEKs come from the key stream again.
  faults    forged, replayed and malformed STKMs from the endpoint are refused with the named
            errors of broadcast ones and change nothing (rights, held TEKs); 404/204/wrong type
            give their named errors without retries; 503, truncated answers, a refused connection
            and a slow endpoint give named errors after retries with backoff (counted).
  parallel  while spcd's fetch for one service hangs on a slow endpoint, spcd answers other calls
            and bcast-player plays another service without a stall.
  prefetch  after SetChannelList, spcd listens to the neighbour's key stream: HeldTeks for it
            returns its current TEK without its pipeline running, and a tekdec started on it posts
            bcast-tek-ready source=held before any STKM of its own.

Every wait is for a line, a process exit, a D-Bus name or a counter, with a timeout.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import e2e_test  # noqa: E402
import testproc  # noqa: E402
from testproc import absolute_paths, run_scenario  # noqa: E402
from e2e_test import TestFailure, check  # noqa: E402


class Headend:
    def __init__(self, process):
        self.p = process

    def control(self, line):
        self.p.proc.stdin.write(line + "\n")
        self.p.proc.stdin.flush()
        key, value = line.split(" ", 1)
        self.p.wait_for_line(rf"^control {key}={re.escape(value)}$", timeout=20)

    def fetch_lines(self):
        return [l for l in self.p.lines if l.startswith("stkm-fetch ")]

    def current_tek(self):
        ids = [int(m.group(1)) for l in self.p.lines for m in [re.match(r"^tek id=(\d+) ", l)] if m]
        return ids[-1]


class FetchScenario(e2e_test.Scenario):
    def headend(self, name, port, extra, base_cid="urn:openbcast:svc:sample:", keys=None):
        keys = keys or self.keys
        testproc.check_udp_ports_free(range(port, port + 6), name)
        sdp = os.path.join(self.workdir, f"{name}.sdp")
        argv = [self.args.headend, "--key-file", keys, "--media", self.media(), "--base-cid",
                base_cid, "--dest", "127.0.0.1", "--key-port", str(port), "--video-port",
                str(port + 2), "--audio-port", str(port + 4), "--sdp-out", sdp, "--stkm-port",
                "0", "--control-stdin", *extra]
        p = e2e_test.Process(name, argv, self.workdir, self.env, stdin=subprocess.PIPE)
        self.processes.append(p)
        p.wait_for_line(r"^ready sdp=", timeout=60)
        url = re.search(r"^stkm-endpoint ready url=(\S+)", "\n".join(p.lines), re.M)
        check(url is not None, f"{name}: STKM endpoint listening")
        with open(sdp) as f:
            check(f"a=bcast-stkm-url:{url.group(1)}" in f.read(),
                  f"{name}: SDP names the endpoint (a=bcast-stkm-url)")
        h = Headend(p)
        h.sdp = sdp
        return h

    def write_keys_for(self, path, base_cid):
        subprocess.run([self.args.headend, "--write-key-file", path, "--base-cid", base_cid],
                       check=True, env=self.env, timeout=30, stdout=subprocess.DEVNULL)

    def start_fetch_spcd(self, extra=(), log_stkms=False):
        store = os.path.join(self.workdir, "spc.db")
        env = self.env
        if log_stkms:
            # spcd's debug line (GLib writes debug to stdout) for each STKM it answers on
            # ProcessStkm, i.e. from tekdec's key stream; fetched STKMs never go that way.
            env = dict(self.env, G_MESSAGES_DEBUG="spcd")
        self.spcd = e2e_test.Process("spcd", [self.args.spcd, "--bus-address", self.bus_address,
                                              "--store", store, *extra], self.workdir, env)
        self.processes.append(self.spcd)
        subprocess.run(["gdbus", "wait", "--address", self.bus_address, "--timeout", "20",
                        "org.openbcast.SPC1"], check=True, env=self.env, timeout=30)
        check(self.spcd.proc.poll() is None, "spcd owns org.openbcast.SPC1")

    def spcctl(self, *args):
        out = subprocess.run([self.args.spcctl, "--bus-address", self.bus_address, "--json",
                              *args], env=self.env, timeout=120, capture_output=True, text=True)
        text = out.stdout.strip()
        try:
            data = json.loads(text) if text else None
        except json.JSONDecodeError:
            data = text
        return out.returncode, data

    def status(self):
        out = subprocess.run(["gdbus", "call", "--address", self.bus_address, "--dest",
                              "org.openbcast.SPC1", "--object-path", "/org/openbcast/SPC1",
                              "--method", "org.openbcast.SPC1.Status"], env=self.env,
                             timeout=30, capture_output=True, text=True, check=True)
        values = {}
        for m in re.finditer(r"'([a-z-]+)': <(?:uint64 |uint32 |int32 |byte )?([^<>]*?)>",
                             out.stdout):
            values[m.group(1)] = m.group(2).strip("'")
        return values

    def counter(self, key):
        return int(self.status().get(key, "0"))

    def wait_counter(self, key, minimum, timeout):
        deadline = time.monotonic() + timeout
        while True:
            v = self.counter(key)
            if v >= minimum:
                return v
            if time.monotonic() > deadline:
                raise TestFailure(f"spcd Status {key} stayed at {v} (< {minimum}) for {timeout} s")
            time.sleep(0.1)  # polling interval of the wait, not a synchronisation delay

    def held(self, base_cid):
        rc, data = self.spcctl("held-teks", base_cid)
        return rc, data


def fetch_error(s, base_cid, domain="0a0b0c"):
    rc, data = s.spcctl("fetch-stkm", base_cid, domain)
    check(rc == 1 and isinstance(data, dict), f"fetch refused by spcd (exit {rc}: {data})")
    return data["error_name"].replace("org.openbcast.SPC1.Error.", ""), data["message"]


CID = "urn:openbcast:svc:sample:"


def scenario_blocked(s):
    s.write_keys()
    s.start_bus()
    s.start_fetch_spcd(["--interaction-timeout", "3000"], log_stkms=True)
    s.import_keys()
    he = s.headend("headend", s.args.port_base,
                   ["--tek-period", "3", "--stkm-interval", "250", "--key-stream-off"])
    # What the player does at start (SetChannelList); spcd learns key domain and STKM URL.
    rc, _ = s.spcctl("set-channel-list", "0", he.sdp)
    check(rc == 0, "SetChannelList with the service")
    s.sdp = he.sdp
    player = s.start_player(14)
    he.p.wait_for_line(r"^stkm-fetch n=1 status=200", timeout=30)
    check(True, "tekdec had spcd fetch the STKMs (key stream silent)")
    he.p.wait_for_line(r"^stkm-fetch n=3 status=200", timeout=30)
    check(True, "fetching went on while the key stream stayed silent")
    he.control("key-stream on")
    # The key stream's STKMs reach spcd through tekdec's ProcessStkm again: the first one answered
    # is the return that ends fetching (under load it may come seconds after "key-stream on",
    # while tekdec still fetches as it should). One fetch may be under way as the answer reaches
    # tekdec.
    s.spcd.wait_for_line(r"STKM for \S+ \(play\): TEK ID \d+", timeout=30)
    fetches_at_return = len(he.fetch_lines())
    check(True, f"tekdec sent spcd an STKM of the key stream ({fetches_at_return} fetches before)")
    status, report, lines, frames = s.finish_player(player, 14)
    check(status == 0, f"player exit status 0 (got {status})")
    fetched = s.counter("fetch-stkms-accepted")
    check(fetched >= 3, f"spcd accepted fetched STKMs ({fetched})")
    after = len(he.fetch_lines())
    check(after <= fetches_at_return + 1,
          f"no more fetching once the key stream was back ({fetches_at_return} -> {after})")
    video = report["frames_decoded"].get("video", 0)
    check(video > 100, f"video decoded from fetched and then broadcast TEKs ({video} frames)")
    check(report["tek_changes"] >= 2, f"TEK changes followed ({report['tek_changes']})")
    ready = report.get("tek_ready", [])
    if ready:
        check(ready[0]["source"] == "fetch", f"first TEK came from a fetch ({ready[0]})")
    check(report["errors"] == [], f"no player errors ({report['errors']})")


def scenario_faults(s):
    s.write_keys()
    s.start_bus()
    s.start_fetch_spcd(["--interaction-timeout", "700", "--interaction-attempts", "3",
                        "--interaction-backoff", "100"])
    s.import_keys()
    he = s.headend("headend", s.args.port_base,
                   ["--tek-period", "30", "--key-stream-off", "--stkm-slow-ms", "5000"])
    rc, _ = s.spcctl("set-channel-list", "0", he.sdp)
    check(rc == 0, "SetChannelList with the service")
    _, rights = s.spcctl("list-rights")

    def unchanged(what):
        rc, held = s.held(CID)
        check(rc == 1 and held["error_name"].endswith(".NoTeksHeld"),
              f"{what}: nothing held ({held})")
        check(s.spcctl("list-rights")[1] == rights, f"{what}: rights unchanged")

    # Refused like broadcast STKMs, before anything was held.
    for fault, name in (("forged", "BadMac"), ("malformed", "Malformed"),
                        ("bad-stkm", "Malformed")):
        he.control(f"stkm-fault {fault}")
        got, msg = fetch_error(s, CID)
        check(got == name, f"{fault} answer: {got} ({msg})")
        unchanged(fault)
    check(s.counter("stkms-bad-mac") >= 1, "the forged STKM failed its MAC check in spcd")

    # Named errors of the exchange, no retry (4xx, 204, wrong type).
    for fault, name in (("not-found", "Fetch.UnknownService"), ("no-key", "Fetch.NoCurrentKey"),
                        ("wrong-content-type", "Interaction.WrongContentType")):
        he.control(f"stkm-fault {fault}")
        retries = s.counter("fetch-http-retries")
        got, msg = fetch_error(s, CID)
        check(got == name, f"{fault}: {got} ({msg})")
        check(s.counter("fetch-http-retries") == retries, f"{fault}: not retried")
    unchanged("exchange errors")

    # A genuine answer, then a replayed and a forged one: the held TEKs stay.
    he.control("stkm-fault none")
    rc, ok = s.spcctl("fetch-stkm", CID, "0a0b0c")
    check(rc == 0 and ok["accepted"] == 1, f"genuine fetch accepted ({ok})")
    tek = he.current_tek()
    check(tek in ok["tek_ids"], f"fetched TEK IDs {ok['tek_ids']} hold the current TEK {tek}")
    rc, held = s.held(CID)
    check(rc == 0 and any(t["tek_id"] == tek for t in held), f"TEK {tek} held ({held})")
    for fault, name in (("replayed", "Replay"), ("forged", "BadMac"), ("malformed", "Malformed")):
        he.control(f"stkm-fault {fault}")
        got, msg = fetch_error(s, CID)
        check(got == name, f"{fault} after a genuine one: {got} ({msg})")
        check(s.held(CID) == (0, held), f"{fault}: held TEKs unchanged")
    check(s.spcctl("list-rights")[1] == rights, "rights unchanged by every fault")

    # Retried with backoff (network errors and 5xx), then a named error.
    spcd_log_retries = lambda: s.spcd.stderr_text().count("retrying in")
    for fault, name in (("http-503", "Interaction.ServerError"),
                        ("truncated", "Interaction.Truncated"),
                        ("refused", "Interaction.Unreachable"),
                        ("slow", "Interaction.Timeout")):
        he.control(f"stkm-fault {fault}")
        retries, logged = s.counter("fetch-http-retries"), spcd_log_retries()
        errors = s.counter("fetch-errors")
        got, msg = fetch_error(s, CID)
        check(got == name, f"{fault}: {got} ({msg})")
        check(s.counter("fetch-http-retries") == retries + 2,
              f"{fault}: two retries after the first attempt (fetch-http-retries)")
        check(spcd_log_retries() == logged + 2, f"{fault}: spcd logged the backoff of each retry")
        check(s.counter("fetch-errors") == errors + 1, f"{fault}: one fetch error counted")
    he.control("stkm-fault none")
    check(s.held(CID) == (0, held), "held TEKs unchanged after the exchange errors")


def scenario_parallel(s):
    s.write_keys()
    keys_b = os.path.join(s.workdir, "keys-b.ini")
    cid_b = "urn:openbcast:svc:other:"
    s.write_keys_for(keys_b, cid_b)
    s.start_bus()
    s.start_fetch_spcd(["--interaction-timeout", "1500", "--interaction-attempts", "3",
                        "--interaction-backoff", "200"])
    s.import_keys()
    subprocess.run([s.args.spcctl, "--bus-address", s.bus_address, "import-keys", keys_b],
                   check=True, env=s.env, timeout=30, capture_output=True)
    slow = s.headend("slow", s.args.port_base, ["--key-stream-off", "--stkm-fault", "slow",
                                                "--stkm-slow-ms", "20000"])
    good = s.headend("good", s.args.port_base + 10, ["--tek-period", "2", "--stkm-interval",
                                                     "250"], base_cid=cid_b, keys=keys_b)
    rc, _ = s.spcctl("set-channel-list", "1", slow.sdp, good.sdp)
    check(rc == 0, "SetChannelList (watching the good service)")
    s.sdp = good.sdp
    player = s.start_player(10)
    results = []

    def fetch_loop():
        for _ in range(2):
            results.append(fetch_error(s, CID))

    t = threading.Thread(target=fetch_loop)
    t.start()
    slow.p.wait_for_line(r"^stkm-request n=1 ", timeout=30)
    st = s.status()
    check(t.is_alive() and int(st["fetch-requests"]) >= 1,
          "spcd answered Status while its fetch hung on the slow endpoint")
    rc, _ = s.spcctl("list-rights")
    check(rc == 0 and t.is_alive(), "and ListRights")
    status, report, lines, frames = s.finish_player(player, 10)
    t.join(timeout=60)
    check(len(results) == 2 and all(r[0] == "Interaction.Timeout" for r in results),
          f"the slow fetches ended in Interaction.Timeout ({[r[0] for r in results]})")
    check(status == 0, f"player exit status 0 (got {status})")
    video = report["frames_decoded"].get("video", 0)
    check(video > 150, f"the other service played meanwhile ({video} video frames)")
    check(report["tek_changes"] >= 3, f"its TEK changes followed ({report['tek_changes']})")
    fails = report["decrypt_failures_by_reason"]
    check(sum(v for k, v in fails.items() if k != "no-key") == 0,
          f"no decrypt failures other than before the first key ({fails})")
    check(report["errors"] == [], f"no player errors ({report['errors']})")


def scenario_prefetch(s):
    cid_a, cid_b = "urn:openbcast:svc:alpha:", "urn:openbcast:svc:beta:"
    keys_a = os.path.join(s.workdir, "keys-a.ini")
    keys_b = os.path.join(s.workdir, "keys-b.ini")
    s.write_keys_for(keys_a, cid_a)
    s.write_keys_for(keys_b, cid_b)
    s.start_bus()
    s.start_fetch_spcd(["--prefetch=neighbours"])
    for k in (keys_a, keys_b):
        subprocess.run([s.args.spcctl, "--bus-address", s.bus_address, "import-keys", k],
                       check=True, env=s.env, timeout=30, capture_output=True)
    a = s.headend("alpha", s.args.port_base, ["--tek-period", "30"], base_cid=cid_a, keys=keys_a)
    b = s.headend("beta", s.args.port_base + 10, ["--tek-period", "30"], base_cid=cid_b,
                  keys=keys_b)
    rc, held = s.held(cid_b)
    check(rc == 1 and held["error_name"].endswith(".NoTeksHeld"), "nothing held before")
    rc, _ = s.spcctl("set-channel-list", "0", a.sdp, b.sdp)
    check(rc == 0, "SetChannelList: alpha watched, beta its neighbour")
    deadline = time.monotonic() + 20
    while True:
        rc, held = s.held(cid_b)
        if rc == 0:
            break
        if time.monotonic() > deadline:
            raise TestFailure(f"HeldTeks for the neighbour stayed empty ({held})")
        time.sleep(0.1)  # polling interval of the wait
    tek_b = b.current_tek()
    check(any(t["tek_id"] == tek_b for t in held),
          f"HeldTeks(beta) holds its current TEK {tek_b} ({[t['tek_id'] for t in held]})")
    st = s.status()
    check(st["prefetch-watched"] == "1" and int(st["prefetch-stkms-accepted"]) >= 1,
          f"spcd listened to the neighbour's key stream ({st['prefetch-watched']} watched, "
          f"{st['prefetch-stkms-accepted']} STKMs)")
    rc, held_a = s.held(cid_a)
    check(rc == 1, "the watched service itself is not prefetched (its player listens)")

    # A tekdec on beta whose own key stream brings nothing (a port nobody sends to).
    dead = s.args.port_base + 20
    argv = ["gst-launch-1.0", "-m", "udpsrc", f"port={dead}", "caps=application/x-bcast-stkm",
            "!", "stkmparse", f"base-cid={cid_b}", "!", "tekdec", "bus=address",
            f"bus-address={s.bus_address}", "fetch-after=0"]
    launch = e2e_test.Process("gst-launch", argv, s.workdir, s.env)
    s.processes.append(launch)
    m = launch.wait_for_line(r"bcast-tek-ready.*tek-id=\(uint\)(\d+).*source=\(string\)(\w+)",
                             timeout=30)
    check(m.group(2) == "held", f"tekdec: bcast-tek-ready source={m.group(2)}")
    check(int(m.group(1)) in [t["tek_id"] for t in held],
          f"tekdec's first TEK {m.group(1)} is one spcd held")
    launch.stop()

    # Zap: beta watched now; alpha becomes the neighbour.
    rc, _ = s.spcctl("set-channel-list", "1", a.sdp, b.sdp)
    check(rc == 0, "SetChannelList: beta watched")
    deadline = time.monotonic() + 20
    while s.held(cid_a)[0] != 0:
        if time.monotonic() > deadline:
            raise TestFailure("HeldTeks for alpha stayed empty after the zap")
        time.sleep(0.1)  # polling interval of the wait
    check(s.status()["prefetch-watched"] == "1", "one neighbour watched after the zap")
    check(True, f"alpha's TEK {a.current_tek()} held after the zap")


SCENARIOS = {
    "blocked": scenario_blocked,
    "faults": scenario_faults,
    "parallel": scenario_parallel,
    "prefetch": scenario_prefetch,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    for name in ("--headend", "--player", "--reference", "--media", "--make-media", "--spcd",
                 "--spcctl"):
        parser.add_argument(name, required=True)
    parser.add_argument("--plugin-dir", default="")
    parser.add_argument("--port-base", type=int, required=True)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    absolute_paths(args, ("headend", "player", "reference", "media", "make_media", "plugin_dir",
                          "spcd", "spcctl"))
    print(f"scenario {args.scenario}: {SCENARIOS[args.scenario].__name__}", flush=True)
    s = FetchScenario(args)
    return run_scenario(lambda: SCENARIOS[args.scenario](s), s.close)


if __name__ == "__main__":
    sys.exit(main())
