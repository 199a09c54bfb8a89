#!/usr/bin/env python3
"""Build the demo/test images on this machine: no registry is reachable, so everything starts
from a debootstrapped Debian taken from the machine's own configured apt source.

Usage (as root): python3 demo/build_images.py [--force]
Progress goes to stderr; the last thing on stdout is one JSON object {image reference: image ID}.

Stages, each skipped when an image carrying the same build key already exists:
  1. base rootfs (debootstrap minbase + python3 and friends) -> docker import sealbox-demo/base
  2. copy of it + mariadb-server (chroot apt-get)            -> docker import (internal tag)
  3. derived images: DOCKER_BUILDKIT=0 docker build from demo/images/<name>/ (no network)
The apt source is read at run time and removed from every rootfs before import: no mirror host
name ends up in any committed file or image.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import glob
import hashlib
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterator, List, NamedTuple, Optional, Sequence

SUITE = "bookworm"
RECIPE_VERSION = "1"  # bump to force a rebuild of the rootfs images for reasons not in the code
BASE_PACKAGES = [
    "python3",
    "python3-pymysql",
    "python3-cryptography",
    "python3-yaml",
    "ca-certificates",
    "procps",
    "netbase",
]
MARIADB_PACKAGES = ["mariadb-server", "mariadb-client"]
MARIADB_SERIES = "10.11"

BASE_TAG = f"sealbox-demo/base:{SUITE}"
MARIADB_ROOTFS_TAG = f"sealbox-demo/mariadb-rootfs:{MARIADB_SERIES}"  # internal, FROM of mariadb
KEY_LABEL = "io.sealbox.build-key"
CHROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
IMPORT_CHANGES = [
    f"ENV PATH={CHROOT_PATH}",
    "ENV LANG=C.UTF-8",
    'CMD ["/bin/bash"]',
]

DEMO_DIR = Path(__file__).resolve().parent
IMAGES_DIR = DEMO_DIR / "images"


class Derived(NamedTuple):
    """An image built with a Dockerfile from one of the imported rootfs images."""

    tag: str
    build_dir: str  # under demo/images/
    parent: str


DERIVED = [
    Derived(f"sealbox-demo/mariadb:{MARIADB_SERIES}", "mariadb", MARIADB_ROOTFS_TAG),
    Derived("sealbox-demo/license-server:0.1", "license-server", BASE_TAG),
    Derived("sealbox-demo/face-server-standin:1.0", "face-server-standin", BASE_TAG),
    # the demo product's v2 (scripts/build_demo_bundle.py --version 1.1): one layer over 1.0
    Derived(
        "sealbox-demo/face-server-standin:1.1",
        "face-server-standin-1.1",
        "sealbox-demo/face-server-standin:1.0",
    ),
]
OUTPUT_TAGS = [BASE_TAG] + [d.tag for d in DERIVED]


class BuildError(Exception):
    """A failure with a message a person can act on."""


class AptSource(NamedTuple):
    """One `deb` source of the host: where to fetch packages from, never written to a file."""

    uri: str
    suites: List[str]
    components: List[str]


_T0 = time.monotonic()


def log(msg: str) -> None:
    """Progress on stderr so stdout stays pure JSON."""
    print(f"[{time.monotonic() - _T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def run(cmd: Sequence[str], **kw: object) -> subprocess.CompletedProcess:
    """Run a command, failing with its stderr tail: the build must stop at the first error."""
    kw.setdefault("check", False)
    proc = subprocess.run(list(cmd), **kw)  # type: ignore[call-overload]
    if proc.returncode != 0:
        tail = ""
        for out in (proc.stderr, proc.stdout):
            if isinstance(out, bytes):
                out = out.decode("replace")
            if isinstance(out, str) and out.strip():
                tail += "\n" + "\n".join(out.strip().splitlines()[-15:])
        raise BuildError(f"command failed ({proc.returncode}): {' '.join(cmd)}{tail}")
    return proc


# --------------------------------------------------------------------------- apt source


def _parse_deb822(text: str) -> List[Dict[str, str]]:
    """deb822 stanzas (blank-line separated, continuation lines start with a space)."""
    stanzas: List[Dict[str, str]] = []
    cur: Dict[str, str] = {}
    key = ""
    for raw in text.splitlines() + [""]:
        if raw.startswith("#"):
            continue
        if not raw.strip():
            if cur:
                stanzas.append(cur)
            cur, key = {}, ""
        elif raw[0] in " \t" and key:
            cur[key] += " " + raw.strip()
        elif ":" in raw:
            key, _, val = raw.partition(":")
            key = key.strip().lower()
            cur[key] = val.strip()
    return stanzas


def _parse_one_line(text: str) -> List[AptSource]:
    """Classic `deb [opts] uri suite comp...` lines."""
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line.startswith("deb "):
            continue
        line = re.sub(r"\[[^\]]*\]", " ", line[4:])
        parts = line.split()
        if len(parts) >= 2:
            out.append(AptSource(parts[0], [parts[1]], parts[2:] or ["main"]))
    return out


def read_apt_sources(etc_apt: str = "/etc/apt") -> List[AptSource]:
    """The host's configured `deb` sources, read at run time (never hard-coded anywhere)."""
    sources: List[AptSource] = []
    for path in sorted(glob.glob(os.path.join(etc_apt, "sources.list.d", "*.sources"))):
        for st in _parse_deb822(Path(path).read_text(errors="replace")):
            if "deb" not in st.get("types", "").split():
                continue
            if st.get("enabled", "yes").lower() == "no":
                continue
            for uri in st.get("uris", "").split():
                comps = st.get("components", "main").split()
                sources.append(AptSource(uri, st.get("suites", "").split(), comps))
    paths = [os.path.join(etc_apt, "sources.list")]
    paths += sorted(glob.glob(os.path.join(etc_apt, "sources.list.d", "*.list")))
    for path in paths:
        if os.path.isfile(path):
            sources.extend(_parse_one_line(Path(path).read_text(errors="replace")))
    return sources


