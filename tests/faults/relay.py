#!/usr/bin/env python3
"""UDP fault relay for the tests: sits between bcast-headend and bcast-player on loopback and drops,
reorders, duplicates and corrupts datagrams per stream at configurable rates.

  relay.py --stream NAME:LISTEN_PORT:FORWARD_PORT[:KIND] ... [--loss P] [--reorder P] [--dup P]
           [--corrupt P] [--faults-on NAMES] [--fault-seconds S] [--max-seconds S]
           [--max-packets N] [--seed N] [--delay NAME:MS] [--block NAME:SECONDS]

Rates are percentages per datagram. KIND is 'srtp' (corruption hits a byte of the payload, after
the 12-byte RTP header and before the last 12 bytes (MKI and 80-bit tag), so that each damaged
datagram is one the receiver must reject for its tag) or 'raw' (any byte). Faults apply to the
streams named by --faults-on (default: all) for the first --fault-seconds after the first datagram
(default: the whole run); then every datagram passes unchanged. --delay holds every datagram of a
stream for MS milliseconds, in order (a terminal whose media path runs behind its key path);
--block drops every datagram of a stream for the first SECONDS after `ready` (counted as blocked).
Both apply outside the fault window too.

Loopback only: it binds 127.0.0.1 and forwards to 127.0.0.1. Bounded: it exits after --max-seconds
or --max-packets, or on SIGTERM/SIGINT, and then prints its counters as one JSON line
`counts {...}` (per stream: received, forwarded, dropped, reordered, duplicated, corrupted, and
corrupted_sent = damaged datagrams put on the wire, duplicates included). Lines on stdout:
  ready                       every socket is bound
  faults-stopped              the fault window ended (only with --fault-seconds)
  counts {...}                the final counters
"""

import argparse
import collections
import json
import random
import selectors
import signal
import socket
import sys
import time


class Stream:
    def __init__(self, spec):
        parts = spec.split(":")
        if len(parts) not in (3, 4):
            raise SystemExit(f"bad --stream {spec!r}: NAME:LISTEN_PORT:FORWARD_PORT[:KIND]")
        self.name = parts[0]
        self.listen = int(parts[1])
        self.forward = ("127.0.0.1", int(parts[2]))
        self.kind = parts[3] if len(parts) == 4 else "raw"
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        self.sock.bind(("127.0.0.1", self.listen))
        self.sock.setblocking(False)
        self.out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.held = None  # a datagram kept back to be sent after the next one (reordering)
        self.delay = 0.0  # seconds (--delay)
        self.delayed = collections.deque()  # (due, data, damaged), due in arrival order
        self.block_until = 0.0  # monotonic time (--block)
        self.counts = dict(received=0, forwarded=0, dropped=0, reordered=0, duplicated=0,
                           corrupted=0, corrupted_sent=0, blocked=0)

    def send(self, data, damaged):
        if self.delay > 0:
            self.delayed.append((time.monotonic() + self.delay, data, damaged))
            return
        self.put(data, damaged)

    def release(self, now):
        while self.delayed and self.delayed[0][0] <= now:
            _, data, damaged = self.delayed.popleft()
            self.put(data, damaged)

    def put(self, data, damaged):
        try:
            self.out.sendto(data, self.forward)
        except OSError:
            return  # nobody listening yet: the datagram is lost, as on the air
        self.counts["forwarded"] += 1
        if damaged:
            self.counts["corrupted_sent"] += 1


def corrupt(stream, data, rng):
    data = bytearray(data)
    if stream.kind == "srtp" and len(data) > 12 + 12:
        at = rng.randrange(12, len(data) - 12)
    else:
        at = rng.randrange(len(data))
    data[at] ^= rng.randrange(1, 256)
    return bytes(data)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stream", action="append", required=True)
    for name in ("loss", "reorder", "dup", "corrupt"):
        ap.add_argument(f"--{name}", type=float, default=0.0, help="percent of datagrams")
    ap.add_argument("--faults-on", default="", help="comma-separated stream names (default: all)")
    ap.add_argument("--fault-seconds", type=float, default=0.0)
    ap.add_argument("--max-seconds", type=float, default=120.0)
    ap.add_argument("--max-packets", type=int, default=200000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--delay", action="append", default=[], help="NAME:MS")
    ap.add_argument("--block", action="append", default=[], help="NAME:SECONDS")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    streams = [Stream(s) for s in args.stream]
    by_name = {s.name: s for s in streams}
    for spec in args.delay + args.block:
        name, _, value = spec.partition(":")
        if name not in by_name or not value:
            raise SystemExit(f"bad --delay/--block {spec!r}: NAME:VALUE with NAME a --stream")
    for spec in args.delay:
        name, _, ms = spec.partition(":")
        by_name[name].delay = float(ms) / 1000
    faulty = set(args.faults_on.split(",")) if args.faults_on else {s.name for s in streams}
    sel = selectors.DefaultSelector()
    for s in streams:
        sel.register(s.sock, selectors.EVENT_READ, s)

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    print("ready", flush=True)

    start = time.monotonic()
    for spec in args.block:
        name, _, seconds = spec.partition(":")
        by_name[name].block_until = start + float(seconds)
    first = None
    faults_on = True
    total = 0
    while not stop and total < args.max_packets:
        now = time.monotonic()
        if now - start > args.max_seconds:
            break
        if faults_on and first is not None and args.fault_seconds > 0 and \
                now - first >= args.fault_seconds:
            faults_on = False
            for s in streams:  # nothing stays held once the faults are over
                if s.held is not None:
                    s.send(*s.held)
                    s.held = None
            print("faults-stopped", flush=True)
        due = [s.delayed[0][0] for s in streams if s.delayed]
        timeout = min([0.2] + [max(0.0, d - now) for d in due])
        for key, _ in sel.select(timeout=timeout):
            s = key.data
            while True:
                try:
                    data = s.sock.recv(65536)
                except BlockingIOError:
                    break
                total += 1
                if first is None:
                    first = time.monotonic()
                s.counts["received"] += 1
                if time.monotonic() < s.block_until:
                    s.counts["blocked"] += 1
                    continue
                if not (faults_on and s.name in faulty):
                    if s.held is not None:
                        s.send(*s.held)
                        s.held = None
                    s.send(data, False)
                    continue
                if rng.random() * 100 < args.loss:
                    s.counts["dropped"] += 1
                    continue
                damaged = False
                if rng.random() * 100 < args.corrupt:
                    data = corrupt(s, data, rng)
                    damaged = True
                    s.counts["corrupted"] += 1
                copies = 1
                if rng.random() * 100 < args.dup:
                    copies = 2
                    s.counts["duplicated"] += 1
                if s.held is None and rng.random() * 100 < args.reorder:
                    s.held = (data, damaged)  # goes out after the next datagram
                    s.counts["reordered"] += 1
                    if copies == 2:
                        s.send(data, damaged)
                    continue
                for _ in range(copies):
                    s.send(data, damaged)
                if s.held is not None:
                    s.send(*s.held)
                    s.held = None
        now = time.monotonic()
        for s in streams:
            s.release(now)
    for s in streams:
        if s.held is not None:
            s.send(*s.held)
        s.release(float("inf"))
    print("counts " + json.dumps({s.name: s.counts for s in streams}, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
