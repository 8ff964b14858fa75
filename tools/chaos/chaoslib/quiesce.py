"""After the chaos: one worker (the server's) runs; alerts are resolved, pauses lifted, prod
approved, faults turned off, good releases marked bad for an injected fault retried — and every
instance must settle, within a bound, on its newest good release (or, where the newest release is
bad, back on its last good one, or where it was if it never tried the bad one)."""
import json
import os
import time

from .findings import Finding, describe
from .plan import Plan, is_bad


class Releases:
    """What the log says about releases: each service's newest release, the versions marked bad
    (and why), and the versions each instance has tried (applied, not as a rollback) since they
    were last released."""

    def __init__(self, events=()):
        self.newest, self.bad, self.tried = {}, {}, {}
        for event in events:
            payload = event["payload"]
            if event["type"] == "ReleaseRequested":
                service = f"{payload['application']}/{payload['service']}"
                version = payload["version"]
                # A release starts afresh when it is new to the service or retries one marked bad
                # (the engine then applies it again wherever it failed). Asking again for the
                # newest release while it is in flight changes nothing: what was tried stays tried.
                fresh = self.newest.get(service) != version or (service, version) in self.bad
                self.newest[service] = version
                self.bad.pop((service, version), None)
                if fresh:
                    for instance, versions in self.tried.items():
                        if instance.startswith(service + "@"):
                            versions.discard(version)
            elif event["type"] == "ReleaseMarkedBad":
                self.bad[(payload["service"], payload["version"])] = payload["reason"]
            elif event["type"] == "ApplyRequested" and not payload.get("rollback"):
                self.tried.setdefault(payload["instance"], set()).add(payload["version"])

    @classmethod
    def read(cls, keelson, via):
        return cls(keelson.events(["ReleaseRequested", "ReleaseMarkedBad", "ApplyRequested"], via))

    def of(self, service):
        """(newest version, why it is marked bad or None)."""
        newest = self.newest.get(service)
        return newest, self.bad.get((service, newest))

    def items(self):
        return [(service, self.of(service)) for service in sorted(self.newest)]


def open_signals(keelson, via):
    """The alerts still firing ((name, labels) pairs) and the scopes still paused, from the log."""
    firing, paused = {}, set()
    for event in keelson.events(["AlertFired", "AlertResolved", "Paused", "Resumed"], via):
        payload = event["payload"]
        if event["type"] in ("AlertFired", "AlertResolved"):
            key = (payload["name"], tuple(sorted(payload["labels"].items())))
            if event["type"] == "AlertFired":
                firing[key] = payload
            else:
                firing.pop(key, None)
        elif event["type"] == "Paused":
            paused.add(payload["scope"])
        else:
            paused.discard(payload["scope"])
    return list(firing.values()), sorted(paused)


def expectation(entry, releases):
    """What the instance must show once settled, and whether it does: (the version it must run, or
    None when it need run nothing in particular; whether it does).

    - The service's newest release is not marked bad: converged on it, past its watch, running it.
    - It is marked bad and this instance tried it: back on its last good release (or failed, when
      it has none, or when automatic rollback is off there).
    - It is marked bad and this instance has not tried it (since it was last released): it stays
      put — settled, running one release, which is not marked bad."""
    instance = entry["instance"]
    service = instance.split("@")[0]
    newest, bad = releases.of(service)
    current = entry.get("current") or []
    status = entry["status"]
    if newest is None:
        return None, False
    if not bad:
        return newest, (status == "converged" and entry.get("desired") == newest and entry.get("lastGood") == newest
                        and current == [newest])
    if newest in releases.tried.get(instance, set()):
        good = entry.get("lastGood")
        back = good is not None and status in ("converged", "rolledBack") and current == [good]
        if not Plan.auto_rollback(instance):
            # It stays failed on the bad release — unless someone rolled it back by hand.
            return (good if back else None), back or status == "failed"
        if good:
            return good, back
        return None, status == "failed"
    staying = current[0] if len(current) == 1 else None
    return staying, (staying is not None and (service, staying) not in releases.bad
                     and status in ("converged", "rolledBack", "failed"))


