"""envcheck over SSH on a sandbox host that looks like Kylin V10 SP3 (issue 22): the recorded
Kylin /etc/os-release bound over the host's own, and its package tools as Kylin has them (dnf
and yum, no apt-get: an overlay on /usr/bin in the host's private mount namespace). The report
names Kylin with its service pack, and the install hints in the fixes say dnf, never apt-get:
the facts were read on the host, through SSH, in the one gathering."""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

from tests.e2e.conftest import ROOT, run_cli
from tests.e2e.testhosts import SandboxHost, sandbox_hosts_fixture

kylin_hosts = sandbox_hosts_fixture(1, docker=False, scope="module")
KYLIN = ROOT / "tests" / "fixtures" / "os" / "kylin-v10-sp3-arm64.yaml"


def make_kylin(h: SandboxHost) -> None:
    facts = yaml.safe_load(KYLIN.read_text())["facts"]
    release = Path(h.hostdir, "kylin-os-release")
    release.write_text(facts["os_release"]["stdout"])
    h.exec(["mount", "--bind", str(release), "/etc/os-release"])
    upper, work = Path(h.hostdir, "usr-bin-upper"), Path(h.hostdir, "usr-bin-work")
    upper.mkdir()
    work.mkdir()
    for tool in ("dnf", "yum"):
        (upper / tool).write_text("#!/bin/sh\nexit 1\n")
        os.chmod(upper / tool, 0o755)
    os.mknod(upper / "apt-get", 0o600 | 0o020000, os.makedev(0, 0))  # overlay whiteout
    h.exec(
        ["mount", "-t", "overlay", "overlay", "-o",
         f"lowerdir=/usr/bin,upperdir={upper},workdir={work}", "/usr/bin"]
    )  # fmt: skip
    seen = h.exec(["sh", "-c", "ls /usr/bin/dnf /usr/bin/apt-get 2>&1; true"]).stdout.decode()
    assert "/usr/bin/dnf" in seen and "No such file" in seen, seen


def test_envcheck_over_ssh_names_kylin_and_hints_dnf(kylin_hosts, tmp_path) -> None:
    h = kylin_hosts[0]
    make_kylin(h)
    kh = tmp_path / "known_hosts"
    kh.write_text(h.known_hosts_line())
    res = run_cli(
        "envcheck", "default", "--no-log", "--format", "json",
        "-H", f"root@{h.address}", "--known-hosts", str(kh), "--identity", h.client_key,
        "--log-dir", str(tmp_path / "logs"),
        env={"SSH_AUTH_SOCK": ""}, timeout=180,
    )  # fmt: skip
    assert res.rc in (0, 3, 4), res.stdout[-3000:] + res.stderr[-3000:]
    doc = json.loads(res.stdout)
    report = doc["hosts"][0]["data"] if "hosts" in doc else doc
    items = {i["id"]: i for i in report["items"]}
    assert items["os"]["status"] == "pass"
    assert items["os"]["actual"] == (
        "Kylin Linux Advanced Server V10 (Lance) (ID=kylin, version V10 SP3)"
    )
    hints = [i["fix"] for i in report["items"] if "install -y" in i["fix"]]
    assert hints, "no failing item with an install hint (time-sync: no chrony in the sandbox)"
    assert all("dnf install -y" in f and "apt-get" not in f for f in hints), hints
    chrony = [i["id"] for i in report["items"] if "dnf install -y chrony" in i["fix"]]
    assert chrony == ["time-sync"], chrony
