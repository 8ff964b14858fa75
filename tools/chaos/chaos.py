#!/usr/bin/env python3
"""Keelson's chaos test: the real `keelson` binary, real processes, random crashes.

Sets up a temporary database and a config with services on the local runtime (real HTTP servers),
the custom runtime (fetch/apply programs that log every run) and the simulated runtime (with
injected faults), each released staging → canary → prod. Then, for --duration seconds, releases
(bad ones too), retries, approvals, alerts, pauses and rollbacks are interleaved at random with
SIGKILLs of `keelson worker` (alone and two at once) and `keelson serve`, each restarted after a
short random delay under the same name or a new one. Then it stops the chaos, lets one worker run,
and checks that Keelson recovered: see docs/chaos.md for every invariant.

    tools/chaos/chaos.py --seed 42 --kills 60 --duration 120
    tools/chaos/chaos.py --runtime custom --kills 200 --duration 600 --keep

Exit status: 0 when every invariant holds, 1 when one is broken (each is printed, with the seed
and the command to rerun it), 2 when the run itself could not be carried out, 64 for a usage error,
130 when interrupted.
"""
import argparse
import concurrent.futures
import os
import random
import shlex
import shutil
import signal
import socket
import sys
import tempfile
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the repository
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from chaoslib import config, customruns, invariants, proctable  # noqa: E402
from chaoslib.findings import Finding  # noqa: E402
from chaoslib.keelson import Keelson  # noqa: E402
from chaoslib.killer import Killer  # noqa: E402
from chaoslib.operator import Operator  # noqa: E402
from chaoslib.plan import Plan  # noqa: E402
from chaoslib.processes import Processes  # noqa: E402
from chaoslib.quiesce import Quiesce, custom_truth, local_truth  # noqa: E402
from chaoslib.timeline import Timeline  # noqa: E402

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNTIMES = ["local", "custom", "simulated"]


