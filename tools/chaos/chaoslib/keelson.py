"""Runs the real `keelson` binary: on the database file, or through the running server."""
import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime

# Exit statuses of a process that trapped or crashed (a Swift runtime trap is SIGILL or SIGTRAP).
CRASH_SIGNALS = {4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE", 11: "SIGSEGV"}


class Result:
    def __init__(self, arguments, status, stdout, stderr, seconds):
        self.arguments = arguments
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
        self.seconds = seconds

    @property
    def ok(self):
        return self.status == 0

    @property
    def crashed(self):
        return self.status is not None and (-self.status in CRASH_SIGNALS or self.status - 128 in CRASH_SIGNALS)

    def line(self):
        """The command and how it ended, in one line."""
        shown = " ".join(self.arguments)
        if self.status is None:
            return f"keelson {shown}: did not finish"
        first = (self.stderr.strip() or self.stdout.strip()).splitlines()[:1]
        return f"keelson {shown}: exit {self.status} in {self.seconds:.1f}s" + (f": {first[0]}" if first else "")

    def json(self):
        return json.loads(self.stdout)


class Keelson:
    """`keelson` commands (on the database file) and API requests (to the server) for one chaos
    run. Every process it starts carries the run's marker in its environment, so that the orphan
    scan finds whatever they leave behind."""

    def __init__(self, binary, database, marker, timeline):
        self.binary = binary
        self.database = database
        self.marker = marker
        self.timeline = timeline
        self.server_url = None
        self._lock = threading.Lock()
        self.crashes = []

    def environment(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEELSON_")}
        env.update(self.marker)
        env["KEELSON_DURABILITY"] = "full"
        return env

    def token(self):
        try:
            with open(os.path.join(os.path.dirname(self.database), "admin.token")) as handle:
                return handle.read().strip()
        except OSError:
            return None

    def run(self, arguments, timeout=120):
        """Runs one command on the database file and waits for it (at most `timeout` seconds)."""
        full = [self.binary] + arguments + ["--db", self.database]
        started = time.monotonic()
        try:
            done = subprocess.run(
                full, env=self.environment(), capture_output=True, text=True, timeout=timeout,
                stdin=subprocess.DEVNULL)
            result = Result(arguments, done.returncode, done.stdout, done.stderr, time.monotonic() - started)
        except subprocess.TimeoutExpired as expired:
            result = Result(arguments, None, _text(expired.stdout), _text(expired.stderr), time.monotonic() - started)
        if result.crashed or result.status is None:
            with self._lock:
                self.crashes.append(result)
        return result

    def api(self, method, path, body=None, timeout=30):
        """One request to the server's API: (HTTP status, decoded JSON or text); status None when
        the server could not be reached or did not answer in time."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.server_url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token() or ''}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, text = response.status, response.read().decode(errors="replace")
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode(errors="replace")
        except (OSError, urllib.error.URLError) as error:
            return None, str(error)
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def events(self, types, via="db"):
        """Every event of these types, oldest first: paged through `keelson events -o json` on the
        file, or through the API."""
        found = []
        after = 0
        while True:
            if via == "server":
                query = urllib.parse.urlencode({"type": ",".join(types), "after": after, "limit": 10000})
                status, answer = self.api("GET", f"/api/v1/events?{query}", timeout=120)
                if status != 200:
                    raise RuntimeError(f"GET /api/v1/events: {status} {answer}")
                page, more = answer["events"], answer.get("next")
            else:
                arguments = ["events", "--from", str(after + 1), "--limit", "5000", "-o", "json"]
                for kind in types:
                    arguments += ["--type", kind]
                result = self.run(arguments, timeout=300)
                if not result.ok:
                    raise RuntimeError(result.line())
                page = result.json()
                more = page[-1]["position"] if len(page) == 5000 else None
            for event in page:
                if isinstance(event.get("payload"), str):
                    event["payload"] = json.loads(event["payload"])
                if "recordedAtMilliseconds" not in event:
                    at = datetime.fromisoformat(event["recordedAt"].replace("Z", "+00:00"))
                    event["recordedAtMilliseconds"] = int(at.timestamp() * 1000)
            found += page
            if not more:
                return found
            after = more


def _text(value):
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value
