"""Shared builders for the license unit tests: keys, machines, licenses, a fixed clock."""

from __future__ import annotations

from typing import Any, Dict, Optional

from fingerprint.model import Fingerprint
from installer import signing
from installer.license.issue import issue
from installer.license.shipped import fileformat
from installer.license.shipped.model import DAY, ModuleGrant

NOW = 1_800_000_000  # 2027-01-15, a fixed "now" for every test

RAW = {
    "machine_id": ("0123456789abcdef0123456789abcdef",),
    "product_uuid": ("4c4c4544-0042-3510-8052-b4c04f335a31",),
    "board_serial": ("BRD-1234",),
    "system_serial": ("SYS-5678",),
    "disk_serials": ("S3Z9NB0K123456",),
    "macs": ("52:54:00:12:34:56", "52:54:00:12:34:57"),
    "cpu_model": ("Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz",),
}


def machine(changed: tuple = (), vm: Optional[str] = None, **labels: Any) -> Fingerprint:
    """A live machine; ``changed`` components get other values (hardware swapped)."""
    raw = {
        k: (tuple(v + "-new" for v in vals) if k in changed else vals) for k, vals in RAW.items()
    }
    lab: Dict[str, Any] = {"hostname": "gpu01", "primary_ip": "10.0.0.5", "vm": vm}
    lab["vm_evidence"] = [f"systemd-detect-virt --vm: {vm}"] if vm else []
    lab.update(labels)
    return Fingerprint(raw=raw, labels=lab, missing={})


KEY = signing.generate()
OTHER_KEY = signing.generate()
RING = fileformat.KeyRing([KEY.public])


def make_license(
    *,
    days: int = 90,
    now: float = NOW,
    modules: Optional[Dict[str, ModuleGrant]] = None,
    required: Optional[int] = None,
    allow_vm: bool = False,
    grace_days: int = 7,
    warn_days: int = 14,
    not_before: Optional[float] = None,
    license_id: str = "LIC-TEST-1",
):
    record = machine().to_record(name="secfile_10.0.0.5")
    return issue(
        [record],
        modules=modules or {"face-server": ModuleGrant(2)},
        days=days,
        customer="ACME Bank",
        now=now,
        required=required,
        allow_vm=allow_vm,
        grace_days=grace_days,
        warn_days=warn_days,
        not_before=not_before,
        license_id=license_id,
    )


def signed(key=KEY, **kw: Any) -> bytes:
    return fileformat.render(make_license(**kw), key)


def expired_bytes(key=KEY, **kw: Any) -> bytes:
    """A license that expired (grace included) well before NOW."""
    return signed(key, now=NOW - 200 * DAY, days=30, license_id="LIC-OLD", **kw)