def pick_sources(sources: List[AptSource], suite: str) -> List[AptSource]:
    """Sources serving `suite`, -updates and -security; the first one is the debootstrap mirror."""
    wanted = {suite, f"{suite}-updates", f"{suite}-security"}
    picked = [
        AptSource(s.uri, [x for x in s.suites if x in wanted], s.components)
        for s in sources
        if any(x in wanted for x in s.suites) and s.uri.split(":", 1)[0] in ("http", "https")
    ]
    picked.sort(key=lambda s: suite not in s.suites)  # main suite first (stable sort)
    if not picked or suite not in picked[0].suites:
        raise BuildError(
            f"no http(s) apt source for '{suite}' in /etc/apt/sources.list(.d): "
            "configure one (the images are built from the machine's own apt source)"
        )
    return picked


def sources_deb822(sources: List[AptSource]) -> str:
    """Temporary apt config for a chroot; deleted again before the rootfs is imported."""
    return "\n".join(
        f"Types: deb\nURIs: {s.uri}\nSuites: {' '.join(s.suites)}\n"
        f"Components: {' '.join(s.components)}\n"
        for s in sources
    )


# --------------------------------------------------------------------------- mounts / chroot


def mounts_under(root: Path) -> List[str]:
    """Mount points at or below root, deepest first (so they unmount cleanly)."""
    prefix = str(root.resolve())
    found = []
    with open("/proc/self/mounts") as fh:
        for line in fh:
            mnt = line.split()[1].encode().decode("unicode_escape")
            if mnt == prefix or mnt.startswith(prefix + "/"):
                found.append(mnt)
    return sorted(set(found), key=len, reverse=True)


def unmount_all(root: Path) -> None:
    """Never leave /proc (or a bind-mounted /dev) behind: a later rm -rf would go through it."""
    for mnt in mounts_under(root):
        if subprocess.run(["umount", mnt], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", mnt], capture_output=True)
    left = mounts_under(root)
    if left:
        raise BuildError(f"could not unmount {left}; unmount them by hand before retrying")


def remove_tree(path: Path) -> None:
    """rm -rf that first makes sure nothing is mounted inside and never crosses filesystems."""
    if path.exists():
        unmount_all(path)
        run(["rm", "-rf", "--one-file-system", str(path)], capture_output=True)


@contextlib.contextmanager
def chroot_env(root: Path, sources: List[AptSource]) -> Iterator[None]:
    """/proc mounted, services forbidden, apt sources present, for the duration only."""
    policy = root / "usr/sbin/policy-rc.d"
    src_file = root / "etc/apt/sources.list.d/sealbox-build.sources"
    resolv = root / "etc/resolv.conf"
    try:
        policy.write_text("#!/bin/sh\n# sealbox image build: never start services\nexit 101\n")
        policy.chmod(0o755)
        src_file.write_text(sources_deb822(sources))
        if resolv.is_symlink() or resolv.exists():
            resolv.unlink()
        shutil.copyfile("/etc/resolv.conf", resolv)
        run(["mount", "-t", "proc", "proc", str(root / "proc")], capture_output=True)
        yield
    finally:
        unmount_all(root)
        for p in (policy, src_file, resolv):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()


def in_chroot(root: Path, *cmd: str) -> None:
    """Run inside the rootfs with a clean environment (no host locale or variables leak in)."""
    env = {"PATH": CHROOT_PATH, "DEBIAN_FRONTEND": "noninteractive", "LANG": "C.UTF-8"}
    for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "no_proxy"):
        if k in os.environ:
            env[k] = os.environ[k]
    run(["chroot", str(root), *cmd], env=env, capture_output=True, text=True)


