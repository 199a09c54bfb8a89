"""The license payload: what the vendor grants, to whom, where and until when.

Plain data with a strict ``from_dict`` so a payload that passed the signature check but was
made by a newer or broken issuer fails with a sentence, not a ``KeyError``. Runs inside the
license-server image too (Python 3.11, stdlib + cryptography 38): no third-party imports here.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

from fingerprint.compare import MatchPolicy
from fingerprint.errors import SecfileError
from fingerprint.model import MachineRecord
from installer.errors import LicenseError

FORMAT = "sealbox-license"
VERSION = 1
TYPES = ("trial", "production")
DAY = 86400


def iso(ts: float) -> str:
    """UTC ISO 8601 with a Z, seconds precision: the only time format in a license."""
    return _dt.datetime.fromtimestamp(int(ts), _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: Any, what: str) -> int:
    """Epoch seconds of an ISO 8601 UTC time; the error names the field."""
    if not isinstance(text, str):
        raise LicenseError(f"license payload: {what} must be an ISO 8601 time string")
    try:
        value = _dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        raise LicenseError(
            f"license payload: {what}={text!r} is not YYYY-MM-DDTHH:MM:SSZ"
        ) from None
    return int(value.replace(tzinfo=_dt.timezone.utc).timestamp())


def day(ts: float) -> str:
    """The date people read in messages: ``2026-03-01``."""
    return iso(ts)[:10]


@dataclass(frozen=True)
class ModuleGrant:
    """How much of one module the license allows. ``None`` means no limit on that axis."""

    instances: int
    gpus: Optional[int] = None

    def to_dict(self) -> Dict[str, Any]:
        return {"instances": self.instances, "gpus": self.gpus}


@dataclass(frozen=True)
class License:
    """A verified (or about to be signed) license payload."""

    license_id: str
    customer: str
    product: str
    type: str
    issued_at: int
    not_before: int
    expires_at: int
    grace_days: int
    warn_days: int
    modules: Mapping[str, ModuleGrant]
    machines: Tuple[MachineRecord, ...]
    match: MatchPolicy
    allow_vm: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def grace_until(self) -> int:
        return self.expires_at + self.grace_days * DAY

    def to_dict(self) -> Dict[str, Any]:
        """The payload object, in the field order people read it."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "license_id": self.license_id,
            "customer": self.customer,
            "product": self.product,
            "type": self.type,
            "issued_at": iso(self.issued_at),
            "not_before": iso(self.not_before),
            "expires_at": iso(self.expires_at),
            "grace_days": self.grace_days,
            "warn_days": self.warn_days,
            "modules": {k: v.to_dict() for k, v in sorted(self.modules.items())},
            "allow_vm": self.allow_vm,
            "match": self.match.to_dict(),
            "machines": [_machine_dict(m) for m in self.machines],
            **dict(self.extra),
        }

    @classmethod
    def from_dict(cls, data: Any) -> License:
        if not isinstance(data, dict):
            raise LicenseError("license payload: expected a JSON object")
        if data.get("format") != FORMAT:
            raise LicenseError(f"license payload: format is {data.get('format')!r}, not {FORMAT}")
        if data.get("version") != VERSION:
            raise LicenseError(
                f"license payload: version {data.get('version')!r} is not supported "
                f"(this sealbox reads version {VERSION}); upgrade sealbox"
            )
        for key in ("license_id", "customer", "product"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise LicenseError(f"license payload: {key} must be a non-empty string")
        if data.get("type") not in TYPES:
            raise LicenseError(f"license payload: type must be one of {', '.join(TYPES)}")
        ints = {}
        for key in ("grace_days", "warn_days"):
            v = data.get(key)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise LicenseError(f"license payload: {key} must be a whole number >= 0")
            ints[key] = v
        modules = data.get("modules")
        if not isinstance(modules, dict) or not modules:
            raise LicenseError("license payload: modules must name at least one module")
        grants: Dict[str, ModuleGrant] = {}
        for name, lim in modules.items():
            if not isinstance(lim, dict) or not _count(lim.get("instances")):
                raise LicenseError(f"license payload: modules.{name}.instances must be >= 1")
            gpus = lim.get("gpus")
            if gpus is not None and not (_count(gpus) or gpus == 0):
                raise LicenseError(f"license payload: modules.{name}.gpus must be >= 0 or null")
            grants[str(name)] = ModuleGrant(lim["instances"], gpus)
        machines = data.get("machines")
        if not isinstance(machines, list) or not machines:
            raise LicenseError("license payload: machines must list at least one machine")
        try:
            records = tuple(
                MachineRecord.from_dict(m, source=f"license machines[{i}]")
                for i, m in enumerate(machines)
            )
            policy = MatchPolicy.from_dict(data.get("match") or {})
        except (SecfileError, KeyError, TypeError, ValueError) as exc:
            raise LicenseError(f"license payload: {exc}") from None
        if not isinstance(data.get("allow_vm"), bool):
            raise LicenseError("license payload: allow_vm must be true or false")
        known = {
            "format",
            "version",
            "license_id",
            "customer",
            "product",
            "type",
            "issued_at",
            "not_before",
            "expires_at",
            "grace_days",
            "warn_days",
            "modules",
            "allow_vm",
            "match",
            "machines",
        }
        lic = cls(
            license_id=data["license_id"],
            customer=data["customer"],
            product=data["product"],
            type=data["type"],
            issued_at=parse_iso(data.get("issued_at"), "issued_at"),
            not_before=parse_iso(data.get("not_before"), "not_before"),
            expires_at=parse_iso(data.get("expires_at"), "expires_at"),
            grace_days=ints["grace_days"],
            warn_days=ints["warn_days"],
            modules=grants,
            machines=records,
            match=policy,
            allow_vm=data["allow_vm"],
            extra={k: v for k, v in data.items() if k not in known},
        )
        if lic.expires_at <= lic.not_before:
            raise LicenseError("license payload: expires_at is not after not_before")
        return lic

    def summary(self) -> Dict[str, Any]:
        """What status pages and ``show`` print (no hashes)."""
        return {
            "license_id": self.license_id,
            "customer": self.customer,
            "product": self.product,
            "type": self.type,
            "issued_at": iso(self.issued_at),
            "not_before": iso(self.not_before),
            "expires_at": iso(self.expires_at),
            "grace_days": self.grace_days,
            "modules": {k: v.to_dict() for k, v in sorted(self.modules.items())},
            "machines": [machine_label(m) for m in self.machines],
            "match": self.match.to_dict(),
            "allow_vm": self.allow_vm,
        }


def _count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


_LABELS_KEPT = ("hostname", "primary_ip", "os", "cpu_model", "vm")


def _machine_dict(record: MachineRecord) -> Dict[str, Any]:
    """A machine as embedded in a license: hashes plus a few labels for people, no raw data."""
    d = record.to_dict()
    d["labels"] = {k: record.labels.get(k) for k in _LABELS_KEPT if record.labels.get(k)}
    d.pop("missing", None)
    return d


def machine_label(record: MachineRecord) -> str:
    ip = record.primary_ip
    return f"{record.host} ({ip})" if ip else record.host


def module_list(lic: License) -> List[str]:
    return sorted(lic.modules)
