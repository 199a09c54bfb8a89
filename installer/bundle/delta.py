"""Delta (upgrade) bundles: carry only the layers the base version's images do not have.

Zarf's `--differential` leaves out the images the previous package already had; a face or AI
image changes one model layer between versions, so Sealbox leaves out *layers* instead:
`bundle create --since OLD` writes the usual `docker save` archive of every image, minus each
layer that the base version's images supply on the host.

Why that archive loads with a plain `docker load` (no reassembly on the host): Docker's loader
(moby `image/tarexport/load.go`, the graphdriver store of Docker 20.10-27) looks each layer up
by its chain ID first (`lss.Get(rootFS.ChainID())`) and opens the layer file only when the
chain is not on the engine. A chain ID is the hash of all the diff IDs below and including the
layer, so the layers a delta may leave out are exactly a *leading run* of an image's layers that
equals the leading run of an image the host holds (`plan_image`). The option of rebuilding a
full archive on the host (base layers streamed out of `docker save BASE`, spliced with the new
ones) costs a save of the whole base (GBs, minutes, twice over SSH) for the same result.

Trust is unchanged: the archive's sha256 is signed and checked while it streams (the tar guard
holds its end back), the image ID is the sha256 of a config that lists every diff ID, and the
load path checks the signed IDs afterwards; a reused chain is content that Docker checked
against its diff IDs when the base was loaded. The base guard (`check_base`) only turns the
host without the base into a clear refusal before anything changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from typing import BinaryIO, Iterable, Mapping, Optional, Sequence, cast

from installer import signing
from installer.bundle.manifest import MANIFEST, SIGNATURE, ImageEntry, Manifest, parse_manifest
from installer.bundle.trust import check_signature_bytes
from installer.errors import HostError, RuntimeFailure, UsageError
from installer.hosts.base import Host
from installer.i18n import _

SPOOL = 64 << 20  # a legacy `<v1id>/layer.tar` is hashed before it is kept or left out
COPY_BUF = 1 << 20


class BaseMissing(HostError):
    """A delta bundle on a host without its base version's images (exit 3: the host is not
    ready; install the base version first, or use a full bundle)."""


@dataclass(frozen=True)
class ImageDelta:
    """One new image: the base image it shares its leading layers with, and those layers."""

    image: str
    base_image: str  # "" when no base image shares its first layer
    covered: tuple[str, ...]  # leading diff IDs the base image supplies, bottom first


def plan_image(image: str, layers: Sequence[str], bases: Mapping[str, Sequence[str]]) -> ImageDelta:
    """The base image with the longest equal leading run of layers (ties: the smallest ID).

    Only a leading run counts: a layer equal to one of the base's but above a changed layer has
    another chain ID, and Docker would need its file."""
    best, best_n = "", 0
    for base_id in sorted(bases):
        base = bases[base_id]
        n = 0
        while n < min(len(layers), len(base)) and layers[n] == base[n]:
            n += 1
        if n > best_n:
            best, best_n = base_id, n
    return ImageDelta(image, best, tuple(layers[:best_n]))


def omit_set(deltas: Iterable[ImageDelta], layers: Mapping[str, Sequence[str]]) -> frozenset[str]:
    """Diff IDs one archive may leave out: covered in every image that has them (a layer that
    one image reuses but another needs above its own covered run stays in)."""
    deltas = list(deltas)
    covered = {d for x in deltas for d in x.covered}
    needed = {d for x in deltas for d in layers[x.image][len(x.covered) :]}
    return frozenset(covered - needed)


def entry_fields(delta: ImageDelta, omit: frozenset[str]) -> tuple[str, tuple[str, ...]]:
    """(base_image, omits) for the manifest entry of `delta` in an archive leaving out `omit`."""
    omits = tuple(d for d in delta.covered if d in omit)
    return (delta.base_image if omits else ""), omits


def base_doc(base: Manifest) -> dict:
    """What a delta manifest records of its base: product, version and its images (ref -> ID)."""
    return {
        "product": base.product,
        "version": base.version,
        "images": {e.ref: e.id for e in base.images},
    }


def read_base_manifest(path: str, trusted: dict[str, signing.PublicKey]) -> Manifest:
    """The old bundle's manifest (a manifest.yaml or its bundle folder), signature checked."""
    mpath = os.path.join(path, MANIFEST) if os.path.isdir(path) else path
    spath = os.path.join(os.path.dirname(mpath), SIGNATURE)
    try:
        with open(mpath, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise UsageError(
            _(
                "--since {path}: cannot read it ({why}); pass the previous bundle's manifest.yaml"
            ).format(path=path, why=exc.strerror)
        ) from None
    try:
        with open(spath, "rb") as fh:
            sig: Optional[bytes] = fh.read()
    except FileNotFoundError:
        sig = None
    if sig is None:
        raise UsageError(
            _(
                "--since {path}: no {sig} beside it; a delta is built only on a signed bundle"
            ).format(path=path, sig=SIGNATURE)
        )
    check_signature_bytes(data, sig, trusted)
    return parse_manifest(data, mpath)


def docker_layers(image_id: str, what: str) -> list[str]:
    """The diff IDs of an image in the local engine (vendor side), bottom first."""
    res = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{json .RootFS.Layers}}", image_id],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        raise RuntimeFailure(
            _("{what} {id} is not in the local Docker engine; load it first (docker load)").format(
                what=what, id=image_id[:19]
            )
        )
    return [str(d) for d in json.loads(res.stdout) or []]


