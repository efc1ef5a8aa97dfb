"""Child processes for the Python end-to-end tests and benchmarks: output lines collected by a thread
(and logged to <workdir>/<name>.out/.err), waits for a line matching a pattern with a timeout, and a
stop that takes the whole process group down. Every test waits on these events, never on a sleep.
"""

import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time


class TestFailure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise TestFailure(message)
    print(f"  ok: {message}", flush=True)


def check_udp_ports_free(ports, what):
    """Fails when one of `ports` on loopback is bound already. The player, tekdec and spcd bind
    with SO_REUSEPORT, so another run of the same test on the same ports (another build directory
    on a shared machine) is no error for them: the kernel shares the datagrams out among the runs
    by sender, and each run sees the other's SRTP packets (wrong keys under the same TEK IDs:
    authentication failures) and loses some of its own (a key stream that seems silent). Checked
    before this run binds anything of its own."""
    for port in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as e:
            raise TestFailure(f"{what}: UDP port {port} is in use ({e.strerror}): another run "
                              "on the same ports (another build directory?) would mix its "
                              "packets with this run's")
        finally:
            s.close()


class Process:
    """A child whose stdout lines (or stderr lines, watch="stderr", for daemons that log there) are
    collected by a thread; `timed_lines` keeps when each arrived (monotonic clock)."""

    def __init__(self, name, argv, workdir, env=None, watch="stdout", stdin=None):
        self.name = name
        self.argv = argv
        self.lines = []
        self.timed_lines = []
        self._queue = queue.Queue()
        out = open(os.path.join(workdir, f"{name}.out"), "w")
        err = open(os.path.join(workdir, f"{name}.err"), "w")
        self._files = (out, err)
        self._err = err
        print(f"  run {name}: {' '.join(argv)}", flush=True)
        self.proc = subprocess.Popen(
            argv, cwd=workdir, env=env, text=True, start_new_session=True,
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE if watch == "stdout" else out,
            stderr=subprocess.PIPE if watch == "stderr" else err)
        self._stream = self.proc.stdout if watch == "stdout" else self.proc.stderr
        self._log = out if watch == "stdout" else err
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self._stream:
            line = line.rstrip("\n")
            self.timed_lines.append((time.monotonic(), line))
            self.lines.append(line)
            self._log.write(line + "\n")
            self._log.flush()
            self._queue.put(line)
        self._queue.put(None)

    def wait_for_line(self, pattern, timeout):
        """Returns the first match of `pattern` in a new line, or raises on timeout/exit."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TestFailure(f"{self.name}: no line matching {pattern!r} within {timeout} s")
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise TestFailure(f"{self.name} exited (status {self.proc.wait()}) before "
                                  f"printing {pattern!r}; see {self._err.name}")
            m = regex.search(line)
            if m:
                return m

    def wait(self, timeout):
        try:
            status = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise TestFailure(f"{self.name} did not exit within {timeout} s")
        self._reader.join(timeout=10)
        return status

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._reader.join(timeout=10)
        for f in self._files:
            if not f.closed:
                f.close()

    def stderr_text(self):
        self._err.flush()
        with open(self._err.name) as f:
            return f.read()


BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={workdir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
    <allow user="*"/>
  </policy>
</busconfig>
"""


def start_private_bus(workdir, env, processes):
    """A private dbus-daemon (session type, permissive policy) listening in `workdir`; appended to
    `processes` before the wait so that the caller's cleanup stops it. Returns (process, address)."""
    conf = os.path.join(workdir, "bus.conf")
    with open(conf, "w") as f:
        f.write(BUS_CONFIG.format(workdir=workdir))
    bus = Process("dbus-daemon", ["dbus-daemon", f"--config-file={conf}", "--print-address=1",
                                  "--nofork"], workdir, env)
    processes.append(bus)
    return bus, bus.wait_for_line(r"^(unix:\S+)", timeout=20).group(1)


def absolute_paths(args, names):
    """Makes the path arguments `names` of an argparse namespace absolute (tests chdir)."""
    for name in names:
        if getattr(args, name):
            setattr(args, name, os.path.abspath(getattr(args, name)))


def run_scenario(body, close, failures=(TestFailure, subprocess.CalledProcessError,
                                        subprocess.TimeoutExpired, KeyError, TypeError)):
    """Runs one scenario body, prints FAIL with the reason or PASS, always calls close(passed).
    Returns the exit status (0 passed, 1 failed)."""
    passed = False
    try:
        body()
        passed = True
    except failures as e:
        print(f"FAIL: {type(e).__name__}: {e}", flush=True)
    finally:
        close(passed)
    print("PASS" if passed else "FAILED", flush=True)
    return 0 if passed else 1
