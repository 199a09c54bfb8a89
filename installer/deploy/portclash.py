"""Ports are unique per host: two of our services on one port is an error before any change.

Checked over the plan, not the host: the host check (``installer.deploy.portfree``) accepts a port
held by one of *our* containers, so ``--set http_port=<the license port>`` would pass it and
leave two host-network services fighting for one port. Installed modules outside this run keep
their recorded ports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from installer.deploy.plan import Plan
from installer.deploy.state import State
from installer.errors import UsageError
from installer.i18n import _
from installer.spec.model import ModuleSpec

if TYPE_CHECKING:  # pragma: no cover
    from installer.deploy.gateinput import GateInput


def _variable(spec: Optional[ModuleSpec], port_name: str) -> Optional[str]:
    for p in spec.ports if spec is not None else ():
        if p.name == port_name:
            return p.variable
    return None


def _fix(variables: list[Optional[str]]) -> str:
    names = sorted({v for v in variables if v})
    if not names:
        return "these ports are fixed by the modules; install them on different hosts"
    return "choose another port with " + " or ".join(f"--set {n}=PORT" for n in names)


def check_unique_ports(plan: Plan, state: State, host: str, specs: dict[str, ModuleSpec]) -> None:
    """Raise naming both users of a port (and the variable to change) when one is taken twice."""
    owners: dict[int, tuple[str, Optional[str]]] = {}  # port -> (who, its variable)
    planned = {mp.desired.spec.name for mp in plan.modules}
    used: list[tuple[int, str, Optional[str], bool]] = []  # port, who, variable, installed
    for mp in plan.modules:
        for inst in mp.desired.instances:
            for pname, port in sorted(inst.ports.items()):
                var = _variable(mp.desired.spec, pname)
                used.append((port, f"{inst.container} ({pname})", var, False))
    for name, rec in sorted(state.modules.items()):
        if name not in planned:
            for installed in rec.instances:
                for pname, port in sorted(installed.ports.items()):
                    var = _variable(specs.get(name), pname)
                    used.append((port, f"installed {installed.container} ({pname})", var, True))
    for port, who, var, _unused in used:
        if port in owners:
            first, first_var = owners[port]
            raise UsageError(
                _("port {port} on {host} is wanted by both {first} and {who}: {value}").format(
                    port=port, host=host, first=first, who=who, value=_fix([first_var, var])
                )
            )
        owners[port] = (who, var)


def unique_ports_gate(inp: GateInput) -> None:
    """The gate: no port wanted twice by the plan and the modules installed beside it."""
    check_unique_ports(inp.plan, inp.state, inp.host.name, inp.specs)
