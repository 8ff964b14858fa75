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
    """One finding per instance and pair of keys that ran at once (however many runs it took),
    from the overlaps the program saw on its lock and from the start/end times of finished runs."""
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
        groups = {}  # (first key, second key) → (first time, the runs involved)

        def note(first, second, at, involved):
            pair = tuple(sorted((first, second)))
            when, seen = groups.get(pair, (at, []))
            groups[pair] = (min(when, at), seen + [r for r in involved if r and r not in seen])

        for key, pid, at, rest in overlaps:
            holder = rest.split("=", 1)[1] if "=" in rest else "unknown"
            holder_pid, _, holder_key = holder.partition(":")
            note(key, holder_key or "unknown", at, [by_pid.get(pid), by_pid.get(int(holder_pid)) if holder_pid.isdigit() else None])
        ordered = sorted((r for r in runs if r.end is not None), key=lambda r: r.start)
        for i, first in enumerate(ordered):
            for second in ordered[i + 1:]:
                if second.start >= first.end:
                    break
                note(first.key, second.key, second.start, [first, second])
        for (first, second), (at, involved) in sorted(groups.items(), key=lambda item: item[1][0]):
            same = first == second
            involved.sort(key=lambda r: r.start)
            findings.append(Finding(
                "never two runs of one key at once" if same else "never two runs on one instance at once", instance,
                f"{len(involved)} runs of {first} overlapped" if same else f"runs of {first} and {second} overlapped ({len(involved)} runs)",
                [r.describe(timeline) for r in involved[:8]] + ["driver, around the first overlap:"] + timeline.around(at * 1000, 6)))
    return findings, total
