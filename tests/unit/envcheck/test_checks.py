"""Checks per recorded host and per odd case: pass, fail and missing-command verdicts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from envcheck import KINDS, Item, run_checks
from envcheck.checks_podman import FOR_PODMAN

from .conftest import recorded_host

PODMAN_KINDS = set(FOR_PODMAN.values())


def items(host: str, profiles: list[str], **swap: Any) -> dict[str, Item]:
    """{'profile/id': Item} for one recorded host."""
    report = run_checks(recorded_host(host, **swap), profiles)
    assert not report.errors(), [i.error for i in report.errors()]
    return {f"{i.profile}/{i.id}": i for i in report.items}


def statuses(host: str, profile: str, **swap: Any) -> dict[str, str]:
    return {k.split("/", 1)[1]: i.status for k, i in items(host, [profile], **swap).items()}


ASCEND_KINDS = ("npu-driver", "npu", "ascend-runtime")
"""Not in face-server's (NVIDIA) profile: a module whose accelerator is Ascend brings them."""
ASCEND_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ascend"

FACE_EXPECTED = {
    "centos7-docker1712": {
        "os": "pass", "arch": "pass", "kernel": "pass", "glibc": "pass", "gcc": "pass",
        "cpu-cores": "pass", "memory": "pass", "disk-install": "fail", "disk-docker": "pass",
        "docker-installed": "pass", "docker-version": "pass", "docker-running": "pass",
        "storage-driver": "fail", "selinux": "fail", "firewall": "warn",
        "nvidia-driver": "fail", "nvidia-driver-recommended": "warn", "gpu": "pass",
        "nouveau": "pass", "kernel-headers": "pass", "nvidia-runtime": "pass",
        "network": "pass", "ports": "fail", "time-sync": "pass",
    },
    "ubuntu1604-vmware": {
        "os": "pass", "arch": "pass", "kernel": "pass", "glibc": "pass", "gcc": "warn",
        "cpu-cores": "pass", "memory": "fail", "disk-install": "pass", "disk-docker": "pass",
        "docker-installed": "pass", "docker-version": "pass", "docker-running": "fail",
        "storage-driver": "fail", "selinux": "pass", "firewall": "warn",
        "nvidia-driver": "fail", "nvidia-driver-recommended": "warn", "gpu": "fail",
        "nouveau": "fail", "kernel-headers": "pass", "nvidia-runtime": "fail",
        "network": "pass", "ports": "pass", "time-sync": "warn",
    },
    # every kind a Docker host's profiles name (the Podman kinds stand in on Podman hosts only)
    "ubuntu2004-healthy": {
        k: "pass" for k in KINDS if k not in ("physical", *ASCEND_KINDS, *PODMAN_KINDS)
    },
    "ubuntu2204-kvm-vgpu": {
        "os": "pass", "arch": "pass", "kernel": "pass", "glibc": "pass", "gcc": "pass",
        "cpu-cores": "pass", "memory": "pass", "disk-install": "pass", "disk-docker": "pass",
        "docker-installed": "pass", "docker-version": "pass", "docker-running": "pass",
        "storage-driver": "pass", "selinux": "pass", "firewall": "pass",
        "nvidia-driver": "pass", "nvidia-driver-recommended": "pass", "gpu": "fail",
        "nouveau": "pass", "kernel-headers": "pass", "nvidia-runtime": "pass",
        "network": "pass", "ports": "pass", "time-sync": "warn",
    },
    "rhel8-nodocker": {
        "os": "pass", "arch": "pass", "kernel": "pass", "glibc": "pass", "gcc": "pass",
        "cpu-cores": "pass", "memory": "pass", "disk-install": "fail", "disk-docker": "pass",
        "docker-installed": "fail", "docker-version": "fail", "docker-running": "fail",
        "storage-driver": "fail", "selinux": "pass", "firewall": "warn",
        "nvidia-driver": "fail", "nvidia-driver-recommended": "warn", "gpu": "fail",
        "nouveau": "fail", "kernel-headers": "warn", "nvidia-runtime": "fail",
        "network": "pass", "ports": "pass", "time-sync": "pass",
    },
}  # fmt: skip