@dataclass
class FilterResult:
    raw: int = 0  # bytes of tar written
    left_out: int = 0  # layer files left out
    left_out_bytes: int = 0


class _Counting:
    def __init__(self, raw: BinaryIO, result: FilterResult) -> None:
        self.raw = raw
        self.result = result

    def write(self, data: bytes) -> int:
        self.result.raw += len(data)
        return self.raw.write(data)


def _digest_of_name(name: str) -> Optional[str]:
    """OCI layout (docker >= 25): a blob's name is its digest."""
    if name.startswith("blobs/sha256/"):
        return "sha256:" + name.rsplit("/", 1)[1]
    return None


def filter_save(src: BinaryIO, out: BinaryIO, omit: frozenset[str]) -> FilterResult:
    """Copy a `docker save` tar from `src` to `out`, leaving out every layer file whose diff ID
    is in `omit`. Everything else (configs, manifest.json, symlinks) is kept: a symlink to a
    left-out layer is never opened, since its chain is on the engine."""
    result = FilterResult()
    counted = cast(BinaryIO, _Counting(out, result))  # tarfile only calls write()
    tin = tarfile.open(fileobj=src, mode="r|")
    tout = tarfile.open(fileobj=counted, mode="w|", format=tarfile.GNU_FORMAT)
    with tin, tout:
        tout.copybufsize = COPY_BUF  # type: ignore[attr-defined]  # (3.8+; not in typeshed)
        for member in tin:
            if not member.isfile():
                tout.addfile(member)
                continue
            data = tin.extractfile(member)
            assert data is not None
            digest = _digest_of_name(member.name)
            if digest is None and member.name.endswith("/layer.tar"):
                spool = tempfile.SpooledTemporaryFile(SPOOL)  # noqa: SIM115 -- closed below
                h = hashlib.sha256()
                while chunk := data.read(COPY_BUF):
                    h.update(chunk)
                    spool.write(chunk)
                spool.seek(0)
                digest, data = "sha256:" + h.hexdigest(), spool  # type: ignore[assignment]
            if digest in omit:
                result.left_out += 1
                result.left_out_bytes += member.size
            else:
                tout.addfile(member, data)
            data.close()
    return result


def needed_bases(entries: Iterable[ImageEntry]) -> dict[str, str]:
    """Base image ID -> the first entry's ref that needs it (entries that leave layers out)."""
    out: dict[str, str] = {}
    for e in entries:
        if e.omits and e.base_image:
            out.setdefault(e.base_image, e.ref)
    return out


def host_image_ids(host: Host) -> set[str]:
    """Every image ID on the host's engine (one `docker image ls`, through the Host)."""
    res = host.run(["docker", "image", "ls", "-a", "-q", "--no-trunc"], timeout=60)
    if not res.ok:
        raise HostError(
            _("docker image ls failed on {host}: {err}").format(
                host=host.name, err=res.first_error_line()
            )
        )
    return set(res.stdout.split())


def check_base(
    entries: Iterable[ImageEntry],
    host_ids: Iterable[str],
    host: str,
    manifest: Optional[Manifest] = None,
) -> None:
    """Refuse (BaseMissing) when the host lacks a base image these entries reuse layers of.
    `manifest` (the delta's) names the base version; the load path, which has only the
    entries, names the images."""
    have = set(host_ids)
    missing = [i for i in needed_bases(entries) if i not in have]
    if not missing:
        return
    base = (manifest.base if manifest is not None else None) or {}
    refs = {i: r for r, i in (base.get("images") or {}).items()}
    names = ", ".join(f"{refs[i]} ({i[:19]})" if i in refs else i[:19] for i in missing)
    if manifest is None or not base:
        raise BaseMissing(
            _(
                "{host}: the archive reuses the layers of base image(s) {names}, which the host "
                "lacks: install the bundle's base version first, or use a full bundle"
            ).format(host=host, names=names)
        )
    raise BaseMissing(
        _(
            "{host}: this is an upgrade bundle (delta) of {product} {base} to {version}; the "
            "host lacks that base version's images {names}: install {product} {base} first, "
            "or use the full {version} bundle"
        ).format(
            host=host,
            product=base.get("product", manifest.product),
            base=base.get("version", "?"),
            version=manifest.version,
            names=names,
        )
    )


def check_since(product: str, version: str, base: Manifest) -> None:
    """A delta is built on an earlier bundle of the same product."""
    if base.product != product:
        raise UsageError(
            _(
                "--since: a bundle of {other}, not {product}; pass the manifest of {product}'s "
                "previous bundle"
            ).format(other=base.product, product=product)
        )
    if base.version == version:
        raise UsageError(
            _(
                "--since: that bundle is {product} {version} already; a delta needs an earlier one"
            ).format(product=product, version=version)
        )


def plan_delta(
    image_ids: Iterable[str], base: Manifest
) -> tuple[dict[str, ImageDelta], dict[str, list[str]]]:
    """(image ID -> ImageDelta, image ID -> diff IDs) from the vendor's engine, which holds the
    new images and the base version's."""
    bases = {
        e.id: docker_layers(
            e.id, _("base image {ref} of {version}").format(ref=e.ref, version=base.version)
        )
        for e in base.images
    }
    layers = {i: docker_layers(i, _("image")) for i in dict.fromkeys(image_ids)}
    return {i: plan_image(i, layers[i], bases) for i in layers}, layers
