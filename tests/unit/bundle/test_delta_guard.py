"""The base guard runs before anything else: in the bundle gate (before the disk check, the
other gates and any load) and in the one load path (before docker sees a byte)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from installer.bundle.delta import BaseMissing, base_doc
from installer.bundle.gate import bundle_gate
from installer.bundle.manifest import ImageEntry, Manifest
from installer.hosts.recorded import RecordedHost
from installer.runtime.load import load_archive

OLD = "sha256:" + "0" * 64
NEW = "sha256:" + "1" * 64
LAYER = "sha256:" + "2" * 64
DF = "Filesystem 1B-blocks Used Available Capacity Mounted\n/dev/x 900 1 800000000000 1% /d\n"


def delta() -> Manifest:
    old = Manifest("face", "1.0", [ImageEntry("r/face:1.0", OLD, "images/images.tar.zst", "s")])
    entry = ImageEntry(
        "r/face:1.1", NEW, "images/images.tar.zst", "9" * 64, 10, 20, "", OLD, (LAYER,)
    )
    return Manifest("face", "1.1", [entry], extra={"base": base_doc(old)})


def host_with(ids: list[str]) -> RecordedHost:
    listing = "\n".join(ids)
    return RecordedHost(
        answers={
            "docker image ls -a -q": listing,
            "docker image ls -a --no-trunc --format": "\n".join(f"r/x:1 {i}" for i in ids),
            "command -v": "docker\nzstd",
            "df -P -B1": DF,
        }
    )


def gate_input(host: RecordedHost, manifest: Manifest) -> SimpleNamespace:
    """What bundle_gate reads of its GateInput: the plan loads the delta's image."""
    events: list = []
    module = SimpleNamespace(load_image=True, desired=SimpleNamespace(image=manifest.images[0]))
    return SimpleNamespace(
        bundle=SimpleNamespace(manifest=manifest, files={}, signer=lambda: "signed by key k"),
        manifest=manifest,
        plan=SimpleNamespace(modules=[module]),
        host=host,
        docker=SimpleNamespace(data_root="/d", engine="docker"),
        report=events.append,
        events=events,
    )


def test_the_gate_refuses_a_host_without_the_base_before_the_disk_check():
    host = host_with([LAYER])  # the host has other images, not the base
    inp = gate_input(host, delta())
    with pytest.raises(BaseMissing) as exc:
        bundle_gate(inp)  # type: ignore[arg-type]
    assert "face 1.0" in str(exc.value) and "r/face:1.0" in str(exc.value)
    assert not any(c.startswith("df ") for c in host.commands)


def test_the_gate_passes_a_host_with_the_base_and_says_so():
    host = host_with([OLD])
    inp = gate_input(host, delta())
    bundle_gate(inp)  # type: ignore[arg-type]
    said = [e.message for e in inp.events]
    assert any("its base images are on the host" in m for m in said)
    assert any(c.startswith("df ") for c in host.commands)


def test_a_full_bundle_asks_docker_nothing_extra():
    m = Manifest("face", "1.0", [ImageEntry("r/face:1.0", OLD, "images/images.tar.zst", "s")])
    host = host_with([])
    bundle_gate(gate_input(host, m))  # type: ignore[arg-type]
    assert not any(c.startswith("docker image ls") for c in host.commands)


def test_the_load_path_refuses_before_docker_load_runs(tmp_path):
    host = host_with([LAYER])
    archive = tmp_path / "images.tar.zst"  # never opened: the guard comes first
    with pytest.raises(BaseMissing, match="reuses the layers of base image"):
        load_archive(host, str(archive), delta().images)
    assert not any("docker load" in c for c in host.commands)