APT_OPTS = ["-y", "-q", "-o", "Dpkg::Options::=--force-confdef", "--no-install-recommends"]

SLIM_DPKG_CFG = """\
# sealbox demo images: keep them small (docs/man/locales are not needed in a container)
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
"""


# --------------------------------------------------------------------------- rootfs stages


def build_base_rootfs(target: Path, sources: List[AptSource], debs: Path) -> None:
    """debootstrap minbase with our packages, then security/updates from the same source."""
    mirror = sources[0]
    debs.mkdir(parents=True, exist_ok=True)
    # debootstrap's own resolver cannot follow virtual packages (python3-cryptography needs
    # python3-cffi-backend-api-*), so it only lays down minbase; apt-get adds the rest.
    cmd = [
        "debootstrap",
        "--variant=minbase",
        f"--components={','.join(mirror.components)}",
        f"--cache-dir={debs}",
        SUITE,
        str(target),
        mirror.uri,
    ]
    log(f"debootstrap --variant=minbase {SUITE}")
    try:
        run(cmd, capture_output=True, text=True)
    except BuildError as exc:
        logf = target / "debootstrap/debootstrap.log"
        if logf.exists():
            tail = "\n".join(logf.read_text(errors="replace").splitlines()[-15:])
            raise BuildError(f"{exc}\n--- debootstrap.log ---\n{tail}") from None
        raise
    finally:
        unmount_all(target)
    (target / "etc/dpkg/dpkg.cfg.d").mkdir(parents=True, exist_ok=True)
    (target / "etc/dpkg/dpkg.cfg.d/sealbox-slim").write_text(SLIM_DPKG_CFG)
    log(f"chroot apt-get dist-upgrade + install {' '.join(BASE_PACKAGES)}")
    with chroot_env(target, sources):
        in_chroot(target, "apt-get", "-q", "update")
        in_chroot(target, "apt-get", *APT_OPTS, "dist-upgrade")
        in_chroot(target, "apt-get", *APT_OPTS, "install", *BASE_PACKAGES)


def build_packages_rootfs(
    base: Path, target: Path, sources: List[AptSource], packages: List[str], what: str
) -> None:
    """A copy of the base rootfs with `packages` installed by apt-get in a chroot (one stage,
    shared by every image built FROM it: the packages are downloaded and unpacked once)."""
    log(f"copying base rootfs for {what}")
    run(["cp", "-a", "--one-file-system", str(base), str(target)], capture_output=True)
    log(f"chroot apt-get install {' '.join(packages)}")
    with chroot_env(target, sources):
        in_chroot(target, "apt-get", "-q", "update")
        in_chroot(target, "apt-get", *APT_OPTS, "install", *packages)


def empty_dirs(root: Path, rels: List[str]) -> None:
    """Data the packages initialised in the image; a module's data dir is always a mount."""
    for rel in rels:
        for p in (root / rel).glob("*"):
            remove_tree(p) if p.is_dir() and not p.is_symlink() else p.unlink()


def build_mariadb_rootfs(base: Path, target: Path, sources: List[AptSource]) -> None:
    """A copy of the base rootfs with mariadb-server installed by apt-get in a chroot."""
    log("copying base rootfs for mariadb")
    run(["cp", "-a", "--one-file-system", str(base), str(target)], capture_output=True)
    log(f"chroot apt-get install {' '.join(MARIADB_PACKAGES)}")
    with chroot_env(target, sources):
        in_chroot(target, "apt-get", "-q", "update")
        in_chroot(target, "apt-get", *APT_OPTS, "install", *MARIADB_PACKAGES)
    ver = subprocess.run(
        ["chroot", str(target), "mariadbd", "--version"], capture_output=True, text=True
    ).stdout
    if f"Ver {MARIADB_SERIES}." not in ver:
        raise BuildError(f"expected MariaDB {MARIADB_SERIES}, got: {ver.strip()}")
    # The package initialised a datadir in the image; ours is always a bind mount.
    for p in (target / "var/lib/mysql").glob("*"):
        remove_tree(p) if p.is_dir() else p.unlink()


