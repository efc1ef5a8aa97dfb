#!/usr/bin/env python3
"""Zapping between protected services (issue 5 part 3): a private dbus-daemon with spcd keeping the
neighbouring channels' TEKs (--prefetch=neighbours), three SRTP services from three head-ends
(distinct ports and content IDs), a channel folder of their session descriptions, and bcast-player
making 20 channel changes by itself (--zap-on-first-frame). Every change must decode a frame, and
the first TEK of every change must be one that spcd had prefetched (tekdec's bcast-tek-ready
source "held"). Times are reported, never asserted (tests/bench/bench_zap.py measures them).
"""

import argparse
import os
import sys

from zap_rig import Rig, TestFailure, check

CHANGES = 20


def run(rig, base):
    rig.start_bus()
    spcd = rig.start_spcd(["--prefetch=neighbours"], watch="stderr")
    channels = rig.path("channels")
    os.makedirs(channels)
    specs = []
    for i, name in enumerate(("news", "sports", "movies")):
        ext = f"0x{0x51 + i:x}"
        cid = f"urn:openbcast:svc:{name}:"
        keys = rig.write_keys(f"{name}.ini", ext, cid)
        rig.import_keys(keys)
        # Each service its own base CID (spcd holds prefetched TEKs per base CID); the TEK IDs of
        # the three overlap, as independent services' do.
        specs.append({"name": name, "port": base + 10 * i, "base_cid": cid,
                      "cid_extension": ext, "keys": keys,
                      "sdp": os.path.join(channels, f"{i + 1}-{name}.sdp"),
                      # STKMs every 2 s (broadcast-like) and no TEK change during the run
                      # (the head-end sends an STKM at once at a change): no STKM comes in the
                      # moment a new pipeline asks spcd for its held TEKs, so "held" must be
                      # what every change used.
                      "extra": ["--tek-period", "60", "--stkm-interval", "2000"]})
    rig.start_headends(specs)

    def first_change(player):
        # spcd gets the channel list from the player at start and prefetches the neighbours of
        # the first channel (an STKM of each from their key streams). The first change waits for
        # that, not for a time: under load the first STKMs may take seconds.
        player.wait_for_line(r"^zap n=0 .*ttff_ms=\d", timeout=60)
        neighbours = {spec["base_cid"] for spec in specs[1:]}
        while neighbours:  # spcd's log lines from its start, in order
            m = spcd.wait_for_line(r"TEK \d+ of (\S+) held \(", timeout=60)
            neighbours.discard(m.group(1))
        print("    spcd holds the neighbours' TEKs: first change", flush=True)
        player.proc.stdin.write("n")
        player.proc.stdin.flush()

    status, report = rig.zap("player", channels, CHANGES,
                             ["--bus-address", rig.bus_address, "--zap-dwell", "0.3",
                              # The first change is first_change's "n"; this only bounds it.
                              "--zap-warmup", "120",
                              # Only spcd's prefetched TEKs, not the keyring of a last visit.
                              "--no-keyring-reuse"], timeout=120, first_change=first_change)
    changes = report["changes"]
    for c in changes:
        print(f"    change {c['n']:2}: {c['from']}->{c['to']} ttff {c['ttff_ms']} ms, "
              f"TEK {c['tek_id']} from {c['tek_source']} after {c['tek_ready_ms']} ms"
              f"{', error: ' + c['error'] if c['error'] else ''}", flush=True)
    s = report["summary"]
    print(f"    median ttff {s['median_ttff_ms']} ms, p90 {s['p90_ttff_ms']} ms, "
          f"prefetched {s['prefetched']}/{s['changes']}", flush=True)
    check(len(changes) == CHANGES, f"{CHANGES} channel changes made ({len(changes)})")
    check([c["to"] for c in changes] == [(i + 1) % 3 + 1 for i in range(CHANGES)] and
          all(c["from"] != c["to"] for c in changes),
          "each change goes to the next channel of the folder (1-news, 2-sports, 3-movies, wrap)")
    check(all(c["protected"] for c in changes), "every target is a protected service")
    failed = [c["n"] for c in changes if c["ttff_ms"] is None or c["error"]]
    check(not failed, f"every change decoded a video frame (failed: {failed})")
    check(status == 0, "bcast-player exit status 0 (every change decoded a frame)")
    check(not any("SetChannelList" in n for n in report["notices"]),
          f"spcd took the channel list (notices: {report['notices']})")
    missing = [f"{c['n']}:{c['tek_source']}" for c in changes if c["tek_source"] is None]
    check(not missing, f"tekdec said where each change's first TEK came from (missing: {missing})")
    not_prefetched = [f"{c['n']}:{c['tek_source']}" for c in changes if not c["prefetched"]]
    check(not not_prefetched,
          f"every change used a TEK that spcd had prefetched (source held); not: {not_prefetched}")
    check(s["prefetched"] == CHANGES and s["with_frame"] == CHANGES,
          f"summary: {s['prefetched']} prefetched, {s['with_frame']} with a frame")


def main():
    ap = argparse.ArgumentParser()
    for name in ("headend", "player", "spcd", "spcctl", "media"):
        ap.add_argument(f"--{name}", required=True)
    ap.add_argument("--make-media", default="")
    ap.add_argument("--plugin-dir", default="")
    ap.add_argument("--port-base", type=int, default=27600)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    for name in ("headend", "player", "spcd", "spcctl", "media", "make_media"):
        if getattr(args, name):
            setattr(args, name, os.path.abspath(getattr(args, name)))
    rig = Rig(args, "openbcast-zap-")
    passed = False
    try:
        run(rig, args.port_base)
        passed = True
        print("PASS zap")
    except TestFailure as e:
        print(f"FAIL zap: {e}")
    finally:
        rig.close(keep=args.keep or not passed)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