@pytest.mark.parametrize("host", sorted(FACE_EXPECTED))
def test_face_server_verdicts_per_recorded_host(host: str) -> None:
    assert statuses(host, "face-server") == FACE_EXPECTED[host]


def test_healthy_host_passes_every_profile_without_false_alarm() -> None:
    report = run_checks(
        recorded_host("ubuntu2004-healthy"),
        ["default", "mysql", "face-server", "offline-security-server"],
    )
    assert report.profiles == ["default", "mysql", "face-server", "license-server"]
    assert [i.id for i in report.items if not i.passed] == []
    assert report.verdict == "pass"
    assert report.conclusion == "The conclusion of environment checking is: pass"


def test_legacy_centos_reasons_name_the_problem() -> None:
    it = items("centos7-docker1712", ["face-server"])
    assert it["face-server/storage-driver"].actual == "devicemapper, base device size 10.74 GB"
    assert it["face-server/selinux"].actual == "enforcing"
    assert "375.26" in it["face-server/nvidia-driver"].actual
    assert it["face-server/nvidia-driver"].fix == "install driver 384.66 or later"
    assert it["face-server/ports"].actual == "8300 held by nginx (pid 2310), nginx (pid 2311)"
    assert it["face-server/docker-version"].actual == "17.12.0-ce (engine)"
    assert it["face-server/os"].actual.endswith("(ID=centos, version 7.4.1708)")
    assert it["face-server/firewall"].actual.startswith("firewalld is running")
    assert it["face-server/disk-install"].actual.startswith(
        "46.9 GB free on / (/dev/mapper/centos-root)"
    )


def test_no_driver_says_whether_the_card_is_there() -> None:
    vm = items("ubuntu1604-vmware", ["face-server"])
    assert vm["face-server/gpu"].actual == (
        "no GPU visible: nvidia-smi: command not found (NVIDIA driver not installed); "
        "1 NVIDIA PCI device(s) present (0000:0b:00.0)"
    )
    assert vm["face-server/nouveau"].actual == "nouveau is loaded"
    rhel = items("rhel8-nodocker", ["face-server"])
    assert "couldn't communicate with the NVIDIA driver" in rhel["face-server/nvidia-driver"].actual
    real = items("debian12-kvm", ["face-server"])
    assert real["face-server/gpu"].actual.endswith("no NVIDIA PCI device found")


def test_docker_daemon_down_and_missing() -> None:
    vm = items("ubuntu1604-vmware", ["default"])
    assert vm["default/docker-running"].actual.startswith("Cannot connect to the Docker daemon")
    assert vm["default/docker-version"].actual == "18.09.7 (client; daemon not reachable)"
    rhel = items("rhel8-nodocker", ["default"])
    assert rhel["default/docker-installed"].actual == "docker: command not found (not installed)"
    denied = items("ubuntu2004-healthy", ["default"], docker_info="docker_info_permission_denied")
    assert "permission denied" in denied["default/docker-running"].actual
    new = items("ubuntu2004-healthy", ["default"], docker_info="docker_info_down_new_client")
    assert new["default/docker-running"].status == "fail"


def test_old_rhel_docker_113_is_too_old() -> None:
    it = items("ubuntu2004-healthy", ["default"], docker_version="docker_version_old_rhel")
    assert it["default/docker-version"].status == "fail"
    assert it["default/docker-version"].actual == "1.13.1 (engine)"


def test_storage_driver_devicemapper_direct_lvm_30g_passes_aufs_fails() -> None:
    ok = statuses(
        "ubuntu2004-healthy", "default", docker_info="docker_info_devicemapper_direct_lvm"
    )
    assert ok["storage-driver"] == "pass"
    bad = items("ubuntu2004-healthy", ["default"], docker_info="docker_info_aufs")
    assert (bad["default/storage-driver"].status, bad["default/storage-driver"].actual) == (
        "fail",
        "aufs",
    )


