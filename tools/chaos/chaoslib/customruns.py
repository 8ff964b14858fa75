"""Never two runs of one idempotency key, or on one instance, at once: read from the start/end
lines the custom program writes (fixtures/custom_program.py) and from the overlaps it saw on its
instance lock."""
import os
from collections import defaultdict

from .findings import Finding


class Run:
    def __init__(self, key, pid, start, detail):
        self.key, self.pid, self.start, self.detail = key, pid, start, detail
        self.end = None
        self.status = None

    def describe(self, timeline):
        end = f"{self.end - timeline.started:.2f}s ({self.status})" if self.end else "no end line (killed?)"
        return f"pid {self.pid} key {self.key} {self.detail}: t+{self.start - timeline.started:.2f}s → {end}"


def read_runs(folder):
    runs, overlaps = {}, []
    try:
        with open(os.path.join(folder, "runs.log")) as handle:
            lines = handle.read().splitlines()
    except OSError:
        return [], []
    for line in lines:
        parts = line.split(" ", 4)
        if len(parts) < 4:
            continue
        kind, key, pid, at = parts[0], parts[1], int(parts[2]), float(parts[3])
        rest = parts[4] if len(parts) > 4 else ""
        if kind == "start":
            runs[pid] = Run(key, pid, at, rest)
        elif kind == "end" and pid in runs:
            runs[pid].end, runs[pid].status = at, rest
        elif kind == "overlap":
            overlaps.append((key, pid, at, rest))
    return list(runs.values()), overlaps


def check(custom_state, timeline):
    findings = []
    if not os.path.isdir(custom_state):
        return findings, 0
    total = 0
    for entry in sorted(os.listdir(custom_state)):
        folder = os.path.join(custom_state, entry)
        if not os.path.isdir(folder):
            continue
        instance = entry.replace("_", "/", 1)
        runs, overlaps = read_runs(folder)
        total += len(runs)
        by_pid = {run.pid: run for run in runs}
        reported = set()
        for key, pid, at, rest in overlaps:
            holder = rest.split("=", 1)[1] if "=" in rest else "unknown"
            holder_pid, _, holder_key = holder.partition(":")
            other = by_pid.get(int(holder_pid)) if holder_pid.isdigit() else None
            same = holder_key == key
            reported.add(frozenset((pid, int(holder_pid) if holder_pid.isdigit() else -1)))
            findings.append(Finding(
                "never two runs of one key at once" if same else "never two runs on one instance at once", instance,
                f"a run of {key} started while {'the same key' if same else holder_key} still ran (holding the instance's lock)",
                [r.describe(timeline) for r in (by_pid.get(pid), other) if r]
                + ["driver, around it:"] + timeline.around(at * 1000, 6)))
        ordered = sorted((r for r in runs if r.end is not None), key=lambda r: r.start)
        for i, first in enumerate(ordered):
            for second in ordered[i + 1:]:
                if second.start >= first.end:
                    break
                if frozenset((first.pid, second.pid)) in reported:
                    continue
                same = first.key == second.key
                findings.append(Finding(
                    "never two runs of one key at once" if same else "never two runs on one instance at once", instance,
                    f"runs of {first.key}{'' if same else ' and ' + second.key} overlapped",
                    [first.describe(timeline), second.describe(timeline), "driver, around it:"]
                    + timeline.around(second.start * 1000, 6)))
    return findings, total