def slim_rootfs(root: Path) -> None:
    """Drop apt lists/caches, the apt source, logs and host identity files before import."""
    for pattern in (
        "var/lib/apt/lists/*",
        "var/cache/apt/*",
        "var/cache/debconf/*-old",
        "var/log/*.log",
        "var/log/apt/*",
        "tmp/*",
        "var/tmp/*",
        "etc/apt/sources.list.d/*",
        "usr/share/man/*",
        "usr/share/info/*",
        "usr/share/locale/*",
    ):
        for p in root.glob(pattern):
            if p.name == "locale.alias":
                continue
            remove_tree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    (root / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
    (root / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
    for doc in (root / "usr/share/doc").glob("*/*"):
        if doc.name != "copyright":
            remove_tree(doc) if doc.is_dir() and not doc.is_symlink() else doc.unlink()
    (root / "etc/apt/sources.list").write_text(
        "# No apt source in this image: it is built for offline hosts.\n"
    )
    # Host identity debootstrap copied in; docker provides these at run time.
    (root / "etc/hostname").write_text("localhost\n")
    for name in ("etc/resolv.conf", "etc/machine-id", "var/lib/dbus/machine-id"):
        with contextlib.suppress(FileNotFoundError):
            (root / name).unlink()


# --------------------------------------------------------------------------- docker helpers


def image_label(tag: str, label: str) -> Optional[str]:
    """A label of a local image, None when the image does not exist."""
    proc = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", tag],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        return None
    labels = json.loads(proc.stdout.strip() or "null") or {}
    return labels.get(label, "")


def image_id(tag: str) -> str:
    """The local image ID (sha256:...) of a tag."""
    out = run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", tag], capture_output=True, text=True
    )
    return out.stdout.strip()


def docker_import(root: Path, tag: str, key: str) -> None:
    """tar the rootfs straight into docker import (no intermediate archive on disk)."""
    log(f"docker import {tag}")
    tar = subprocess.Popen(
        [
            "tar",
            "--numeric-owner",
            "--xattrs",
            "--exclude=./proc/*",
            "--exclude=./sys/*",
            "--exclude=./dev/*",
            "-C",
            str(root),
            "-c",
            ".",
        ],
        stdout=subprocess.PIPE,
    )
    changes: List[str] = []
    for c in IMPORT_CHANGES + [f"LABEL {KEY_LABEL}={key}"]:
        changes += ["--change", c]
    try:
        imp = subprocess.run(
            ["docker", "import", *changes, "-", tag],
            stdin=tar.stdout,
            capture_output=True,
            text=True,
        )
    finally:
        assert tar.stdout is not None
        tar.stdout.close()
        tar_rc = tar.wait()
    if imp.returncode != 0 or tar_rc != 0:
        raise BuildError(f"import of {tag} failed (tar rc {tar_rc}): {imp.stderr.strip()}")


# --------------------------------------------------------------------------- keys


def _src(*funcs: object) -> str:
    return "".join(inspect.getsource(f) for f in funcs)  # type: ignore[arg-type]


def dpkg_arch() -> str:
    """Images are per architecture; part of every key."""
    return run(["dpkg", "--print-architecture"], capture_output=True, text=True).stdout.strip()


def base_key(arch: str) -> str:
    """Changes whenever anything that shapes the base rootfs changes (not the mirror host)."""
    parts = [RECIPE_VERSION, SUITE, arch, ",".join(BASE_PACKAGES), SLIM_DPKG_CFG]
    parts.append(" ".join(APT_OPTS))
    parts.append(_src(build_base_rootfs, slim_rootfs, chroot_env, docker_import))
    parts += IMPORT_CHANGES
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def mariadb_key(bkey: str) -> str:
    """The mariadb rootfs is the base rootfs plus packages."""
    parts = [bkey, ",".join(MARIADB_PACKAGES), MARIADB_SERIES, _src(build_mariadb_rootfs)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def dir_key(parent_id: str, build_dir: Path) -> str:
    """A derived image depends on its parent image ID and every file in its build dir."""
    h = hashlib.sha256(parent_id.encode())
    for p in sorted(build_dir.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            h.update(str(p.relative_to(build_dir)).encode() + b"\0")
            h.update(p.read_bytes() + b"\0")
            h.update(str(p.stat().st_mode & 0o111).encode())
    return h.hexdigest()


# --------------------------------------------------------------------------- stages


def ensure_rootfs_image(
    tag: str, key: str, rootfs_dir: Path, build: object, force: bool, need_dir: bool = False
) -> None:
    """Skip when the image has this key; reuse a finished rootfs dir; else build it afresh.

    need_dir: the finished rootfs dir is needed by a later stage even if the image is current.
    """
    done = rootfs_dir / ".sealbox-complete"
    if not force and image_label(tag, KEY_LABEL) == key and (done.exists() or not need_dir):
        log(f"{tag}: up to date (key {key[:12]})")
        return
    if force or not done.exists():
        tmp = rootfs_dir.with_name(rootfs_dir.name + ".tmp")
        remove_tree(tmp)
        remove_tree(rootfs_dir)
        try:
            build(tmp)  # type: ignore[operator]
            slim_rootfs(tmp)
        finally:
            unmount_all(tmp)
        tmp.rename(rootfs_dir)
        done.write_text(key + "\n")
    else:
        log(f"{tag}: reusing finished rootfs {rootfs_dir}")
    done.unlink()  # keep the marker out of the image
    try:
        docker_import(rootfs_dir, tag, key)
    finally:
        done.write_text(key + "\n")


def ensure_derived(d: Derived, force: bool) -> None:
    """docker build with the legacy builder and no network: everything comes from the parent."""
    build_dir = IMAGES_DIR / d.build_dir
    stage = build_dir / "stage.py"
    if stage.is_file():  # copies what the image needs from the repository into _staged/
        run([sys.executable, str(stage)], capture_output=True, text=True)
    key = dir_key(image_id(d.parent), build_dir)
    if not force and image_label(d.tag, KEY_LABEL) == key:
        log(f"{d.tag}: up to date (key {key[:12]})")
        return
    log(f"docker build {d.tag} from demo/images/{d.build_dir}/")
    env = dict(os.environ, DOCKER_BUILDKIT="0")
    cmd = ["docker", "build", "--network=none", "--force-rm", "--label", f"{KEY_LABEL}={key}"]
    if force:
        cmd.append("--no-cache")
    run([*cmd, "-t", d.tag, str(build_dir)], env=env, capture_output=True, text=True)


def prune_cache(rootfs_root: Path, keep: List[Path]) -> None:
    """Old rootfs dirs from previous keys only cost disk."""
    for p in rootfs_root.glob("*"):
        if p not in keep:
            log(f"removing stale rootfs {p}")
            remove_tree(p)


def lock_cache(cache: Path) -> None:
    """Engine tests and these tests may both call a build: one build at a time per cache."""
    lock = open(cache / ".lock", "w")  # noqa: SIM115 - held until the process exits
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log(f"waiting for another build holding {cache / '.lock'}")
        fcntl.flock(lock, fcntl.LOCK_EX)
    _HELD.append(lock)


_HELD: List[object] = []


def main(argv: Optional[List[str]] = None) -> int:
    """Build (or reuse) every demo image and print {reference: image ID} as JSON."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--force", action="store_true", help="rebuild everything, ignoring caches")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("build_images.py: run as root (debootstrap, chroot, mount)", file=sys.stderr)
        return 2
    if shutil.which("docker") is None or shutil.which("debootstrap") is None:
        print("build_images.py: needs docker and debootstrap installed", file=sys.stderr)
        return 2
    cache = Path(os.environ.get("SEALBOX_IMAGE_CACHE", "/var/cache/sealbox-demo")).resolve()
    rootfs_root = cache / "rootfs"
    rootfs_root.mkdir(parents=True, exist_ok=True)
    lock_cache(cache)
    try:
        arch = dpkg_arch()
        bkey = base_key(arch)
        mkey = mariadb_key(bkey)
        base_dir = rootfs_root / f"base-{bkey[:16]}"
        maria_dir = rootfs_root / f"mariadb-{mkey[:16]}"
        prune_cache(rootfs_root, [base_dir, maria_dir])
        need_base = args.force or image_label(BASE_TAG, KEY_LABEL) != bkey
        need_maria = args.force or image_label(MARIADB_ROOTFS_TAG, KEY_LABEL) != mkey
        sources: List[AptSource] = []
        if need_base or need_maria:
            sources = pick_sources(read_apt_sources(), SUITE)
        ensure_rootfs_image(
            BASE_TAG,
            bkey,
            base_dir,
            lambda t: build_base_rootfs(t, sources, cache / "debs"),
            args.force,
            need_dir=need_maria,
        )
        ensure_rootfs_image(
            MARIADB_ROOTFS_TAG,
            mkey,
            maria_dir,
            lambda t: build_mariadb_rootfs(base_dir, t, sources),
            args.force,
        )
        for d in DERIVED:
            ensure_derived(d, args.force)
        result = {tag: image_id(tag) for tag in OUTPUT_TAGS}
    except BuildError as exc:
        log(f"FAILED: {exc}")
        return 1
    log("done")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
