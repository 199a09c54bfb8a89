"""The bundle manifest: product, version, modules and every image archive with its checksum.

`manifest.yaml` sits at the bundle root beside `modules/`, `templates/` and `images/`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Optional

import yaml

import installer.i18n.yamltext  # noqa: F401  (a Text in the YAML is written in English)
from installer.errors import UsageError
from installer.facts.arch import normalize
from installer.i18n import _

MANIFEST = "manifest.yaml"
CARRIED = "carried"  # written as one JSON line: the bundle's install.py reads it without PyYAML
SIGNATURE = "manifest.sig"
FORMAT = 1
LEGACY_ARCH = "amd64"
"""The architecture of an image entry without ``arch`` (manifests before issue 22): Sealbox
ran on x86_64 only, so such a bundle's images are amd64."""


@dataclass(frozen=True)
class ImageEntry:
    """One image. Several images may share one archive `file` (a multi-image `docker save`
    stores their common layers once); `name` is then the archive name the module spec asks for.
    `size` and `uncompressed_size` are those of the whole archive `file`.

    `arch` (issue 22): the architecture the image is for (``amd64``, ``arm64``). A bundle
    carries one entry per image and architecture, each with its own archive, ID and sha256,
    all under the one signature; an entry without it is a pre-issue-22 (amd64) one."""

    ref: str
    id: str
    file: str
    sha256: str
    size: int = 0
    uncompressed_size: int = 0
    name: str = ""
    # delta bundles (installer.bundle.delta): the base version's image whose layers this image
    # reuses from the host, and those layers (diff IDs, bottom first), absent from `file`
    base_image: str = ""
    omits: tuple[str, ...] = ()
    arch: str = ""

    @property
    def architecture(self) -> str:
        return self.arch or LEGACY_ARCH


@dataclass
class Manifest:
    product: str
    version: str
    images: list[ImageEntry] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # path -> sha256, for bundle verify
    tool_version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def architectures(self) -> list[str]:
        """The architectures the bundle carries images for, sorted (legacy entries: amd64)."""
        return sorted({e.architecture for e in self.images})

    def first_per_ref(self) -> list[ImageEntry]:
        """One entry per image reference, the first listed (Kubernetes mode pushes and pins
        one architecture per image: the bundle's first --platform)."""
        seen: dict[str, ImageEntry] = {}
        for entry in self.images:
            seen.setdefault(entry.ref, entry)
        return list(seen.values())

    def image_for(self, archive: str, arch: Optional[str] = None) -> Optional[ImageEntry]:
        """The entry a spec's ``image.archive`` names, for ``arch`` (None: any architecture,
        the first listed; only for code that does not run the image)."""
        for field_ in ("name", "file"):
            for entry in self.images:
                if getattr(entry, field_) == archive and (
                    arch is None or entry.architecture == arch
                ):
                    return entry
        return None

    @property
    def base(self) -> Optional[dict[str, Any]]:
        """A delta bundle's base version: {product, version, images: {ref: id}}; else None."""
        base = self.extra.get("base")
        return base if isinstance(base, dict) else None

    def archives(self, arch: Optional[str] = None) -> dict[str, list[ImageEntry]]:
        """Archive file -> the images it holds, in manifest order (only ``arch``'s if given)."""
        out: dict[str, list[ImageEntry]] = {}
        for entry in self.images:
            if arch is None or entry.architecture == arch:
                out.setdefault(entry.file, []).append(entry)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "product": self.product,
            "version": self.version,
            "tool_version": self.tool_version,
            "modules": list(self.modules),
            "images": [
                {
                    k: list(v) if isinstance(v, tuple) else v
                    for k, v in vars(i).items()
                    if v not in ("", ())
                }
                for i in self.images
            ],
            "files": dict(sorted(self.files.items())),
            **self.extra,
        }


def load_manifest(bundle_dir: str) -> Manifest:
    """The manifest as it is on disk, unverified: for the vendor side (``bundle create``) and
    tests only. Installs take it from ``installer.bundle.opened.open_bundle``, which parses
    the bytes it checked against the signature."""
    path = os.path.join(bundle_dir, MANIFEST)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise UsageError(
            _(
                "{bundle_dir}: not a Sealbox bundle (no {manifest}); run in the bundle directory or pass --bundle DIR"
            ).format(bundle_dir=bundle_dir, manifest=MANIFEST)
        ) from None
    return parse_manifest(data, path)