class Quiesce:
    def __init__(self, keelson, plan, timeline, processes, killer):
        self.keelson = keelson
        self.plan = plan
        self.timeline = timeline
        self.processes = processes
        self.killer = killer
        self.approved = set()
        self.retried = []
        self.final = []        # the last status entries
        self.releases = Releases()
        self.settled_after = None

    @property
    def via(self):
        return "server" if self.killer.server_ready() else "db"

    def call(self, what, arguments, method, path, body=None):
        """Through the API when the server is up, else the CLI on the file: (ok, answer)."""
        if self.killer.server_ready():
            status, answer = self.keelson.api(method, path, body)
            self.timeline.note(f"quiesce {what}: {method} {path} {json.dumps(body) if body else ''}: {status}")
            if status is not None:
                return status in (200, 201), answer
        result = self.keelson.run(arguments)
        self.timeline.note(f"quiesce {what}: {result.line()}")
        try:
            return result.ok, json.loads(result.stdout) if "-o" in arguments else result.stdout
        except ValueError:
            return False, result.stdout

    def calm(self, config_directory):
        firing, paused = open_signals(self.keelson, self.via)
        for alert in firing:
            labels = [arg for k, v in sorted(alert["labels"].items()) for arg in ("--label", f"{k}={v}")]
            self.call("resolve", ["alert", "resolve", alert["name"]] + labels, "POST", "/api/v1/alerts",
                      {"name": alert["name"], "labels": alert["labels"], "firing": False})
        for scope in paused:
            self.call("resume", ["resume", scope], "POST", "/api/v1/resume", {"scope": scope})
        result = self.keelson.run(["apply", "-f", config_directory])
        self.timeline.note(f"quiesce apply the calm config: {result.line()}")
        self.releases = Releases.read(self.keelson, self.via)
        for service, (version, bad) in self.releases.items():
            if bad and not is_bad(version):
                self.retried.append((service, version, bad))
                application, name = service.split("/")
                self.call("retry a good release marked bad", ["release", service, "--version", version], "POST",
                          "/api/v1/releases", {"application": application, "service": name, "version": version})

    def settle(self, seconds):
        """Waits (at most `seconds`) until every instance shows what it must, twice in a row."""
        deadline = time.monotonic() + seconds
        started = time.monotonic()
        good_polls = 0
        while time.monotonic() < deadline:
            self.releases = Releases.read(self.keelson, self.via)
            ok, answer = self.call("status", ["status", "-o", "json"], "GET", "/api/v1/status")
            if ok:
                entries = answer.get("instances", []) if isinstance(answer, dict) else answer
                self.final = entries
                for entry in entries:
                    if entry.get("waitingFor") == "approval":  # waiting, or superseded and waiting
                        key = (entry["instance"], entry.get("desired"))
                        if key not in self.approved:
                            self.approved.add(key)
                            service, channel = entry["instance"].split("@")
                            self.call("approve", ["approve", entry["instance"], "--release", entry["desired"], "--comment", "quiesce"],
                                      "POST", f"/api/v1/instances/{service}/{channel}/approve",
                                      {"release": entry["desired"], "comment": "quiesce"})
                expected = [entry["instance"] for entry in entries]
                if sorted(expected) == sorted(self.plan.instances()) and all(expectation(e, self.releases)[1] for e in entries):
                    good_polls += 1
                    if good_polls >= 2:
                        self.settled_after = time.monotonic() - started
                        return True
                else:
                    good_polls = 0
            time.sleep(2)
        return False

    def findings(self, log):
        """For every instance that did not settle: what it shows, what it should, its last events."""
        findings = []
        seen = {entry["instance"] for entry in self.final}
        for instance in self.plan.instances():
            if instance not in seen:
                findings.append(Finding("every instance ends on its newest good release", instance, "it has no status at all"))
        for entry in self.final:
            expected, ok = expectation(entry, self.releases)
            if ok:
                continue
            service = entry["instance"].split("@")[0]
            newest, bad = self.releases.of(service)
            if not bad:
                want = f"converged on {newest} (passed its watch)"
            elif newest in self.releases.tried.get(entry["instance"], set()):
                want = ("failed (automatic rollback is off here)" if not Plan.auto_rollback(entry["instance"])
                        else f"back on its last good release {entry.get('lastGood')}" if entry.get("lastGood")
                        else "failed (no good release to go back to)")
            else:
                want = f"where it was (it has not tried {newest} since its last release): settled, running one release not marked bad"
            events = log.by_instance.get(entry["instance"], []) if log else []
            findings.append(Finding(
                "every instance ends on its newest good release", entry["instance"],
                f"should be {want}, but it is {entry['status']}: {entry.get('reason')}",
                [f"newest release {newest}" + (f", marked bad: {bad}" if bad else "")
                 + f"; desired {entry.get('desired')}, target {entry.get('target')}, runs {entry.get('current')}, last good {entry.get('lastGood')}"]
                + [describe(e, self.timeline) for e in events[-12:]]))
        return findings


