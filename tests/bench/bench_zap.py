#!/usr/bin/env python3
"""Zapping benchmark (issue 5 part 3): the same channel changes between the same three services,
protected (SRTP, TEKs from spcd) and sent in the clear (bcast-headend --clear), measured in one run:

  protected-prefetch            spcd --prefetch=neighbours, the player tells it the channel list
                                (bcast-player's defaults: a channel also gets back its keyring)
  protected-prefetch-cold       the same with --no-keyring-reuse: only spcd's prefetched TEKs
  clear                         the same media, no protection
  protected-noprefetch          spcd --prefetch=off, bcast-player's defaults: spcd still holds the
                                TEKs it opened on an earlier visit, the channel gets its keyring
  protected-cold                spcd --prefetch=off, bcast-player --no-keyring-reuse
                                --no-held-teks: every change waits for the service's key stream

Each condition is one scripted bcast-player run of N changes (default 20) over the channel folder,
`--zap-every PERIOD`: the period (default 1.618 s, a golden-ratio fraction of the 1 s GOP of the
sample media on top of a whole second) moves each change to a new phase of the GOP, so the changes
sample the whole GOP evenly. Every head-end starts at the same moment (their GOPs run nearly in
step) and the player counts the periods from the first channel's first frame, so change k of every
condition falls on the same phase of the GOP: besides the medians, the table gives the median of
the per-change differences to the clear run (paired). Time to first frame = the zap
command to the first decoded video frame (bcast-player's report).

Prints a table, writes JSON (--out). Nothing is asserted: the target (protected median within 10 %
of clear) is reported as met or missed. Exit status 0 unless a run failed to produce its report.
"""

import argparse
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "zap"))
from zap_rig import Rig, TestFailure, prefetch_supported  # noqa: E402


def run_condition(rig, name, channel_dir, args, extra):
    if args.only and name not in args.only.split(","):
        return None
    argv = [args.player, "--headless", "--channels", channel_dir, "--zap-every",
            str(args.period), "--zaps", str(args.changes), "--zap-warmup", str(args.warmup),
            "--zap-timeout", str(max(1.0, args.period - 0.05)), "--report",
            rig.path(f"{name}.json"), *extra]
    from testproc import Process
    p = Process(name, argv, rig.workdir, rig.env)
    rig.processes.append(p)
    status = p.wait(args.warmup + args.period * (args.changes + 2) + 60)
    rig.processes.remove(p)
    p.stop()
    path = rig.path(f"{name}.json")
    if not os.path.exists(path):
        raise TestFailure(f"{name}: no report (exit {status}); see {rig.path(name + '.err')}")
    with open(path) as f:
        report = json.load(f)
    s = report["summary"]
    changes = report["changes"]
    return {
        "condition": name,
        "exit_status": status,
        "changes": s["changes"],
        "with_frame": s["with_frame"],
        "prefetched": s["prefetched"],
        "keyring_reused": sum(1 for c in changes if c.get("keyring_reused")),
        "median_ttff_ms": s["median_ttff_ms"],
        "p90_ttff_ms": s["p90_ttff_ms"],
        "mean_ttff_ms": s["mean_ttff_ms"],
        "min_ttff_ms": s["min_ttff_ms"],
        "max_ttff_ms": s["max_ttff_ms"],
        "median_tek_ready_ms": s["median_tek_ready_ms"],
        "ttff_ms": [c["ttff_ms"] for c in changes],
        "tek_sources": [c["tek_source"] for c in changes],
        "notices": report["notices"],
    }


