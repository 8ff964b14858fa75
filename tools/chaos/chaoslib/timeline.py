"""What the driver did, and when: one line per action, in a file (and on stdout with --verbose).
Failures are reported with the driver's actions around the events involved."""
import threading
import time


class Timeline:
    def __init__(self, path, verbose=False):
        self.path = path
        self.verbose = verbose
        self.started = time.time()
        self.entries = []  # (wall-clock seconds, text)
        self.lock = threading.Lock()
        self.handle = open(path, "a")

    def note(self, text):
        now = time.time()
        line = f"t+{now - self.started:7.2f}s  {text}"
        with self.lock:
            self.entries.append((now, text))
            self.handle.write(line + "\n")
            self.handle.flush()
        if self.verbose:
            print(line, flush=True)

    def around(self, milliseconds, seconds=5, words=("SIGKILL", "start ", "stopped", "exited on its own")):
        """The driver's process actions within `seconds` of a time (ms since 1970)."""
        at = milliseconds / 1000
        with self.lock:
            return [f"t+{when - self.started:7.2f}s  {text}" for when, text in self.entries
                    if abs(when - at) <= seconds and any(word in text for word in words)]

    def offset(self, milliseconds):
        return f"t+{milliseconds / 1000 - self.started:.2f}s"

    def close(self):
        self.handle.close()