def test_gpu_memory_threshold_accepts_6gb_cards_and_rejects_4gb() -> None:
    six = statuses("ubuntu2004-healthy", "face-server", nvidia_smi="nvidia_smi_gtx1060_6gb_384_66")
    assert (six["gpu"], six["nvidia-driver"], six["nvidia-driver-recommended"]) == (
        "pass",
        "pass",
        "pass",
    )
    four = items("ubuntu2004-healthy", ["face-server"], nvidia_smi="nvidia_smi_gtx1050ti_4gb")
    assert four["face-server/gpu"].status == "fail"
    assert four["face-server/gpu"].actual.startswith("too little GPU memory")
    none = statuses("ubuntu2004-healthy", "face-server", nvidia_smi="nvidia_smi_no_devices")
    assert none["gpu"] == none["nvidia-driver"] == "fail"


def test_vgpu_is_rejected() -> None:
    it = items("ubuntu2204-kvm-vgpu", ["face-server"], nvidia_smi={
        "rc": 0,
        "stdout": "index, name, memory.total [MiB], driver_version, pci.bus_id\n"
        "0, GRID P40-24Q, 24576 MiB, 535.129.03, 00000000:00:07.0\n",
    })  # fmt: skip
    assert it["face-server/gpu"].actual.startswith("virtual GPU (vGPU)")


def test_memory_slack_avoids_false_alarm_on_a_32gb_machine() -> None:
    it = items("ubuntu2204-kvm-vgpu", ["face-server"])  # 32 GB VM shows 31.3 GiB
    assert it["face-server/memory"].status == "pass"
    assert it["face-server/memory"].actual.startswith("31.3 GiB")


def test_selinux_variants() -> None:
    assert (
        statuses("centos7-docker1712", "default", getenforce="getenforce_disabled")["selinux"]
        == "pass"
    )
    only_file = statuses("centos7-docker1712", "default", getenforce={"rc": 127})
    assert only_file["selinux"] == "fail"  # /sys/fs/selinux/enforce says 1
    absent = items("debian12-kvm", ["default"])["default/selinux"]
    assert absent.status == "pass" and "not present" in absent.actual


def test_firewall_variants() -> None:
    def fw(**swap: Any) -> Item:
        return items("ubuntu2004-healthy", ["license-server"], **swap)["license-server/firewall"]

    assert fw().status == "pass"
    assert fw(iptables_input="iptables_reject_no_docker").status == "warn"
    assert fw(iptables_input="iptables_drop_docker_open").status == "pass"
    blind = fw(iptables_input="iptables_not_root")
    assert blind.status == "warn" and "Permission denied" in blind.actual


def test_physical_machine_evidence() -> None:
    vm = items("ubuntu2204-kvm-vgpu", ["license-server"])["license-server/physical"]
    assert vm.status == "fail" and vm.required
    assert vm.actual == (
        "virtual: systemd-detect-virt: VM kvm; CPU flag 'hypervisor'; DMI sys_vendor=QEMU"
    )
    vmware = items("ubuntu1604-vmware", ["license-server"])["license-server/physical"]
    assert (
        "VM vmware" in vmware.actual and "DMI product_name=VMware Virtual Platform" in vmware.actual
    )
    metal = items("rhel8-nodocker", ["license-server"])["license-server/physical"]
    assert (metal.status, metal.actual) == ("pass", "no sign of virtualisation (vendor HPE)")
    podman = items(
        "rhel8-nodocker", ["license-server"], container_markers="container_markers_podman"
    )
    assert podman["license-server/physical"].actual == "virtual: /run/.containerenv present"


def test_license_allowing_vms_is_a_threshold() -> None:
    report = run_checks(
        recorded_host("ubuntu2204-kvm-vgpu"),
        ["license-server"],
        overrides={"physical.allow_virtual": "true"},
    )
    item = next(i for i in report.items if i.id == "physical")
    assert item.passed and "allowed by physical.allow_virtual" in item.actual
    assert item.requirement == "any machine (license allows VMs)"


def test_network_needs_a_wired_ipv4() -> None:
    assert statuses("rhel8-nodocker", "default")["network"] == "pass"  # bond0
    assert (
        items("ubuntu2204-kvm-vgpu", ["default"])["default/network"].actual == "br0 10.30.4.77/24"
    )
    wifi = items(
        "ubuntu2004-healthy",
        ["default"],
        ip_addr="ip_addr_wifi_only",
        net_ifaces="net_ifaces_wifi_only",
    )["default/network"]
    assert (wifi.status, wifi.actual) == (
        "fail",
        "no wired IPv4 (wireless only: wlp2s0 192.168.31.120/24)",
    )


