#!/usr/bin/env python3
"""A new image = an image on the engine + ONE added layer, built without `docker build`.

The delta-bundle tests and benchmark need "the next version differs by one layer", and the
same image ID every time for the same base and files (so CI caches and reruns agree), which a
`docker commit` or `docker build` (timestamps) cannot give. This writes the layer tar itself
(fixed owner, mode and mtime), a config listing the base's diff IDs plus the new one (no
timestamps), and a `docker save`-shaped tar with only the new layer's file: Docker's loader
reuses the base's layers by chain ID (see installer/bundle/delta.py), so `docker load` gives
the image whose ID is the sha256 of that config.

  python3 demo/layer_image.py BASE_REF NEW_REF PATH=TEXT ...
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from typing import Mapping, Union

MTIME = 1767225600  # 2026-01-01T00:00:00Z: fixed, so the layer's bytes (and diff ID) are too

Content = Union[bytes, str]  # bytes, or a path on this machine to a file to add


def _inspect(ref: str) -> dict:
    res = subprocess.run(["docker", "image", "inspect", ref], capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"{ref}: not in the local Docker engine; build or load it first")
    return json.loads(res.stdout)[0]


def _layer(files: Mapping[str, Content], out: io.BufferedIOBase) -> None:
    """The layer tar: parent folders first, each file at its path, all root-owned."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.GNU_FORMAT) as tar:
        parts = [p.split("/")[:-1] for p in files]
        dirs = sorted({"/".join(ps[:i]) for ps in parts for i in range(1, len(ps) + 1)})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, MTIME
            tar.addfile(info)
        for path in sorted(files):
            content = files[path]
            info = tarfile.TarInfo(path)
            info.mode, info.mtime = 0o644, MTIME
            if isinstance(content, bytes):
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
            else:
                info.size = os.path.getsize(content)
                with open(content, "rb") as fh:
                    tar.addfile(info, fh)


class _Hashing(io.RawIOBase):
    def __init__(self, raw: io.BufferedIOBase) -> None:
        self.raw, self.digest, self.size = raw, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[no-untyped-def,override]
        self.digest.update(data)
        self.size += len(data)
        return self.raw.write(data)


def add_layer(base_ref: str, new_ref: str, files: Mapping[str, Content], work: str) -> str:
    """Tag `new_ref` as `base_ref` + one layer holding `files`; returns the image ID. Nothing
    is loaded when the engine already has that ID (it is re-tagged only)."""
    base = _inspect(base_ref)
    os.makedirs(work, exist_ok=True)
    layer_path = os.path.join(work, "layer.tar")
    with open(layer_path, "wb") as raw:
        hashed = _Hashing(raw)  # type: ignore[arg-type]
        _layer(files, hashed)  # type: ignore[arg-type]
    diff_id = "sha256:" + hashed.digest.hexdigest()
    config = {
        "architecture": base.get("Architecture") or "amd64",
        "os": base.get("Os") or "linux",
        "config": base.get("Config") or {},
        "rootfs": {"type": "layers", "diff_ids": list(base["RootFS"]["Layers"]) + [diff_id]},
    }
    blob = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    image_id = "sha256:" + hashlib.sha256(blob).hexdigest()
    have = subprocess.run(["docker", "image", "inspect", image_id], capture_output=True)
    if have.returncode == 0:
        subprocess.run(["docker", "tag", image_id, new_ref], check=True)
        os.unlink(layer_path)
        return image_id
    hexid = image_id.split(":", 1)[1]
    new_dir = diff_id.split(":", 1)[1]
    layers = [f"base-{i}/layer.tar" for i in range(len(base["RootFS"]["Layers"]))]
    manifest = [
        {
            "Config": f"{hexid}.json",
            "RepoTags": [new_ref],
            "Layers": layers + [f"{new_dir}/layer.tar"],
        }
    ]
    proc = subprocess.Popen(
        ["docker", "load", "-q"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    assert proc.stdin is not None
    with tarfile.open(fileobj=proc.stdin, mode="w|", format=tarfile.GNU_FORMAT) as tar:
        for name, data in (
            (f"{hexid}.json", blob),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), MTIME
            tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo(f"{new_dir}/layer.tar")
        info.size, info.mtime = os.path.getsize(layer_path), MTIME
        with open(layer_path, "rb") as fh:
            tar.addfile(info, fh)
    proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit(f"docker load of {new_ref} failed (is {base_ref}'s layer chain intact?)")
    os.unlink(layer_path)
    return image_id


def layer_size(files: Mapping[str, Content], work: str) -> str:
    """Path of the layer tar `add_layer` would write for `files` (for size comparisons)."""
    os.makedirs(work, exist_ok=True)
    path = os.path.join(work, "layer-only.tar")
    with open(path, "wb") as raw:
        _layer(files, raw)  # type: ignore[arg-type]
    return path


if __name__ == "__main__":
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    pairs = dict(a.split("=", 1) for a in sys.argv[3:])
    print(add_layer(sys.argv[1], sys.argv[2], {k: v.encode() for k, v in pairs.items()}, "/tmp"))
