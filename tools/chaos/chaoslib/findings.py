"""A broken invariant, said so that someone can act on it: which invariant, about what, and the
events (positions, types, actors, times) and driver actions involved."""


class Finding:
    def __init__(self, invariant, subject, summary, details=()):
        self.invariant = invariant
        self.subject = subject
        self.summary = summary
        self.details = list(details)

    def render(self):
        lines = [f"[{self.invariant}] {self.subject}: {self.summary}"]
        lines += [f"    {line}" for line in self.details]
        return "\n".join(lines)


def describe(event, timeline=None):
    """One line for an event: position, time, type, actor and what it says."""
    payload = event.get("payload") or {}
    kind = event["type"]
    what = ""
    if kind == "DecisionMade":
        decision = payload.get("decision", {})
        actions = ", ".join(_action(a) for a in decision.get("actions", []))
        what = f"{decision.get('status')} {decision.get('version') or ''}: {decision.get('reason', '')}" + (f" [{actions}]" if actions else "")
    elif kind == "ApplyRequested":
        what = f"{payload.get('requestID')} {payload.get('version')}" + (" (rollback)" if payload.get("rollback") else "")
    elif kind in ("ApplyStarted",):
        what = f"{payload.get('idempotencyKey')} {payload.get('version')}"
    elif kind in ("ApplySucceeded", "ApplyFailed"):
        result = payload.get("result", {})
        what = f"{payload.get('idempotencyKey')}" + (f": {result.get('error')}" if result.get("error") else "")
    elif kind == "ReleaseRequested":
        what = f"{payload.get('application')}/{payload.get('service')} {payload.get('version')}"
    elif kind == "ReleaseMarkedBad":
        what = f"{payload.get('service')} {payload.get('version')}: {payload.get('reason')}"
    elif kind == "LeaseAcquired":
        what = f"by {payload.get('worker')} from {payload.get('previousOwner')}"
    elif kind == "WorkerStarted":
        what = payload.get("worker", "")
    else:
        what = ", ".join(f"{k}={v}" for k, v in sorted(payload.items()) if k not in ("document",))[:200]
    when = timeline.offset(event["recordedAtMilliseconds"]) if timeline else event.get("recordedAt", "")
    return f"#{event['position']} {when} {kind} ({event.get('actor')}) {what}".rstrip()


def _action(action):
    if not isinstance(action, dict) or not action:
        return str(action)
    name, values = next(iter(action.items()))
    if isinstance(values, dict):
        shown = values.get("requestID") or values.get("version") or ""
        return f"{name} {shown}".strip()
    return name
