#!/usr/bin/env python3
"""Delta bundle size for a one-layer model change vs that layer's compressed size (issue 20:
target <= 1.1x), in one run.

Images (built by demo/layer_image.py, no `docker build`, the same IDs every run):
  v1 = sealbox-bench/delta-model:1.0 = the face-server stand-in + a model layer (seed 1)
  v2 = sealbox-bench/delta-model:2.0 = the face-server stand-in + a new model layer (seed 2)
so v2 differs from v1 in exactly one layer, the model, as a vendor's model update does. The
"weights" are float32-like (3 random bytes + 1 of 4 exponent-like bytes), so they compress a
little, as real weights do.

Measured: the v2 delta bundle's image archive (`bundle create --since` the v1 bundle) against
the model layer's tar compressed alone with the bundle's own settings (zstd -6, 1 GiB window,
all cores); the full v2 bundle for scale; and the time to write each.

Usage (root, Docker running, demo images built; under the e2e lock on a shared machine):
  python3 benchmarks/delta_bundle.py [--model-mb 256]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "demo"))

import yaml  # noqa: E402
import zstandard  # noqa: E402
from layer_image import add_layer, layer_size  # noqa: E402

from installer import signing  # noqa: E402
from installer.bundle.create import create_bundle, load_definition  # noqa: E402
from installer.bundle.delta import read_base_manifest  # noqa: E402
from installer.bundle.image_save import _compressor, _HashingWriter  # noqa: E402
from installer.hosts.local import LocalHost  # noqa: E402
from installer.runtime.load import load_archive  # noqa: E402

STANDIN = "sealbox-demo/face-server-standin:1.0"
REF = "sealbox-bench/delta-model:{v}"
MB = 1e6


def weights(path: str, seed: int, mb: int) -> str:
    rnd = random.Random(seed)
    exp = bytes.maketrans(bytes(range(256)), bytes([0x3C, 0x3D, 0xBC, 0xBD] * 64))
    with open(path, "wb") as fh:
        for _ in range(mb):
            buf = bytearray(rnd.randbytes(1 << 20))
            buf[3::4] = bytes(buf[3::4]).translate(exp)
            fh.write(buf)
    return path


def product(src: str, version: str, ref: str) -> str:
    os.makedirs(os.path.join(src, "modules"))
    os.makedirs(os.path.join(src, "templates"))
    spec = {
        "name": "model-app",
        "version": version,
        "description": "benchmark module",
        "image": {"ref": ref, "archive": "images/model-app.tar.zst"},
        "network": "host",
        "licensed": False,
        "ports": [{"name": "http", "port": 38999, "per_instance": False}],
        "command": ["python3", "-m", "http.server", "38999"],
        "health": {"type": "tcp", "port": "http", "timeout": 60, "interval": 0.2},
    }
    with open(os.path.join(src, "modules", "model-app.yaml"), "w") as fh:
        yaml.safe_dump(spec, fh)
    path = os.path.join(src, "bundle.yaml")
    with open(path, "w") as fh:
        yaml.safe_dump({"product": "delta-bench", "version": version, "modules": ["model-app"]}, fh)
    return path


def compressed_size(path: str) -> int:
    with open(os.devnull, "wb") as null:
        hashed = _HashingWriter(null)  # type: ignore[arg-type]
        comp = _compressor(hashed, "zstd", None)
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                comp.write(chunk)
        comp.flush(zstandard.FLUSH_FRAME)  # type: ignore[call-arg]
    return hashed.size


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-mb", type=int, default=256)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="delta-bench-")
    try:
        key = signing.generate()
        files = {}
        for v, seed in (("1.0", 1), ("2.0", 2)):
            files[v] = {
                "opt/model/weights.bin": weights(os.path.join(work, f"w{v}"), seed, args.model_mb)
            }
            add_layer(STANDIN, REF.format(v=v), files[v], os.path.join(work, f"l{v}"))
        layer = layer_size(files["2.0"], os.path.join(work, "layer"))
        layer_tar = os.path.getsize(layer)
        started = time.perf_counter()
        layer_zst = compressed_size(layer)
        t_layer = time.perf_counter() - started
        os.unlink(layer)
        v1 = os.path.join(work, "b1")
        create_bundle(
            load_definition(product(os.path.join(work, "s1"), "1.0", REF.format(v="1.0"))),
            v1,
            key=key,
            carry=False,
        )
        d2 = product(os.path.join(work, "s2"), "2.0", REF.format(v="2.0"))
        started = time.perf_counter()
        full = create_bundle(load_definition(d2), os.path.join(work, "full2"), key=key, carry=False)
        t_full = time.perf_counter() - started
        base = read_base_manifest(v1, {key.public.id: key.public})
        started = time.perf_counter()
        delta = create_bundle(
            load_definition(d2), os.path.join(work, "delta2"), key=key, carry=False, since=base
        )
        t_delta = time.perf_counter() - started
        (d,), (f,) = delta.images, full.images
        # install side: the delta through the one load path (v1 on the engine, v2 not), vs
        # what option (a) would add before it: streaming the base out of `docker save v1`
        subprocess.run(["docker", "rmi", REF.format(v="2.0")], capture_output=True, check=True)
        started = time.perf_counter()
        load_archive(LocalHost(), os.path.join(work, "delta2", d.file), [d])
        t_load = time.perf_counter() - started
        started = time.perf_counter()
        save = subprocess.run(
            f"docker save {REF.format(v='1.0')} | wc -c", shell=True, capture_output=True, text=True
        )
        t_save = time.perf_counter() - started
        print(
            f"model layer: {layer_tar / MB:.1f} MB tar, {layer_zst / MB:.1f} MB zstd -6 --long ({t_layer:.1f}s)"
        )
        print(f"full v2 bundle archive:  {f.size / MB:8.1f} MB  ({t_full:.1f}s to write)")
        print(
            f"delta v2 bundle archive: {d.size / MB:8.1f} MB  ({t_delta:.1f}s to write; "
            f"{len(d.omits)} layer(s) left out, base {base.version})"
        )
        print(
            f"install: delta load {t_load:.1f}s; option (a) would first stream the base out "
            f"(docker save v1: {int(save.stdout or 0) / MB:.0f} MB in {t_save:.1f}s)"
        )
        print(
            f"delta / compressed layer = {d.size / layer_zst:.3f}x  (target <= 1.1x); "
            f"delta / full = {d.size / f.size:.3f}x"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
        for v in ("1.0", "2.0"):
            subprocess.run(["docker", "rmi", REF.format(v=v)], capture_output=True)


if __name__ == "__main__":
    main()
