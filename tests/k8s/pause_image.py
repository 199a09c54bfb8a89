"""Write a docker-archive tarball holding one static binary as the whole image (FROM scratch).

Why: the cluster's pod sandboxes need a pause image and no registry outside can be reached;
containerd imports this archive directly, so neither Docker nor a build tool is needed.
Usage: python3 pause_image.py BINARY IMAGE_REF OUT.tar
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile


def layer_bytes(binary: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tar.gettarinfo(binary, arcname="pause")
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mode = 0o755
        info.mtime = 0
        with open(binary, "rb") as f:
            tar.addfile(info, f)
    return buf.getvalue()


def main(binary: str, ref: str, out: str) -> None:
    layer = layer_bytes(binary)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Entrypoint": ["/pause"]},
            "rootfs": {
                "type": "layers",
                "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()],
            },
        }
    ).encode()
    manifest = json.dumps(
        [{"Config": "config.json", "RepoTags": [ref], "Layers": ["layer.tar"]}]
    ).encode()
    with tarfile.open(out, "w") as tar:
        for name, data in (
            ("layer.tar", layer),
            ("config.json", config),
            ("manifest.json", manifest),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


if __name__ == "__main__":
    main(*sys.argv[1:4])
