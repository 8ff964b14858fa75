"""The invariants read from the event log after a chaos run (`keelson events -o json`)."""
from collections import defaultdict

from .findings import Finding, describe
from .plan import is_bad

# Types the checks read (observations are left out: they are most of the log and say nothing here).
TYPES = [
    "ReleaseRequested", "ReleaseMarkedBad", "DecisionMade", "ApplyRequested", "ApplyStarted", "ApplySucceeded",
    "ApplyFailed", "LeaseAcquired", "WorkerStarted", "AlertFired", "AlertResolved", "Paused", "Resumed",
    "RollbackRequested", "ApprovalGranted",
]

# Why a good release may rightly be marked bad: a fault the run injected, an alert, a person.
INJECTED = {
    "simulated": ["simulated apply failure", "apply timed out"],
    "custom": ["exited with code 75"],
    "local": [],
}
ALWAYS = ["fired during the watch", "rolled back by"]


def instance_of(event):
    payload = event.get("payload") or {}
    if isinstance(payload.get("instance"), str):
        return payload["instance"]
    stream = event.get("stream", "")
    return stream[len("instance:"):] if stream.startswith("instance:") else None


def actions(event):
    return (event.get("payload") or {}).get("decision", {}).get("actions", []) if event["type"] == "DecisionMade" else []


def action(entry):
    """(name, values) of an encoded DecisionAction."""
    if isinstance(entry, dict) and entry:
        name, values = next(iter(entry.items()))
        return name, values if isinstance(values, dict) else {}
    return str(entry), {}


class Log:
    def __init__(self, events):
        self.events = events
        self.by_instance = defaultdict(list)
        for event in events:
            instance = instance_of(event)
            if instance:
                self.by_instance[instance].append(event)

    def around(self, instance, position, before=8, after=4, types=None):
        events = [e for e in self.by_instance.get(instance, []) if types is None or e["type"] in types]
        index = next((i for i, e in enumerate(events) if e["position"] >= position), len(events))
        return events[max(0, index - before):index + after]


def one_result_per_request(log, timeline):
    """Every ApplyRequested has exactly one ApplySucceeded or ApplyFailed with its request id."""
    findings = []
    requests, results, starts = {}, defaultdict(list), defaultdict(list)
    for event in log.events:
        payload = event["payload"]
        if event["type"] == "ApplyRequested":
            requests[payload["requestID"]] = event
        elif event["type"] in ("ApplySucceeded", "ApplyFailed"):
            results[payload["idempotencyKey"]].append(event)
        elif event["type"] == "ApplyStarted":
            starts[payload["idempotencyKey"]].append(event)
    for request_id, request in requests.items():
        found = results.get(request_id, [])
        if len(found) == 1:
            continue
        instance = instance_of(request)
        involved = [request] + starts.get(request_id, []) + found + [
            e for e in log.by_instance.get(instance, [])
            if e["position"] > request["position"] and (
                e["type"] in ("LeaseAcquired",) or any(action(a)[1].get("requestID") == request_id for a in actions(e)))]
        # Restarts of the workers involved (whose unfinished requests does each resume?): those
        # up to the last event about the request, and the first one after it.
        actors = {e.get("actor") for e in involved}
        last = max(e["position"] for e in involved)
        restarts = [e for e in log.events if e["type"] == "WorkerStarted" and e["payload"].get("worker") in actors
                    and e["position"] > request["position"]]
        involved += [e for e in restarts if e["position"] < last] + [e for e in restarts if e["position"] > last][:1]
        involved.sort(key=lambda e: e["position"])
        summary = (f"request {request_id} ({request['payload']['version']}) has no result: it was never finished, re-issued or abandoned"
                   if not found else f"request {request_id} ({request['payload']['version']}) has {len(found)} results")
        details = [describe(e, timeline) for e in involved[:25]]
        details += ["driver, around the request:"] + timeline.around(request["recordedAtMilliseconds"], 8)
        findings.append(Finding("one result per request", instance, summary, details))
    for key, found in results.items():
        if key not in requests:
            findings.append(Finding(
                "one result per request", instance_of(found[0]), f"a result for {key}, which no ApplyRequested asked for",
                [describe(e, timeline) for e in found]))
    return findings


def marks(log, plan, timeline):
    """Good releases are marked bad only for a fault the run injected (or an alert, or a person);
    bad releases never pass their watch; retrying a release marked bad tries it again."""
    findings = []
    marked = {}       # (service, version) → the marks in force: [(instance, attempt position, mark position)]
    cleared = {}      # (service, version) → (retry position, the marks the retry cleared)
    last_decision = {}  # (service, version) → the last DecisionMade that asked to mark it bad
    futile = {}       # (instance, version, attempt) → the retries it re-marked bad without trying
    for event in log.events:
        kind, payload = event["type"], event["payload"]
        if kind == "DecisionMade":
            for entry in actions(event):
                name, values = action(entry)
                if name == "markBad":
                    instance = payload["instance"]
                    last_decision[(instance.split("@")[0], values.get("version"))] = event
                if name == "markGood" and is_bad(values.get("version", "")):
                    findings.append(Finding(
                        "bad releases never pass their watch", payload["instance"],
                        f"{values.get('version')} fails its health check, yet it was marked good",
                        [describe(e, timeline) for e in log.around(payload["instance"], event["position"], 10, 1)]
                        + ["driver, around it:"] + timeline.around(event["recordedAtMilliseconds"], 15)))
        elif kind == "ReleaseRequested":
            key = (f"{payload['application']}/{payload['service']}", payload["version"])
            if marked.get(key):
                cleared[key] = (event["position"], marked.pop(key))
        elif kind == "ReleaseMarkedBad":
            service, version = payload["service"], payload["version"]
            key = (service, version)
            decision = last_decision.get(key)
            instance = decision["payload"]["instance"] if decision else None
            attempt = None
            if instance:
                requested = [e for e in log.by_instance[instance] if e["type"] == "ApplyRequested"
                             and e["position"] < event["position"] and e["payload"]["version"] == version
                             and not e["payload"].get("rollback")]
                attempt = requested[-1]["position"] if requested else None
            marked.setdefault(key, []).append((instance, attempt, event["position"]))
            reason = payload.get("reason", "")
            context = ([describe(e, timeline) for e in log.around(instance, event["position"], 10, 1)] if instance else []) \
                + ["driver, around it:"] + timeline.around(event["recordedAtMilliseconds"], 10)
            if not is_bad(version):
                allowed = INJECTED[plan.runtime_of(service)] + ALWAYS
                if not any(words in reason for words in allowed):
                    findings.append(Finding(
                        "good releases are marked bad only for injected faults", instance or service,
                        f"{version} (a good release) was marked bad at #{event['position']}: {reason}", context))
            if key in cleared:
                retry, before = cleared.pop(key)
                if instance and attempt and any(m[0] == instance and m[1] == attempt for m in before):
                    futile.setdefault((instance, version, attempt), []).append((retry, event["position"], reason, context))
    for (instance, version, attempt), retries in futile.items():
        first, last = retries[0], retries[-1]
        findings.append(Finding(
            "retrying a release marked bad tries it again", instance,
            f"{version} was released again {len(retries)} time(s) to retry it (first at #{first[0]}), and each time "
            f"{instance} marked it bad again (first at #{first[1]}, last at #{last[1]}) from the same attempt "
            f"(request at #{attempt}) without applying it again: {first[2]}", first[3]))
    return findings


def check(events, plan, timeline):
    log = Log(events)
    return log, one_result_per_request(log, timeline) + marks(log, plan, timeline)
