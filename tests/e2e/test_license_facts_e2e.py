"""Same facts on both sides (issue 12): on two sandbox hosts, the install gate's verdict (facts
collected over SSH) and the license server's (the real license-server image, run with the
module spec's read-only host view and --fact-root, evaluating with the server's own code)
agree for a license issued from host A's facts and for one issued for another machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Iterator, List

import pytest

from fingerprint.collect import collect
from installer import signing
from installer.hosts.ssh import SSHHost
from installer.license.issue import issue
from installer.license.shipped import fileformat
from installer.license.shipped.model import ModuleGrant
from installer.license.shipped.verify import verify_bytes
from installer.spec.load import load_modules
from tests.e2e.testhosts import can_run_docker, sandbox_hosts

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "sealbox-demo/license-server:0.1"
# What the server runs for each license (stdin: vendor.pub, then the license): its own code.
SERVER_VERDICT = r"""
import json, sys
from installer.license.shipped.fileformat import KeyRing
from installer.license.shipped.keys import public_keys_from_pem
from installer.license.shipped.server import live_facts
from installer.license.shipped.verify import verify_bytes
pub, lic = sys.stdin.read().split("\n=====\n")
ring = KeyRing(public_keys_from_pem(pub.encode(), "vendor.pub"))
v = verify_bytes(lic.encode(), ring, live=live_facts(sys.argv[1])())
print(json.dumps({"ok": v.ok, "codes": v.codes, "reason": v.reason()}))
"""


def server_view_args() -> List[str]:
    """docker run arguments for the read-only host view exactly as the module spec gives it."""
    spec = load_modules(str(ROOT / "modules"))["license-server"]
    args: List[str] = []
    for m in spec.mounts:
        args += ["-v", f"{m.host}:{m.container}:{'ro' if m.read_only else 'rw'}"]
    return args


def fact_root() -> str:
    spec = load_modules(str(ROOT / "modules"))["license-server"]
    cmd = list(spec.command)
    return cmd[cmd.index("--fact-root") + 1]


@pytest.fixture(scope="module")
def hosts() -> Iterator[list]:
    why = can_run_docker()
    if why:
        pytest.fail(why)
    res = subprocess.run(
        [sys.executable, str(ROOT / "demo" / "build_images.py")], capture_output=True
    )
    assert res.returncode == 0, res.stderr[-2000:]
    image = subprocess.run(["docker", "save", IMAGE], capture_output=True, check=True).stdout
    with sandbox_hosts(2, docker=True) as hs:
        for h in hs:
            h.exec(["docker", "load"], input=image)
        yield hs


def ssh(h, tmp_path: Path) -> SSHHost:
    kh = tmp_path / f"kh-{h.name}"
    kh.write_text(h.known_hosts_line())
    return SSHHost(
        f"root@{h.address}",
        known_hosts=str(kh),
        key_filename=h.client_key,
        use_agent=False,
        look_for_keys=False,
    )


def server_verdict(h, pub: bytes, lic: bytes) -> dict:
    argv = ["docker", "run", "--rm", "-i", "--network", "host", *server_view_args(), IMAGE]
    argv += ["python3", "-c", SERVER_VERDICT, fact_root()]
    res = h.exec(argv, input=pub + b"\n=====\n" + lic, check=False)
    assert res.returncode == 0, res.stderr.decode()[-2000:]
    return json.loads(res.stdout.decode().strip().splitlines()[-1])


def test_gate_and_server_agree_on_two_hosts(hosts: list, tmp_path: Path) -> None:
    key = signing.generate()
    ring = fileformat.KeyRing([key.public])
    a, b = (ssh(h, tmp_path) for h in hosts)
    try:
        facts = {h.name: collect(host) for h, host in zip(hosts, (a, b))}
        record_a = facts[hosts[0].name].to_record()
        other = replace(
            record_a,
            components={k: ("0" * 63 + "2",) for k in record_a.components},
            labels={**record_a.labels, "hostname": "elsewhere"},
        )
        licenses = {
            "for A": issue([record_a], modules={"face-server": ModuleGrant(1)}, days=30,
                           customer="facts", allow_vm=True),
            "for another machine": issue([other], modules={"face-server": ModuleGrant(1)},
                                         days=30, customer="facts", allow_vm=True),
        }  # fmt: skip
        seen = {}
        for label, lic in licenses.items():
            data = fileformat.render(lic, key)
            for h in hosts:
                gate = verify_bytes(data, ring, live=facts[h.name])
                server = server_verdict(h, key.public.pem(), data)
                seen[(label, h.name)] = (gate.ok, server["ok"])
                assert gate.ok == server["ok"], (label, h.name, gate.reason(), server["reason"])
        assert seen[("for A", hosts[0].name)] == (True, True), seen
        assert seen[("for another machine", hosts[0].name)] == (False, False), seen
        assert seen[("for another machine", hosts[1].name)] == (False, False), seen
    finally:
        a.close()
        b.close()
