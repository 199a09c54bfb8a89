"""Parsers on recorded real output, per fact and per host, including missing commands."""

from __future__ import annotations

import pytest

from installer.facts import machine, net, parse, runtime
from installer.facts.catalog import STATIC_FACTS, fact
from installer.facts.fact import Unavailable
from installer.hosts.base import Result

from .conftest import HOSTS, fact_raw, load, odd, raw


def value(host: str, key: str):
    return fact(key).parser(fact_raw(host, key))


def test_every_fixture_key_is_a_known_fact(host_name: str) -> None:
    for key in load(host_name):
        assert fact(key).key == key


def test_every_static_fact_is_recorded_on_the_real_debian_host() -> None:
    assert set(STATIC_FACTS) <= set(load("debian12-kvm"))


@pytest.mark.parametrize(
    "host,os_id,version",
    [
        ("centos7-docker1712", "centos", "7"),
        ("ubuntu1604-vmware", "ubuntu", "16.04"),
        ("ubuntu2004-healthy", "ubuntu", "20.04"),
        ("ubuntu2204-kvm-vgpu", "ubuntu", "22.04"),
        ("rhel8-nodocker", "rhel", "8.8"),
        ("debian12-kvm", "debian", "12"),
    ],
)
def test_os_release(host: str, os_id: str, version: str) -> None:
    info = value(host, "os_release")
    assert (info["ID"], info["VERSION_ID"]) == (os_id, version)
    assert info["PRETTY_NAME"]


def test_redhat_release_gives_the_minor_version() -> None:
    assert value("centos7-docker1712", "redhat_release") == "7.4.1708"
    assert value("rhel8-nodocker", "redhat_release") == "8.8"
    with pytest.raises(Unavailable, match="No such file"):
        value("ubuntu2004-healthy", "redhat_release")


@pytest.mark.parametrize(
    "host,release",
    [
        ("centos7-docker1712", "3.10.0-693.el7.x86_64"),
        ("rhel8-nodocker", "4.18.0-477.10.1.el8_8.x86_64"),
        ("debian12-kvm", "6.18.44-fc-v657"),
    ],
)
def test_uname(host: str, release: str) -> None:
    assert value(host, "uname") == {"release": release, "machine": "x86_64"}


@pytest.mark.parametrize(
    "host,cores,hypervisor",
    [
        ("centos7-docker1712", 40, False),
        ("ubuntu1604-vmware", 8, True),
        ("ubuntu2004-healthy", 48, False),
        ("ubuntu2204-kvm-vgpu", 16, True),
        ("debian12-kvm", 2, True),
    ],
)
def test_cpu(host: str, cores: int, hypervisor: bool) -> None:
    assert value(host, "cpu_count") == cores
    flags = value(host, "cpu_flags")
    assert "sse2" in flags
    assert ("hypervisor" in flags) is hypervisor


def test_meminfo() -> None:
    assert value("centos7-docker1712", "meminfo")["MemTotal"] == 65808892
    assert value("debian12-kvm", "meminfo")["MemTotal"] > 1_000_000
    with pytest.raises(Unavailable):
        parse.meminfo(Result("cat /proc/meminfo", 0, "garbage\n"))


def test_df_keeps_path_and_nearest_parent() -> None:
    d = value("centos7-docker1712", "df:/opt/sealbox")
    assert d == {
        "path": "/opt/sealbox",
        "checked": "/opt",
        "filesystem": "/dev/mapper/centos-root",
        "size_kb": 52403200,
        "avail_kb": 45789328,
        "mount": "/",
    }
    assert value("ubuntu2004-healthy", "df_docker")["mount"] == "/data"
    with pytest.raises(Unavailable, match="No such file"):
        parse.df(Result("df", 1, "path: /x\n", "df: /x: No such file or directory\n"))


@pytest.mark.parametrize(
    "host,version",
    [
        ("centos7-docker1712", "2.17"),
        ("ubuntu1604-vmware", "2.23"),
        ("ubuntu2004-healthy", "2.31"),
        ("ubuntu2204-kvm-vgpu", "2.35"),
        ("rhel8-nodocker", "2.28"),
        ("debian12-kvm", "2.36"),
    ],
)
def test_glibc_from_getconf_and_ldd_agree(host: str, version: str) -> None:
    assert value(host, "glibc_getconf") == version
    assert value(host, "ldd_version") == version


def test_glibc_musl_is_not_glibc() -> None:
    with pytest.raises(Unavailable, match="musl"):
        parse.glibc(raw(odd("glibc_musl_ldd"), "ldd --version"))


