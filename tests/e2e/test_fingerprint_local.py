"""End to end on this real machine: collect -> pack -> check -> inspect, facts cross-checked
against independent reads (psutil, /sys, /proc) rather than against our own parser."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from fingerprint import MatchPolicy, collect, load_secfile, match, read_archive  # noqa: E402
from fingerprint.compare import SHARED_BY_MODEL  # noqa: E402
from installer.hosts import LocalHost  # noqa: E402

pytestmark = pytest.mark.e2e


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "fingerprint.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"},
    )
    if check:
        assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc


def v1(kind: str, value: str) -> str:
    key = b"sealbox-fingerprint\x00hmac-sha256-v1\x00sealbox"
    return hmac.new(key, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()


def default_route_ipv4() -> str:
    """Independent of `ip`: /proc/net/route for the interface, psutil for its address."""
    with open("/proc/net/route") as fh:
        for line in fh.readlines()[1:]:
            fields = line.split()
            if fields[1] == "00000000":
                for addr in psutil.net_if_addrs()[fields[0]]:
                    if addr.family == socket.AF_INET:
                        return addr.address
    pytest.skip("this machine has no default IPv4 route")


def physical_macs() -> set:
    macs = set()
    for name in os.listdir("/sys/class/net"):
        base = f"/sys/class/net/{name}"
        real = os.path.realpath(base)
        if "/virtual/" in real or not os.path.exists(f"{base}/device"):
            continue
        if any(os.path.exists(f"{base}/{x}") for x in ("bridge", "bonding", "tun_flags")):
            continue
        with open(f"{base}/addr_assign_type") as fh:
            if fh.read().strip() in ("1", "3"):
                continue
        perm = f"{base}/bonding_slave/perm_hwaddr"
        with open(perm if os.path.exists(perm) else f"{base}/address") as fh:
            macs.add(fh.read().strip().lower())
    return macs


def test_collect_pack_check_inspect_on_this_machine(tmp_path: Path):
    secdir = tmp_path / "secfiles"
    res = cli("collect", "-o", str(secdir), "--json")
    data = json.loads(res.stdout)
    ip = default_route_ipv4()
    path = Path(data["path"])
    assert path == secdir / f"secfile_{ip}" and path.exists()
    record = load_secfile(path.read_bytes(), name=path.name)

    with open("/etc/machine-id") as fh:
        machine_id = fh.read().strip()
    assert record.components["machine_id"] == (v1("machine_id", machine_id.lower()),)
    assert machine_id.encode() not in path.read_bytes()  # no raw serial leaves the machine

    macs = physical_macs()
    if macs:
        assert set(record.components["macs"]) == {v1("macs", m) for m in macs}
    else:
        assert "macs" in record.missing

    with open("/proc/cpuinfo") as fh:
        cpuinfo = fh.read()
    model = next(
        ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name")
    )
    assert record.labels["cpu_model"] == " ".join(model.split())
    assert record.labels["hostname"] == socket.gethostname()
    assert record.labels["memory_bytes"] == psutil.virtual_memory().total
    assert record.labels["cpu_count"] == psutil.cpu_count()
    assert record.labels["primary_ip"] == ip

    detect = shutil.which("systemd-detect-virt")
    vm = (
        subprocess.run([detect, "--vm"], capture_output=True, text=True).stdout.strip()
        if detect
        else ""
    )
    if vm and vm != "none":
        assert record.labels["vm"] == vm
    elif " hypervisor" in cpuinfo:
        assert record.labels["vm"]
    else:
        assert record.labels["vm"] is None

    dmi = "/sys/class/dmi/id/product_uuid"
    if os.path.exists(dmi) and os.geteuid() == 0:
        assert (
            "product_uuid" in record.components or "placeholder" in record.missing["product_uuid"]
        )
    else:
        assert "product_uuid" in record.missing

    archive = tmp_path / "finger.tar.gz"
    cli("pack", str(secdir), "-o", str(archive))
    res = cli("check", str(archive), "--json")
    assert json.loads(res.stdout)["ok"] is True
    res = cli("inspect", str(archive), "--previous", str(archive), "--json")
    report = json.loads(res.stdout)
    assert [m["labels"]["hostname"] for m in report["machines"]] == [socket.gethostname()]
    assert report["changes"] == [{"machine": path.name, "previous": path.name, "changes": []}]
    assert "VM" in cli("inspect", str(archive)).stdout or record.labels["vm"] is None

    # the license side: this machine matches the archive it was fingerprinted into
    licensed = read_archive(str(archive))[0]
    live = collect(LocalHost())
    # every identity component must match (the CPU model, shared by a whole model, never counts)
    identity = [k for k in licensed.components if k not in SHARED_BY_MODEL]
    result = match(licensed, live, MatchPolicy(required=len(identity)))
    assert result.ok and result.differing == (), result.explain()


def test_collect_is_stable_across_runs():
    a = collect(LocalHost()).to_record()
    b = collect(LocalHost()).to_record()
    assert a.components == b.components and a.missing == b.missing


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root + setpriv")
def test_collect_as_unprivileged_user_still_writes():
    out = Path(tempfile.mkdtemp(prefix="fp-e2e-"))  # pytest's tmp_path is 0700: nobody cannot enter
    os.chmod(out, 0o777)
    request_cleanup = out
    proc = subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            sys.executable,
            "-m",
            "fingerprint.cli",
            "collect",
            "-o",
            str(out),
            "--json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    if (
        proc.returncode != 0
        and "Permission denied" in proc.stderr
        and "python" in proc.stderr.lower()
    ):
        pytest.skip("the venv is not readable by nobody")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["record"]["labels"]["collected_as_root"] is False
    assert Path(data["path"]).exists()
    if os.path.exists("/sys/class/dmi/id/product_uuid"):
        assert "root" in data["record"]["missing"]["product_uuid"]
        assert "not root" in proc.stderr
    shutil.rmtree(request_cleanup, ignore_errors=True)
