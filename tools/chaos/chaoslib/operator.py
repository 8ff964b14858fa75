"""What people and monitoring do during a chaos run: releases (bad ones included), retries of
releases marked bad, approvals, alerts firing and resolving, pauses and resumes, now and then a
manual rollback — through the server when it is up, on the database file otherwise."""
import json
import random
import threading
import time
import urllib.parse

from .plan import CHANNELS, is_bad

ALERT = "ChaosErrorRate"


class Operator:
    def __init__(self, seed, plan, keelson, chaos, timeline):
        self.rng = random.Random(f"operator:{seed}")
        self.plan = plan
        self.keelson = keelson
        self.chaos = chaos
        self.timeline = timeline
        self.stop = threading.Event()
        self.firing = set()     # (application, severity)
        self.paused = set()     # scopes
        self.problems = []      # commands that failed in a way they should not
        self.counts = {}
        self.thread = None
        self.failure = None
        self.hurry = threading.Event()
        self.retries = []       # (when, service, version, give up): bad releases to retry once marked bad

    def start(self):
        self.thread = threading.Thread(target=self._loop, name="operator", daemon=True)
        self.thread.start()

    def join(self):
        self.stop.set()
        if self.thread:
            self.thread.join()

    def run(self, what, arguments, method, path, body):
        """Through the API (most of the time, when the server is up) or with the CLI on the
        database file — also when the server cannot be reached."""
        self.counts[what] = self.counts.get(what, 0) + 1
        if self.chaos.server_ready() and self.rng.random() < 0.75:
            started = time.monotonic()
            status, answer = self.keelson.api(method, path, body)
            line = f"{method} {path} {json.dumps(body)}: {status} in {time.monotonic() - started:.1f}s: {str(answer)[:160]}"
            self.timeline.note(f"{what}: {line}")
            if status is not None and status < 500:
                return status == 200 or status == 201
            if status is not None:
                self.problems.append(f"{what}: {line}")
        result = self.keelson.run(arguments, timeout=60)
        self.timeline.note(f"{what}: {result.line()}")
        if result.crashed or result.status is None:
            self.problems.append(f"{what}: {result.line()}")
        return result.ok

    def nudge(self):
        """Asks for a release soon (from another thread)."""
        self.hurry.set()

    def _loop(self):
        try:
            self._operate()
        except Exception as error:  # a broken driver must not pass silently
            self.failure = error
            self.timeline.note(f"operator failed: {error!r}")

    def _operate(self):
        for service in self.plan.services:
            if service.endswith("/api"):
                self.release(service)
        operations = [
            (22, self.release), (8, self.retry), (25, self.approve), (10, self.alert), (10, self.pause), (3, self.rollback),
        ]
        total = sum(weight for weight, _ in operations)
        while not self.stop.wait(self.rng.uniform(0.1, 1.2)):
            if self.hurry.is_set():
                self.hurry.clear()
                self.release()
                continue
            due = [r for r in self.retries if r[0] <= time.monotonic()]
            if due:
                self.retries.remove(due[0])
                _, service, version, give_up = due[0]
                if self.plan.newest(service) != version:
                    continue
                if self.marked_bad(service, version):
                    self.release_version(service, version, "retry")
                elif time.monotonic() < give_up:
                    self.retries.append((time.monotonic() + 8, service, version, give_up))
                continue
            roll = self.rng.uniform(0, total)
            for weight, operation in operations:
                roll -= weight
                if roll <= 0:
                    operation()
                    break

    def marked_bad(self, service, version):
        """Whether the version is marked bad now (asked of the server; False when it is down)."""
        if not self.chaos.server_ready():
            return False
        query = urllib.parse.urlencode({"stream": f"service:{service}", "type": "ReleaseMarkedBad,ReleaseRequested",
                                        "latest": "true", "limit": 50})
        status, answer = self.keelson.api("GET", f"/api/v1/events?{query}")
        if status != 200:
            return False
        marked = False
        for event in answer.get("events", []):
            if event["payload"].get("version") == version:
                marked = event["type"] == "ReleaseMarkedBad"  # a release again clears the mark
        return marked

    def release(self, service=None):
        held = {service for _, service, _, _ in self.retries}
        service = service or self.rng.choice(self.plan.services)
        if service in held:
            return
        version = self.plan.next_version(service)
        if version:
            self.release_version(service, version, "release")
            # A bad release is often retried once it has had time to fail and be marked bad (on
            # the simulated runtime it fails at its progress deadline); the service gets no newer
            # release until then.
            if is_bad(version) and (version == "1.1.0-sick" or self.rng.random() < 0.6):
                delay = self.rng.uniform(20, 40)
                self.retries.append((time.monotonic() + delay, service, version, time.monotonic() + 150))

    def retry(self):
        """Releases a service's newest version again: a retry when it is marked bad."""
        bad = [s for s in self.plan.services if "-" in self.plan.newest(s)]
        service = self.rng.choice(bad or self.plan.services)
        self.release_version(service, self.plan.newest(service), "retry")

    def release_version(self, service, version, what):
        application, name = service.split("/")
        self.run(what, ["release", service, "--version", version], "POST", "/api/v1/releases",
                 {"application": application, "service": name, "version": version})

    def approve(self):
        service = self.rng.choice(self.plan.services)
        self.run("approve", ["approve", f"{service}@prod", "--comment", "chaos"], "POST",
                 f"/api/v1/instances/{service}/prod/approve", {"comment": "chaos"})

    def alert(self):
        application = self.rng.choice(self.plan.applications())
        severity = "critical" if self.rng.random() < 0.8 else "warning"
        labels = {"app": application, "severity": severity}
        arguments = ["--label", f"app={application}", "--label", f"severity={severity}"]
        firing = not ((application, severity) in self.firing and self.rng.random() < 0.7)
        (self.firing.add if firing else self.firing.discard)((application, severity))
        verb = "fire" if firing else "resolve"
        self.run(f"alert {verb}", ["alert", verb, ALERT] + arguments, "POST", "/api/v1/alerts",
                 {"name": ALERT, "labels": labels, "firing": firing})

    def pause(self):
        if self.paused and self.rng.random() < 0.6:
            scope = self.rng.choice(sorted(self.paused))
            self.paused.discard(scope)
            self.run("resume", ["resume", scope], "POST", "/api/v1/resume", {"scope": scope})
            return
        service = self.rng.choice(self.plan.services)
        scope = self.rng.choice([service.split("/")[0], service, f"{service}@{self.rng.choice(CHANNELS)}"])
        self.paused.add(scope)
        self.run("pause", ["pause", scope, "--reason", "chaos"], "POST", "/api/v1/pause", {"scope": scope, "reason": "chaos"})

    def rollback(self):
        instance = self.rng.choice(self.plan.instances())
        service, channel = instance.split("@")
        self.run("rollback", ["rollback", instance, "--reason", "chaos"], "POST",
                 f"/api/v1/instances/{service}/{channel}/rollback", {"reason": "chaos"})