@pytest.mark.parametrize(
    "host,version",
    [
        ("centos7-docker1712", "4.8.5"),
        ("ubuntu2004-healthy", "9.4.0"),
        ("ubuntu2204-kvm-vgpu", "11.4.0"),
        ("rhel8-nodocker", "8.5.0"),
        ("debian12-kvm", "12.2.0"),
    ],
)
def test_gcc_version_skips_parenthesised_parts(host: str, version: str) -> None:
    assert value(host, "gcc") == version


def test_missing_command_is_a_fact_not_a_crash() -> None:
    result = fact("gcc").evaluate(fact_raw("ubuntu1604-vmware", "gcc"))
    assert result.value == "" and result.error == "gcc: command not found (not installed)"
    smi = fact("nvidia_smi").evaluate(fact_raw("debian12-kvm", "nvidia_smi"))
    assert smi.value == [] and "not installed" in (smi.error or "")


def test_docker_1712_version_and_devicemapper_info() -> None:
    v = value("centos7-docker1712", "docker_version")
    assert v == {"client": "17.12.0-ce", "server": "17.12.0-ce", "server_error": ""}
    info = value("centos7-docker1712", "docker_info")
    assert info["Driver"] == "devicemapper"
    assert runtime.devicemapper_base_size_gb(info) == pytest.approx(10.74)
    assert "nvidia" in info["Runtimes"]


def test_docker_daemon_down_old_and_new_clients() -> None:
    v = value("ubuntu1604-vmware", "docker_version")
    assert v["client"] == "18.09.7" and v["server"] == ""
    assert "Is the docker daemon running?" in v["server_error"]
    with pytest.raises(Unavailable, match="Cannot connect"):
        value("ubuntu1604-vmware", "docker_info")
    with pytest.raises(Unavailable, match="Cannot connect"):
        runtime.docker_info(raw(odd("docker_info_down_new_client")))
    v = runtime.docker_version(raw(odd("docker_version_down_new_client")))
    assert (v["client"], v["server"]) == ("28.2.2", "")


def test_docker_not_installed() -> None:
    with pytest.raises(Unavailable, match="not installed"):
        value("rhel8-nodocker", "docker_version")


def test_docker_ps_and_published_ports() -> None:
    cs = value("ubuntu2004-healthy", "containers")
    assert [(c["name"], c["ports"], c["managed"]) for c in cs] == [
        ("sealbox-face-server-0", [8300], True),
        ("node-exporter", [], False),
    ]
    assert len(cs[0]["id"]) == 64
    assert runtime.published_ports("0.0.0.0:8000-8002->8000-8002/tcp, 3306/tcp") == [
        8000,
        8001,
        8002,
    ]
    assert runtime.published_ports("127.0.0.1:5535->3306/tcp, [::1]:5535->3306/tcp") == [5535]


def test_selinux_facts() -> None:
    assert value("centos7-docker1712", "getenforce") == "enforcing"
    assert value("rhel8-nodocker", "getenforce") == "permissive"
    assert value("centos7-docker1712", "selinux_enforce") == "1"
    with pytest.raises(Unavailable, match="not installed"):
        value("ubuntu2004-healthy", "getenforce")


def test_iptables_chain() -> None:
    chain = value("centos7-docker1712", "iptables_input")
    assert chain["policy"] == "ACCEPT"
    assert chain["rules"][-1] == "-A INPUT -j REJECT --reject-with icmp-host-prohibited"
    assert value("ubuntu1604-vmware", "iptables_input")["policy"] == "DROP"


def test_nvidia_smi_csv() -> None:
    gpus = value("centos7-docker1712", "nvidia_smi")
    assert [(g["name"], g["memory_mib"], g["driver"]) for g in gpus] == [
        ("Tesla P4", 7606, "375.26"),
        ("Tesla P4", 7606, "375.26"),
    ]
    with pytest.raises(Unavailable, match="couldn't communicate with the NVIDIA driver"):
        value("rhel8-nodocker", "nvidia_smi")
    with pytest.raises(Unavailable, match="No devices were found"):
        machine.nvidia_smi_csv(raw(odd("nvidia_smi_no_devices")))


def test_pci_and_modules() -> None:
    assert value("ubuntu1604-vmware", "pci_nvidia")[0] == {
        "slot": "0000:0b:00.0",
        "class": "0x030000",
        "device": "0x1b80",
    }
    assert "nouveau" in value("ubuntu1604-vmware", "modules")
    assert "nouveau" not in value("centos7-docker1712", "modules")
    assert value("debian12-kvm", "modules") == []  # kernel without /proc/modules


