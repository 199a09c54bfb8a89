"""Domestic Linux (Kylin V10 SP1-3, UOS 20 both lines, openEuler 20.03/22.03) beside RHEL 9,
CentOS 7, Debian and Ubuntu: recognised from their recorded release files, kernel and glibc
checked against a module's needs, and every install hint in a fix worded for that host's
package tool (one OS-family table, ``installer.facts.osinfo``)."""

from __future__ import annotations

import pytest

from envcheck.engine import run_checks
from installer.facts.catalog import fact
from installer.facts.osinfo import OS_FACTS, install_hint, os_from_facts, os_info, render_fix

from .conftest import OS_RELEASES, load, os_fixture, os_host, raw, recorded_host

DOCKER_MISSING = {"rc": 127, "stderr": "sh: 1: docker: not found\n"}
GCC_MISSING = {"rc": 127, "stderr": "sh: 1: gcc: not found\n"}


def _facts(entries: dict) -> dict:
    return {k: fact(k).evaluate(raw(entries[k], fact(k).shell)) for k in OS_FACTS if k in entries}


def items(host, extra=None):  # type: ignore[no-untyped-def]
    report = run_checks(host, ["default"], extra_items=extra or [])
    return {i.id: i for i in report.items}


def test_there_is_a_recording_of_each_release_the_issue_names() -> None:
    assert set(OS_RELEASES) >= {
        "kylin-v10-sp1",
        "kylin-v10-sp2",
        "kylin-v10-sp3-arm64",
        "uos-20-server-uelc20",
        "uos-20-server-deb",
        "openeuler-20.03",
        "openeuler-22.03-arm64",
        "rhel-9.0",
    }
    for name in OS_RELEASES:
        assert os_fixture(name)["about"].strip(), f"{name}: say where the files come from"


@pytest.mark.parametrize("release", OS_RELEASES)
def test_each_recorded_release_is_recognised(release: str) -> None:
    fx = os_fixture(release)
    info = os_from_facts(_facts(fx["facts"]))
    assert info is not None
    got = {k: getattr(info, k) for k in fx["expect"]}
    assert got == fx["expect"]


@pytest.mark.parametrize("release", OS_RELEASES)
def test_envcheck_passes_the_os_kernel_and_glibc_of_each_release(release: str) -> None:
    fx = os_fixture(release)
    it = items(os_host(release))
    assert it["os"].passed, it["os"].actual
    assert f"version {fx['expect']['version']}" in it["os"].actual
    assert it["kernel"].passed and it["glibc"].passed
    assert it["kernel"].actual == fx["facts"]["uname"]["stdout"].split()[0]


@pytest.mark.parametrize(
    "release,passes",
    [
        ("kylin-v10-sp1", False),
        ("kylin-v10-sp2", False),
        ("uos-20-server-uelc20", False),
        ("openeuler-20.03", False),
        ("openeuler-22.03-arm64", True),
        ("rhel-9.0", True),
    ],
)
def test_a_module_needing_glibc_2_34_and_kernel_5_fails_on_the_4_19_releases(
    release: str, passes: bool
) -> None:
    it = items(os_host(release), [{"id": "glibc", "min": "2.34"}, {"id": "kernel", "min": "5.4"}])
    assert it["glibc"].passed is passes and it["kernel"].passed is passes
    if not passes:
        assert it["glibc"].actual == "glibc 2.28"
        assert it["glibc"].fix == "upgrade the distribution: glibc cannot be replaced safely"


@pytest.mark.parametrize(
    "release,docker_fix,gcc_fix",
    [
        ("kylin-v10-sp2", "dnf install -y docker-engine", "dnf install -y gcc"),
        ("kylin-v10-sp3-arm64", "dnf install -y docker-engine", "dnf install -y gcc"),
        ("openeuler-22.03-arm64", "dnf install -y docker-engine", "dnf install -y gcc"),
        ("uos-20-server-uelc20", "dnf install -y docker-ce", "dnf install -y gcc"),
        ("uos-20-server-deb", "apt-get install -y docker.io", "apt-get install -y gcc"),
        ("rhel-9.0", "dnf install -y docker-ce", "dnf install -y gcc"),
    ],
)
def test_fix_hints_use_the_hosts_own_package_tool(
    release: str, docker_fix: str, gcc_fix: str
) -> None:
    it = items(os_host(release, docker_version=DOCKER_MISSING, gcc=GCC_MISSING))
    assert not it["docker-installed"].passed
    assert it["docker-installed"].fix.endswith(docker_fix), it["docker-installed"].fix
    assert it["gcc"].fix.endswith(gcc_fix), it["gcc"].fix
    wrong = "apt-get" if "dnf" in docker_fix else "yum"
    assert wrong not in it["docker-installed"].fix + it["gcc"].fix


def test_the_recorded_centos7_and_debian_hosts_get_yum_and_apt() -> None:
    centos = items(recorded_host("centos7-docker1712", docker_version=DOCKER_MISSING))
    assert centos["docker-installed"].fix.endswith("yum install -y docker-ce")
    debian = items(recorded_host("debian12-kvm", docker_version=DOCKER_MISSING))
    assert debian["docker-installed"].fix.endswith("apt-get install -y docker.io")


@pytest.mark.parametrize(
    "release,passes",
    [("kylin-v10-sp1", False), ("kylin-v10-sp2", True), ("kylin-v10-sp3-arm64", True)],
)
def test_a_module_can_ask_for_a_kylin_service_pack(release: str, passes: bool) -> None:
    it = items(os_host(release), [{"id": "os", "min": {"kylin": "V10 SP2"}}])
    assert it["os"].passed is passes, it["os"].actual
    if not passes:
        assert "older than V10 SP2" in it["os"].actual
        assert it["os"].fix == "upgrade to Kylin V10 SP2+"


def test_family_from_release_files_when_the_package_tools_are_not_known() -> None:
    """No pkg_tools fact (an older recording): the release files decide, UOS by its line."""
    uelc = os_fixture("uos-20-server-uelc20")["facts"]
    deb = os_fixture("uos-20-server-deb")["facts"]
    f_uelc = {k: v for k, v in _facts(uelc).items() if k != "pkg_tools"}
    f_deb = {k: v for k, v in _facts(deb).items() if k != "pkg_tools"}
    assert (os_from_facts(f_uelc).family, os_from_facts(f_uelc).tool) == ("rpm", "yum")  # type: ignore[union-attr]
    assert (os_from_facts(f_deb).family, os_from_facts(f_deb).tool) == ("deb", "apt-get")  # type: ignore[union-attr]
    oe = os_info({"ID": "openEuler", "VERSION_ID": "22.03"})
    assert (oe.id, oe.family, oe.tool) == ("openeuler", "rpm", "yum")
    centos = load("centos7-docker1712")
    assert os_from_facts(_facts(centos)).tool == "yum"  # type: ignore[union-attr]


def test_unknown_os_names_both_families() -> None:
    text = render_fix("install: {install:gcc}", None)
    assert "apt-get install -y gcc" in text and "yum install -y gcc" in text
    assert install_hint(os_info({"ID": "ubuntu", "ID_LIKE": "debian"}), "kernel-headers") == (
        "apt-get install -y linux-headers-$(uname -r)"
    )