def test_ports_our_container_counts_as_free() -> None:
    face = items("ubuntu2004-healthy", ["face-server"])["face-server/ports"]
    assert face.actual == "8300 held by our container sealbox-face-server-0 (re-install)"
    mysql = items("ubuntu2204-kvm-vgpu", ["mysql"])["mysql/ports"]  # host network, via cgroup
    assert (mysql.status, mysql.actual) == (
        "pass",
        "5535 held by our container sealbox-mysql-0 (re-install)",
    )


def test_ports_someone_elses_container_or_process_is_named() -> None:
    lic = items("ubuntu2204-kvm-vgpu", ["license-server"])["license-server/ports"]
    assert lic.status == "fail"
    assert lic.actual == (
        "8887 held by docker-proxy (pid 3312, container license_srv_old), "
        "docker-proxy (pid 3319, container license_srv_old)"
    )
    unmanaged = {"rc": 0, "stdout": "3f1e\tsealbox-face-server-0\t0.0.0.0:8300->8300/tcp\t\n"}
    it = items("ubuntu2004-healthy", ["face-server"], containers=unmanaged)["face-server/ports"]
    assert it.status == "fail" and "container sealbox-face-server-0" in it.actual


def test_ports_without_process_names_or_without_ss() -> None:
    blind = items("ubuntu2004-healthy", ["face-server"], ss="ss_not_root")["face-server/ports"]
    assert (blind.status, blind.actual) == (
        "fail",
        "8300 held by a process we cannot see (run as root to name it)",
    )
    java = items(
        "rhel8-nodocker", ["license-server"], ss="ss_missing_dash", netstat="netstat_java_8887"
    )
    assert java["license-server/ports"].actual == "8887 held by java (pid 3021)"
    none = items(
        "rhel8-nodocker", ["license-server"], ss="ss_missing_dash", netstat="netstat_missing_dash"
    )
    assert none["license-server/ports"].actual.startswith("cannot list listening ports")


NO_PODMAN = {"rc": 127, "stdout": "", "stderr": "sh: 1: podman: not found"}
FULL_DOCKER_DISK = {
    "rc": 0,
    "stdout": "path: /var/lib/docker\nchecked: /var/lib/docker\n"
    "Filesystem     1024-blocks      Used Available Capacity Mounted on\n"
    "/dev/sda3        102687672  81920000  15526384      85% /var/lib/docker\n",
}


def test_disk_docker_data_root_too_full() -> None:
    it = items("ubuntu2004-healthy", ["mysql"], df_docker=FULL_DOCKER_DISK)["mysql/disk-docker"]
    assert it.status == "fail"
    assert it.actual == "15.9 GB free on /var/lib/docker (/dev/sda3) for /var/lib/docker"
    assert "data-root" in it.fix


def test_time_sync_sources() -> None:
    assert (
        items("rhel8-nodocker", ["default"])["default/time-sync"].actual
        == "synchronised (timedatectl)"
    )
    only_chrony = items("rhel8-nodocker", ["default"], timedatectl="timedatectl_no_systemd")
    assert only_chrony["default/time-sync"].actual == "synchronised (chronyc)"
    nothing = items("debian12-kvm", ["default"], ntpstat="ntpstat_unsynchronised")[
        "default/time-sync"
    ]
    assert nothing.status == "warn" and "ntpstat: not synchronised" in nothing.actual


def test_glibc_musl_fails() -> None:
    it = items(
        "ubuntu2004-healthy", ["default"], glibc_getconf={"rc": 1}, ldd_version="glibc_musl_ldd"
    )
    assert it["default/glibc"].status == "fail"
    assert "musl" in it["default/glibc"].actual


def test_os_not_supported_or_too_old() -> None:
    old = {"rc": 0, "stdout": 'ID="centos"\nVERSION_ID="7"\nPRETTY_NAME="CentOS Linux 7 (Core)"\n'}
    it = items(
        "centos7-docker1712",
        ["face-server"],
        os_release=old,
        redhat_release={"rc": 0, "stdout": "CentOS Linux release 7.1.1503 (Core)\n"},
    )["face-server/os"]
    assert it.status == "fail" and "older than 7.2" in it.actual
    arch = {"rc": 0, "stdout": 'ID=arch\nPRETTY_NAME="Arch Linux"\n'}
    assert (
        "not a supported distribution"
        in items("debian12-kvm", ["default"], os_release=arch)["default/os"].actual
    )


