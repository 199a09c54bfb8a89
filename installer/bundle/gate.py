"""The bundle gate: room for the images about to be loaded, before any change.

A delta bundle's base guard runs here too: the host must hold the base version's images whose
layers the delta leaves out (installer.bundle.delta). Runs as a `Deployment` gate (installer.deploy.gates; after the plan, before anything is loaded,
written or started). The signature, the listed files and the archives' sizes were checked when
the bundle was opened (installer.bundle.opened); archive contents are checked while they
stream into `docker load`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

from installer.bundle.delta import check_base, host_image_ids, needed_bases
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
            _(
                "cannot read free space of {path} on {name} (df: {res}); check that Docker's data-root exists"
            ).format(path=path, name=host.name, res=res.first_error_line())
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
            _(
                "not enough disk for the images on {name}:{data_root}: need {needed:.1f} GB ({uncompressed:.1f} GB uncompressed, staged then unpacked by {engine} load), {free:.1f} GB free; free space there or move {where}"
            ).format(
                name=host.name,
                data_root=data_root,
                needed=needed / GB,
                uncompressed=uncompressed / GB,
                engine=engine,
                free=check.free / GB,
                where=_("Podman's graphroot (/etc/containers/storage.conf)")
                if engine == "podman"
                else _("Docker's data-root (/etc/docker/daemon.json)"),
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


def base_gate(inp: GateInput, missing: list[ImageEntry]) -> None:
    """A delta bundle: every base image its archives reuse layers of is on the host, before
    anything changes (BaseMissing, exit 3, names the base version and the images)."""
    files = archives_to_load(inp.manifest, missing)
    entries = [e for e in inp.manifest.images if e.file in files]
    check_base(entries, host_image_ids(inp.host), inp.host.name, inp.manifest)
    base = inp.manifest.base or {}
    if needed_bases(entries):
        inp.report(
            Event(
                "done",
                "bundle",
                _("upgrade (delta) of {product} {version}: its base images are on the host").format(
                    product=base.get("product"), version=base.get("version")
                ),
            )
        )


def bundle_gate(inp: GateInput) -> None:
    """Say which bundle (signed by whom; checked when it was opened), then check that
    Docker's data-root has room for the images about to be loaded."""
    bundle = inp.bundle
    inp.report(
        Event(
            "done",
            "bundle",
            _("{product} {version}: {bundle}, intact ({n_files} files checked when opened)").format(
                product=bundle.manifest.product,
                version=bundle.manifest.version,
                bundle=bundle.signer(),
                n_files=len(bundle.files),
            ),
        )
    )
    missing = missing_images(inp)
    if missing and inp.manifest.base is not None:
        base_gate(inp, missing)
    if missing:
        disk = check_disk(inp.host, inp.docker.data_root, inp.manifest, missing, inp.docker.engine)
        inp.report(
            Event(
                "done",
                "bundle",
                _("disk: {needed:.2f} GB needed for images, {free:.1f} GB free on {path}").format(
                    needed=disk.needed / GB, free=disk.free / GB, path=disk.path
                ),
            )
        )
