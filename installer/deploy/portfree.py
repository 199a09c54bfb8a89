"""The port gate: a port we are about to bind must be free, or held by one of our containers.

Checked on the host, after the plan: a port held by another process stops the install before
any change, naming the process and the variable that moves the port.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from installer.deploy.plan import CREATE, RECREATE, START
from installer.errors import HostError
from installer.facts.snapshot import HostFacts
from installer.i18n import _
from installer.spec.model import ModuleSpec

if TYPE_CHECKING:  # pragma: no cover
    from installer.deploy.gateinput import GateInput


def port_variable(spec: ModuleSpec, port_name: str) -> str:
    for p in spec.ports:
        if p.name == port_name and p.variable:
            return p.variable
    return "PORT_VARIABLE"


def free_ports_gate(inp: GateInput) -> None:
    starting = {a.container for a in inp.plan.changes if a.kind in (CREATE, RECREATE, START)}
    if not starting:
        return
    ours = [c for c in inp.containers if c.running]
    facts = inp.facts if inp.facts is not None else HostFacts(inp.host)
    for mp in inp.plan.modules:
        for inst in mp.desired.instances:
            if inst.container not in starting:
                continue
            for pname, port in inst.ports.items():
                lst = facts.port_blocker(port, ours)  # the one ownership rule
                if lst is None:
                    continue
                who = f"{lst.process} (pid {lst.pid})" if lst.pid else "another process"
                raise HostError(
                    _(
                        "port {port} ({name} {pname}) is already in use by {who} on {name2}: stop it, or choose another port with --set {spec}=PORT"
                    ).format(
                        port=port,
                        name=mp.desired.spec.name,
                        pname=pname,
                        who=who,
                        name2=inp.host.name,
                        spec=port_variable(mp.desired.spec, pname),
                    )
                )
