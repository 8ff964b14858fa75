"""What runs on this machine, read from /proc: the processes that carry a chaos run's marker."""
import os


def environment(pid):
    """The environment of a process, or None when it is gone or unreadable."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    result = {}
    for entry in raw.split(b"\0"):
        if b"=" in entry:
            key, _, value = entry.partition(b"=")
            result[key.decode(errors="replace")] = value.decode(errors="replace")
    return result


def start_time(pid):
    """Clock ticks since boot when the process started (field 22 of /proc/PID/stat), or None."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            stat = handle.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = stat[stat.rfind(")") + 2:].split()
    return int(fields[19])


def is_zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            stat = handle.read()
    except OSError:
        return True
    return stat[stat.rfind(")") + 2:].split()[0] in ("Z", "X")


def command_line(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return " ".join(part.decode(errors="replace") for part in handle.read().split(b"\0") if part)
    except OSError:
        return "?"


def marked(markers):
    """Every live process whose environment holds one of `markers` (name → value), as
    {pid: environment}. The caller's own process is left out."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        pid = int(entry)
        env = environment(pid)
        if env is None or is_zombie(pid):
            continue
        if any(env.get(name) == value for name, value in markers.items()):
            found[pid] = env
    return found
