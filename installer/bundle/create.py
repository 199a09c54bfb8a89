"""Build a bundle directory from images in the local Docker engine (vendor side).

Each image is `docker save`d and compressed on the fly (zstd, all cores) while its sha256 is
computed, so the archive is written once and never held uncompressed on disk.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Callable, Optional

import yaml

import installer
from installer.bundle.manifest import ImageEntry, Manifest, load_manifest, write_manifest
from installer.errors import RuntimeFailure, UsageError
from installer.runtime.archive import CHUNK, open_compressed_writer
from installer.spec.load import load_modules

Progress = Callable[[str], None]


@dataclass
class BundleDefinition:
    product: str
    version: str
    modules: list[str]
    source_dir: str  # where modules/ and templates/ live


def load_definition(path: str) -> BundleDefinition:
    with open(path, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    if not isinstance(doc, dict):
        raise UsageError(f"{path}: expected a mapping with product, version, modules")
    for key in ("product", "version", "modules"):
        if key not in doc:
            raise UsageError(f"{path}: {key}: is required")
    base = os.path.dirname(os.path.abspath(path))
    source = os.path.normpath(os.path.join(base, doc.get("source", ".")))
    return BundleDefinition(str(doc["product"]), str(doc["version"]), list(doc["modules"]), source)


def _docker_image_id(ref: str) -> str:
    res = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", ref], capture_output=True, text=True
    )
    if res.returncode != 0:
        raise RuntimeFailure(
            f"image {ref} is not in the local Docker engine; build or pull it first"
        )
    return res.stdout.strip()


def save_image(
    ref: str, dest: str, compression: str = "zstd", level: Optional[int] = None
) -> tuple[str, int, int]:
    """docker save | compress > dest; returns (sha256 of dest, compressed size, tar size)."""
    tmp = dest + ".part"
    proc = subprocess.Popen(["docker", "save", ref], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    raw_size = 0
    assert proc.stdout is not None
    try:
        with open_compressed_writer(tmp, compression, level) as out:
            for chunk in iter(lambda: proc.stdout.read(CHUNK), b""):  # type: ignore[union-attr]
                raw_size += len(chunk)
                out.write(chunk)
        err = proc.stderr.read().decode() if proc.stderr else ""
        if proc.wait() != 0:
            raise RuntimeFailure(f"docker save {ref} failed: {err.strip()}")
    except BaseException:
        proc.kill()
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    digest = hashlib.sha256()
    with open(tmp, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    os.replace(tmp, dest)
    return digest.hexdigest(), os.path.getsize(dest), raw_size


def _file_sha(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def create_bundle(
    definition: BundleDefinition,
    out_dir: str,
    *,
    compression: str = "zstd",
    progress: Optional[Progress] = None,
) -> Manifest:
    """Write modules/, templates/, images/ and manifest.yaml; reuse archives whose image ID matches."""
    say = progress or (lambda _msg: None)
    specs = load_modules(os.path.join(definition.source_dir, "modules"))
    unknown = [m for m in definition.modules if m not in specs]
    if unknown:
        raise UsageError(
            f"bundle definition names unknown modules {unknown}; known: {sorted(specs)}"
        )
    previous: Optional[Manifest] = None
    if os.path.exists(os.path.join(out_dir, "manifest.yaml")):
        previous = load_manifest(out_dir)
    os.makedirs(os.path.join(out_dir, "images"), exist_ok=True)
    for sub in ("modules", "templates"):
        shutil.rmtree(os.path.join(out_dir, sub), ignore_errors=True)
        os.makedirs(os.path.join(out_dir, sub))
    images: list[ImageEntry] = []
    files: dict[str, str] = {}
    for name in definition.modules:
        spec = specs[name]
        rel = f"modules/{name}.yaml"
        shutil.copyfile(os.path.join(definition.source_dir, rel), os.path.join(out_dir, rel))
        tdir = os.path.join(definition.source_dir, "templates", name)
        if os.path.isdir(tdir):
            shutil.copytree(tdir, os.path.join(out_dir, "templates", name))
        image_id = _docker_image_id(spec.image.ref)
        archive = spec.image.archive
        if compression != "zstd":
            archive = (
                archive.rsplit(".tar", 1)[0]
                + {"xz": ".tar.xz", "gzip": ".tar.gz", "none": ".tar"}[compression]
            )
        dest = os.path.join(out_dir, archive)
        old = previous.image_for(archive) if previous else None
        if (
            old
            and old.id == image_id
            and os.path.exists(dest)
            and os.path.getsize(dest) == old.size
        ):
            say(f"{spec.image.ref}: unchanged, archive kept")
            images.append(old)
            continue
        say(f"{spec.image.ref}: saving to {archive}")
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        sha, size, raw = save_image(spec.image.ref, dest, compression)
        images.append(ImageEntry(spec.image.ref, image_id, archive, sha, size, raw))
    for root, _dirs, names in os.walk(out_dir):
        for fname in names:
            full = os.path.join(root, fname)
            rel = os.path.relpath(full, out_dir)
            if rel.startswith("images/") or rel == "manifest.yaml" or fname.endswith(".part"):
                continue
            files[rel] = _file_sha(full)
    manifest = Manifest(
        product=definition.product,
        version=definition.version,
        images=images,
        modules=list(definition.modules),
        files=files,
        tool_version=installer.__version__,
    )
    write_manifest(out_dir, manifest)
    return manifest
