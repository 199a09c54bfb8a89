"""Every host's environment, checked before the first change of a fleet install.

Without it a dependent host whose provider's host failed its checks was skipped unchecked, and
its own failures showed only on the next try. Here each host plans (as a dry run does: the
values a provider will hand over are stand-ins) and runs the engine's envcheck gate, all hosts
at once; when any host fails, no host changes anything and every failure is shown together.
Anything else a host's check meets (unreachable, a planning error) is left to its install job,
which reports it as before.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Optional

from installer.deploy.engine import Deployment, InstallOptions
from installer.deploy.preflight import EnvironmentCheckFailed
from installer.events import Event, Reporter
from installer.fleet.run import FAILED, SKIPPED, HostResult, Job, Outcome, run_jobs
from installer.fleet.wiring import FleetPlan
from installer.i18n import _


def check_environments(
    fplan: FleetPlan,
    modules: dict[str, list[str]],
    options: InstallOptions,
    deployment: Callable[[str, Reporter], Deployment],
    inherited: Callable[[str], dict],
    *,
    parallel: int,
    log_dir: Optional[str],
    on_event: Optional[Callable[[str, Event], None]],
) -> Optional[list[HostResult]]:
    """None when every host passes; else a result per host: the failed hosts with their
    failures, the others "not started"."""

    def job(name: str) -> Callable[[Reporter], Outcome]:
        def run(report: Reporter) -> Outcome:
            hp = fplan.hosts[name]
            try:
                opts = replace(
                    options,
                    overrides={**inherited(name), **options.overrides, **hp.overrides},
                    elsewhere=frozenset(hp.elsewhere),
                    prompter=None,
                )
                deployment(name, report).check_environment(modules[name], opts)
            except EnvironmentCheckFailed:
                raise
            except Exception as exc:  # noqa: BLE001 - the install job reports it
                return Outcome(False, _("environment not checked here: {exc}").format(exc=exc))
            return Outcome(False, _("environment checked"))

        return run

    names = [n for n in fplan.hosts if modules.get(n)]
    results = run_jobs(
        [Job(n, job(n)) for n in names], parallel=parallel, log_dir=log_dir, on_event=on_event
    )
    failed = [r.host for r in results if r.status == FAILED]
    if not failed:
        return None
    by_name = {r.host: r for r in results}
    out = []
    for name in fplan.hosts:
        r = by_name.get(name)
        if r is not None and r.status == FAILED:
            out.append(r)
            continue
        why = f"environment check failed on {', '.join(failed)}; nothing changed on any host"
        out.append(HostResult(name, SKIPPED, f"not started: {why}"))
    return out
