"""One `in` reads the host's facts ONCE: the engine, the envcheck gate and the license gate's
fingerprint all read the one snapshot (issue 17; main gathered three times: the engine's own
commands, envcheck's script, the license gate's fingerprint script)."""

from __future__ import annotations

import hashlib

import pytest

import installer.facts.snapshot as snapshot
from envcheck import KINDS
from installer import signing
from installer.bundle.manifest import Manifest
from installer.bundle.opened import VerifiedBundle
from installer.deploy.engine import Deployment, InstallOptions
from installer.deploy.preflight import envcheck_gate
from installer.deploy.state import StateStore
from installer.errors import LicenseError
from installer.facts.catalog import STATIC_FACTS
from installer.license.gate import license_gate
from installer.license.shipped.keys import BUNDLE_PUBKEY
from tests.unit.core.test_plan import MANIFEST
from tests.unit.envcheck.conftest import recorded_host
from tests.unit.source_bundle import source_bundle

ROOT_UID = {"rc": 0, "stdout": "Uid:\t0\t0\t0\t0\n"}
DIRECT_READS = ("id -u", "nvidia-smi", "ss -ltn", "docker version", "docker info", "ip -4")
"""Fact commands main's engine ran on its own, outside any gathering."""


def bundle() -> VerifiedBundle:
    """The repo's modules with the vendor key listed (so the license gate gets as far as
    reading the machine) and no license."""
    src = source_bundle()
    pub = signing.generate().public.pem()
    files = {**src.files, BUNDLE_PUBKEY: pub}
    manifest = Manifest(
        "demo", "1", images=MANIFEST.images, files={BUNDLE_PUBKEY: hashlib.sha256(pub).hexdigest()}
    )
    return VerifiedBundle(src.root, manifest, b"", None, files)


def test_an_install_gathers_the_host_facts_once(monkeypatch) -> None:
    host = recorded_host("ubuntu2004-healthy", uid=ROOT_UID)
    host.answers["docker ps"] = ""  # no containers yet
    windows: list[tuple[int, int]] = []
    real = snapshot.gather

    def counting(h, facts, **kw):  # type: ignore[no-untyped-def]
        start = len(host.commands)
        try:
            return real(h, facts, **kw)
        finally:
            windows.append((start, len(host.commands)))

    monkeypatch.setattr(snapshot, "gather", counting)
    dep = Deployment(
        bundle(),
        host,
        store=StateStore(host, "/var/lib/sealbox"),
        gates=[envcheck_gate, license_gate],
    )
    options = InstallOptions(skip_checks=sorted(KINDS), gpus=["0"])
    # The source tree carries no license: the license gate refuses -- after it has read the
    # machine's fingerprint, which is what this test is about.
    with pytest.raises(LicenseError, match="no license"):
        dep.install(["face-server"], options)
    assert len(windows) == 1, f"{len(windows)} gatherings: {windows}"
    assert dep.facts.gatherings == 1
    start, end = windows[0]
    outside = host.commands[:start] + host.commands[end:]
    fact_shells = {f.shell for f in STATIC_FACTS.values()}
    stray = [c for c in outside if c in fact_shells or c.startswith(DIRECT_READS)]
    assert stray == [], f"facts read outside the one gathering: {stray}"
    scripts = [c for c in host.commands if "@@SBX-" in c or "@@sealbox-fp@@" in c]
    assert len(scripts) == 1  # one round trip where the host can run it (RecordedHost cannot)
