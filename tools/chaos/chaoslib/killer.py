"""The crashes of a chaos run: SIGKILLs of `keelson worker`s (one, or two at once) and of
`keelson serve` (alone, or with a worker), each restarted after a short random delay under the
same name or a new one; now and then a second worker started under a live worker's name.

Random moments alone rarely hit the narrow windows where recovery goes wrong, so some kills aim:
at the process running a custom apply program (read from the program's own start line), and at
the worker that holds an instance's lease just as the local runtime starts a replica (between
spawning it and recording its pid file)."""
import heapq
import itertools
import os
import random
import sqlite3
import threading
import time

from . import proctable

STANDALONE_WORKERS = 2


class Killer:
    def __init__(self, seed, processes, keelson, timeline, kills, duration, custom_state, local_state):
        self.rng = random.Random(f"killer:{seed}")
        self.processes = processes
        self.keelson = keelson
        self.timeline = timeline
        self.kills_wanted = kills
        self.duration = duration
        self.custom_state = custom_state
        self.local_state = local_state
        self.kills = 0
        self.aimed = {"custom apply": 0, "local replica start": 0}
        self.duplicates = 0
        self.names = itertools.count(STANDALONE_WORKERS + 1)
        self.serve_name = None          # None: the server's default name
        self.serve = None
        self.ready = None               # the server process known to listen
        self.restarts = []              # heap of (time, sequence, kind, name)
        self.sequence = itertools.count()
        self.stop = threading.Event()
        self.thread = None
        self.failure = None
        self.on_duplicate = None        # called after a duplicate starts (the operator releases)

    # The server, for the operator.
    def server_ready(self):
        serve = self.ready
        return serve is not None and serve.alive() and not serve.killed

    def start_serve(self, name):
        self.serve_name = name
        self.serve = self.processes.start_serve(name)
        self.ready = None
        return self.serve

    def begin(self):
        """Starts the server and the standalone workers, and waits until the server listens."""
        self.serve_name = None if self.rng.random() < 0.5 else "serve-1"
        for number in range(1, STANDALONE_WORKERS + 1):
            self.processes.start_worker(f"w{number}")
        self.ensure_serve(120)

    def ensure_serve(self, seconds):
        """A server that listens, under the current server name: started (again) until it does —
        a server may rightly refuse a name a killed one held until its lease runs out."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self._live_serve() is None:
                self.start_serve(self.serve_name)
            if self.processes.wait_listening(self.serve, deadline - time.monotonic()):
                self.ready = self.serve
                return
            self.processes.reap()
            time.sleep(2)
        raise RuntimeError(f"keelson serve did not start listening within {seconds} s:\n  " + "\n  ".join(self.serve.tail()))

    def start(self):
        self.thread = threading.Thread(target=self._loop, name="killer", daemon=True)
        self.thread.start()

    def join(self):
        self.stop.set()
        if self.thread:
            self.thread.join()

    def done(self):
        return self.thread is not None and not self.thread.is_alive()

    # Killing and restarting.

    def _schedule_restart(self, process):
        delay = self.rng.uniform(0.1, 3.0)
        same = self.rng.random() < 0.8
        if process.kind == "serve":
            name = self.serve_name if same else f"serve-{next(self.names)}"
        else:
            name = process.name if same else f"w{next(self.names)}"
        heapq.heappush(self.restarts, (time.monotonic() + delay, next(self.sequence), process.kind, name))

    def _kill(self, victims, why=None):
        victims = [v for v in victims if v.alive() and not v.killed]
        if why and victims:
            self.timeline.note(f"aimed kill ({why}): {', '.join(v.describe() for v in victims)}")
        for victim in victims:
            victim.killed = True  # before the signal: never mistaken for an exit on its own
        for victim in victims:
            self.processes.kill(victim)
        self.kills += len(victims)
        for victim in victims:
            if not victim.duplicate:
                self._schedule_restart(victim)
        return len(victims)

    def _restart(self, kind, name):
        if kind == "serve":
            if self.serve is not None and self.serve.alive() and not self.serve.killed:
                return
            self.start_serve(None if name is None or name.startswith("server:") else name)
        else:
            self.processes.start_worker(name)

    def _tick(self):
        """Restarts what is due, notices processes that died by themselves, and the server ready."""
        now = time.monotonic()
        while self.restarts and self.restarts[0][0] <= now:
            _, _, kind, name = heapq.heappop(self.restarts)
            self._restart(kind, name)
        for exit in self.processes.reap():
            if not exit.process.duplicate:
                # Keep the population: a process that died by itself is started again.
                heapq.heappush(self.restarts, (now + 1, next(self.sequence), exit.process.kind, exit.process.name))
        serve = self.serve
        if serve is not None and self.ready is not serve and serve.alive() and any("listening on" in l for l in serve.tail(50)):
            self.ready = serve

    def _live_serve(self):
        serve = self.serve
        return serve if serve is not None and serve.alive() and not serve.killed else None

    def _random_kill(self):
        # A worker started under a live worker's name is left alone for a while: long enough for
        # two processes with one name to do harm, if they can.
        workers = [w for w in self.processes.live("worker") if not w.duplicate or time.monotonic() - w.started > 20]
        serve = self._live_serve()
        roll = self.rng.random()
        if roll < 0.2 and len(workers) >= 2:
            pair = self.rng.sample(workers, 2)
            self.timeline.note(f"kill two at once: {pair[0].name} and {pair[1].name}")
            self._kill(pair)
        elif roll < 0.4 and serve:
            self._kill([serve])
        elif roll < 0.5 and serve and workers:
            other = self.rng.choice(workers)
            self.timeline.note(f"kill two at once: the server and {other.name}")
            self._kill([serve, other])
        elif workers:
            self._kill([self.rng.choice(workers)])
        elif serve:
            self._kill([serve])

    def _custom_applies(self):
        """The custom apply runs going on now: (key, pid, parent pid, seconds left of its plan)."""
        found = []
        for entry in os.listdir(self.custom_state) if os.path.isdir(self.custom_state) else []:
            try:
                with open(os.path.join(self.custom_state, entry, "runs.log")) as handle:
                    lines = handle.read().splitlines()
            except OSError:
                continue
            started, ended = {}, set()
            for line in lines:
                parts = line.split()
                if len(parts) >= 4 and parts[0] == "start" and "action=apply" in line and "ppid=" in line:
                    planned = float(line.rsplit("plan=", 1)[1].rstrip("s").split()[0]) if "plan=" in line else 0
                    started[int(parts[2])] = (parts[1], int(line.rsplit("ppid=", 1)[1].split()[0]), float(parts[3]) + planned)
                elif len(parts) >= 3 and parts[0] == "end":
                    ended.add(int(parts[2]))
            for pid, (key, parent, until) in started.items():
                if pid not in ended and (proctable.environment(pid) or {}).get("KEELSON_IDEMPOTENCY_KEY") == key:
                    found.append((key, pid, parent, until - time.time()))
        return found

    def _aim_at_custom_apply(self, seconds):
        """Kills the keelson process that runs a custom apply program, one that will outlast a
        restart by preference: one that runs now, or the next to start within `seconds`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.stop.is_set():
            for key, pid, parent, left in self._custom_applies():
                victims = [p for p in self.processes.live() if p.pid == parent]
                if victims and (left >= 2 or self.rng.random() < 0.1):
                    if self._kill(victims, f"mid-apply of custom run {key}, {left:.1f}s of it left"):
                        self.aimed["custom apply"] += 1
                        return True
            self._tick()
            time.sleep(0.05)
        return False

    def _lease_owner(self, instance):
        try:
            database = sqlite3.connect(f"file:{self.keelson.database}?mode=ro", uri=True, timeout=0.2)
            try:
                row = database.execute("SELECT owner FROM leases WHERE key = ?", (f"instance:{instance}",)).fetchone()
            finally:
                database.close()
            return row[0] if row else None
        except sqlite3.Error:
            return None

    def _aim_at_local_start(self, seconds):
        """Kills the worker holding an instance's lease just as the local runtime starts a replica
        of it (its log file appears a moment before the process, the pid file a moment after)."""
        seen = {}

        def logs():
            found = {}
            for app in os.listdir(self.local_state) if os.path.isdir(self.local_state) else []:
                folder = os.path.join(self.local_state, app)
                if app.startswith(".") or not os.path.isdir(folder):
                    continue
                for entry in os.listdir(folder):
                    try:
                        found[f"{app}/{entry}"] = set(os.listdir(os.path.join(folder, entry, "logs")))
                    except OSError:
                        pass
            return found

        seen = logs()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.stop.is_set():
            now = logs()
            for instance, files in now.items():
                if files - seen.get(instance, set()):
                    time.sleep(self.rng.uniform(0, 0.02))
                    owner = self._lease_owner(instance)
                    victims = [p for p in self.processes.live() if p.name == owner] or self.processes.live()
                    if self._kill(victims, f"{instance} starting replica {sorted(files - seen.get(instance, set()))[0]}"):
                        self.aimed["local replica start"] += 1
                        return True
            seen = now
            self._tick()
            time.sleep(0.002)
        return False

    def _one_kill(self, patience):
        """One kill (or two at once); an aimed one waits at most `patience` seconds for its moment."""
        roll = self.rng.random()
        if roll < 0.25:
            if self._aim_at_custom_apply(patience):
                return
        elif roll < 0.40:
            if self._aim_at_local_start(patience):
                return
        self._random_kill()
        if self.rng.random() < 0.1:
            self._duplicate()

    def _duplicate(self):
        """Starts a worker under a live process's name — preferably one running an apply right now
        — and has a release made at once, so that there is work for two of a name to do twice."""
        live = [p for p in self.processes.live() if not p.duplicate]
        busy = {parent for _, _, parent, _ in self._custom_applies()}
        chosen = [p for p in live if p.pid in busy] or live
        if not chosen:
            return
        self.duplicates += 1
        self.processes.start_worker(self.rng.choice(chosen).name, duplicate=True)
        if self.on_duplicate:
            self.on_duplicate()

    def _loop(self):
        try:
            self._chaos()
        except Exception as error:  # a broken driver must not pass silently
            self.failure = error
            self.timeline.note(f"killer failed: {error!r}")

    def _chaos(self):
        """Kills paced so that --kills of them fall within --duration (the pace is worked out
        again after each kill, since an aimed kill waits for its moment)."""
        started = time.monotonic()
        end = started + self.duration

        def pace():
            left = max(1, self.kills_wanted - self.kills)
            return max(0.3, (end - time.monotonic()) / left)

        next_kill = started + pace() * self.rng.uniform(0.3, 1.7)
        while not self.stop.is_set():
            now = time.monotonic()
            if self.kills < self.kills_wanted and now >= next_kill:
                self._one_kill(patience=min(5.0, pace()))
                next_kill = time.monotonic() + pace() * self.rng.uniform(0.3, 1.7)
            self._tick()
            if self.kills >= self.kills_wanted and now >= end:
                break
            time.sleep(0.05)

    def settle(self):
        """After the chaos: pending restarts are dropped, the server runs (started if it is down),
        and every standalone worker is stopped with SIGTERM (SIGKILL after 90 s)."""
        self.restarts.clear()
        self.processes.reap()
        for worker in self.processes.live("worker"):
            self.processes.stop(worker, 90)
        self.ensure_serve(120)
