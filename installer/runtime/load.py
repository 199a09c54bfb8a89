"""The one way an image archive gets into a host's Docker, with one set of checks.

Two routes, chosen by where the decompressor is (`load_route`), share every check:

* **stream** -- this machine, or a host without the archive's decompressor (often zstd on
  CentOS 7 / RHEL 7 / Ubuntu 14-16, which are offline): the controller reads the file once,
  hashes it, decompresses it (python zstandard / lzma / zlib, the same C libraries as the
  tools) and feeds the tar to the host's ``docker load``. The end of the tar is withheld until
  the sha256 of the whole compressed file matches (installer.archive.targuard), so docker never
  holds a complete tar of an archive that failed its check: we control EOF.
* **host** -- a remote host with the decompressor: the compressed archive is uploaded
  (resumable ``.part``; its sha256 checked on the host before it is renamed into place), and
  the host's tool decompresses that verified copy into ``docker load``. Fewer bytes on the
  wire than the stream (2-3x less) and a cut link resumes.

Then, whatever the route and whether the load worked or not: what ``docker load`` reported is
compared with the manifest; tags and images it brought that the manifest does not list are put
back or removed; each of the bundle's tags names its signed image ID or nothing
(installer.runtime.images). A failed load runs in its own process group and the whole group is
killed before its input could end (locally by LocalHost, over SSH by SSHHost with the group id
the command reported: ``run_streaming_input``), and again afterwards by the group id the command
wrote down. Together with the tar guard (no released prefix is a complete tar for Go's reader,
installer.archive.targuard) the attacker's images and tags never exist on the engine: the
e2e test tests/e2e/ssh/test_load_events.py reads `docker events` on all three routes.

Why keep the archive's sha256 at all, when containers run by image ID and the image ID is the
sha256 of the image config, which lists the diff IDs that ``docker load`` checks every layer
against? For integrity of what runs it is indeed redundant: an image that loads with the
signed ID is bit-for-bit what the vendor signed. The archive hash still earns its cost where
the ID cannot help: (1) docker never gets a complete tar from a file that is not the signed
one, so the attacker's images and tags never exist on the engine, not even for the seconds
before the post-load check removes them, and docker's tar and layer code never unpacks
attacker bytes to the end; (2) resumable uploads need a name for the bytes before any image
exists; (3) a wrong file is refused when the stream ends, before docker spends the layer-import
half of a multi-minute load. Cost, measured by ``benchmarks/install_from_zst.py`` (597 MB
image, 509 MB .tar.zst, 2 shared cores, 2026-12-01): the sha256 of the archive alone takes
0.44-0.69 s, 6-10 % of the whole ``in`` (4.7-9.5 s on that noisy machine). Since issue 18 a
.tar.zst is decompressed by this machine's zstd process (installer.archive.streams): python
reads the file once, hashes it in a feeder thread and writes those very bytes to zstd, then
only guards and copies the tar. On 2 shared cores it measured level with python's zstandard
in-process (``in`` 4.15 s vs 3.95 s, medians of 3, the same run, 2026-12-06: within that run's
spread), while the raw ``zstd -dc | docker load`` alone took 1.14x the plain ``docker load -i``
+ ``docker run``; with more cores the decompression no longer shares python's thread.
Outside the stream the load costs one ``docker image ls`` after it (the one before runs
beside the stream: `EngineBeforeEnd`) and a ``command -v`` for the route; on 2026-12-06 the
raw pipe alone was 1.11-1.22x that reference and this load 0.35-0.45 s more than the raw pipe
(python's copy of the tar and the hash share the two cores with zstd and dockerd).
"""

from __future__ import annotations

import os
import posixpath
import shlex
import threading
import uuid
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from installer.archive.streams import stream_decompressed
from installer.bundle.delta import check_base, needed_bases
from installer.bundle.manifest import ImageEntry
from installer.errors import HostError, RuntimeFailure, UsageError
from installer.hosts.base import Host, Result
from installer.i18n import _
from installer.runtime.images import (
    Loaded,
    Snapshot,
    missing_signed,
    parse_loaded,
    settle,
    snapshot,
)
from installer.transfer.upload import Progress, upload

LOAD_TIMEOUT = 3600


@dataclass(frozen=True)
class LoadResult:
    """How the archive went in (``stream`` or ``host``), what docker said it loaded, and what
    was put right afterwards (tags restored or removed, unlisted images removed)."""

    route: str
    loaded: Loaded
    changed: tuple[str, ...] = ()


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
_TOOLS = ("pigz", "gzip", "pixz", "xz", "zstd", "docker", "podman")


class ZstdMissingError(HostError):
    """A .tar.zst archive is on a host without zstd: `load_route` streams it instead."""


