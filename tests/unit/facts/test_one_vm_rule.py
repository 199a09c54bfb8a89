"""One VM/container rule: envcheck's `physical` item and the fingerprint's labels (which the
license's VM verdict reads) judge the same facts the same way. On main they did not: envcheck
ignored /proc/1/cgroup and /run/systemd/container, so a Docker container without /.dockerenv
passed `physical` while its fingerprint said "container: docker"."""

from __future__ import annotations

from envcheck import run_checks
from fingerprint.collect import FACTS
from fingerprint.components import build_fingerprint
from installer.facts.snapshot import HostFacts
from tests.unit.envcheck.conftest import recorded_host

DOCKER_PID1 = {"rc": 0, "stdout": "12:pids:/docker/4f1c0e2b9a7d\n0::/docker/4f1c0e2b9a7d\n"}


def _item(host, item: str):  # type: ignore[no-untyped-def]
    report = run_checks(host, ["license-server"])
    return next(i for i in report.items if i.id == item)


def test_a_container_seen_only_in_pid1_cgroup_is_virtual_for_both() -> None:
    host = recorded_host("centos7-docker1712", cgroup1=DOCKER_PID1)
    physical = _item(host, "physical")
    assert not physical.passed and "/proc/1/cgroup: docker" in physical.actual
    fp = build_fingerprint(
        HostFacts(recorded_host("centos7-docker1712", cgroup1=DOCKER_PID1)).gather(FACTS)
    )
    assert fp.labels["container"] == "docker"
    assert fp.labels["container_evidence"] == ["/proc/1/cgroup: docker"]


def test_a_physical_server_is_physical_for_both() -> None:
    host = recorded_host("centos7-docker1712")
    assert _item(host, "physical").passed
    fp = build_fingerprint(HostFacts(recorded_host("centos7-docker1712")).gather(FACTS))
    assert fp.labels["vm"] is None and fp.labels["container"] is None