SCENARIOS: list[tuple[str, dict[str, Any]]] = [
    (h, {}) for h in sorted(FACE_EXPECTED) + ["debian12-kvm"]
] + [
    ("ubuntu2004-healthy", {"nvidia_smi": "nvidia_smi_gtx1050ti_4gb", "uname": {"rc": 0, "stdout": "2.6.32-754.el6.ppc64 ppc64le\n"}}),
    ("ubuntu2004-healthy", {"df_docker": FULL_DOCKER_DISK, "cpu_count": {"rc": 0, "stdout": "1\n"}, "ip_addr": "ip_addr_wifi_only", "net_ifaces": "net_ifaces_wifi_only"}),
    ("ubuntu2004-healthy", {"glibc_getconf": {"rc": 1}, "ldd_version": "glibc_musl_ldd", "os_release": {"rc": 0, "stdout": "ID=arch\n"}}),
    ("debian12-kvm", {
        "npu_smi": {"rc": 0, "stdout": (ASCEND_FIXTURES / "npu-smi-info-910b4-2npu.txt").read_text()},
        "docker_info": {"rc": 0, "stdout": (ASCEND_FIXTURES / "docker-info-24.0-ascend.json").read_text()},
    }),
]  # fmt: skip
NPU_ITEMS = [{"id": k, "profile": "default"} for k in ASCEND_KINDS]


def test_every_check_kind_can_pass_and_can_fail() -> None:
    seen: dict[str, set[bool]] = {k: set() for k in KINDS}
    for host, swap in SCENARIOS:
        report = run_checks(
            recorded_host(host, **swap),
            ["default", "license-server", "mysql", "face-server"],
            extra_items=NPU_ITEMS,
        )
        for i in report.items:
            seen[i.id].add(i.passed)
    # a Podman host (runtime podman): its items pass on the recorded Debian 12 host with
    # podman 4.3.1, and fail where podman is missing and its graph root full
    full = {
        **FULL_DOCKER_DISK,
        "stdout": FULL_DOCKER_DISK["stdout"].replace("docker", "containers"),
    }
    cdi = {"rc": 0, "stdout": "/etc/cdi/nvidia.yaml\n"}
    for swap in (
        {"cdi_nvidia": cdi},
        {"podman_version": NO_PODMAN, "podman_info": NO_PODMAN, "df_podman": full},
    ):
        report = run_checks(
            recorded_host("debian12-kvm", **swap), ["default", "face-server"], runtime="podman"
        )
        for i in report.items:
            seen[i.id].add(i.passed)
    assert {k: v for k, v in seen.items() if v != {True, False}} == {}


def test_a_podman_host_is_judged_by_the_podman_items() -> None:
    """Docker's items in a module's profile stand for "the container engine": on a Podman-only
    host (auto picks Podman) each is judged by its Podman counterpart, required as it was."""
    host = recorded_host("debian12-kvm", docker_version=NO_PODMAN, docker_info=NO_PODMAN)
    report = run_checks(host, ["face-server"], runtime="auto", skip=["docker-running"])
    got = {i.id: i for i in report.items}
    assert not {"docker-installed", "docker-version", "docker-running"} & set(got)
    assert got["podman-installed"].passed and got["podman-installed"].actual == "podman 4.3.1"
    assert got["podman-version"].passed and got["podman-running"].passed
    assert got["podman-running"].actual.startswith("rootful")
    assert got["disk-podman"].passed and got["podman-storage-driver"].actual == "overlay"
    assert got["podman-running"].skipped  # --skip-check docker-running skips its counterpart
    assert not got["nvidia-cdi"].passed and "nvidia-ctk cdi generate" in got["nvidia-cdi"].fix
    # the same host with Docker keeps Docker's items
    docker = run_checks(recorded_host("debian12-kvm"), ["face-server"], runtime="auto")
    assert "docker-running" in {i.id for i in docker.items}
    assert not PODMAN_KINDS & {i.id for i in docker.items}
