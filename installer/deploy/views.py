"""Read-only views of a host: the bundle's modules against the state, and what is running."""

from __future__ import annotations

from typing import Any

from installer.deploy.apply import OLD_SUFFIX
from installer.deploy.options import InstanceStatus
from installer.deploy.state import InstanceRecord, State, StateStore
from installer.errors import HostError
from installer.hosts.base import Host
from installer.runtime.container import Container
from installer.runtime.docker import ContainerRuntime
from installer.runtime.health import probe
from installer.spec.model import ModuleSpec
from installer.spec.order import install_order


def available(specs: dict[str, ModuleSpec], store: StateStore, host: Host) -> list[dict[str, Any]]:
    """The bundle's modules; 'installed' is None where the state cannot be read (not root)."""
    readable = True
    try:
        state = store.load() if host.exists(store.state_file) else State()
    except HostError:
        state, readable = State(), False
    rows = []
    for name in install_order(specs, specs):
        spec = specs[name]
        rec = state.modules.get(name)
        rows.append(
            {
                "name": name,
                "version": spec.version,
                "description": spec.description,
                "depends_on": list(spec.depends_on),
                "installed": (rec is not None) if readable else None,
                "installed_version": rec.version if rec else None,
                "gpu": spec.gpu,
                "accelerator": spec.accelerator.kind,
                "ports": {p.name: p.port for p in spec.ports},
            }
        )
    return rows


def _health(host: Host, spec: ModuleSpec, inst: InstanceRecord, cont: Container, cli: str) -> str:
    health = "-"
    if cont.running:
        port = inst.ports.get(spec.health.port or "") if spec.health.port else None
        ok, seen = probe(
            host,
            spec.health.type,
            port=port,
            path=spec.health.path,
            container=inst.container,
            command=spec.health.command,
            cli=cli,
        )
        health = "healthy" if ok else f"unhealthy: {seen}"
    if inst.image_id and cont.image_id != inst.image_id:
        health = f"wrong image: runs {cont.image_id[:19]}, signed {inst.image_id[:19]}"
    return health


def status(
    specs: dict[str, ModuleSpec], store: StateStore, runtime: ContainerRuntime, host: Host
) -> list[InstanceStatus]:
    """Installed instances from the state, checked against the real containers and probes."""
    state = store.load()
    containers = {c.name: c for c in runtime.ours()}
    rows: list[InstanceStatus] = []
    for name, rec in state.modules.items():
        spec = specs.get(name)
        for inst in rec.instances:
            cont = containers.pop(inst.container, None)
            health = "-"
            if cont is None:
                st = "missing"
            else:
                st = cont.status
                if spec is not None:
                    health = _health(host, spec, inst, cont, runtime.cli)
                elif inst.image_id and cont.image_id != inst.image_id:
                    health = f"wrong image: runs {cont.image_id[:19]}, signed {inst.image_id[:19]}"
            rows.append(
                InstanceStatus(
                    name,
                    inst.container,
                    rec.image_ref,
                    inst.ports,
                    st,
                    health,
                    inst.gpu,
                    image_id=cont.image_id if cont is not None else "",
                    signed_id=inst.image_id,
                )
            )
    for cont in containers.values():  # ours by label but not in the state record
        if cont.name.endswith(OLD_SUFFIX):
            continue
        rows.append(
            InstanceStatus(
                cont.module or "?",
                cont.name,
                cont.image_ref,
                {},
                cont.status,
                "not in state (run 'in' again or 'rm')",
                None,
                in_state=False,
                image_id=cont.image_id,
            )
        )
    return rows
