"""envcheck on this very machine: verdicts must match what the machine really has.

Expectations are derived here from independent reads (Python's own view of /proc, psutil,
`docker info`), not from envcheck's parsers, so a parser bug shows up as a mismatch.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path
from typing import Iterator

import psutil
import pytest

from envcheck import run_checks
from installer.constants import MANAGED
from installer.hosts.local import LocalHost

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def docker(*args: str, **kw) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    return subprocess.run(["docker", *args], capture_output=True, text=True, **kw)


def docker_up() -> bool:
    return shutil.which("docker") is not None and docker("info").returncode == 0


def mem_total_kb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    raise AssertionError("no MemTotal")


def has_hypervisor_flag() -> bool:
    return " hypervisor" in Path("/proc/cpuinfo").read_text()


def listening(port: int) -> bool:
    return any(
        c.status == psutil.CONN_LISTEN and c.laddr.port == port
        for c in psutil.net_connections("tcp")
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def face():  # type: ignore[no-untyped-def]
    report = run_checks(LocalHost(), ["face-server"])
    return report, {i.id: i for i in report.items}


def test_gpu_items_fail_with_a_clear_reason_when_there_is_no_gpu(face) -> None:  # type: ignore[no-untyped-def]
    _, it = face
    if shutil.which("nvidia-smi"):
        pytest.skip("this machine has nvidia-smi")
    for item_id in ("nvidia-driver", "gpu"):
        assert it[item_id].status == "fail", it[item_id]
        assert "nvidia-smi: command not found (NVIDIA driver not installed)" in it[item_id].actual
    nvidia_pci = [
        d for d in Path("/sys/bus/pci/devices").glob("*") if (d / "vendor").read_text().strip() == "0x10de"
    ] if Path("/sys/bus/pci/devices").exists() else []  # fmt: skip
    assert ("no NVIDIA PCI device found" in it["gpu"].actual) is (not nvidia_pci)
    assert it["nvidia-runtime"].status == "fail"
    assert it["gpu"].fix.startswith("install a supported GPU")


def test_docker_items_match_docker_info(face) -> None:  # type: ignore[no-untyped-def]
    _, it = face
    up = docker_up()
    assert it["docker-running"].passed is up
    if not up:
        return
    version = docker("info", "--format", "{{.ServerVersion}}").stdout.strip()
    driver = docker("info", "--format", "{{.Driver}}").stdout.strip()
    assert it["docker-running"].actual == f"running, engine {version}"
    assert it["docker-version"].actual == f"{version} (engine)"
    assert it["storage-driver"].passed is (driver in ("overlay2", "overlayfs"))
    assert it["storage-driver"].actual.startswith(driver)


def test_machine_size_items_match_python_view(face) -> None:  # type: ignore[no-untyped-def]
    _, it = face
    kb = mem_total_kb()
    assert it["memory"].passed is (kb >= 32 * 1024 * 1024 * 0.95)
    assert f"MemTotal {kb} kB" in it["memory"].actual
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert it["cpu-cores"].actual == f"{os.cpu_count()} cores"
    assert it["cpu-cores"].passed is ((os.cpu_count() or 0) >= 4), cores
    usage = shutil.disk_usage(next(p for p in ("/opt/sealbox", "/opt", "/") if os.path.exists(p)))
    assert it["disk-install"].passed is (usage.free / 1e9 >= 100)
    assert it["arch"].actual == os.uname().machine
    assert it["kernel"].actual == os.uname().release


def on_a_nic(name: str, depth: int = 0) -> bool:
    """The kernel's word (issue 17: one NIC rule): a NIC has a `device` link; a bond, bridge or
    VLAN counts when one of its lower devices is a NIC (docker0, veth, tunnels do not)."""
    base = Path(f"/sys/class/net/{name}")
    if (base / "device").exists():
        return True
    lower = [p.name[len("lower_") :] for p in base.glob("lower_*")]
    lower += [p.name for p in base.glob("brif/*")]
    return depth < 4 and any(on_a_nic(n, depth + 1) for n in lower)


def test_selinux_nouveau_network_match(face) -> None:  # type: ignore[no-untyped-def]
    _, it = face
    if not Path("/sys/fs/selinux").exists() and not shutil.which("getenforce"):
        assert it["selinux"].passed and "not present" in it["selinux"].actual
    modules = Path("/proc/modules")
    loaded = modules.exists() and any(
        ln.split()[0] == "nouveau" for ln in modules.read_text().splitlines()
    )
    assert it["nouveau"].passed is (not loaded)
    wired = [
        f"{name} {a.address}"
        for name, addrs in psutil.net_if_addrs().items()
        for a in addrs
        if a.family == socket.AF_INET
        and on_a_nic(name)
        and not Path(f"/sys/class/net/{name}/wireless").exists()
    ]
    assert it["network"].passed is bool(wired)
    for w in wired:
        assert w in it["network"].actual


def test_port_8300_verdict_matches_reality(face) -> None:  # type: ignore[no-untyped-def]
    _, it = face
    if not listening(8300):
        assert it["ports"].status == "pass" and it["ports"].actual == "8300 free"
    else:
        assert it["ports"].actual.startswith("8300 held by")


def test_physical_item_shows_the_virtualisation_evidence() -> None:
    report = run_checks(LocalHost(), ["license-server"])
    phys = next(i for i in report.items if i.id == "physical")
    evidence = []
    if has_hypervisor_flag():
        evidence.append("CPU flag 'hypervisor'")
    if Path("/.dockerenv").exists():
        evidence.append("/.dockerenv present")
    detect = shutil.which("systemd-detect-virt")
    if detect:
        vm = subprocess.run([detect, "--vm"], capture_output=True, text=True).stdout.strip()
        if vm and vm != "none":
            evidence.append(f"systemd-detect-virt: VM {vm}")
    for e in evidence:
        assert e in phys.actual
    assert phys.passed is (not evidence and phys.actual.startswith("no sign"))
    assert phys.required
    allowed = run_checks(
        LocalHost(), ["license-server"], overrides={"physical.allow_virtual": "true"}
    )
    assert next(i for i in allowed.items if i.id == "physical").passed


def test_a_port_we_hold_is_named_with_our_pid() -> None:
    port = free_port()
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()
        report = run_checks(LocalHost(), ["face-server"], overrides={"ports.ports": str(port)})
    item = next(i for i in report.items if i.id == "ports")
    assert item.status == "fail"
    assert f"{port} held by " in item.actual and f"(pid {os.getpid()}" in item.actual


def _sleep_image_tar() -> bytes:
    """A one-binary image (sleep + its libraries from this host): no registry needed."""
    sleep = shutil.which("sleep") or "/bin/sleep"
    libs = [
        part
        for line in subprocess.run(
            ["ldd", sleep], capture_output=True, text=True
        ).stdout.splitlines()
        for part in line.split()
        if part.startswith("/")
    ]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path in [sleep, *libs]:
            tar.add(os.path.realpath(path), arcname=path.lstrip("/"))
    return buf.getvalue()


@pytest.fixture(scope="module")
def sleep_image() -> Iterator[str]:
    if not docker_up():
        pytest.skip("Docker engine not running")
    name = f"sealbox-envcheck-e2e:{uuid.uuid4().hex[:8]}"
    res = subprocess.run(
        ["docker", "import", "-", name], input=_sleep_image_tar(), capture_output=True
    )
    assert res.returncode == 0, res.stderr
    yield name
    docker("rmi", "-f", name)


@pytest.fixture(scope="module")
def network(sleep_image: str) -> Iterator[str]:
    """Our own bridge network, so the test does not depend on docker0 (others share it)."""
    name = f"envcheck-e2e-{uuid.uuid4().hex[:8]}"
    res = docker("network", "create", name)
    assert res.returncode == 0, res.stderr
    yield name
    docker("network", "rm", name)


@pytest.mark.parametrize("managed", [True, False])
def test_container_published_port_ours_free_theirs_named(
    sleep_image: str, network: str, managed: bool
) -> None:
    port = free_port()
    cname = f"envcheck-e2e-{uuid.uuid4().hex[:8]}"
    labels = ["--label", f"{MANAGED}=true"] if managed else []
    sleep = shutil.which("sleep") or "/bin/sleep"
    run = docker(
        "run",
        "-d",
        "--name",
        cname,
        "--network",
        network,
        *labels,
        "-p",
        f"127.0.0.1:{port}:{port}",
        sleep_image,
        sleep,
        "300",
    )
    try:
        assert run.returncode == 0, run.stderr
        report = run_checks(LocalHost(), ["face-server"], overrides={"ports.ports": str(port)})
    finally:
        docker("rm", "-f", cname)  # also when `run` failed half-way (created, not started)
    item = next(i for i in report.items if i.id == "ports")
    if managed:
        assert (item.status, item.actual) == (
            "pass",
            f"{port} held by our container {cname} (re-install)",
        )
    else:
        assert item.status == "fail"
        assert f"container {cname}" in item.actual


def test_cli_face_server_on_this_machine(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    log = tmp_path / "envcheck.log"
    table = subprocess.run(
        [sys.executable, "-m", "envcheck", "face-server", "--log", str(log)],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    as_json = subprocess.run(
        [sys.executable, "-m", "envcheck", "face-server", "--format", "json", "--no-log"],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    data = json.loads(as_json.stdout)
    expected = {"pass": 0, "fail": 3, "warn": 4}[data["verdict"]]
    assert table.returncode == as_json.returncode == expected
    if not shutil.which("nvidia-smi"):
        assert data["verdict"] == "fail" and expected == 3
    word = "fail" if data["verdict"] == "fail" else "pass"
    assert table.stdout.splitlines()[-1] == f"The conclusion of environment checking is: {word}"
    facts = json.loads(log.read_text())["facts"]
    assert facts["uname"]["stdout"].split()[0] == os.uname().release
