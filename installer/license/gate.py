"""The install gate: ``install.py in`` verifies the license before deploying anything licensed.

One of the engine's gates (``installer.deploy.gates``): it runs after the plan and before any change.
The bundle's license and vendor key are the verified bytes of the opened bundle. It also puts
the bundle's license in place for the license-server container (its ``license`` data dir) when
none is installed yet, or when the bundle carries a newer valid one, keeping the previous as
last-good.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, List, Mapping, Optional, Tuple

from installer.errors import LicenseError, command
from installer.events import Event
from installer.i18n import _
from installer.license import pins as P
from installer.license import store as S
from installer.license.shipped import clock
from installer.license.shipped import keys as K
from installer.license.shipped.verify import Verdict, verify_bytes

if TYPE_CHECKING:  # pragma: no cover
    from installer.deploy.gateinput import GateInput


def _high_water(inp: Any, server: S.ServerRef) -> Optional[int]:
    """The server's clock witnesses, by the one reader (installer.license.shipped.clock)."""
    return clock.high_water(inp.host.read, S.state_dir(inp.store, server))


def _check_pins(inp: Any, names: List[str], verdict: Verdict, where: str) -> None:
    """The license must be signed by the key the licensed images pin (recorded in the manifest
    by ``bundle create``); else the services would refuse it after a "valid" gate."""
    pins = P.pins_of(inp.manifest.extra)  # the verified manifest, never re-read
    refs = set(P.licensed_refs(inp.specs, [n for n in names if n in inp.specs]))
    wanted = {ref: ids for ref, ids in pins.items() if ref in refs}
    if verdict.key_id and wanted:
        P.check_license_key(verdict.key_id, wanted, f"the {where} license")


def license_facts(specs: Mapping[str, Any], _root: str, names: List[str]) -> List[str]:
    """The facts the gate reads: a licensed module's machine check needs the fingerprint's."""
    from fingerprint.collect import FACTS

    licensed = [n for n in names if getattr(specs.get(n), "licensed", False)]
    return list(FACTS) if licensed else []


def license_gate(inp: GateInput) -> None:
    """Raise LicenseError (exit 4) when a licensed module of the plan may not run here."""
    names = inp.names
    licensed = [n for n in names if getattr(inp.specs.get(n), "licensed", False)]
    server = S.server_of(inp.specs)  # the spec that declares license: {role: server}
    if not licensed and (server is None or server.module not in names):
        return
    keys = K.bundle_keyring(inp.bundle)
    if server is None:
        raise LicenseError(
            _(
                "{licensed} need(s) a license, but no module of the bundle declares license: {{role: server}}; declare the license server in its spec, or set licensed: false"
            ).format(licensed=", ".join(licensed))
        )
    lstore = S.LicenseStore(inp.host, S.license_dir(inp.store, server))
    live = None
    if licensed:
        from fingerprint.collect import from_facts
        from installer.facts.snapshot import HostFacts

        # the run's snapshot: no gathering of its own (a caller without one reads the host)
        live = from_facts(inp.facts if inp.facts is not None else HostFacts(inp.host))
    hwm = _high_water(inp, server)

    def check(data: bytes, source: str) -> Verdict:
        return verify_bytes(data, keys, source=source, live=live, modules=licensed, high_water=hwm)

    bundle_path = f"{inp.bundle.root}/{K.BUNDLE_LICENSE}"
    if server.module in inp.options.elsewhere:
        return _served_elsewhere(inp, names, licensed, bundle_path, check)
    candidates: list = []
    installed = lstore.read()
    if installed is not None:
        candidates.append(("installed", installed, check(installed, lstore.current)))
    bundled = inp.bundle.get(K.BUNDLE_LICENSE)
    if bundled is not None and bundled != installed:
        candidates.append(("bundle", bundled, check(bundled, bundle_path)))
    if not candidates:
        raise LicenseError(
            _(
                "no license: neither {bundle_license} in the bundle nor one installed at {current}; ask the vendor for license.cfg and run '{value}'"
            ).format(
                bundle_license=K.BUNDLE_LICENSE,
                current=lstore.current,
                value=command("license install license.cfg"),
            )
        )
    good = [c for c in candidates if c[2].ok]
    chosen: Optional[Tuple[str, bytes, Verdict]] = None
    if good:
        chosen = max(good, key=lambda c: c[2].license.issued_at if c[2].license else 0)
    if chosen is not None:
        where, data, verdict = chosen
        _check_pins(inp, names, verdict, where)
        if where == "bundle":
            lstore.install(data, lambda d: check(d, bundle_path), source=bundle_path)
        lic = verdict.license
        assert lic is not None
        msg = f"license {lic.license_id} ({lic.customer}): {verdict.reason()}"
        inp.report(Event("warn" if verdict.warnings else "step", "license", msg))
        return
    where, data, verdict = candidates[0]
    if not licensed:
        # Only the license server is being installed: give it the license (if the vendor
        # signed it) so its status page can say what is wrong, and let it deploy.
        if installed is None and verdict.license is not None:
            lstore.seed(data)
        inp.report(
            Event(
                "warn",
                "license",
                _("license not usable: {verdict}").format(verdict=verdict.reason()),
            )
        )
        return
    source = lstore.current if where == "installed" else bundle_path
    raise LicenseError(
        _(
            "license check failed for {licensed}: {verdict} ({source}); fix: '{value}' for details, '{value2}' for a new one"
        ).format(
            licensed=", ".join(licensed),
            verdict=verdict.reason(),
            source=source,
            value=command("license verify"),
            value2=command("license install FILE"),
        )
    )


def _served_elsewhere(
    inp: GateInput,
    names: List[str],
    licensed: List[str],
    bundle_path: str,
    check: Callable[[bytes, str], Verdict],
) -> None:
    """The license server runs on another host: the services here use the license it serves,
    so that one is judged against this machine, and no copy is written here (a local file
    would be a second license in play, read by ``license show`` and the next gate)."""
    served = inp.options.served_license
    if served is not None:
        source, data = served
    else:  # the server has none yet (it gets the bundle's when it is installed)
        bundled = inp.bundle.get(K.BUNDLE_LICENSE)
        source = bundle_path
        if bundled is None:
            raise LicenseError(
                _(
                    "no license: the license server on another host has none and the bundle carries no {bundle_license}; ask the vendor for license.cfg and install it where the license server runs ('{value}')"
                ).format(
                    bundle_license=K.BUNDLE_LICENSE,
                    value=command("license install license.cfg -i INV"),
                )
            )
        data = bundled
    verdict = check(data, source)
    if not verdict.ok:
        raise LicenseError(
            _(
                "license check failed for {licensed}: {verdict} ({source}); fix: a license for this machine, installed where the license server runs ('{value}')"
            ).format(
                licensed=", ".join(licensed),
                verdict=verdict.reason(),
                source=source,
                value=command("license install FILE -i INV"),
            )
        )
    _check_pins(inp, names, verdict, "served")
    lic = verdict.license
    assert lic is not None
    msg = f"license {lic.license_id} ({lic.customer}) served from {source}: {verdict.reason()}"
    inp.report(Event("warn" if verdict.warnings else "step", "license", msg))