def local_truth(plan, state_root, marked, releases, final):
    """What really runs on the local runtime: every replica process must be tracked by a pid file
    (no orphans), and a settled instance must run its expected version with its replica count."""
    findings = []
    by_instance = {e["instance"]: e for e in final}
    for instance in plan.instances():
        if plan.runtime_of(instance) != "local":
            continue
        app, rest = instance.split("/")
        folder = os.path.join(state_root, "local", app, rest, "replicas")
        tracked = {}
        names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
        # Only `<replica>.json` is a pid file (what the runtime reads); anything else there is the
        # leftover of a write that never finished.
        leftovers = [name for name in names if not name.endswith(".json")]
        for name in names:
            if name in leftovers:
                continue
            try:
                with open(os.path.join(folder, name)) as handle:
                    record = json.load(handle)
                tracked[record["pid"]] = record
            except (OSError, ValueError, KeyError):
                continue
        running = {pid: env for pid, env in marked.items() if env.get("KEELSON_INSTANCE") == instance and "KEELSON_REPLICA" in env}
        for pid, env in sorted(running.items()):
            if pid not in tracked:
                files = ", ".join(f"{record.get('name')}={p}" for p, record in sorted(tracked.items())) or "none"
                findings.append(Finding(
                    "no orphan processes", instance,
                    f"replica process {pid} ({env.get('KEELSON_REPLICA')}, {env.get('KEELSON_VERSION')}, port {env.get('PORT')}) "
                    "runs, but no pid file tracks it",
                    [f"pid files: {files}"] + ([f"other files there: {', '.join(leftovers)}"] if leftovers else [])))
        entry = by_instance.get(instance)
        expected, ok = expectation(entry, releases) if entry else (None, False)
        if ok and expected:
            versions = sorted(env.get("KEELSON_VERSION") for env in running.values())
            want = [expected] * plan.replicas(instance, "local")
            if versions != want:
                files = ", ".join(f"{r.get('name')}={p} ({r.get('version')})" for p, r in sorted(tracked.items())) or "none"
                findings.append(Finding(
                    "every instance ends on its newest good release", instance,
                    f"Keelson says it runs {entry.get('current')}, but its processes run {versions or 'nothing'} (expected {want})",
                    ["processes: " + ", ".join(f"{p} {e.get('KEELSON_REPLICA')}" for p, e in sorted(running.items())),
                     f"pid files: {files}"]))
    return findings


def custom_truth(plan, custom_state, releases, final):
    """What the custom program's state files say runs must be what Keelson says."""
    findings = []
    for entry in final:
        if plan.runtime_of(entry["instance"]) != "custom":
            continue
        expected, ok = expectation(entry, releases)
        if not (ok and expected):
            continue
        try:
            with open(os.path.join(custom_state, entry["instance"].replace("/", "_"), "current.json")) as handle:
                running = json.load(handle).get("version")
        except (OSError, ValueError):
            running = None
        if running != expected:
            findings.append(Finding(
                "every instance ends on its newest good release", entry["instance"],
                f"Keelson says it runs {entry.get('current')}, but the custom program's state says {running or 'nothing'}"))
    return findings
