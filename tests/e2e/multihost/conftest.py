"""Three sandbox hosts with their own dockerd, a bundle licensed for them, an inventory.

The demo bundle is copied (images hard-linked) and gets ``license/vendor.pub`` (the demo vendor
key, which the demo license-server image pins) and a ``license/license.cfg`` issued for the
three hosts' real fingerprints, collected over SSH -- what a vendor does with a customer's
finger.tar.gz. The manifest lists both files (the gate refuses an unlisted vendor.pub); the
copy is unsigned, so the runs set SEALBOX_ALLOW_UNSIGNED=1, as the other e2e tests do.

Packets between the hosts' network namespaces cross the root namespace, whose FORWARD policy
Docker sets to DROP: one ACCEPT rule for 198.18.0.0/15 <-> 198.18.0.0/15 is added for the
module and removed afterwards.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from tests.e2e.conftest import ROOT, copy_bundle
from tests.e2e.testhosts import SandboxHost, can_run_docker, sandbox_hosts

DEMO_KEY = ROOT / "build" / "demo-vendor" / "vendor.key"
LICENSE_IMAGE = "sealbox-demo/license-server:0.1"
FORWARD_RULE = ["-s", "198.18.0.0/15", "-d", "198.18.0.0/15", "-j", "ACCEPT"]
NEVER_SKIPPED = {"ports", "docker-installed", "docker-running"}


def _forward(add: bool) -> None:
    if add:
        subprocess.run(["iptables", "-I", "FORWARD", "1", *FORWARD_RULE], check=True)
    else:
        subprocess.run(["iptables", "-D", "FORWARD", *FORWARD_RULE], capture_output=True)


@pytest.fixture(scope="package")
def three_hosts() -> Iterator[list[SandboxHost]]:
    why = can_run_docker()
    if why:
        pytest.skip(f"sandbox hosts: {why}")
    _forward(True)
    try:
        with sandbox_hosts(3, docker=True) as hosts:
            yield hosts
    finally:
        _forward(False)


@pytest.fixture(scope="package")
def known_hosts(three_hosts, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("kh") / "known_hosts"
    path.write_text("".join(h.known_hosts_line() for h in three_hosts))
    return str(path)


def ssh(h: SandboxHost, known_hosts: str):
    from installer.hosts.ssh import SSHHost

    return SSHHost(
        f"root@{h.address}",
        key_filename=h.client_key,
        known_hosts=known_hosts,
        use_agent=False,
        look_for_keys=False,
    )


def licensed_copy(
    src: Path, hosts: list[SandboxHost], known_hosts: str, dest: Path, modules: dict[str, int]
) -> Path:
    """A copy of bundle `src` at `dest` with a license for the real fingerprints of `hosts`
    (collected over SSH) granting `modules` (name -> instances), listed in its manifest."""
    from fingerprint.collect import collect
    from installer import signing
    from installer.bundle.manifest import load_manifest, write_manifest
    from installer.license.issue import issue
    from installer.license.shipped import fileformat
    from installer.license.shipped.model import ModuleGrant

    if not DEMO_KEY.exists():
        pytest.fail(f"{DEMO_KEY} missing: build the demo images (demo/build_images.py)")
    key = signing.load_private(str(DEMO_KEY))
    pinned = subprocess.run(
        ["docker", "run", "--rm", "--network=none", LICENSE_IMAGE, "cat", "/app/pinned/vendor.pub"],
        capture_output=True,
    ).stdout
    assert pinned == key.public.pem(), f"{LICENSE_IMAGE} does not pin {DEMO_KEY}.pub"
    bundle = copy_bundle(src, dest)
    records = []
    for h in hosts:
        with ssh(h, known_hosts) as host:
            records.append(collect(host).to_record(name=f"secfile_{h.address}"))
    lic = issue(
        records,
        modules={name: ModuleGrant(n) for name, n in modules.items()},
        days=30,
        customer="multihost e2e",
        allow_vm=True,  # CI machines are VMs / containers
        # 2 of the recorded components must match: the sandbox hosts now have their own
        # machine-id, disk serial and NIC (testhosts.py), so this is only lenient.
        required=2,
    )
    (bundle / "license").mkdir(exist_ok=True)
    (bundle / "license" / "vendor.pub").write_bytes(key.public.pem())
    (bundle / "license" / "license.cfg").write_bytes(fileformat.render(lic, key))
    manifest = load_manifest(str(bundle))
    for rel in ("license/vendor.pub", "license/license.cfg"):
        manifest.files[rel] = hashlib.sha256((bundle / rel).read_bytes()).hexdigest()
    write_manifest(str(bundle), manifest)
    sig = bundle / "manifest.sig"
    if sig.exists():
        sig.unlink()  # the manifest changed: this copy is a development bundle
    return bundle


@pytest.fixture(scope="package")
def licensed_bundle(demo_bundle, three_hosts, known_hosts, tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("mh") / "bundle"
    return licensed_copy(demo_bundle, three_hosts, known_hosts, dest, {"face-server": 4})


@pytest.fixture(scope="package")
def host_skips(three_hosts, known_hosts) -> list[str]:
    """`--skip-check` for the required items these test hosts fail (GPU, cores, VM...), found
    by running envcheck on them over SSH; ports and Docker are never skipped."""
    import envcheck

    items: set[str] = set()
    for h in three_hosts:
        with ssh(h, known_hosts) as host:
            report = envcheck.run_checks(
                host,
                ["license-server", "mysql", "face-server"],
                overrides={"disk-install.path": "/var/lib"},
            )
        items |= {
            f"{i.profile}/{i.id}" for i in report.failed_required() if i.id not in NEVER_SKIPPED
        }
    return [a for item in sorted(items) for a in ("--skip-check", item)]


@pytest.fixture(scope="package")
def inventory(three_hosts, tmp_path_factory) -> Path:
    a, b, c = three_hosts
    doc = {
        "defaults": {"user": "root", "key": a.client_key, "connect_timeout": 5},
        "hosts": {
            "lic": {"address": a.address, "modules": ["license-server"]},
            "db": {"address": b.address, "modules": ["mysql"]},
            "gpu1": {
                "address": c.address,
                "modules": {"face-server": {"instances": 1}},
                "vars": {"license_check_interval": 3},
            },
        },
    }
    path = tmp_path_factory.mktemp("inv") / "inventory.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run_cli(*args: str, timeout: int = 900):
    from tests.e2e.conftest import run_cli as _run

    return _run(*args, env={"SEALBOX_ALLOW_UNSIGNED": "1"}, timeout=timeout)


def python() -> str:
    return sys.executable


def env_without_agent() -> dict:
    env = dict(os.environ)
    env.pop("SSH_AUTH_SOCK", None)
    return env
