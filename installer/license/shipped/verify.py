"""Is this license good *here and now*? Every answer comes with the reason in words.

One function (``evaluate``) used by the CLI, the install gate and the license server, so the
three can never disagree. Inputs are injected (time, live fingerprint, clock high-water mark)
so tests run anywhere, including the VM / not-VM cases.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from fingerprint.compare import MatchResult, match
from fingerprint.model import COMPONENT_TITLES, Fingerprint
from installer.errors import LicenseError
from installer.license.shipped import fileformat
from installer.license.shipped.model import DAY, License, day, iso, machine_label

# Problem codes (stable: --json consumers and tests rely on them).
MALFORMED = "malformed"
UNKNOWN_KEY = "unknown_key"
SIGNATURE = "signature"
NOT_YET_VALID = "not_yet_valid"
EXPIRED = "expired"
MACHINE = "machine"
VM = "vm"
MODULE = "module"
CLOCK = "clock_rollback"

DEFAULT_CLOCK_TOLERANCE = 600
"""Seconds the clock may step back (NTP corrections, a VM resumed) before it counts as set back."""


@dataclass(frozen=True)
class Problem:
    code: str
    message: str


@dataclass
class Verdict:
    """``ok``: may serve (possibly with warnings, e.g. in the grace period)."""

    license: Optional[License]
    now: int
    problems: List[Problem] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)
    state: str = "valid"  # valid | expiring | grace | invalid
    machine: Optional[Dict[str, Any]] = None
    key_id: Optional[str] = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def codes(self) -> List[str]:
        return [p.code for p in self.problems]

    def reason(self) -> str:
        """One line: the problems, or 'valid' plus warnings."""
        if self.problems:
            return "; ".join(p.message for p in self.problems)
        return "; ".join(["valid", *self.warnings])

    @property
    def days_left(self) -> Optional[int]:
        if self.license is None:
            return None
        return int((self.license.expires_at - self.now) // DAY)

    def to_dict(self) -> Dict[str, Any]:
        return {
            "ok": self.ok,
            "state": self.state,
            "reason": self.reason(),
            "problems": [{"code": p.code, "message": p.message} for p in self.problems],
            "warnings": list(self.warnings),
            "days_left": self.days_left,
            "checked_at": iso(self.now),
            "key_id": self.key_id,
            "machine": self.machine,
            "license": self.license.summary() if self.license else None,
        }


def _best_match(lic: License, live: Fingerprint) -> tuple:
    on_vm = bool(live.labels.get("vm"))
    results = [(m, match(m, live, lic.match, on_vm=on_vm)) for m in lic.machines]
    ok = [r for r in results if r[1].ok]
    if ok:
        return ok[0]
    return max(results, key=lambda r: len(r[1].matched))


def _differ_text(res: MatchResult) -> str:
    names = [COMPONENT_TITLES.get(d.kind, d.kind) for d in res.differing]
    if res.failed_must_match:
        names += [COMPONENT_TITLES.get(k, k) for k in res.failed_must_match if k not in names]
    return ", ".join(names) or "none"


def evaluate(
    lic: License,
    *,
    now: Optional[float] = None,
    live: Optional[Fingerprint] = None,
    modules: Sequence[str] = (),
    high_water: Optional[float] = None,
    witness: str = "high-water mark",
    clock_tolerance: float = DEFAULT_CLOCK_TOLERANCE,
) -> Verdict:
    """Dates, clock, machine, VM and modules. ``live=None`` skips the machine checks (vendor
    side, or a host that cannot be read); ``modules`` are the ones about to be used."""
    t = int(time.time() if now is None else now)
    v = Verdict(lic, t)
    # The license's issued_at is a witness too (less a day: the documented clock skew allowance
    # between vendor and customer, as not_before).
    issued = lic.issued_at - max(DAY, clock_tolerance)
    if high_water is None or issued > high_water:
        high_water, witness, clock_tolerance = issued, "license issued_at less a day", 0
    if t < high_water - clock_tolerance:
        v.problems.append(
            Problem(
                CLOCK,
                f"system clock was set back: it says {iso(t)} but {iso(high_water)} was already "
                f"seen here ({witness}; tolerance {int(clock_tolerance)}s); correct the clock "
                "(NTP)",
            )
        )
    if t < lic.not_before:
        v.problems.append(Problem(NOT_YET_VALID, f"not valid yet: starts on {iso(lic.not_before)}"))
    elif t >= lic.grace_until:
        extra = f" (grace period ended {day(lic.grace_until)})" if lic.grace_days else ""
        v.problems.append(
            Problem(
                EXPIRED,
                f"expired on {day(lic.expires_at)}{extra}; install a renewed license",
            )
        )
    elif t >= lic.expires_at:
        v.state = "grace"
        v.warnings.append(
            f"expired on {day(lic.expires_at)}; grace period: serving until "
            f"{day(lic.grace_until)} - install a renewed license"
        )
    elif lic.expires_at - t < lic.warn_days * DAY:
        v.state = "expiring"
        left = max(0, (lic.expires_at - t) // DAY)
        v.warnings.append(f"expires on {day(lic.expires_at)} ({left} days left)")
    if live is not None:
        record, res = _best_match(lic, live)
        v.machine = {"licensed_machine": machine_label(record), **res.to_dict()}
        if not res.ok:
            v.problems.append(
                Problem(
                    MACHINE,
                    f"not for this machine (components {_differ_text(res)} differ; "
                    f"closest licensed machine {machine_label(record)}: {res.explain()})",
                )
            )
        vm = live.labels.get("vm")
        if vm and not lic.allow_vm:
            evidence = ", ".join(live.labels.get("vm_evidence") or []) or str(vm)
            v.problems.append(
                Problem(
                    VM,
                    f"virtual machine detected ({evidence}); this license is for physical "
                    "machines only",
                )
            )
    for name in modules:
        if name not in lic.modules:
            v.problems.append(
                Problem(
                    MODULE,
                    f"module {name} not licensed (license grants: {', '.join(sorted(lic.modules))})",
                )
            )
    if v.problems:
        v.state = "invalid"
    return v


def missing_mark_text(path: str, w: Any) -> str:
    """The refusal when the clock mark was deleted but the server's history is still there."""
    return (
        f"clock high-water mark {path} is missing while this server has history "
        f"({', '.join(w.mark_missing_with_history)}): treated as a clock rollback; restore "
        "the mark from a backup, or ask the vendor"
    )


def verify_bytes(
    data: bytes,
    keys: fileformat.KeyRing,
    *,
    source: str = "license.cfg",
    **checks: Any,
) -> Verdict:
    """Signature first (a failure there is a problem, not an exception), then ``evaluate``."""
    now = int(time.time() if checks.get("now") is None else checks["now"])
    kid: Optional[str] = None
    try:
        kid = fileformat.split(data, source).key_id
        lic = fileformat.load(data, keys, source)
    except fileformat.UnknownKeyError as exc:
        return _failed(now, UNKNOWN_KEY, str(exc), kid)
    except fileformat.SignatureError as exc:
        return _failed(now, SIGNATURE, str(exc), kid)
    except LicenseError as exc:
        return _failed(now, MALFORMED, str(exc), kid)
    v = evaluate(lic, **checks)
    v.key_id = kid
    return v


def _failed(now: int, code: str, message: str, kid: Optional[str]) -> Verdict:
    return Verdict(None, now, [Problem(code, message)], state="invalid", key_id=kid)
