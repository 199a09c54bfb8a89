"""The install gate: ``install.py in`` verifies the license before deploying anything licensed.

One of the engine's gates (``installer.deploy.gates``): it runs after the plan and before any change.
The bundle's license and vendor key are the verified bytes of the opened bundle. It also puts
the bundle's license in place for the license-server container (its ``license`` data dir) when
none is installed yet, or when the bundle carries a newer valid one, keeping the previous as
last-good.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

from installer.errors import LicenseError
from installer.events import Event
from installer.license import clock
from installer.license import keys as K
from installer.license import pins as P
from installer.license import store as S
from installer.license.verify import Verdict, verify_bytes


def _high_water(deployment) -> Optional[int]:
    """The server's clock witnesses as far as the gate reads them: the mark and the log."""
    state = S.state_dir(deployment.store)
    seen: List[Optional[int]] = []
    try:
        seen.append(int(deployment.host.read(f"{state}/{clock.MARK_FILE}").strip()))
    except (FileNotFoundError, ValueError):
        pass
    try:
        seen.append(clock.log_high(deployment.host.read(f"{state}/{clock.LOG_FILE}")[-65536:]))
    except FileNotFoundError:
        pass
    return max((t for t in seen if t is not None), default=None)


def _check_pins(deployment, names, verdict: Verdict, where: str) -> None:
    """The license must be signed by the key the licensed images pin (recorded in the manifest
    by ``bundle create``); else the services would refuse it after a "valid" gate."""
    pins = P.pins_of(deployment.manifest.extra)  # the verified manifest, never re-read
    refs = set(P.licensed_refs(deployment.specs, [n for n in names if n in deployment.specs]))
    wanted = {ref: ids for ref, ids in pins.items() if ref in refs}
    if verdict.key_id and wanted:
        P.check_license_key(verdict.key_id, wanted, f"the {where} license")


def license_facts(deployment, names) -> list[str]:
    """The facts the gate reads: a licensed module's machine check needs the fingerprint's."""
    from fingerprint.collect import FACTS

    licensed = [n for n in names if getattr(deployment.specs.get(n), "licensed", False)]
    return list(FACTS) if licensed else []


def license_gate(deployment, names, options) -> None:
    """Raise LicenseError (exit 4) when a licensed module in ``names`` may not run here."""
    licensed = [n for n in names if getattr(deployment.specs.get(n), "licensed", False)]
    if not licensed and S.SERVER_MODULE not in names:
        return
    keys = K.bundle_keyring(deployment.bundle)
    lstore = S.LicenseStore(deployment.host, S.license_dir(deployment.store))
    live = None
    if licensed:
        from fingerprint.collect import from_facts

        live = from_facts(deployment.facts)  # the run's snapshot: no gathering of its own
    hwm = _high_water(deployment)

    def check(data: bytes, source: str) -> Verdict:
        return verify_bytes(data, keys, source=source, live=live, modules=licensed, high_water=hwm)

    bundle_path = f"{deployment.bundle.root}/{K.BUNDLE_LICENSE}"
    candidates: list = []
    installed = lstore.read()
    if installed is not None:
        candidates.append(("installed", installed, check(installed, lstore.current)))
    bundled = deployment.bundle.get(K.BUNDLE_LICENSE)
    if bundled is not None and bundled != installed:
        candidates.append(("bundle", bundled, check(bundled, bundle_path)))
    if not candidates:
        raise LicenseError(
            f"no license: neither {K.BUNDLE_LICENSE} in the bundle nor one installed at "
            f"{lstore.current}; ask the vendor for license.cfg and run "
            "'sealbox license install license.cfg'"
        )
    good = [c for c in candidates if c[2].ok]
    chosen: Optional[Tuple[str, bytes, Verdict]] = None
    if good:
        chosen = max(good, key=lambda c: c[2].license.issued_at if c[2].license else 0)
    if chosen is not None:
        where, data, verdict = chosen
        _check_pins(deployment, names, verdict, where)
        if where == "bundle":
            lstore.install(data, lambda d: check(d, bundle_path), source=bundle_path)
        lic = verdict.license
        assert lic is not None
        msg = f"license {lic.license_id} ({lic.customer}): {verdict.reason()}"
        deployment.report(Event("warn" if verdict.warnings else "step", "license", msg))
        return
    where, data, verdict = candidates[0]
    if not licensed:
        # Only the license server is being installed: give it the license (if the vendor
        # signed it) so its status page can say what is wrong, and let it deploy.
        if installed is None and verdict.license is not None:
            lstore.seed(data)
        deployment.report(Event("warn", "license", f"license not usable: {verdict.reason()}"))
        return
    source = lstore.current if where == "installed" else bundle_path
    raise LicenseError(
        f"license check failed for {', '.join(licensed)}: {verdict.reason()} ({source}); "
        "fix: 'sealbox license verify' for details, 'sealbox license install FILE' for a new one"
    )