def test_kernel_headers_and_markers() -> None:
    assert value("centos7-docker1712", "kernel_headers") is True
    assert value("rhel8-nodocker", "kernel_headers") is False
    assert value("debian12-kvm", "container_markers") == ["/.dockerenv"]
    assert value("centos7-docker1712", "container_markers") == []


def test_virtualisation_facts() -> None:
    assert value("ubuntu1604-vmware", "virt_vm") == "vmware"
    assert value("centos7-docker1712", "virt_vm") == "none"
    assert value("debian12-kvm", "virt_container") == "docker"
    assert value("ubuntu2204-kvm-vgpu", "dmi")["sys_vendor"] == "QEMU"
    assert value("debian12-kvm", "dmi") == {}


def test_ip_and_interfaces() -> None:
    addrs = value("centos7-docker1712", "ip_addr")
    assert addrs[1] == {"iface": "em1", "address": "10.12.3.45/24", "scope": "global"}
    ifaces = net.net_interfaces(raw(odd("net_ifaces_wifi_only")))
    assert ifaces["wlp2s0"].wireless and not ifaces["enp3s0"].wireless


def test_ss_old_centos7_format() -> None:
    ls = value("centos7-docker1712", "ss")
    by_port = {(x["address"], x["port"]): x["processes"] for x in ls}
    assert by_port[("*", 8300)] == [{"name": "nginx", "pid": 2311}, {"name": "nginx", "pid": 2310}]
    assert ("::", 22) in by_port and ("::1", 25) in by_port


def test_ss_new_format_and_not_root() -> None:
    ls = value("ubuntu2004-healthy", "ss")
    assert {
        "address": "127.0.0.53%lo",
        "port": 53,
        "processes": [{"name": "systemd-resolve", "pid": 912}],
    } in ls
    assert [x["port"] for x in ls if x["address"] == "::"] == [22, 8300]
    blind = net.ss_listeners(raw(odd("ss_not_root"), "ss -ltnp"))
    assert blind[1] == {"address": "0.0.0.0", "port": 8300, "processes": []}


def test_netstat_fallback() -> None:
    ls = net.netstat_listeners(raw(odd("netstat_java_8887"), "netstat -ltnp"))
    assert ls[1] == {"address": "::", "port": 8887, "processes": [{"name": "java", "pid": 3021}]}
    real = value("debian12-kvm", "netstat")
    assert all(x["port"] > 0 for x in real)


def test_listener_cgroups() -> None:
    cg = value("ubuntu2204-kvm-vgpu", "listener_cgroups")
    assert cg[2875].startswith("9b2f4c6e") and 3312 not in cg


@pytest.mark.parametrize(
    "host,key,synced",
    [
        ("centos7-docker1712", "timedatectl", True),
        ("ubuntu1604-vmware", "timedatectl", False),
        ("ubuntu2004-healthy", "timedatectl", True),
        ("ubuntu2204-kvm-vgpu", "timedatectl", False),
        ("centos7-docker1712", "chronyc", True),
        ("rhel8-nodocker", "chronyc", True),
    ],
)
def test_time_sync_parsers(host: str, key: str, synced: bool) -> None:
    assert value(host, key) is synced


def test_time_sync_unavailable() -> None:
    with pytest.raises(Unavailable, match="Host is down"):
        parse.timedatectl_synced(raw(odd("timedatectl_no_systemd"), "timedatectl status"))
    assert parse.ntpstat_synced(raw(odd("ntpstat_unsynchronised"), "ntpstat")) is False


@pytest.mark.parametrize(
    "actual,minimum,ok",
    [
        ("17.12.0-ce", "17.12", True),
        ("17.09.1-ce", "17.12", False),
        ("1.13.1", "17.12", False),
        ("20.10.24+dfsg1", "17.12", True),
        ("3.10.0-693.el7.x86_64", "3.10", True),
        ("2.6.32-754.el6.x86_64", "3.10", False),
        ("384.66", "384.66", True),
        ("384.59", "384.66", False),
        ("7.4.1708", "7.2", True),
        ("7", "7.2", False),
    ],
)
def test_version_at_least(actual: str, minimum: str, ok: bool) -> None:
    assert parse.version_at_least(actual, minimum) is ok


def test_unexpected_output_becomes_a_reason() -> None:
    r = fact("docker_info").evaluate(Result("docker info", 0, "[1, 2]\n"))
    assert r.value == {} and r.error and r.raw.stdout == "[1, 2]\n"


@pytest.mark.parametrize("host", HOSTS)
def test_every_recorded_fact_parses_or_says_why(host: str) -> None:
    for key in load(host):
        r = fact(key).evaluate(fact_raw(host, key))
        assert r.ok or (r.error and "unparseable" not in r.error), (host, key, r.error)