def archive_format(path: str) -> str:
    """``gzip``, ``xz``, ``zstd`` or ``tar``, from the file name."""
    for suffix, fmt in _FORMATS.items():
        if path.endswith(suffix):
            return fmt
    raise UsageError(
        _(
            "{path}: unknown image archive type (expected .tar, .tar.gz, .tar.xz or .tar.zst)"
        ).format(path=path)
    )


def host_tools(host: Host) -> set[str]:
    """Which decompressors (and docker) the host has, with one round trip."""
    script = "; ".join(f"command -v {t} >/dev/null 2>&1 && echo {t}" for t in _TOOLS) + "; true"
    return set(host.run(script).stdout.split())


def load_command(
    host: Host, path: str, tools: Optional[set[str]] = None, cli: str = "docker"
) -> str:
    """Shell text that loads the archive at ``path`` (on the host) into the host's docker.

    A failure of the decompressor or of ``docker load`` makes the whole command fail.
    """
    fmt = archive_format(path)
    p = shlex.quote(path)
    if fmt == "tar":
        return f"{cli} load -i {p}"
    have = tools if tools is not None else host_tools(host)
    for tool, template in _DECOMPRESS[fmt]:
        if tool in have:
            decompress = template.format(p=p)
            break
    else:
        if fmt == "zstd":
            raise ZstdMissingError(
                _(
                    "{name} has no zstd to unpack {posixpath}: load it by the stream route (decompresses on this machine)"
                ).format(name=host.name, posixpath=posixpath.basename(path))
            )
        raise HostError(
            _("{name} has no {fmt} to unpack {posixpath}").format(
                name=host.name, fmt=fmt, posixpath=posixpath.basename(path)
            )
        )
    # dash has no pipefail: each side reports its exit code on fd 3, docker's output stays on 1
    return (
        "exec 4>&1; "
        f"s=$( {{ {{ {decompress}; echo d$? >&3; }} | {{ {cli} load >&4; echo l$? >&3; }}; }} "
        "3>&1 ); ok=0; for x in $s; do case $x in d0|l0) ok=$((ok+1));; esac; done; "
        f'[ $ok = 2 ] || {{ echo "image load failed: $s (d=decompress, l={cli} load)" >&2; exit 1; }}'
    )


def load_route(host: Host, path: str, tools: set[str]) -> str:
    """``stream`` (decompress on the controller) or ``host`` (upload, decompress there)."""
    fmt = archive_format(path)
    if host.sees_controller_files:
        return "stream"  # the file is already here: no copy, python decompresses as fast
    if fmt == "tar" or any(tool in tools for tool, _ in _DECOMPRESS[fmt]):
        return "host"
    return "stream"


def group_command(cmd: str, pgid_file: str) -> str:
    """``cmd`` after writing its process group id to ``pgid_file``, for `kill_group`."""
    f = shlex.quote(pgid_file)
    return f"cut -d' ' -f5 /proc/$$/stat > {f} 2>/dev/null; {cmd}"


def kill_group(host: Host, pgid_file: str) -> None:
    """Kill the process group written to ``pgid_file`` (never the caller's own group)."""
    f = shlex.quote(pgid_file)
    host.run(
        f"p=$(cat {f} 2>/dev/null); rm -f {f}; me=$(cut -d' ' -f5 /proc/$$/stat); "
        'case "$p" in ""|*[!0-9]*) ;; *) [ "$p" = "$me" ] || [ "$p" -le 1 ] || '
        'kill -9 "-$p" 2>/dev/null;; esac; true',  # dash's kill takes no "--" after -9
        timeout=30,
    )


class EngineBeforeEnd:
    """The engine's images read BESIDE the stream, not before it: `docker load` registers
    nothing before its tar reader reaches the end of the archive, and the tar guard withholds
    that end until `finish` (installer.archive.streams calls it before releasing the rest),
    which waits for this snapshot. So it is still the engine before the load, read while the
    decompression runs instead of in front of it."""

    def __init__(self, host: Host, cli: str = "docker") -> None:
        self._got: list[Snapshot] = []
        self._error: list[BaseException] = []
        self._thread = threading.Thread(target=self._read, args=(host, cli), daemon=True)
        self._thread.start()

    def _read(self, host: Host, cli: str) -> None:
        try:
            self._got.append(snapshot(host, cli))
        except BaseException as exc:  # noqa: BLE001 -- handed to the caller by get()
            self._error.append(exc)

    def get(self) -> Snapshot:
        self._thread.join()
        if self._error:
            raise self._error[0]
        return self._got[0]

    def feed(self, data: bytes) -> None:
        """Inspector protocol: the bytes themselves are not needed."""

    def finish(self) -> None:
        self.get()


def _stream(
    host: Host,
    local_path: str,
    sha256: str,
    progress: Optional[Progress],
    pgid_file: str,
    before: Optional[EngineBeforeEnd],
    cli: str,
) -> Result:
    chunks = stream_decompressed(
        local_path, expected_sha256=sha256, progress=progress, inspector=before
    )
    return host.run_streaming_input(
        group_command(f"exec {cli} load", pgid_file), chunks, timeout=LOAD_TIMEOUT
    )