class Parser(argparse.ArgumentParser):
    """Usage errors exit 64 (EX_USAGE), like keelson's own."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(64, f"{self.prog}: error: {message}\n")


def arguments():
    parser = Parser(
        description="Keelson's chaos test: random releases, signals and SIGKILLs of real keelson processes, then invariants.",
        epilog="Every invariant is described in docs/chaos.md.")
    parser.add_argument("--seed", type=int, help="the seed of every random choice (default: a random one, printed first)")
    parser.add_argument("--kills", type=int, default=60, help="how many processes to SIGKILL (default 60)")
    parser.add_argument("--duration", type=float, default=120, help="seconds of chaos before quiescing (default 120)")
    parser.add_argument("--runtime", default="all", type=runtimes_argument,
                        help="local, custom, simulated, a comma-separated list of them, or all (default all)")
    parser.add_argument("--settle", type=float, default=300, help="how long the instances may take to settle afterwards (default 300 s)")
    parser.add_argument("--keelson", default=os.path.join(REPOSITORY, ".build", "debug", "keelson"), help="the keelson binary (default .build/debug/keelson)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (it is kept anyway when an invariant breaks)")
    parser.add_argument("--verbose", action="store_true", help="print every action as it happens")
    options = parser.parse_args()
    if options.kills < 0 or options.duration <= 0 or options.settle <= 0:
        parser.error("--kills must be 0 or more, --duration and --settle more than 0")
    return options


def runtimes_argument(text):
    chosen = RUNTIMES if text == "all" else [part.strip() for part in text.split(",")]
    unknown = [part for part in chosen if part not in RUNTIMES]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"expected local, custom, simulated (or a list of them) or all, not '{text}'")
    return text


def rerun_command(options, seed):
    parts = [os.path.relpath(os.path.abspath(__file__)), "--seed", str(seed), "--kills", str(options.kills),
             "--duration", f"{options.duration:g}", "--runtime", options.runtime, "--settle", f"{options.settle:g}"]
    if os.path.realpath(options.keelson) != os.path.realpath(os.path.join(REPOSITORY, ".build", "debug", "keelson")):
        parts += ["--keelson", options.keelson]
    return " ".join(shlex.quote(p) for p in parts)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def free_port_range(rng, size):
    """`size` consecutive ports that are free now, in 20000-32000."""
    for _ in range(200):
        low = rng.randrange(20000, 32000 - size)
        free = True
        for port in range(low, low + size):
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    free = False
                    break
        if free:
            return low, low + size - 1
    raise RuntimeError("no free port range found")


class Run:
    def __init__(self, options, seed):
        self.options = options
        self.seed = seed
        self.rng = random.Random(f"setup:{seed}")
        self.directory = tempfile.mkdtemp(prefix=f"keelson-chaos-{seed}-")
        for folder in ("db", "config", "custom", "logs"):
            os.makedirs(os.path.join(self.directory, folder))
        self.database = os.path.join(self.directory, "db", "keelson.db")
        self.config_directory = os.path.join(self.directory, "config")
        self.custom_state = os.path.join(self.directory, "custom")
        self.state_root = os.path.join(self.directory, "db", "state")
        # Every process of the run carries one of these (keelson's own, and through it the local
        # replicas and custom programs; the channels' env adds CHAOS_RUN to what Keelson starts).
        self.markers = {"KEELSON_CHAOS_RUN": self.directory, "CHAOS_RUN": self.directory}
        self.timeline = Timeline(os.path.join(self.directory, "timeline.log"), options.verbose)
        self.keelson = Keelson(os.path.abspath(options.keelson), self.database, {"KEELSON_CHAOS_RUN": self.directory}, self.timeline)
        runtimes = [r for r in RUNTIMES if options.runtime == "all" or r in options.runtime.split(",")]
        self.plan = Plan(seed, runtimes, max(40, int(options.duration)))
        self.ports = free_port_range(self.rng, 60)
        self.processes = Processes(self.keelson, os.path.join(self.directory, "logs"), free_port(), self.timeline)
        self.keelson.server_url = f"http://127.0.0.1:{self.processes.port}"
        self.killer = Killer(seed, self.processes, self.keelson, self.timeline, options.kills, options.duration,
                             self.custom_state, os.path.join(self.state_root, "local"))
        self.operator = Operator(seed, self.plan, self.keelson, self.killer, self.timeline)
        self.killer.on_duplicate = self.operator.nudge
        self.findings = []
        self.notes = []

    def say(self, text):
        print(text, flush=True)
        self.timeline.note(text)

    def must(self, result):
        if not result.ok:
            raise RuntimeError(result.line() + "\n" + result.stderr + result.stdout)
        return result

    def write_config(self, calm):
        config.write(self.config_directory, self.plan, self.seed, self.ports, self.directory, self.custom_state, calm=calm)

    def setup(self):
        """The config, the server and the workers, and a first release of every service (approved
        for prod), before any chaos."""
        calm = os.path.join(self.custom_state, "CALM")
        open(calm, "w").close()
        self.write_config(calm=True)
        self.must(self.keelson.run(["apply", "-f", self.config_directory]))
        self.killer.begin()
        for service in self.plan.services:
            application, name = service.split("/")
            for path, body in ((f"/api/v1/releases", {"application": application, "service": name, "version": "1.0.0"}),
                               (f"/api/v1/instances/{service}/prod/approve", {"release": "1.0.0", "comment": "setup"})):
                status, answer = self.keelson.api("POST", path, body)
                if status != 200:
                    raise RuntimeError(f"POST {path}: {status} {answer}")
        # Every instance first reaches a good release, so that there is something to roll back to.
        deadline = time.monotonic() + 180
        while True:
            status, answer = self.keelson.api("GET", "/api/v1/status")
            entries = answer.get("instances", []) if status == 200 else []
            if len(entries) == len(self.plan.instances()) and all(e.get("lastGood") == "1.0.0" for e in entries):
                break
            if time.monotonic() > deadline:
                shown = "; ".join(f"{e['instance']} {e['status']}: {e.get('reason')}" for e in entries)
                raise RuntimeError(f"1.0.0 did not become good everywhere within 180 s before the chaos: {shown}")
            time.sleep(1)
        # Now the faults: the simulated runtime's and the custom program's.
        os.remove(calm)
        self.write_config(calm=False)
        self.must(self.keelson.run(["apply", "-f", self.config_directory]))
        self.say("1.0.0 is good everywhere; faults on; chaos begins")

    def chaos(self):
        self.operator.start()
        self.killer.start()
        while not self.killer.done():
            time.sleep(0.5)
        self.operator.join()
        self.killer.join()
        for part in (self.operator, self.killer):
            if part.failure:
                raise RuntimeError(f"the chaos driver broke: {part.failure!r}")
        self.say(f"chaos over: {self.killer.kills} kills (aimed: {self.killer.aimed}), "
                 f"{self.killer.duplicates} workers started under a live name, "
                 f"operations {dict(sorted(self.operator.counts.items()))}")

    def quiesce(self):
        quiesce = Quiesce(self.keelson, self.plan, self.timeline, self.processes, self.killer)
        self.killer.settle()
        open(os.path.join(self.custom_state, "CALM"), "w").close()
        self.write_config(calm=True)
        quiesce.calm(self.config_directory)
        for service, version, reason in quiesce.retried:
            self.say(f"retried {service} {version}, a good release marked bad: {reason}")
        settled = quiesce.settle(self.options.settle)
        self.say(f"settled after {quiesce.settled_after:.0f}s" if settled else f"not settled within {self.options.settle:g}s")
        return quiesce

    def shut_down(self, quiesce):
        for process in self.processes.live():
            if not self.processes.stop(process, 90):
                self.notes.append(f"{process.describe()} did not stop within 90 s of SIGTERM")
        self.processes.reap()  # (judged with the others in check_log)
        # Custom programs left running by killed workers end by themselves within seconds.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if not [e for e in proctable.marked(self.markers).values() if "KEELSON_REPLICA" not in e]:
                break
            time.sleep(0.5)
        marked = proctable.marked(self.markers)
        self.findings += local_truth(self.plan, self.state_root, marked, quiesce.releases, quiesce.final)
        self.findings += custom_truth(self.plan, self.custom_state, quiesce.releases, quiesce.final)
        for pid, env in sorted(marked.items()):
            if "KEELSON_REPLICA" not in env:
                self.findings.append(Finding(
                    "no orphan processes", env.get("KEELSON_INSTANCE", "keelson"),
                    f"process {pid} still runs after every keelson process stopped: {proctable.command_line(pid)}",
                    [f"KEELSON_ACTION={env.get('KEELSON_ACTION')} KEELSON_VERSION={env.get('KEELSON_VERSION')} "
                     f"KEELSON_IDEMPOTENCY_KEY={env.get('KEELSON_IDEMPOTENCY_KEY')}"]))
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            removed = list(pool.map(lambda i: (i, self.keelson.run(["runtime", "remove", i])), self.plan.instances()))
        for instance, result in removed:
            self.timeline.note(f"remove: {result.line()}" + "".join(f"\n        {line}" for line in result.stdout.splitlines()[1:]))
            if not result.ok:
                self.findings.append(Finding("runtime remove works", instance, result.line(), result.stderr.splitlines()[-5:]))
        time.sleep(1)
        for pid, env in sorted(proctable.marked(self.markers).items()):
            self.findings.append(Finding(
                "no orphan processes", env.get("KEELSON_INSTANCE", "?"),
                f"process {pid} still runs after `keelson runtime remove` of every instance: {proctable.command_line(pid)}",
                [f"KEELSON_REPLICA={env.get('KEELSON_REPLICA')} KEELSON_VERSION={env.get('KEELSON_VERSION')} PORT={env.get('PORT')}"]))
            try:
                os.kill(pid, 9)
            except OSError:
                pass

    def check_log(self, quiesce):
        events = self.keelson.events(invariants.TYPES)
        log, found = invariants.check(events, self.plan, self.timeline)
        self.findings += found
        self.findings += quiesce.findings(log)
        custom, runs = customruns.check(self.custom_state, self.timeline)
        self.findings += custom
        requests = sum(1 for e in events if e["type"] == "ApplyRequested")
        self.say(f"log: {len(events)} events read, {requests} apply requests, {runs} custom program runs")
        for arguments, invariant in ((["db", "check"], "db check is clean"), (["replay", "--verify"], "replay --verify is clean")):
            result = self.keelson.run(arguments, timeout=600)
            if not result.ok:
                output = (result.stdout + result.stderr).strip().splitlines()
                self.findings.append(Finding(invariant, "the database", result.line(), output[:40]))
        for problem in self.operator.problems:
            self.findings.append(Finding("no server errors", "a request during the chaos", problem))
        for result in self.keelson.crashes:
            self.findings.append(Finding("no crashes", "keelson " + " ".join(result.arguments), result.line(), result.stderr.splitlines()[-10:]))
        for exit in self.processes.exits:
            if exit.crashed or not (exit.refused or exit.process.duplicate):
                self.findings.append(Finding("no crashes", exit.process.describe(), exit.describe(), exit.process.tail()))
            else:
                last = exit.process.tail(1)
                self.notes.append(exit.describe() + (f": {last[0]}" if last else ""))


def main():
    options = arguments()
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(1, 2**31)
    print(f"chaos seed {seed}", flush=True)
    if not os.access(options.keelson, os.X_OK):
        print(f"error: no keelson binary at {options.keelson} (build it: swift build --product keelson)", file=sys.stderr)
        return 2
    run = Run(options, seed)
    run.say(f"temporary directory {run.directory}; runtimes {', '.join(run.plan.runtimes)}; "
            f"{options.kills} kills over {options.duration:g}s; local ports {run.ports[0]}-{run.ports[1]}, server port {run.processes.port}")
    started = time.monotonic()
    failed_to_run = None
    interrupted = False

    def terminate(number, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, terminate)
    try:
        run.setup()
        run.chaos()
        quiesce = run.quiesce()
        run.shut_down(quiesce)
        run.check_log(quiesce)
    except KeyboardInterrupt:
        interrupted = True
    except Exception as error:  # the run itself broke: report it with what was done so far
        failed_to_run = error
        traceback.print_exc()
    finally:
        for part in (run.operator, run.killer):
            part.stop.set()
            if part.thread:
                part.thread.join(30)
        run.processes.kill_everything()
        for pid in proctable.marked(run.markers):
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        run.timeline.close()

    if interrupted:
        print(f"\ninterrupted; seed {seed}; files kept in {run.directory}\nrerun: {rerun_command(options, seed)}")
        return 130
    print()
    for note in run.notes:
        print(f"note: {note}")
    grouped = {}
    for finding in run.findings:
        grouped.setdefault(finding.invariant, []).append(finding)
    for invariant, findings in grouped.items():
        print(f"=== {invariant}: {len(findings)} broken")
        for finding in findings:
            print(finding.render())
    elapsed = time.monotonic() - started
    if failed_to_run or run.findings:
        print(f"\nFAILED: {len(run.findings)} broken invariant(s) in {len(grouped)} kind(s)"
              + (f"; the run itself failed: {failed_to_run}" if failed_to_run else "") + f" ({elapsed:.0f}s)")
        print(f"seed {seed}; files kept in {run.directory} (timeline.log, logs/, db/, custom/)")
        print(f"rerun: {rerun_command(options, seed)}")
        return 2 if failed_to_run and not run.findings else 1
    print(f"PASSED: every invariant holds ({run.killer.kills} kills, {elapsed:.0f}s, seed {seed})")
    if options.keep:
        print(f"files kept in {run.directory}")
    else:
        shutil.rmtree(run.directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
