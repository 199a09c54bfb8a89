"""Vendor side: build a license from the customer's ``finger.tar.gz`` and sign it."""

from __future__ import annotations

import re
import secrets
import time
from typing import Dict, Iterable, List, Optional, Sequence, Union

from fingerprint.archive import read_archive
from fingerprint.compare import SHARED_BY_MODEL, MatchPolicy
from fingerprint.errors import SecfileError
from fingerprint.model import COMPONENTS, MachineRecord
from installer.errors import UsageError
from installer.i18n import _
from installer.license.shipped.model import DAY, TYPES, License, ModuleGrant

_MODULE = re.compile(r"^([a-z][a-z0-9-]{0,40})=(\d+)(?::(\d+))?$")


def parse_modules(specs: Iterable[str]) -> Dict[str, ModuleGrant]:
    """``face-server=4`` (4 instances) or ``face-server=4:2`` (4 instances, 2 GPUs); several
    per option separated by commas."""
    out: Dict[str, ModuleGrant] = {}
    for spec in specs:
        for item in filter(None, (s.strip() for s in spec.split(","))):
            m = _MODULE.match(item)
            if not m or int(m.group(2)) < 1:
                raise UsageError(
                    _(
                        "--modules {item!r}: expected NAME=INSTANCES[:GPUS], e.g. face-server=4"
                    ).format(item=item)
                )
            gpus = int(m.group(3)) if m.group(3) is not None else None
            out[m.group(1)] = ModuleGrant(int(m.group(2)), gpus)
    if not out:
        raise UsageError(_("--modules: name at least one module, e.g. face-server=4"))
    return out


def policy_for(
    machines: Sequence[MachineRecord], required: Optional[int], must_match: Sequence[str] = ()
) -> MatchPolicy:
    """One policy for every machine, over identity components (the CPU model never counts):
    by default all but one must match when four or more were recorded (a part may be
    replaced), else all; computed on the machine with the fewest."""
    unknown = set(must_match) - set(COMPONENTS)
    if unknown:
        raise UsageError(
            _("--must-match: unknown components {unknown}").format(
                unknown=", ".join(sorted(unknown))
            )
        )

    def identity(m: MachineRecord) -> int:
        return sum(1 for k in m.components if k not in SHARED_BY_MODEL)

    fewest = min(identity(m) for m in machines)
    if fewest == 0:
        bad = [m.name for m in machines if not identity(m)]
        raise UsageError(
            _(
                "{bad}: no identity component recorded (the CPU model alone does not identify a machine); collect again as root"
            ).format(bad=", ".join(bad))
        )
    k = (
        required
        if required is not None
        else MatchPolicy.suggested(min(machines, key=identity)).required
    )
    if not 1 <= k <= fewest:
        raise UsageError(
            _(
                "--required {k}: must be between 1 and {fewest} (fewest identity components recorded; the CPU model does not count)"
            ).format(k=k, fewest=fewest)
        )
    for m in machines:
        absent = [c for c in must_match if c not in m.components]
        if absent:
            raise UsageError(
                _("--must-match {absent}: not recorded for {name}").format(
                    absent=", ".join(absent), name=m.name
                )
            )
    return MatchPolicy(k, frozenset(must_match))


def issue(
    request: Union[str, bytes, List[MachineRecord]],
    *,
    modules: Dict[str, ModuleGrant],
    days: int,
    customer: str,
    product: str = "sealbox",
    type: str = "trial",
    grace_days: int = 7,
    warn_days: int = 14,
    allow_vm: bool = False,
    required: Optional[int] = None,
    must_match: Sequence[str] = (),
    now: Optional[float] = None,
    not_before: Optional[float] = None,
    license_id: Optional[str] = None,
) -> License:
    """The license payload (unsigned; ``fileformat.render`` signs it)."""
    if type not in TYPES:
        raise UsageError(
            _("--type {type_}: expected one of {types}").format(type_=type, types=", ".join(TYPES))
        )
    if days < 1:
        raise UsageError(_("--days {days}: must be at least 1").format(days=days))
    if isinstance(request, list):
        machines = request
    else:
        try:
            machines = read_archive(request)
        except SecfileError as exc:
            raise UsageError(_("fingerprint request: {exc}").format(exc=exc)) from None
    if not machines:
        raise UsageError(_("fingerprint request holds no machine"))
    t = int(time.time() if now is None else now)
    # Default start one day back: the customer's clock or time zone may lag the vendor's.
    start = int(t - DAY if not_before is None else not_before)
    end = (t if not_before is None else start) + days * DAY
    return License(
        license_id=license_id
        or f"LIC-{time.strftime('%Y%m%d', time.gmtime(t))}-{secrets.token_hex(4)}",
        customer=customer,
        product=product,
        type=type,
        issued_at=t,
        not_before=start,
        expires_at=end,
        grace_days=grace_days,
        warn_days=warn_days,
        modules=modules,
        machines=tuple(machines),
        match=policy_for(machines, required, must_match),
        allow_vm=allow_vm,
    )


def vm_machines(machines: Sequence[MachineRecord]) -> List[str]:
    """Machines whose request shows VM evidence (the vendor decides about --allow-vm)."""
    return [f"{m.name} ({m.labels.get('vm')})" for m in machines if m.labels.get("vm")]
