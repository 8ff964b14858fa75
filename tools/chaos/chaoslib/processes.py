"""The long-running Keelson processes of a chaos run: `keelson serve` and `keelson worker`s.

Started with the run's marker in their environment, their output in a log file each; killed with
SIGKILL at random moments; restarted under the same name or a new one. A process that exits
without being killed is noticed and reported (with the end of its log)."""
import os
import signal
import subprocess
import threading
import time

from .keelson import CRASH_SIGNALS

# How long a worker's leases last (Keelson's default): a killed worker's name may be held that long.
LEASE_SECONDS = 30


class Managed:
    def __init__(self, kind, name, popen, log, duplicate=False):
        self.kind = kind          # "serve" or "worker"
        self.name = name          # its worker name
        self.popen = popen
        self.log = log
        self.duplicate = duplicate  # started under a name a live process already had
        self.started = time.monotonic()
        self.killed = False
        self.killed_at = None
        self.stopping = False

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def tail(self, lines=15):
        try:
            with open(self.log, errors="replace") as handle:
                return handle.read().splitlines()[-lines:]
        except OSError:
            return []

    def describe(self):
        return f"{self.kind} {self.name} (pid {self.pid}{', duplicate name' if self.duplicate else ''})"


class Exit:
    """A process that ended without the driver killing or stopping it. `name_taken`: when it
    exited, another process had its worker name or had it until a kill less than a lease ago —
    a worker that refuses (or gives up) a name another process may still hold does right."""

    def __init__(self, process, status, name_taken):
        self.process = process
        self.status = status
        self.name_taken = name_taken

    @property
    def refused(self):
        return self.name_taken and not self.crashed

    @property
    def crashed(self):
        return -self.status in CRASH_SIGNALS or self.status - 128 in CRASH_SIGNALS

    def describe(self):
        if self.refused:
            return f"{self.process.describe()} exited ({self.status}) while its name was (or may still be) held"
        how = f"signal {CRASH_SIGNALS.get(-self.status, -self.status)}" if self.status < 0 else f"status {self.status}"
        return f"{self.process.describe()} exited on its own with {how}"


class Processes:
    def __init__(self, keelson, directory, port, timeline):
        self.keelson = keelson
        self.directory = directory
        self.port = port
        self.timeline = timeline
        self.lock = threading.RLock()
        self.all = []
        self.exits = []
        self.counter = 0

    def _spawn(self, kind, name, arguments, duplicate=False):
        with self.lock:
            self.counter += 1
            log = os.path.join(self.directory, f"{self.counter:03d}-{kind}-{name.replace(':', '_')}.log")
            handle = open(log, "w")
            popen = subprocess.Popen(
                [self.keelson.binary] + arguments, env=self.keelson.environment(), stdin=subprocess.DEVNULL,
                stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
            handle.close()
            process = Managed(kind, name, popen, log, duplicate)
            self.all.append(process)
            self.timeline.note(f"start {process.describe()}")
            return process

    def start_worker(self, name, duplicate=False):
        return self._spawn("worker", name, ["worker", "--db", self.keelson.database, "--name", name], duplicate)

    def start_serve(self, name):
        """`name` None: the server's default worker name (server:HOST:PORT)."""
        arguments = ["serve", "--db", self.keelson.database, "--listen", f"127.0.0.1:{self.port}"]
        if name:
            arguments += ["--worker-name", name]
        return self._spawn("serve", name or f"server:127.0.0.1:{self.port}", arguments)

    def live(self, kind=None):
        with self.lock:
            return [p for p in self.all if p.alive() and not p.killed and not p.stopping and (kind is None or p.kind == kind)]

    def kill(self, process):
        with self.lock:
            process.killed = True
            process.killed_at = time.monotonic()
            try:
                os.kill(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        process.popen.wait()
        self.timeline.note(f"SIGKILL {process.describe()}")

    def stop(self, process, seconds):
        """SIGTERM, and SIGKILL if it has not stopped after `seconds`. True if it stopped by itself."""
        with self.lock:
            process.stopping = True
        if not process.alive():
            return True
        process.popen.send_signal(signal.SIGTERM)
        try:
            status = process.popen.wait(seconds)
            self.timeline.note(f"stopped {process.describe()} with SIGTERM: exit {status}")
            return True
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.popen.wait()
            self.timeline.note(f"{process.describe()} did not stop within {seconds}s of SIGTERM: SIGKILL")
            return False

    def reap(self):
        """Processes that ended without being killed or stopped since the last call."""
        ended = []
        with self.lock:
            for process in self.all:
                if process.killed or process.stopping or process.alive():
                    continue
                process.stopping = True  # noted once
                now = time.monotonic()
                taken = any(
                    other is not process and other.name == process.name and (
                        other.alive() or (other.killed_at is not None and now - other.killed_at < LEASE_SECONDS + 5))
                    for other in self.all)
                ended.append(Exit(process, process.popen.returncode, taken))
        for exit in ended:
            self.timeline.note(exit.describe())
            self.exits.append(exit)
        return ended

    def wait_listening(self, process, seconds):
        """Waits until the server logs that it listens (True), exits, or `seconds` pass."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and process.alive():
            if any("listening on" in line for line in process.tail(200)):
                return True
            time.sleep(0.1)
        return False

    def kill_everything(self):
        with self.lock:
            for process in self.all:
                if process.alive():
                    process.killed = True
                    try:
                        os.kill(process.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            for process in self.all:
                try:
                    process.popen.wait(10)
                except subprocess.TimeoutExpired:
                    pass
