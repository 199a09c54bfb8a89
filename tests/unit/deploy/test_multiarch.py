"""Multi-architecture bundles (issue 22): the engine runs the signed image of the host's
architecture, and refuses a host whose architecture the bundle lacks before any change."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from installer.bundle.manifest import ImageEntry, Manifest, manifest_bytes, parse_manifest
from installer.deploy.archgate import ArchitectureNotCarried
from installer.deploy.engine import Deployment, InstallOptions
from installer.deploy.state import StateStore
from installer.errors import UsageError
from installer.facts import arch as A
from tests.unit.core.test_plan import SPECS
from tests.unit.deploy.fakedocker import FakeDocker, docker_host
from tests.unit.source_bundle import source_bundle

ROOT = "/var/lib/sealbox"
MYSQL = "sealbox-mysql-0"


def _entries(arch: str) -> list[ImageEntry]:
    return [
        ImageEntry(
            s.image.ref,
            f"sha256:{s.name}-{arch}",
            f"images/images-{arch}.tar.zst",
            arch[0] * 64,
            name=s.image.archive,
            arch=arch,
        )
        for s in SPECS.values()
    ]


TWO = Manifest("demo", "1", images=_entries("amd64") + _entries("arm64"))
AMD64_ONLY = Manifest("demo", "1", images=_entries("amd64"))
LEGACY = Manifest(
    "demo",
    "1",
    images=[ImageEntry(s.image.ref, f"sha256:{s.name}", s.image.archive, "0" * 64) for s in SPECS.values()],
)  # fmt: skip


class ArchDocker(FakeDocker):
    """The fake engine, reporting ``engine_arch`` in `docker info` as Docker does."""

    def __init__(self, images: dict[str, str], engine_arch: str) -> None:
        super().__init__(images)
        self.engine_arch = engine_arch

    def __call__(self, text: str):  # type: ignore[no-untyped-def]
        res = super().__call__(text)
        if text.startswith("docker info"):
            doc = json.loads(res.stdout)
            doc.update(Architecture=self.engine_arch, ServerVersion="24.0.7")
            res = replace(res, stdout=json.dumps(doc))
        return res


def _deploy(manifest: Manifest, engine_arch: str, monkeypatch, override: str = ""):
    if override:
        monkeypatch.setenv(A.OVERRIDE_ENV, override)
    else:
        monkeypatch.delenv(A.OVERRIDE_ENV, raising=False)
    docker = ArchDocker({e.id: e.id for e in manifest.images}, engine_arch)
    host = docker_host(docker)
    host.answers["uname -r -m"] = "6.1.0-18-arm64 aarch64\n" if engine_arch == "aarch64" else (
        "6.1.0-18-amd64 x86_64\n"
    )  # fmt: skip
    bundle = replace(source_bundle(), manifest=manifest)
    return Deployment(bundle, host, store=StateStore(host, ROOT), gates=[]), host, docker


@pytest.mark.parametrize(("engine_arch", "want"), [("x86_64", "amd64"), ("aarch64", "arm64")])
def test_the_host_architecture_picks_the_signed_image(monkeypatch, engine_arch, want) -> None:
    dep, host, docker = _deploy(TWO, engine_arch, monkeypatch)
    res = dep.install(["mysql"], InstallOptions())
    (mp,) = res.plan.modules
    assert mp.desired.image.id == f"sha256:mysql-{want}"
    assert {e.file for e in mp.desired.archive} == {f"images/images-{want}.tar.zst"}
    assert docker.containers[MYSQL]["Image"] == f"sha256:mysql-{want}"  # created by that ID
    created = next(c for c in host.commands if c.startswith("docker create"))
    assert f"sha256:mysql-{want}" in created


def test_a_host_the_bundle_lacks_is_refused_before_any_change(monkeypatch) -> None:
    dep, host, docker = _deploy(AMD64_ONLY, "aarch64", monkeypatch)
    with pytest.raises(ArchitectureNotCarried) as exc:
        dep.install(["mysql"], InstallOptions())
    msg = str(exc.value)
    assert "box is linux/arm64" in msg and "linux/amd64 only" in msg and "aarch64" in msg
    assert exc.value.exit_code == 3
    assert not any(c.startswith(("lock ", "docker create", "docker load")) for c in host.commands)
    assert docker.containers == {} and host.files == {}


def test_a_legacy_manifest_is_amd64(monkeypatch) -> None:
    """Manifests before issue 22 have no arch: they still install on amd64 (their only
    architecture) and are refused on arm64."""
    assert LEGACY.architectures() == ["amd64"]
    dep, _host, docker = _deploy(LEGACY, "x86_64", monkeypatch)
    dep.install(["mysql"], InstallOptions())
    assert docker.containers[MYSQL]["Image"] == "sha256:mysql"
    dep, _host, _docker = _deploy(LEGACY, "aarch64", monkeypatch)
    with pytest.raises(ArchitectureNotCarried):
        dep.install(["mysql"], InstallOptions())


def test_the_test_override_is_visible_and_per_host(monkeypatch) -> None:
    events = []
    dep, _host, docker = _deploy(TWO, "x86_64", monkeypatch, override="other=amd64,box=arm64")
    dep.report = events.append
    dep.install(["mysql"], InstallOptions())
    assert docker.containers[MYSQL]["Image"] == "sha256:mysql-arm64"
    warns = [e.message for e in events if e.kind == "warn"]
    assert any("TEST OVERRIDE" in w and "x86_64" in w for w in warns)
    view = dep.arch_view()
    assert view == {
        "architectures": ["amd64", "arm64"],
        "host_arch": "arm64",
        "host_arch_overridden": True,
        "host_arch_carried": True,
    }


def test_manifest_round_trip_and_one_arch_per_archive() -> None:
    again = parse_manifest(manifest_bytes(TWO))
    assert again.architectures() == ["amd64", "arm64"]
    name = SPECS["mysql"].image.archive
    assert again.image_for(name, "arm64").id == "sha256:mysql-arm64"  # type: ignore[union-attr]
    assert again.image_for(name, "amd64").id == "sha256:mysql-amd64"  # type: ignore[union-attr]
    assert set(again.archives("arm64")) == {"images/images-arm64.tar.zst"}
    mixed = Manifest("d", "1", images=[replace(e, file="images/x.tar.zst") for e in TWO.images])
    with pytest.raises(UsageError, match="two architectures"):
        parse_manifest(manifest_bytes(mixed))


def test_arch_names_and_override_parsing() -> None:
    assert [A.normalize(x) for x in ("x86_64", "aarch64", "linux/arm64", "AMD64")] == [
        "amd64",
        "arm64",
        "arm64",
        "amd64",
    ]
    assert A.override_for("h1", {A.OVERRIDE_ENV: "aarch64"}) == "arm64"
    assert A.override_for("h1", {A.OVERRIDE_ENV: "h2=arm64"}) is None
    assert A.override_for("h1", {}) is None
    # the engine's word wins over the kernel's (it is the engine that runs the image)
    got = A.host_arch({"machine": "aarch64"}, {"Architecture": "x86_64"}, "h", {})
    assert got is not None and got.arch == "amd64" and not got.overridden
    assert A.host_arch({"machine": "aarch64"}, None, "h", {}).arch == "arm64"  # type: ignore[union-attr]
    assert A.host_arch(None, None, "h", {}) is None
