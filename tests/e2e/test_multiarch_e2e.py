"""A two-architecture bundle (issue 22) on the real engine: verify, `se`, install on this
machine (amd64) and on a sandbox host whose engine runs the arm64 image under qemu emulation.

The sandbox host runs on this x86_64 kernel, so it reports x86_64; it stands in for an arm64
server through the visible test override ``$SEALBOX_TEST_HOST_ARCH`` (installer/facts/arch.py;
the CLI warns whenever it is set). What it runs is the real arm64 image: ``uname -m`` inside
the container says aarch64. The other architecture's archive is never read: in each install's
bundle copy it is overwritten with garbage of the same size (the opener only stats archives);
the install still succeeds, while `bundle verify` of the same copy, which reads every archive,
names it.

Kept small for CI: one module (the license server), whose arm64 image demo/build_arm64.py
builds here (debootstrap --foreign + qemu; cached by build key).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from tests.e2e.conftest import ROOT, copy_bundle, port_sets, run_cli
from tests.e2e.testhosts import SandboxHost, can_run_docker, sandbox_hosts

pytestmark = pytest.mark.e2e

DEMO_KEY = ROOT / "build" / "demo-vendor" / "vendor.key"
LICENSE_DIR = ROOT / "build" / "demo-license"
ARM_ARCHIVE = "images/images-arm64.tar.zst"
AMD_ARCHIVE = "images/images-amd64.tar.zst"
OVERRIDE = "SEALBOX_TEST_HOST_ARCH"


def _bundle(out: Path, platforms: list[str]) -> Path:
    from installer import signing
    from installer.bundle.create import BundleDefinition, create_bundle

    definition = BundleDefinition("sealbox-multiarch", "2026.12.0", ["license-server"], str(ROOT))
    create_bundle(
        definition,
        str(out),
        key=signing.load_private(str(DEMO_KEY)),
        carry=False,
        license_dir=str(LICENSE_DIR),
        platforms=platforms,
    )
    return out


@pytest.fixture(scope="module")
def arm64_images(demo_bundle) -> dict:
    """The arm64 images (built here under qemu on the first run; cached by build key)."""
    res = subprocess.run(
        [sys.executable, str(ROOT / "demo" / "build_arm64.py")], capture_output=True, text=True
    )
    assert res.returncode == 0, f"building the arm64 images failed:\n{res.stderr[-3000:]}"
    import json

    return json.loads(res.stdout)


@pytest.fixture(scope="module")
def bundles(arm64_images, tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("multiarch")
    return {
        "two": _bundle(base / "two", ["amd64", "arm64"]),
        "amd64": _bundle(base / "amd64", ["amd64"]),
    }


def _spoil(bundle: Path, rel: str) -> None:
    """Same size, other bytes: an install that read (hashed) it would be refused."""
    path = bundle / rel
    size = path.stat().st_size
    path.unlink()  # the copy hard-links archives: never write through to the original
    path.write_bytes(b"\0" * size)


def test_verify_and_se_show_both_architectures(bundles) -> None:
    from installer.bundle.manifest import load_manifest

    manifest = load_manifest(str(bundles["two"]))
    assert manifest.architectures() == ["amd64", "arm64"]
    amd, arm = (manifest.image_for("images/license-server.tar.zst", a) for a in ("amd64", "arm64"))
    assert amd is not None and arm is not None and amd.id != arm.id
    assert (amd.file, arm.file) == (AMD_ARCHIVE, ARM_ARCHIVE)
    res = run_cli("bundle", "verify", str(bundles["two"]))
    assert res.rc == 0, res.stderr[-2000:]
    assert "Architectures: linux/amd64, linux/arm64" in res.stdout
    js = run_cli("bundle", "verify", "--json", str(bundles["two"]))
    assert js.json()["architectures"] == ["amd64", "arm64"] and js.json()["archives_checked"] == 2
    se = run_cli("se", "--json", bundle=bundles["two"])
    assert se.rc == 0, se.stderr[-2000:]
    data = se.json()
    assert data["architectures"] == ["amd64", "arm64"]
    assert data["host_arch"] == "amd64" and data["host_arch_carried"]
    assert not data["host_arch_overridden"]
    text = run_cli("se", bundle=bundles["two"])
    assert "architectures: linux/amd64, linux/arm64; this host: linux/amd64" in text.stdout


def test_install_here_runs_amd64_and_never_reads_the_arm64_archive(
    bundles, ports, skip_args, tmp_path
) -> None:
    copy = copy_bundle(bundles["two"], tmp_path / "b")
    _spoil(copy, ARM_ARCHIVE)
    bad = run_cli("bundle", "verify", str(copy))  # reading it is what would notice
    assert bad.rc == 5 and ARM_ARCHIVE in bad.stderr
    state = tmp_path / "state"
    sets = port_sets({"license_port": ports["license_port"]})
    try:
        res = run_cli("in", "license-server", *sets, *skip_args, bundle=copy, state_dir=state)
        assert res.rc == 0, res.stderr[-3000:]
        li = run_cli("li", "--json", bundle=copy, state_dir=state)
        (inst,) = li.json()["instances"]
        from installer.bundle.manifest import load_manifest

        amd = load_manifest(str(copy)).image_for("images/license-server.tar.zst", "amd64")
        assert amd is not None and inst["image_id"] == amd.id == inst["signed_id"]
        out = subprocess.run(
            ["docker", "exec", inst["container"], "uname", "-m"], capture_output=True, text=True
        )
        assert out.stdout.strip() == "x86_64"
    finally:
        run_cli("rmall", "--purge", "--yes", bundle=copy, state_dir=state)


def test_a_bundle_without_the_hosts_architecture_is_refused_before_any_change(
    bundles, ports, skip_args, tmp_path
) -> None:
    state = tmp_path / "state"
    before = subprocess.run(["docker", "ps", "-aq"], capture_output=True, text=True).stdout
    res = run_cli(
        "in",
        "license-server",
        *port_sets({"license_port": ports["license_port"]}),
        *skip_args,
        bundle=bundles["amd64"],
        state_dir=state,
        env={OVERRIDE: "arm64"},
    )
    assert res.rc == 3, res.stderr[-2000:]
    (line,) = res.error_lines()
    assert "is linux/arm64" in line and "linux/amd64 only" in line and "--platform" in line
    assert "OVERRIDDEN for tests" in res.stderr  # the override is never silent
    assert not state.exists()  # no state, lock, config or data written
    after = subprocess.run(["docker", "ps", "-aq"], capture_output=True, text=True).stdout
    assert after == before


@pytest.fixture(scope="module")
def arm_host() -> Iterator[SandboxHost]:
    why = can_run_docker()
    if why:
        pytest.skip(f"sandbox hosts: {why}")
    with sandbox_hosts(1, docker=True) as hosts:
        yield hosts[0]


def test_arm64_on_a_sandbox_host_under_emulation(bundles, arm_host, tmp_path) -> None:
    from installer.bundle.manifest import load_manifest
    from tests.e2e.multihost.conftest import NEVER_SKIPPED, licensed_copy, ssh

    h = arm_host
    kh = tmp_path / "known_hosts"
    kh.write_text(h.known_hosts_line())
    copy = licensed_copy(bundles["two"], [h], str(kh), tmp_path / "b", {"face-server": 1})
    _spoil(copy, AMD_ARCHIVE)
    target = ["-H", f"root@{h.address}", "--identity", h.client_key, "--known-hosts", str(kh)]
    env = {OVERRIDE: "arm64", "SEALBOX_ALLOW_UNSIGNED": "1"}
    import envcheck

    with ssh(h, str(kh)) as host:
        report = envcheck.run_checks(
            host, ["license-server"], overrides={"disk-install.path": "/var/lib"}
        )
    failing = {f"{i.profile}/{i.id}" for i in report.failed_required() if i.id not in NEVER_SKIPPED}
    skips = [a for item in sorted(failing) for a in ("--skip-check", item)]
    res = run_cli(
        "in", "license-server", *skips, *target, "--json", bundle=copy, env=env, timeout=900
    )
    assert res.rc == 0, res.stderr[-3000:] + res.stdout[-2000:]
    assert "OVERRIDDEN for tests" in res.stderr
    arm = load_manifest(str(copy)).image_for("images/license-server.tar.zst", "arm64")
    assert arm is not None
    ran = h.exec(["docker", "inspect", "-f", "{{.Image}}", "sealbox-license-server-0"])
    assert ran.stdout.decode().strip() == arm.id
    arch = h.exec(["docker", "image", "inspect", "-f", "{{.Architecture}}", arm.id])
    assert arch.stdout.decode().strip() == "arm64"
    uname = h.exec(["docker", "exec", "sealbox-license-server-0", "uname", "-m"])
    assert uname.stdout.decode().strip() == "aarch64"
    # the amd64 image never reached that engine
    amd = load_manifest(str(copy)).image_for("images/license-server.tar.zst", "amd64")
    assert amd is not None
    assert h.exec(["docker", "image", "inspect", amd.id], check=False).returncode != 0


def test_the_carried_aarch64_wheels_work_on_arm64(arm64_images, tmp_path) -> None:
    """install.py on an arm64 server installs the lock's aarch64 wheels: here they are
    unpacked into the arm64 rootfs demo/build_arm64.py keeps, and imported by its Python 3.11
    under qemu (the compiled ones too: cryptography, psutil, zstandard, PyYAML, PyNaCl, bcrypt)."""
    import glob
    import shutil
    import zipfile

    from installer.bundle.carry import build_sealbox_wheel, download_locked, source_root
    from installer.bundle.lockfile import load_lock

    wheels = tmp_path / "wheels"
    download_locked(load_lock(source_root()), str(wheels), ["3.11"])
    build_sealbox_wheel(str(wheels))
    arm = [w for w in sorted(p.name for p in wheels.iterdir()) if "x86_64" not in w]
    assert sum("aarch64" in w for w in arm) >= 6  # one per compiled dependency
    cache = os.environ.get("SEALBOX_IMAGE_CACHE", "/var/cache/sealbox-demo")
    (root,) = [p for p in glob.glob(f"{cache}/rootfs-arm64/base-*") if not p.endswith(".tmp")]
    site = Path(root) / "tmp" / "sealbox-wheels-check"
    shutil.rmtree(site, ignore_errors=True)
    try:
        for name in arm:
            zipfile.ZipFile(wheels / name).extractall(site)
        code = (
            "import sys; sys.path.insert(0, '/tmp/sealbox-wheels-check'); import platform; "
            "import cryptography.hazmat.primitives.asymmetric.ed25519 as ed, psutil, zstandard, "
            "yaml, nacl.signing, bcrypt; ed.Ed25519PrivateKey.generate(); "
            "zstandard.ZstdCompressor().compress(b'x'); import installer.cli.app; "
            "print(platform.machine(), psutil.__file__)"
        )
        res = subprocess.run(
            ["/usr/sbin/chroot", root, "/usr/bin/python3", "-c", code],
            capture_output=True,
            text=True,
            env={"PATH": "/usr/bin:/bin"},
        )
        assert res.returncode == 0, res.stderr[-2000:]
        machine, where = res.stdout.split()
        assert machine == "aarch64" and where.startswith("/tmp/sealbox-wheels-check/")
    finally:
        shutil.rmtree(site, ignore_errors=True)
