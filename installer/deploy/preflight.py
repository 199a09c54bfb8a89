"""The envcheck gate: before `in` changes anything, the modules' host checks must pass.

Each module with changes is checked against the envcheck profile of the same name, with the
ports it will really use and the disk it will really write to. A failed required item stops
the install unless skipped by name (`--skip-check face-server/gpu`); skips are recorded in the
state by the engine and reported as warnings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import envcheck
from envcheck.engine import build_plan, needed_facts
from installer.errors import HostError
from installer.events import Event

if TYPE_CHECKING:  # pragma: no cover
    from installer.deploy.engine import Deployment, InstallOptions


def _check_args(dep: Deployment, specs: list) -> tuple[list[str], dict[str, str], list[dict]]:
    """(profiles, overrides, extra items) for the modules ``specs``, with real ports and disk."""
    profiles = [s.name for s in specs if s.name in envcheck.PROFILES]
    # The disk fact walks up to the nearest existing parent itself: no round trip here.
    overrides = {"disk-install.path": dep.store.root}
    extra: list[dict] = []
    for spec in specs:
        if spec.name not in profiles:
            continue
        for extra_item in spec.envcheck:
            extra.append({"profile": spec.name, **extra_item})
    return profiles, overrides, extra


def envcheck_facts(dep: Deployment, names: list[str]) -> list[str]:
    """The facts the gate may read for ``names`` (a superset: before the plan, every module
    that could change), so the engine gathers them in its one round trip."""
    profiles, overrides, extra = _check_args(dep, [dep.specs[n] for n in names if n in dep.specs])
    if not profiles:
        return []
    return needed_facts(build_plan(profiles, overrides, extra))


def envcheck_gate(dep: Deployment, names: list[str], options: InstallOptions) -> None:
    plan = dep.pending_plan
    assert plan is not None, "the envcheck gate runs inside Deployment.install"
    modules = [mp for mp in plan.modules if mp.changes]
    profiles, overrides, extra = _check_args(dep, [mp.desired.spec for mp in modules])
    if not profiles:
        return
    for mp in modules:
        name = mp.desired.spec.name
        ports = sorted({p for inst in mp.desired.instances for p in inst.ports.values()})
        if ports and name in profiles:
            overrides[f"{name}/ports.ports"] = ",".join(map(str, ports))
    report = envcheck.run_checks(
        dep.host,
        profiles,
        overrides=overrides,
        skip=list(options.skip_checks),
        extra_items=extra,
        facts=dep.facts,
    )
    for item in report.items:
        if item.skipped and not item.passed:
            dep.report(
                Event(
                    "warn",
                    item.profile,
                    f"check {item.profile}/{item.id} skipped by request: {item.actual}",
                )
            )
    failed = report.failed_required()
    if failed:
        parts = [f"{i.profile}/{i.id} ({i.actual})" for i in failed]
        raise HostError(
            f"environment check failed on {dep.host.name}: {'; '.join(parts)}. Fix it (run "
            f"'envcheck {' '.join(profiles)}' for details) or skip an item with --skip-check "
            f"{failed[0].profile}/{failed[0].id}"
        )