def parse_manifest(data: bytes, source: str = MANIFEST) -> Manifest:
    """Build the Manifest from its exact (signed) bytes; `source` names it in errors."""
    path = source
    try:
        doc = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise UsageError(
            _("{path}: malformed YAML: {exc}").format(path=path, exc=str(exc).splitlines()[0])
        ) from None
    if not isinstance(doc, dict) or "product" not in doc or "version" not in doc:
        raise UsageError(
            _("{path}: not a bundle manifest (needs product and version)").format(path=path)
        )
    images = []
    for i, img in enumerate(doc.get("images") or []):
        try:
            images.append(
                ImageEntry(
                    ref=img["ref"],
                    id=img["id"],
                    file=img["file"],
                    sha256=img["sha256"],
                    size=int(img.get("size", 0)),
                    uncompressed_size=int(img.get("uncompressed_size", 0)),
                    name=str(img.get("name", "")),
                    base_image=str(img.get("base_image", "")),
                    omits=tuple(str(d) for d in img.get("omits") or ()),
                    arch=normalize(str(img.get("arch", ""))),
                )
            )
        except (KeyError, TypeError) as exc:
            raise UsageError(
                _("{path}: images[{i}]: missing field {exc}").format(path=path, i=i, exc=exc)
            ) from None
    arch_of: dict[str, str] = {}
    for entry in images:
        if arch_of.setdefault(entry.file, entry.architecture) != entry.architecture:
            raise UsageError(
                _(
                    "{path}: {file} holds images of two architectures ({a}, {b}); each archive "
                    "is for one"
                ).format(path=path, file=entry.file, a=arch_of[entry.file], b=entry.architecture)
            )
    files = doc.get("files") or {}
    if not isinstance(files, dict):
        raise UsageError(_("{path}: files: expected a mapping of path to sha256").format(path=path))
    known = {"format", "product", "version", "tool_version", "modules", "images", "files"}
    return Manifest(
        product=str(doc["product"]),
        version=str(doc["version"]),
        images=images,
        modules=list(doc.get("modules") or []),
        files={str(k): str(v) for k, v in files.items()},
        tool_version=str(doc.get("tool_version", "")),
        extra={k: v for k, v in doc.items() if k not in known},
    )


def manifest_bytes(manifest: Manifest) -> bytes:
    """The exact bytes written (and signed): the signature covers these, not a re-dump.

    `carried` (the wheels install.py checks, see installer/bundle/carry.py) goes last as one
    line of JSON, which YAML reads as the same mapping (JSON is YAML flow style)."""
    doc = manifest.to_dict()
    carried = doc.pop(CARRIED, None)
    text = yaml.safe_dump(doc, sort_keys=False)
    if carried is not None:
        text += f"{CARRIED}: {json.dumps(carried, sort_keys=True)}\n"
    return text.encode("utf-8")


def write_manifest(bundle_dir: str, manifest: Manifest) -> str:
    path = os.path.join(bundle_dir, MANIFEST)
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(manifest_bytes(manifest))
    os.replace(tmp, path)
    return path


def locate_bundle(explicit: Optional[str], script_dir: Optional[str] = None) -> str:
    """--bundle, then $SEALBOX_BUNDLE, then the folder install.py sits in, then the cwd."""
    candidates = [explicit, os.environ.get("SEALBOX_BUNDLE"), script_dir, os.getcwd()]
    if explicit:
        candidates = [explicit]
    for cand in candidates:
        if cand and os.path.isfile(os.path.join(cand, MANIFEST)):
            return os.path.abspath(cand)
    if explicit:
        raise UsageError(
            _("--bundle {explicit}: no {manifest} there; point it at an unpacked bundle").format(
                explicit=explicit, manifest=MANIFEST
            )
        )
    raise UsageError(
        _(
            "no bundle found: run in the bundle directory, or pass --bundle DIR (or set SEALBOX_BUNDLE)"
        )
    )
