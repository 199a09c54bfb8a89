"""The envcheck gate: before `in` changes anything, the modules' host checks must pass.

Each module with changes is checked against its own envcheck profile (its spec's
``check_profile`` and ``envcheck`` items, `envcheck.catalog_from_specs`), with the ports it will
really use and the disk it will really write to. A module's profile comes from the bundle's
specs, never from a list of names envcheck knows, so a vendor's new module gets its checks.
A failed required item stops the install unless skipped by name (`--skip-check MODULE/gpu`);
skips are recorded in the state by the engine and reported as warnings.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import envcheck
from installer.errors import HostError
from installer.events import Event

if TYPE_CHECKING:  # pragma: no cover
    from installer.deploy.engine import Deployment, InstallOptions


def _existing_ancestor(dep: Deployment, path: str) -> str:
    while path not in ("", "/") and not dep.host.exists(path):
        path = os.path.dirname(path)
    return path or "/"


def envcheck_gate(dep: Deployment, names: list[str], options: InstallOptions) -> None:
    plan = dep.pending_plan
    assert plan is not None, "the envcheck gate runs inside Deployment.install"
    modules = [mp for mp in plan.modules if mp.changes]
    catalog = envcheck.catalog_from_specs({mp.desired.spec.name: mp.desired.spec for mp in modules})
    profiles = [mp.desired.spec.name for mp in modules if mp.desired.spec.name in catalog.profiles]
    if not profiles:
        return
    overrides = {"disk-install.path": _existing_ancestor(dep, dep.store.root)}
    for mp in modules:
        name = mp.desired.spec.name
        ports = sorted({p for inst in mp.desired.instances for p in inst.ports.values()})
        if ports and name in profiles:
            overrides[f"{name}/ports.ports"] = ",".join(map(str, ports))
    report = envcheck.run_checks(
        dep.host, profiles, overrides=overrides, skip=list(options.skip_checks), catalog=catalog
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
