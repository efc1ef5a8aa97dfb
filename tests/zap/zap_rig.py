"""The zapping rig shared by the zap test (tests/zap/zap_test.py) and the zap benchmark
(tests/bench/bench_zap.py): a private dbus-daemon with spcd, bcast-headend services on loopback
(protected or in the clear) and a channel folder of their session descriptions, and a scripted
bcast-player run over it. Every wait is for an output line or an exit, with a timeout.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from testproc import (Process, TestFailure, check, check_udp_ports_free,  # noqa: E402,F401
                      start_private_bus)


class Rig:
    def __init__(self, args, prefix):
        self.args = args
        self.workdir = tempfile.mkdtemp(prefix=prefix)
        self.env = dict(os.environ)
        if args.plugin_dir:
            path = self.env.get("GST_PLUGIN_PATH", "")
            self.env["GST_PLUGIN_PATH"] = args.plugin_dir + (os.pathsep + path if path else "")
        self.env.pop("DISPLAY", None)
        self.env.pop("WAYLAND_DISPLAY", None)
        self.env["XDG_CONFIG_HOME"] = os.path.join(self.workdir, "config")
        self.processes = []
        self.spcd = None
        self.bus_address = None
        print(f"workdir {self.workdir}", flush=True)

    def path(self, *names):
        return os.path.join(self.workdir, *names)

    def close(self, keep):
        for p in reversed(self.processes):
            p.stop()
        if keep:
            print(f"(kept {self.workdir})")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def media(self):
        media = self.args.media
        if not os.path.exists(media) and getattr(self.args, "make_media", None):
            subprocess.run([self.args.make_media, f"--output={media}"], check=True, env=self.env)
        return media

    def write_keys(self, name, cid_extension, base_cid):
        path = self.path(name)
        subprocess.run([self.args.headend, "--write-key-file", path, "--base-cid", base_cid,
                        "--cid-extension", cid_extension], check=True, env=self.env, timeout=30,
                       stdout=subprocess.DEVNULL)
        return path

    def start_headends(self, specs):
        """Starts every head-end at once (so their GOPs run nearly in step), then waits for each
        to be ready. specs: dicts with name, port, base_cid, cid_extension, keys (None: --clear),
        sdp, extra. A service is known to spcd by its base CID: each has its own."""
        for spec in specs:
            check_udp_ports_free(range(spec["port"], spec["port"] + 7), f"head-end {spec['name']}")
        started = []
        for spec in specs:
            argv = [self.args.headend, "--media", self.media(), "--dest", "127.0.0.1",
                    "--key-port", str(spec["port"]), "--video-port", str(spec["port"] + 2),
                    "--audio-port", str(spec["port"] + 4),
                    "--isma-key-port", str(spec["port"] + 6), "--sdp-out", spec["sdp"],
                    # A fixed start: a stream without RFC 4771 cannot be joined after a wrap.
                    "--initial-seq", "0", "--session-name", spec["name"],
                    *spec.get("extra", [])]
            if spec.get("keys"):
                argv += ["--key-file", spec["keys"], "--base-cid", spec["base_cid"],
                         "--cid-extension", spec["cid_extension"]]
            else:
                argv += ["--clear"]
            p = Process(f"headend-{spec['name']}", argv, self.workdir, self.env)
            self.processes.append(p)
            started.append((spec, p))
        for spec, p in started:
            p.wait_for_line(r"^ready sdp=", timeout=60)
            check(os.path.exists(spec["sdp"]),
                  f"head-end {spec['name']} ready on port {spec['port']}"
                  f"{'' if spec.get('keys') else ' (clear)'}")

    def start_bus(self):
        """A private dbus-daemon in the work directory (testproc.start_private_bus)."""
        _, self.bus_address = start_private_bus(self.workdir, self.env, self.processes)

    def start_spcd(self, extra=(), name="spcd", watch="stdout"):
        # watch="stderr": spcd's log lines (where it says which TEKs it holds) can be waited for.
        spcd = Process(name, [self.args.spcd, "--bus-address", self.bus_address, "--store",
                              self.path("spc.db"), *extra], self.workdir, self.env, watch=watch)
        self.processes.append(spcd)
        subprocess.run(["gdbus", "wait", "--address", self.bus_address, "--timeout", "20",
                        "org.openbcast.SPC1"], check=True, env=self.env, timeout=30)
        check(spcd.proc.poll() is None, f"{name} {' '.join(extra)} owns org.openbcast.SPC1")
        self.spcd = spcd
        return spcd

    def stop_spcd(self):
        if self.spcd is not None:
            self.spcd.stop()
            self.processes.remove(self.spcd)
            self.spcd = None

    def import_keys(self, path):
        subprocess.run([self.args.spcctl, "--bus-address", self.bus_address, "import-keys", path],
                       check=True, env=self.env, timeout=30, capture_output=True, text=True)

    def zap(self, name, channel_dir, changes, extra=(), timeout=120, first_change=None):
        """A scripted bcast-player run over the channel folder; returns (exit status, report).
        first_change(process): called once the player runs; it makes the first change itself
        (the key "n" on the player's stdin) when the event it waits for has come."""
        report = self.path(f"{name}.json")
        argv = [self.args.player, "--headless", "--channels", channel_dir,
                "--zap-on-first-frame", str(changes), "--report", report, *extra]
        p = Process(name, argv, self.workdir, self.env,
                    stdin=subprocess.PIPE if first_change else None)
        self.processes.append(p)
        if first_change:
            first_change(p)
        status = p.wait(timeout)
        self.processes.remove(p)
        p.stop()
        if not os.path.exists(report):
            raise TestFailure(f"{name}: no report (exit {status}); see {name}.out/.err")
        with open(report) as f:
            return status, json.load(f)


def prefetch_supported(spcd):
    # The option is in spcd's "fetch" option group: listed by --help-all only.
    out = subprocess.run([spcd, "--help-all"], capture_output=True, text=True, timeout=30)
    return "--prefetch" in out.stdout + out.stderr
