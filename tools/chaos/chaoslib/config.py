"""Writes a chaos run's config from the templates in tools/chaos/templates."""
import os
import string

from .plan import APPLICATIONS, SERVICES

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEMPLATES = os.path.join(HERE, "templates")
FIXTURES = os.path.join(HERE, "fixtures")

# The simulated runtime's faults during the chaos phase; the calm config sets them to 0.
FAULTS = {"applyFailureRate": "0.08", "applyHangRate": "0.04", "fetchErrorRate": "0.1"}


def _render(name, values):
    with open(os.path.join(TEMPLATES, name)) as handle:
        return string.Template(handle.read()).substitute(values)


def write(directory, plan, seed, ports, run_marker, custom_state, calm=False):
    """Writes the config files into `directory` (replacing what is there)."""
    os.makedirs(directory, exist_ok=True)
    faults = {k: "0" for k in FAULTS} if calm else FAULTS
    values = dict(
        faults, seed=seed % 4_294_967_295, ports=f"{ports[0]}-{ports[1]}", run=run_marker, fixtures=FIXTURES,
        customState=custom_state,
        unhealthyVersions="[" + ", ".join(f'"{v}"' for v in plan.simulated_bad_versions()) + "]")
    files = {"runtimes.yaml": _render("runtimes.yaml", values)}
    for runtime in plan.runtimes:
        app = APPLICATIONS[runtime]
        text = [_render("application.yaml", dict(values, app=app, runtime=runtime))]
        for service in SERVICES:
            text.append(_render(f"{runtime}-service.yaml", dict(
                values, app=app, service=service, stagingAutoRollback=str(plan.auto_rollback(f"{app}/{service}@staging")).lower())))
        files[f"{app}.yaml"] = "\n---\n".join(text)
    for name, text in files.items():
        with open(os.path.join(directory, name), "w") as handle:
            handle.write(text)