def _upload_then_load(
    host: Host,
    local_path: str,
    dst: str,
    sha256: str,
    tools: set[str],
    progress: Optional[Progress],
    retries: int,
    on_step: Optional[Callable[[str], None]],
    pgid_file: str,
    cli: str,
) -> Result:
    if on_step:
        on_step("upload")
    upload(host, local_path, dst, sha256=sha256, progress=progress, retries=retries)
    if on_step:
        on_step("load")
    command = load_command(host, dst, tools, cli)
    return host.run(group_command(command, pgid_file), timeout=LOAD_TIMEOUT)


def load_archive(
    host: Host,
    local_path: str,
    images: Sequence[ImageEntry],
    remote_dir: str = "/var/lib/sealbox/images",
    *,
    progress: Optional[Progress] = None,
    keep_archive: bool = False,
    retries: int = 2,
    on_step: Optional[Callable[[str], None]] = None,
    cli: str = "docker",
) -> LoadResult:
    """Load the archive holding ``images`` (manifest entries, one file) into the host's Docker
    (or Podman: ``cli``; it reads the same docker-save archives and gives the same image IDs).

    Raises RuntimeFailure (ArchiveError for a file that fails its checks) after putting the
    engine's tags right; on success every listed image is there under its signed ID and tag.
    """
    if not images or len({e.file for e in images}) != 1 or len({e.sha256 for e in images}) != 1:
        raise UsageError(
            _("{local_path}: load_archive needs the manifest entries of one archive").format(
                local_path=local_path
            )
        )
    sha256 = images[0].sha256
    listed = {e.ref: e.id for e in images}
    name = os.path.basename(local_path)
    tools = host_tools(host)
    if cli not in tools:
        raise HostError(
            _("{name} has no {cli} command: install {engine} first").format(
                name=host.name, cli=cli, engine=cli.capitalize()
            )
        )
    route = load_route(host, local_path, tools)
    try:
        host.makedirs(remote_dir, 0o700)
        run_dir = remote_dir
    except (OSError, HostError):  # not root (k8s push with docker group rights): /tmp will do
        run_dir = "/tmp"
    pgid_file = posixpath.join(run_dir, f".load-{os.getpid()}-{uuid.uuid4().hex[:8]}.pgid")
    dst = posixpath.join(remote_dir, name)
    # a delta archive leaves out layers its base images supply: the engine's images are read
    # first and the base refused before the engine sees a byte; otherwise beside the stream
    # (Docker's rule that nothing registers before the tar's end; Podman is read before it)
    delta = bool(needed_bases(images))
    beside = route == "stream" and not delta and cli == "docker"
    early = EngineBeforeEnd(host, cli) if beside else None
    before = snapshot(host, cli) if early is None else None
    if before is not None:
        check_base(images, before.ids, host.name)
    res: Optional[Result] = None
    try:
        if route == "stream":
            if on_step:
                on_step("stream")
            res = _stream(host, local_path, sha256, progress, pgid_file, early, cli)
            before = early.get() if early is not None else before
        else:
            res = _upload_then_load(
                host, local_path, dst, sha256, tools, progress, retries, on_step, pgid_file, cli
            )
        if not res.ok:
            raise RuntimeFailure(
                _(
                    "{cli} load of {local_path} failed on {name}: {res} (a damaged or truncated archive: copy the bundle again)"
                ).format(cli=cli, local_path=local_path, name=host.name, res=_detail(res))
            )
        after = snapshot(host, cli)
        missing = missing_signed(after, listed)
        if missing:
            raise RuntimeFailure(
                _(
                    "{local_path}: the load did not bring {missing} with the signed image ID; the archive is not the one the manifest lists, copy the bundle again"
                ).format(local_path=local_path, missing=", ".join(missing))
            )
    except BaseException:
        try:
            kill_group(host, pgid_file)
            if before is None and early is not None:
                before = early.get()  # the stream failed before its end: still the engine before
            assert before is not None
            loaded = parse_loaded(res.stdout, cli) if res is not None else Loaded()
            settle(host, listed, before, snapshot(host, cli), loaded, succeeded=False, cli=cli)
        except Exception:  # noqa: S110 -- the load's own error says more; a re-run settles again
            pass
        raise
    host.remove(pgid_file)
    assert before is not None
    loaded = parse_loaded(res.stdout, cli)
    changed = settle(host, listed, before, after, loaded, succeeded=True, cli=cli)
    if route == "host" and not keep_archive:
        host.remove(dst)
    return LoadResult(route, loaded, tuple(changed))


def _detail(res: Result) -> str:
    lines = [line.strip() for line in res.stderr.strip().splitlines() if line.strip()]
    return " / ".join(lines[-2:]) or res.first_error_line()
