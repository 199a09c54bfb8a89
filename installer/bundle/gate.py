"""The bundle gate: room for the images about to be loaded, before any change.

Runs as a `Deployment` gate (installer.deploy.gates; after the plan, before anything is loaded,
written or started). The signature, the listed files and the archives' sizes were checked when
the bundle was opened (installer.bundle.opened); archive contents are checked while they
stream into `docker load`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

from installer.bundle.manifest import ImageEntry, Manifest
from installer.errors import HostError
from installer.events import Event
from installer.hosts.base import Host
from installer.i18n import _

if TYPE_CHECKING:
    from installer.deploy.gateinput import GateInput

# The Docker 20.10+ loader stages the whole tar under its data-root before it unpacks the
# layers, so a load peaks at about twice the uncompressed size.
LOAD_FACTOR = 2
GB = 1 << 30


class NotEnoughDisk(HostError):
    """Docker's data-root cannot hold the images about to be loaded."""


@dataclass(frozen=True)
class DiskCheck:
    path: str
    needed: int
    free: int
    uncompressed: int

    @property
    def ok(self) -> bool:
        return self.free >= self.needed


def free_bytes(host: Host, path: str) -> int:
    """Available bytes on the filesystem holding `path`, through the Host (df -P -B1)."""
    res = host.run(["df", "-P", "-B1", path], timeout=30)
    lines = res.stdout.strip().splitlines()
    if not res.ok or len(lines) < 2:
        raise HostError(
            f"cannot read free space of {path} on {host.name} (df: {res.first_error_line()}); "
            f"check that Docker's data-root exists"
        )
    return int(lines[-1].split()[3])


def archives_to_load(manifest: Manifest, missing: Iterable[ImageEntry]) -> dict[str, int]:
    """Archive file -> uncompressed size, each archive once."""
    out: dict[str, int] = {}
    for entry in missing:
        out.setdefault(entry.file, entry.uncompressed_size)
    return out


def check_disk(
    host: Host,
    data_root: str,
    manifest: Manifest,
    missing: list[ImageEntry],
    engine: str = "docker",
) -> DiskCheck:
    uncompressed = sum(archives_to_load(manifest, missing).values())
    needed = uncompressed * LOAD_FACTOR
    check = DiskCheck(data_root, needed, free_bytes(host, data_root) if needed else 0, uncompressed)
    if needed and not check.ok:
        raise NotEnoughDisk(
            f"not enough disk for the images on {host.name}:{data_root}: need "
            f"{needed / GB:.1f} GB ({uncompressed / GB:.1f} GB uncompressed, staged then unpacked "
            f"by {engine} load), {check.free / GB:.1f} GB free; free space there or move "
            + (
                _("Podman's graphroot (/etc/containers/storage.conf)")
                if engine == "podman"
                else "Docker's data-root (/etc/docker/daemon.json)"
            )
        )
    return check


def missing_images(inp: GateInput) -> list[ImageEntry]:
    """The images the plan loads (it already asked Docker which are present), each once."""
    out: list[ImageEntry] = []
    for mp in inp.plan.modules:
        if mp.load_image and mp.desired.image not in out:
            out.append(mp.desired.image)
    return out


def bundle_gate(inp: GateInput) -> None:
    """Say which bundle (signed by whom; checked when it was opened), then check that
    Docker's data-root has room for the images about to be loaded."""
    bundle = inp.bundle
    inp.report(
        Event(
            "done",
            "bundle",
            f"{bundle.manifest.product} {bundle.manifest.version}: {bundle.signer()}, intact "
            f"({len(bundle.files)} files checked when opened)",
        )
    )
    missing = missing_images(inp)
    if missing:
        disk = check_disk(inp.host, inp.docker.data_root, inp.manifest, missing, inp.docker.engine)
        inp.report(
            Event(
                "done",
                "bundle",
                f"disk: {disk.needed / GB:.2f} GB needed for images, "
                f"{disk.free / GB:.1f} GB free on {disk.path}",
            )
        )
