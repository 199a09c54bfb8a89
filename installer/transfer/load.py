"""Loading an image archive into the host's Docker with the tools the host has.

``.tar.gz`` and ``.tar.xz`` decompress on every Linux host (gzip and xz are everywhere; pigz or
pixz are used when present, as vendors build archives with pixz). ``.tar.zst`` needs ``zstd``,
which CentOS 7 / RHEL 7 / Ubuntu 14-16 hosts usually lack (EPEL or universe, and the hosts are
offline).

Decision for a zstd archive on a host without zstd: decompress on the controller (python
``zstandard``, ~1 GB/s, no temp file) and stream the plain tar over the exec channel straight
into ``docker load`` (``stream_load``). Why not the alternatives:

* recompressing to gzip on the controller is single-threaded (~50-100 MB/s), slower than the
  link, needs a temp file the size of the archive, and the host then pays gunzip as well;
* uploading a static zstd binary to the host means shipping (and having security teams accept)
  an extra executable per architecture -- a good follow-up if bundles carry one;
* the stream sends ~2-3x the bytes of the compressed archive, but on the LAN (1 Gbit ~ 110 MB/s)
  ``docker load`` itself is about that fast, so it rarely costs wall time.

What it gives up: resume. A stream cut halfway restarts that image; the runtime's skip of images
whose ID is present keeps re-runs cheap, and the other images still go the resumable way.
"""

from __future__ import annotations

import os
import posixpath
import shlex
from typing import Callable, Iterator, Optional

from installer.errors import HostError, RuntimeFailure, UsageError
from installer.hosts.base import Host, Result
from installer.transfer.upload import CHUNK, Progress, upload

# suffix -> (format, [(tool, command template)]) in order of preference
_FORMATS: dict[str, str] = {
    ".tar.gz": "gzip",
    ".tgz": "gzip",
    ".tar.xz": "xz",
    ".txz": "xz",
    ".tar.zst": "zstd",
    ".tar.zstd": "zstd",
    ".tar": "tar",
}
_DECOMPRESS: dict[str, list[tuple[str, str]]] = {
    "gzip": [("pigz", "pigz -dc < {p}"), ("gzip", "gzip -dc < {p}")],
    "xz": [("pixz", "pixz -d < {p}"), ("xz", "xz -dc < {p}")],
    # --long=31: bundles are written with a 1 GiB window (long-distance matching); without it
    # zstd refuses such frames ("Frame requires too much memory").
    "zstd": [("zstd", "zstd -dcq --long=31 < {p}")],
}
_TOOLS = ("pigz", "gzip", "pixz", "xz", "zstd", "docker")


class ZstdMissingError(HostError):
    """A .tar.zst archive is on a host without zstd; use ``stream_load`` instead."""


def archive_format(path: str) -> str:
    """``gzip``, ``xz``, ``zstd`` or ``tar``, from the file name."""
    for suffix, fmt in _FORMATS.items():
        if path.endswith(suffix):
            return fmt
    raise UsageError(
        f"{path}: unknown image archive type (expected .tar, .tar.gz, .tar.xz or .tar.zst)"
    )


def host_tools(host: Host) -> set[str]:
    """Which decompressors (and docker) the host has, with one round trip."""
    script = "; ".join(f"command -v {t} >/dev/null 2>&1 && echo {t}" for t in _TOOLS) + "; true"
    return set(host.run(script).stdout.split())


def load_command(host: Host, path: str, tools: Optional[set[str]] = None) -> str:
    """Shell text that loads the archive at ``path`` (on the host) into the host's docker.

    A failure of the decompressor or of ``docker load`` makes the whole command fail.
    """
    fmt = archive_format(path)
    p = shlex.quote(path)
    if fmt == "tar":
        return f"docker load -i {p}"
    have = tools if tools is not None else host_tools(host)
    for tool, template in _DECOMPRESS[fmt]:
        if tool in have:
            decompress = template.format(p=p)
            break
    else:
        if fmt == "zstd":
            raise ZstdMissingError(
                f"{host.name} has no zstd to unpack {posixpath.basename(path)}: "
                "load it with transfer.stream_load (decompresses on this machine)"
            )
        raise HostError(f"{host.name} has no {fmt} to unpack {posixpath.basename(path)}")
    # dash has no pipefail: each side reports its exit code on fd 3, docker's output stays on 1
    return (
        "exec 4>&1; "
        f"s=$( {{ {{ {decompress}; echo d$? >&3; }} | {{ docker load >&4; echo l$? >&3; }}; }} "
        "3>&1 ); ok=0; for x in $s; do case $x in d0|l0) ok=$((ok+1));; esac; done; "
        '[ $ok = 2 ] || { echo "image load failed: $s (d=decompress, l=docker load)" >&2; exit 1; }'
    )


def _plain_tar_chunks(
    path: str, progress: Optional[Progress], chunk: int = CHUNK
) -> Iterator[bytes]:
    """The uncompressed tar of ``path``; progress counts bytes of the archive file read."""
    total = os.path.getsize(path)
    with open(path, "rb") as raw:
        if archive_format(path) == "zstd":
            import zstandard

            reader = zstandard.ZstdDecompressor(max_window_size=1 << 31).stream_reader(
                raw, read_size=chunk
            )
        else:
            reader = raw
        while True:
            block = reader.read(chunk)
            if not block:
                break
            yield block
            if progress:
                progress(raw.tell(), total)


def stream_load(host: Host, local_path: str, progress: Optional[Progress] = None) -> Result:
    """Decompress on the controller and stream the tar into the host's ``docker load``."""
    fmt = archive_format(local_path)
    if fmt not in ("zstd", "tar"):
        raise UsageError(f"{local_path}: stream_load handles .tar and .tar.zst only")
    res = host.run_streaming_input("docker load", _plain_tar_chunks(local_path, progress))
    if not res.ok:
        raise RuntimeFailure(
            f"docker load of {os.path.basename(local_path)} on {host.name} failed: "
            f"{res.first_error_line()}"
        )
    return res


def load_archive(
    host: Host,
    local_path: str,
    remote_dir: str = "/var/lib/sealbox/images",
    *,
    sha256: Optional[str] = None,
    progress: Optional[Progress] = None,
    keep_archive: bool = False,
    retries: int = 2,
    on_step: Optional[Callable[[str], None]] = None,
) -> Result:
    """Get an image archive into the host's Docker the best way the host allows.

    Upload (resumable, verified) then load on the host; for a zstd archive on a host without
    zstd, stream it instead (see the module docstring). The archive on the host is removed
    after a successful load unless ``keep_archive``.
    """
    tools = host_tools(host)
    if "docker" not in tools:
        raise HostError(f"{host.name} has no docker command: install Docker first")
    if archive_format(local_path) == "zstd" and "zstd" not in tools:
        if on_step:
            on_step("stream")
        return stream_load(host, local_path, progress)
    dst = posixpath.join(remote_dir, os.path.basename(local_path))
    if on_step:
        on_step("upload")
    upload(host, local_path, dst, sha256=sha256, progress=progress, retries=retries)
    if on_step:
        on_step("load")
    res = host.run(load_command(host, dst, tools))
    if not res.ok:
        raise RuntimeFailure(
            f"loading {os.path.basename(local_path)} on {host.name} failed: "
            f"{res.first_error_line()}"
        )
    if not keep_archive:
        host.remove(dst)
    return res
