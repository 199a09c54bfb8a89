"""The license on a host -- this machine or one over SSH, through the same ``Host`` calls.

``license install`` and ``license show`` act on a ``Deployment``: ``install.py license install``
hands it this machine's, ``-H``/``--inventory`` each host's. Nothing here knows which, so the
local and the remote replacement are one code path (verify against *that* host's facts, keep
last-good, swap, restart that host's license server).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from installer.errors import LicenseError, UsageError
from installer.hosts.base import Host
from installer.license import store
from installer.license.shipped import clock, fileformat
from installer.license.shipped.verify import Verdict, verify_bytes


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
    """The license server's clock witnesses on that host (None before its first run or with no
    server installed), by the one reader (installer.license.shipped.clock)."""
    try:
        state = store.state_dir(state_store)
    except LicenseError:  # no license server installed on that host
        return None
    return clock.high_water(host.read, state)


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


def license_on(
    host: Host,
    state_store: Any,
    given: Optional[tuple[str, bytes]],
    bundle: Callable[[], Any] = lambda: None,
) -> tuple[str, bytes]:
    """(where, bytes) of the license a command reads for ``host``: the file given, else the
    one installed there, else the bundle's (``bundle()``: the opened bundle, or None; opened
    only when it is needed)."""
    if given is not None:
        return given
    try:
        lstore: Optional[store.LicenseStore] = store.LicenseStore(
            host, store.license_dir(state_store)
        )
    except LicenseError:  # no license server installed here: the bundle's license, if any
        lstore = None
    data = None
    if lstore is not None:
        try:
            data = lstore.read()
        except PermissionError:  # not root here: the state folder is root's; the bundle's may do
            data = None
    if lstore is not None and data is not None:
        return lstore.current, data
    from installer.license.shipped.keys import BUNDLE_LICENSE

    opened = bundle()
    bundled = opened.get(BUNDLE_LICENSE) if opened is not None else None
    if bundled is not None:
        return f"{opened.root}/{BUNDLE_LICENSE}", bundled
    raise UsageError(
        f"which license? none installed on {host.name}"
        + (f" ({lstore.current})" if lstore is not None else "")
        + " and none in the bundle: pass the license.cfg path"
    )


def summary(data: bytes, source: str, ring: Optional[fileformat.KeyRing]) -> dict[str, Any]:
    """What a license grants, with whether its signature was checked (and by which key)."""
    if ring is not None:
        lic = fileformat.load(data, ring, source)
        checked = f"valid (key {fileformat.split(data, source).key_id})"
    else:
        lic = fileformat.peek(data, source)
        checked = "not checked (no vendor key given)"
    return {"file": source, "signature": checked, **lic.summary()}


def verify_on(
    host: Host,
    state_store: Any,
    data: bytes,
    ring: fileformat.KeyRing,
    *,
    source: str,
    modules: list[str],
    machine: bool = True,
) -> Verdict:
    """``data`` against ``host``: its fingerprint (unless ``machine`` is False), its clock."""
    from fingerprint.collect import collect

    return verify_bytes(
        data,
        ring,
        source=source,
        live=collect(host) if machine else None,
        modules=modules,
        high_water=high_water(host, state_store),
    )
