"""The license on a host -- this machine or one over SSH, through the same ``Host`` calls.

``license install`` and ``license show`` act on a ``Deployment``: ``install.py license install``
hands it this machine's, ``-H``/``--inventory`` each host's. Nothing here knows which, so the
local and the remote replacement are one code path (verify against *that* host's facts, keep
last-good, swap, restart that host's license server).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from installer.errors import LicenseError
from installer.hosts.base import Host
from installer.license import fileformat, store
from installer.license.verify import verify_bytes


@dataclass
class Replaced:
    installed: store.Installed
    restarted: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        lic = self.installed.verdict.license
        return {
            "path": self.installed.path,
            "previous_kept": self.installed.previous_kept,
            "license_id": lic.license_id if lic else None,
            "expires_at": lic.summary()["expires_at"] if lic else None,
            "restarted": self.restarted,
        }


def high_water(host: Host, state_store: Any) -> Optional[int]:
    """The license server's clock high-water mark on that host (None before its first run)."""
    try:
        return int(host.read(f"{store.state_dir(state_store)}/clock.hwm").strip())
    except (FileNotFoundError, ValueError, LicenseError):  # LicenseError: no server installed
        return None


def replace_license(dep: Any, data: bytes, ring: fileformat.KeyRing, *, source: str) -> Replaced:
    """Verify ``data`` against ``dep.host`` (its fingerprint, its clock), keep the current one as
    last-good, swap, restart that host's license server. ``dep``: an installer Deployment."""
    from fingerprint.collect import collect

    dep.require_root("license install")
    host = dep.host
    live = collect(host)
    hwm = high_water(host, dep.store)
    lstore = store.LicenseStore(host, store.license_dir(dep.store, store.server_of(dep.specs)))
    installed = lstore.install(
        data,
        lambda d: verify_bytes(d, ring, source=source, live=live, high_water=hwm),
        source=source,
    )
    return Replaced(installed, store.restart_server(dep))


def installed_license(host: Host, state_store: Any) -> tuple[str, bytes]:
    """(path, bytes) of the license in force on ``host``; LicenseError when there is none."""
    lstore = store.LicenseStore(host, store.license_dir(state_store))
    data = lstore.read()
    if data is None:
        raise LicenseError(
            f"no license installed on {host.name} ({lstore.current}): "
            "install one with 'sealbox license install license.cfg'"
        )
    return lstore.current, data