def free_port_base(count=70):
    """A range of `count` UDP ports on loopback that nothing is bound to right now."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 60000 - count, 10)
        socks = []
        try:
            for port in range(base, base + count):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    return 28400


def ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


def fmt(v):
    return "-" if v is None else f"{v:.0f}"


def fmt_ratio(v):
    return "-" if v is None else f"{v:.2f}"


def main():
    ap = argparse.ArgumentParser()
    for name in ("headend", "player", "spcd", "media"):
        ap.add_argument(f"--{name}", required=True)
    ap.add_argument("--spcctl", default="", help="default: spc/ctl/spcctl beside spc/daemon/spcd")
    ap.add_argument("--plugin-dir", default="")
    ap.add_argument("--out", default="bench-zap.json")
    ap.add_argument("--changes", type=int, default=20)
    ap.add_argument("--period", type=float, default=1.618)
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--tek-period", type=int, default=10)
    ap.add_argument("--stkm-interval", type=int, default=500, help="head-end ms between STKMs")
    ap.add_argument("--port-base", type=int, default=0,
                    help="first of 70 UDP ports (default: a free range, so that runs in parallel "
                         "never hear each other)")
    ap.add_argument("--only", default="", help="comma-separated conditions to run (default all)")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if not args.spcctl:
        args.spcctl = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(args.spcd))),
                                   "ctl", "spcctl")
    for name in ("headend", "player", "spcd", "spcctl", "media"):
        setattr(args, name, os.path.abspath(getattr(args, name)))
    args.make_media = None
    if args.port_base == 0:
        args.port_base = free_port_base()
    prefetch = prefetch_supported(args.spcd)
    rig = Rig(args, "openbcast-bench-zap-")
    results = []
    ok = False
    try:
        rig.start_bus()
        rig.start_spcd(["--prefetch=neighbours"] if prefetch else [])
        prot_dir, clear_dir = rig.path("protected"), rig.path("clear")
        os.makedirs(prot_dir)
        os.makedirs(clear_dir)
        specs = []
        for i, name in enumerate(("news", "sports", "movies")):
            ext = f"0x{0x61 + i:x}"
            cid = f"urn:openbcast:svc:{name}:"
            keys = rig.write_keys(f"{name}.ini", ext, cid)
            rig.import_keys(keys)
            tek = ["--tek-period", str(args.tek_period), "--stkm-interval",
                   str(args.stkm_interval)]
            specs.append({"name": name, "port": args.port_base + 10 * i, "base_cid": cid,
                          "cid_extension": ext,
                          "keys": keys, "sdp": os.path.join(prot_dir, f"{i + 1}-{name}.sdp"),
                          "extra": tek})
            specs.append({"name": f"{name}-clear", "port": args.port_base + 40 + 10 * i,
                          "sdp": os.path.join(clear_dir, f"{i + 1}-{name}.sdp")})
        rig.start_headends(specs)
        bus = ["--bus-address", rig.bus_address]

        def add(result):
            if result is not None:
                results.append(result)

        print("run: protected, prefetch on", flush=True)
        add(run_condition(rig, "protected-prefetch", prot_dir, args, bus))
        print("run: protected, prefetch on, cold keyring", flush=True)
        add(run_condition(rig, "protected-prefetch-cold", prot_dir, args,
                                     bus + ["--no-keyring-reuse"]))
        print("run: clear", flush=True)
        add(run_condition(rig, "clear", clear_dir, args, bus))
        rig.stop_spcd()
        rig.start_spcd(["--prefetch=off"] if prefetch else [], name="spcd-noprefetch")
        print("run: protected, prefetch off", flush=True)
        add(run_condition(rig, "protected-noprefetch", prot_dir, args, bus))
        print("run: protected, cold (no held TEKs, no keyring kept)", flush=True)
        add(run_condition(rig, "protected-cold", prot_dir, args,
                                     bus + ["--no-keyring-reuse", "--no-held-teks"]))
        ok = True
    except TestFailure as e:
        print(f"bench_zap: {e}", flush=True)
    finally:
        rig.close(keep=args.keep or not ok)

    by = {r["condition"]: r for r in results}
    clear = by.get("clear", {})
    for r in results:
        r["median_ratio_to_clear"] = ratio(r["median_ttff_ms"], clear.get("median_ttff_ms"))
        r["p90_ratio_to_clear"] = ratio(r["p90_ttff_ms"], clear.get("p90_ttff_ms"))
        pairs = [a - b for a, b in zip(r["ttff_ms"], clear.get("ttff_ms", []))
                 if a is not None and b is not None]
        r["paired_median_diff_ms"] = statistics.median(pairs) if pairs else None
    target = by.get("protected-prefetch", {}).get("median_ratio_to_clear")
    res = {
        "benchmark": "zap",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "changes": args.changes,
        "period_s": args.period,
        "tek_period_s": args.tek_period,
        "stkm_interval_ms": args.stkm_interval,
        "port_base": args.port_base,
        "media": args.media,
        "spcd_prefetch_option": prefetch,
        "conditions": results,
        "target": "protected (prefetch on) median TTFF within 10 % of clear",
        "protected_over_clear_median": target,
        "target_met": (target is not None and target <= 1.10
                       and by["protected-prefetch"]["with_frame"] == args.changes),
    }
    # Rows for bench.py's table (its row fields).
    rows = []
    for r in results:
        is_clear = r["condition"] == "clear"
        rows.append({
            "what": f"zap TTFF median, {r['condition']} ({r['with_frame']}/{r['changes']} with a "
                    f"frame, {r['prefetched']} prefetched)",
            "value": r["median_ttff_ms"], "unit": "ms",
            "baseline": "" if is_clear else "clear median",
            "baseline_value": None if is_clear else clear.get("median_ttff_ms"),
            "target": "<= 1.10 x clear" if r["condition"] == "protected-prefetch" else None,
            "met": res["target_met"] if r["condition"] == "protected-prefetch" else None,
            "note": f"p90 {fmt(r['p90_ttff_ms'])} ms, median/clear "
                    f"{fmt_ratio(r['median_ratio_to_clear'])}, median paired difference "
                    f"{fmt(r['paired_median_diff_ms'])} ms"})
    res["rows"] = rows
    lines = [f"zapping: {args.changes} changes over 3 services, one every {args.period} s "
             f"(TEK period {args.tek_period} s, STKM every {args.stkm_interval} ms); time to "
             f"first frame in ms",
             f"{'condition':30} {'median':>7} {'p90':>6} {'mean':>6} {'min':>5} {'max':>5} "
             f"{'frames':>7} {'prefetched':>10} {'med/clear':>9} {'p90/clear':>9} "
             f"{'paired diff':>11}"]
    for r in results:
        lines.append(f"{r['condition']:30} {fmt(r['median_ttff_ms']):>7} "
                     f"{fmt(r['p90_ttff_ms']):>6} {fmt(r['mean_ttff_ms']):>6} "
                     f"{fmt(r['min_ttff_ms']):>5} {fmt(r['max_ttff_ms']):>5} "
                     f"{r['with_frame']:>3}/{r['changes']:<3} {r['prefetched']:>10} "
                     f"{fmt_ratio(r['median_ratio_to_clear']):>9} "
                     f"{fmt_ratio(r['p90_ratio_to_clear']):>9} "
                     f"{fmt(r['paired_median_diff_ms']):>11}")
    lines.append(f"target: {res['target']}: ratio {target} -> "
                 f"{'met' if res['target_met'] else 'MISSED'}"
                 + ("" if prefetch else " (spcd has no --prefetch: prefetch not available)"))
    table = "\n".join(lines) + "\n"
    print(table)
    with open(args.out, "w") as f:
        json.dump(res, f, indent=2)
    print(f"JSON: {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
