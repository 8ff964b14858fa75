"""What a chaos run deploys: applications, services, channels and the versions it will release.

Everything here follows from the seed: the same seed gives the same services and the same
sequence of versions, good and bad."""
import random

APPLICATIONS = {"local": "loc", "custom": "cus", "simulated": "sim"}
SERVICES = ["web", "api"]
CHANNELS = ["staging", "canary", "prod"]
# Replicas per channel (the templates say the same: prod runs two on the local runtime).
REPLICAS = {"local": {"staging": 1, "canary": 1, "prod": 2}}
# Where automatic rollback is off (a release that fails there stays failed, and retrying it is
# the way on): api in staging.
NO_AUTO_ROLLBACK = {("api", "staging")}


def is_bad(version):
    """A version that fails: "bad" ones fail their apply (local, custom) or never become healthy
    (simulated); "sick" ones apply fine and lose their health during the watch (local, custom) or
    never become healthy (simulated)."""
    return "bad" in version or "sick" in version


class Plan:
    def __init__(self, seed, runtimes, releases_per_service):
        self.runtimes = runtimes
        rng = random.Random(f"plan:{seed}")
        self.services = [f"{APPLICATIONS[r]}/{s}" for r in runtimes for s in SERVICES]
        self.versions = {}
        for service in self.services:
            versions = ["1.0.0"]
            for minor in range(1, releases_per_service + 1):
                roll = rng.random()
                versions.append(f"1.{minor}.0" + ("-bad" if roll < 0.15 else "-sick" if roll < 0.27 else ""))
            if service.endswith("/api"):
                # The first release of api in the chaos fails its health check where automatic
                # rollback is off (staging), and is retried: the retry path, every run.
                versions[1] = "1.1.0-sick"
            self.versions[service] = versions
        self.released = {service: 0 for service in self.services}  # index of the newest version released

    def runtime_of(self, service_or_instance):
        application = service_or_instance.split("/")[0]
        return next(r for r, a in APPLICATIONS.items() if a == application)

    def instances(self, service=None):
        return [f"{s}@{c}" for s in self.services if service in (None, s) for c in CHANNELS]

    def applications(self):
        return [APPLICATIONS[r] for r in self.runtimes]

    def next_version(self, service):
        """The next version of `service` to release (None when the plan is used up)."""
        index = self.released[service] + 1
        if index >= len(self.versions[service]):
            return None
        self.released[service] = index
        return self.versions[service][index]

    def newest(self, service):
        return self.versions[service][self.released[service]]

    def simulated_bad_versions(self):
        found = sorted({v for s in self.services if self.runtime_of(s) == "simulated" for v in self.versions[s] if is_bad(v)})
        return found or ["0.0.0-never"]

    @staticmethod
    def auto_rollback(instance):
        service, channel = instance.split("@")
        return (service.split("/")[1], channel) not in NO_AUTO_ROLLBACK

    @staticmethod
    def replicas(instance, runtime):
        channel = instance.split("@")[1]
        return REPLICAS.get(runtime, {}).get(channel, 1)
