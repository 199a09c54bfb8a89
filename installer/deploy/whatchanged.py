"""Why a container is recreated, in words a user can check: which variables (names only, never
values), the image, which files.

The config hash says *that* something changed; this says *what*, from facts already at hand
before anything changes: the values the host's state remembers (secrets included, compared, never
shown), the running container's image, and the rendered files still on the host.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from typing import Any, Mapping

from installer.deploy.plan import RECREATE, Plan
from installer.events import Event, Reporter
from installer.hosts.base import Host
from installer.i18n import _
from installer.spec.model import ModuleSpec
from installer.spec.order import dependency_closure


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _changed_variables(
    spec: ModuleSpec,
    specs: Mapping[str, ModuleSpec],
    values: Mapping[str, Any],
    before: Mapping[str, Any],
) -> list[str]:
    names = {
        v.name for m in dependency_closure(dict(specs), [spec.name]) for v in specs[m].variables
    }
    return sorted(
        n for n in names if n in before and n in values and str(before[n]) != str(values[n])
    )


def _changed_files(host: Host, files: list[Any]) -> list[str]:
    out = []
    for f in files:
        try:
            same = _sha(host.read(f.path)) == _sha(f.content)
        except (FileNotFoundError, OSError):
            same = False
        if not same:
            out.append(os.path.basename(f.path))
    return out


def explain_recreates(
    plan: Plan,
    values: Mapping[str, Any],
    before: Mapping[str, Any],
    existing: Mapping[str, Mapping[str, Any]],
    host: Host,
    specs: Mapping[str, ModuleSpec],
    report: Reporter,
) -> None:
    """Rewrite each recreate's reason to what changed, and report it.

    ``values``: this run's resolved values; ``before``: what the state remembered;
    ``existing``: module -> container name -> Container (its image id)."""
    for mp in plan.modules:
        spec = mp.desired.spec
        insts = {i.container: i for i in mp.desired.instances}
        for pos, action in enumerate(mp.actions):
            if action.kind != RECREATE or action.container not in insts:
                continue
            inst = insts[action.container]
            have = existing.get(spec.name, {}).get(action.container)
            if have is None or not getattr(have, "managed", True):
                continue
            parts = _changed_variables(spec, specs, values, before)
            if have.image_id != inst.runspec.image_id:
                parts.append("image")
            parts += [f"file {name}" for name in _changed_files(host, inst.files)]
            reason = "changed: " + (", ".join(parts) if parts else "run settings")
            mp.actions[pos] = dataclasses.replace(action, reason=reason)
            report(
                Event(
                    "step",
                    spec.name,
                    _("{container} will be recreated: {reason}").format(
                        container=action.container, reason=reason
                    ),
                )
            )
