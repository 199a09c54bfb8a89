"""Build a bundle directory from images in the local Docker engine (vendor side).

All images go into one `docker save` (shared layers stored once) compressed on the fly with
zstd on all cores and long-distance matching, while the archive's sha256 is computed, so it is
written once and never held uncompressed on disk. See README.md for the measurements.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from dataclasses import dataclass
from typing import Callable, Optional

import yaml

import installer
from installer import signing
from installer.archive.streams import DEFAULT_ZSTD_LEVEL, sha256_file
from installer.bundle.carry import carry_sealbox, default_python_versions
from installer.bundle.delta import (
    base_doc,
    check_since,
    entry_fields,
    omit_set,
    plan_delta,
)
from installer.bundle.image_save import save_images
from installer.bundle.manifest import (
    CARRIED,
    ImageEntry,
    Manifest,
    load_manifest,
    write_manifest,
)
from installer.bundle.platforms import image_for_arch, parse_platforms
from installer.bundle.trust import sign_manifest
from installer.errors import LicenseError, UsageError
from installer.i18n import _
from installer.license.pins import MANIFEST_KEY, check_license_key, image_pins, licensed_refs
from installer.spec.load import load_modules

Progress = Callable[[str], None]


@dataclass
class BundleDefinition:
    product: str
    version: str
    modules: list[str]
    source_dir: str  # where modules/ and templates/ live
    platforms: list[str] = dataclasses.field(default_factory=list)  # arch names; [] = as built


def load_definition(path: str) -> BundleDefinition:
    with open(path, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    if not isinstance(doc, dict):
        raise UsageError(
            _("{path}: expected a mapping with product, version, modules").format(path=path)
        )
    for key in ("product", "version", "modules"):
        if key not in doc:
            raise UsageError(_("{path}: {key}: is required").format(path=path, key=key))
    base = os.path.dirname(os.path.abspath(path))
    source = os.path.normpath(os.path.join(base, doc.get("source", ".")))
    plats = doc.get("platforms") or []
    if not isinstance(plats, list):
        raise UsageError(f"{path}: platforms: expected a list such as [linux/amd64, linux/arm64]")
    return BundleDefinition(
        str(doc["product"]),
        str(doc["version"]),
        list(doc["modules"]),
        source,
        parse_platforms(plats, f"{path}: platforms:"),
    )


SHARED_ARCHIVE = "images/images"
SUFFIX = {"zstd": ".tar.zst", "xz": ".tar.xz"}
LAYOUTS = ("shared", "per-image")


@dataclass(frozen=True)
class _Image:
    module: str
    ref: str  # the spec's reference (what the manifest records)
    id: str
    name: str  # the archive name the module spec asks for
    arch: str = ""
    local: str = ""  # the local reference docker save reads ('' = ref)


def _plan_archives(
    images: list[_Image], layout: str, compression: str, multi: bool = False
) -> dict[str, list[_Image]]:
    """Archive file -> images in it: one shared archive, or one per image; with several
    architectures, one set per architecture (``-ARCH`` in the name): a host reads only its own."""
    out: dict[str, list[_Image]] = {}
    for img in images:
        tail = f"-{img.arch}" if multi else ""
        base = SHARED_ARCHIVE if layout == "shared" else img.name.rsplit(".tar", 1)[0]
        out.setdefault(base + tail + SUFFIX[compression], []).append(img)
    return out


def _reusable(
    previous: Optional[Manifest], out_dir: str, rel: str, ids: list[str]
) -> list[ImageEntry]:
    """The previous entries for `rel` when it holds exactly these image IDs and is intact in size."""
    if previous is None:
        return []
    old = previous.archives().get(rel, [])
    path = os.path.join(out_dir, rel)
    if (
        sorted(e.id for e in old) == sorted(ids)
        and old
        and os.path.isfile(path)
        and os.path.getsize(path) == old[0].size
        and sha256_file(path) == old[0].sha256
    ):
        return old
    return []


BUNDLE_ENTRIES = {
    "images",
    "modules",
    "templates",
    "wheels",
    "install.py",
    "vendor.pub",
    "manifest.yaml",
    "manifest.sig",
    "license",
}
LICENSE_FILES = ("license.cfg", "vendor.pub")


def _refuse_foreign(out_dir: str) -> None:
    """Refuse to write into a folder that holds something other than a (partial) bundle."""
    if not os.path.isdir(out_dir):
        return
    foreign = sorted(set(os.listdir(out_dir)) - BUNDLE_ENTRIES)
    if foreign:
        raise UsageError(
            _(
                "-o {out_dir}: the folder holds {foreign}, which a bundle does not; choose a new folder"
            ).format(out_dir=out_dir, foreign=", ".join(foreign[:3]))
        )


def check_bundle_license(license_dir: str, pins: dict[str, list[str]]) -> None:
    """The license and vendor.pub must be the key the licensed images pin (issue 12)."""
    from installer.license.shipped import fileformat
    from installer.license.shipped.keys import keyring_from_files

    lic = os.path.join(license_dir, "license.cfg")
    with open(lic, "rb") as fh:
        kid = fileformat.split(fh.read(), lic).key_id
    ring = keyring_from_files([os.path.join(license_dir, "vendor.pub")])
    if ring.get(kid) is None:
        raise LicenseError(
            _(
                "{lic} is signed with vendor key {kid}, but {license_dir}/vendor.pub holds {ring}; put the vendor key that signed it there"
            ).format(lic=lic, kid=kid, license_dir=license_dir, ring=", ".join(ring.ids()))
        )
    check_license_key(kid, pins, lic)


def create_bundle(
    definition: BundleDefinition,
    out_dir: str,
    *,
    compression: str = "zstd",
    level: Optional[int] = None,
    layout: str = "shared",
    key: Optional[signing.PrivateKey] = None,
    carry: bool = True,
    python_versions: Optional[list[str]] = None,
    wheels_from: Optional[str] = None,
    license_dir: Optional[str] = None,
    progress: Optional[Progress] = None,
    since: Optional[Manifest] = None,
    platforms: Optional[list[str]] = None,
) -> Manifest:
    """Write modules/, templates/, images/, install.py + wheels/, manifest.yaml (+ manifest.sig).

    `license_dir` (with license.cfg and vendor.pub) becomes the bundle's license/ folder, listed
    and signed like every other file; without it an existing license/ folder is kept.

    An archive is kept when it already holds exactly the same image IDs (a second run is fast).
    `since` (the previous bundle's verified manifest) makes a delta bundle: its archives leave
    out the layers the base version's images supply on the host (installer.bundle.delta).
    `platforms` (arch names; default the definition's, else the images as built): each
    module's image is taken per architecture (`image_for_arch`) and signed per architecture."""
    say = progress or (lambda _msg: None)
    if compression not in SUFFIX:
        raise UsageError(
            _("--compression {compression}: choose zstd or xz").format(compression=compression)
        )
    if layout not in LAYOUTS:
        raise UsageError(_("--layout {layout}: choose shared or per-image").format(layout=layout))
    specs = load_modules(os.path.join(definition.source_dir, "modules"))
    unknown = [m for m in definition.modules if m not in specs]
    if unknown:
        raise UsageError(
            _("bundle definition names unknown modules {unknown}; known: {specs}").format(
                unknown=unknown, specs=sorted(specs)
            )
        )
    _refuse_foreign(out_dir)
    # Before any work: the license must be signed by the key the licensed images pin.
    pins = {ref: image_pins(ref) for ref in licensed_refs(specs, definition.modules)}
    if license_dir is not None:
        missing = [f for f in LICENSE_FILES if not os.path.isfile(os.path.join(license_dir, f))]
        if missing:
            raise UsageError(
                _("{license_dir}: no {missing}; issue the license first").format(
                    license_dir=license_dir, missing=", ".join(missing)
                )
            )
        check_bundle_license(license_dir, pins)
    previous: Optional[Manifest] = None
    if os.path.exists(os.path.join(out_dir, "manifest.yaml")):
        previous = load_manifest(out_dir)
    base = base_doc(since) if since is not None else None
    if since is not None:
        check_since(definition.product, definition.version, since)
    if previous is not None and previous.base != base:
        previous = None  # a full archive is no delta's, nor one delta's another's
    os.makedirs(os.path.join(out_dir, "images"), exist_ok=True)
    for sub in ("modules", "templates"):
        shutil.rmtree(os.path.join(out_dir, sub), ignore_errors=True)
        os.makedirs(os.path.join(out_dir, sub))
    wanted: list[_Image] = []
    arches: list[Optional[str]] = list(
        platforms if platforms is not None else definition.platforms
    ) or [None]
    for name in definition.modules:
        spec = specs[name]
        rel = f"modules/{name}.yaml"
        shutil.copyfile(os.path.join(definition.source_dir, rel), os.path.join(out_dir, rel))
        tdir = os.path.join(definition.source_dir, "templates", name)
        if os.path.isdir(tdir):
            shutil.copytree(tdir, os.path.join(out_dir, "templates", name))
        for arch in arches:
            local, image_id, got = image_for_arch(spec.image.ref, arch)
            ref = spec.image.ref
            theirs = image_pins(local) if ref in pins and local != ref else pins.get(ref)
            if theirs != pins.get(ref):
                msg = _("{local} pins vendor key(s) {theirs}, {ref} pins {ours}: build every "
                        "architecture with the same vendor key")  # fmt: skip
                raise LicenseError(msg.format(local=local, theirs=theirs, ref=ref, ours=pins[ref]))
            wanted.append(_Image(name, spec.image.ref, image_id, spec.image.archive, got, local))
    images: list[ImageEntry] = []
    plan = _plan_archives(wanted, layout, compression, multi=len(arches) > 1)
    deltas, layers = plan_delta([g.id for g in wanted], since) if since else ({}, {})
    for rel, group in plan.items():
        omit = omit_set([deltas[g.id] for g in group], layers) if deltas else frozenset()
        by_id = {e.id: e for e in _reusable(previous, out_dir, rel, [g.id for g in group])}
        refs = ", ".join(g.local or g.ref for g in group)
        if by_id:
            say(_("{rel}: unchanged ({refs}), archive kept").format(rel=rel, refs=refs))
            sha, size, raw = next(iter(by_id.values())).sha256, 0, 0
            size, raw = (
                next(iter(by_id.values())).size,
                next(iter(by_id.values())).uncompressed_size,
            )
        else:
            say(
                _("{rel}: docker save {refs} | {compression} -{level}").format(
                    rel=rel, refs=refs, compression=compression, level=level or DEFAULT_ZSTD_LEVEL
                )
            )
            started = time.monotonic()
            sha, size, raw = save_images(
                [g.local or g.ref for g in group],
                os.path.join(out_dir, rel),
                compression,
                level,
                omit,
            )
            say(
                _("{rel}: {raw:.0f} MB -> {size:.0f} MB in {time:.1f}s").format(
                    rel=rel, raw=raw / 1e6, size=size / 1e6, time=time.monotonic() - started
                )
            )
        for g in group:
            base_image, omits = entry_fields(deltas[g.id], omit) if deltas else ("", ())
            images.append(
                ImageEntry(
                    g.ref,
                    g.id,
                    rel,
                    sha,
                    size,
                    raw,
                    g.name,
                    base_image=base_image,
                    omits=omits,
                    arch=g.arch,
                )
            )
    for fname in os.listdir(os.path.join(out_dir, "images")):  # archives of an earlier layout
        if f"images/{fname}" not in plan:
            os.unlink(os.path.join(out_dir, "images", fname))
    for stale in ("install.py", "vendor.pub", "manifest.sig"):
        if os.path.exists(os.path.join(out_dir, stale)):
            os.unlink(os.path.join(out_dir, stale))
    carried: Optional[dict] = None
    if carry:
        carried = carry_sealbox(
            out_dir,
            pinned=key.public if key else None,
            python_versions=python_versions or default_python_versions(),
            wheels_from=wheels_from,
            progress=say,
        )
    else:
        shutil.rmtree(os.path.join(out_dir, "wheels"), ignore_errors=True)
    if key is not None:
        with open(os.path.join(out_dir, "vendor.pub"), "wb") as fh:
            fh.write(key.public.pem())
    if license_dir is not None:
        shutil.rmtree(os.path.join(out_dir, "license"), ignore_errors=True)
        os.makedirs(os.path.join(out_dir, "license"))
        for fname in LICENSE_FILES:
            shutil.copyfile(
                os.path.join(license_dir, fname), os.path.join(out_dir, "license", fname)
            )
    files: dict[str, str] = {}
    archives = set(plan)
    for root, _dirs, names in os.walk(out_dir):
        for fname in names:
            full = os.path.join(root, fname)
            rel = os.path.relpath(full, out_dir).replace(os.sep, "/")
            if rel in archives or rel in ("manifest.yaml", "manifest.sig"):
                continue
            files[rel] = sha256_file(full)
    extra: dict = {"compression": compression, "layout": layout, MANIFEST_KEY: pins}
    if base is not None:
        extra["base"] = base
    if carried:
        extra[CARRIED] = carried  # the wheels install.py checks before installing anything
    manifest = Manifest(
        product=definition.product,
        version=definition.version,
        images=images,
        modules=list(definition.modules),
        files=files,
        tool_version=installer.__version__,
        extra=extra,
    )
    write_manifest(out_dir, manifest)
    if key is not None:
        sig = sign_manifest(out_dir, key)
        say(_("manifest signed with key {key_id}").format(key_id=sig.key_id))
    return manifest
