"""Never generate a secret over existing data.

A lost ``secrets.json`` used to mean new passwords on the next install while MySQL's data still
held the old ones: both containers were recreated and the service failed with "Access denied"
minutes later. A module whose data exists gets no new generated secret; the install is refused
with the two ways out.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Collection

from installer.deploy.plan import Plan
from installer.deploy.variables import Resolved
from installer.errors import HostError
from installer.hosts.base import Host
from installer.i18n import _

if TYPE_CHECKING:  # pragma: no cover
    from installer.deploy.gateinput import GateInput


def _has_files(host: Host, path: str) -> bool:
    res = host.run(["sh", "-c", f"ls -A {shlex.quote(path)} 2>/dev/null | head -c 1"])
    return bool(res.ok and res.stdout.strip())


def refuse_new_secrets_over_data(
    plan: Plan, resolved: Resolved, host: Host, secrets_file: str, installed: Collection[str]
) -> None:
    """``installed``: modules the state records. Only their data was made with secrets that are
    now gone (a data dir filled before the first install, e.g. a seeded license, is not)."""
    generated = {n for n, source in resolved.sources.items() if source == "generated"}
    if not generated:
        return
    for mp in plan.modules:
        spec = mp.desired.spec
        mine = sorted(v.name for v in spec.variables if v.name in generated)
        if not mine or spec.name not in installed:
            continue
        full = [d for inst in mp.desired.instances for d in inst.data_dirs if _has_files(host, d)]
        if full:
            raise HostError(
                _(
                    "{name} has data on {name2} ({full}) but its generated secrets ({mine}) are missing from {secrets_file}; new ones would lock it out of its data: restore {secrets_file} from a backup, or delete {name}'s data with 'install.py rm {name} --purge --yes --force' and install again"
                ).format(
                    name=spec.name,
                    name2=host.name,
                    full=full[0],
                    mine=", ".join(mine),
                    secrets_file=secrets_file,
                )
            )


def secrets_gate(inp: GateInput) -> None:
    """The gate: the plan's generated secrets, against the data of the modules installed."""
    refuse_new_secrets_over_data(
        inp.plan, inp.resolved, inp.host, inp.store.secrets_file, set(inp.state.modules)
    )
