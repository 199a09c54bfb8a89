"""run_checks as the installer calls it: profiles, overrides, skips, module extra items."""

from __future__ import annotations

import pytest

from envcheck import KINDS, build_plan, run_checks
from installer.errors import UsageError
from installer.facts.catalog import fact

from .conftest import recorded_host


def item(report, profile: str, item_id: str):
    return next(i for i in report.items if i.profile == profile and i.id == item_id)


def test_no_profile_means_default_and_aliases_resolve() -> None:
    assert run_checks(recorded_host("ubuntu2004-healthy"), []).profiles == ["default"]
    report = run_checks(recorded_host("ubuntu2004-healthy"), ["offline-security-server"])
    assert report.profiles == ["license-server"]
    with pytest.raises(UsageError, match="unknown profile 'face'"):
        run_checks(recorded_host("ubuntu2004-healthy"), ["face"])


def test_facts_are_read_once_for_several_profiles() -> None:
    host = recorded_host("ubuntu2004-healthy")
    run_checks(host, ["default", "license-server", "mysql", "face-server"])
    fallback = host.commands[1:]  # [0] is the one-round-trip script a RecordedHost cannot run
    assert "@@SBX-" in host.commands[0]  # the script, sent as one text
    assert len(fallback) == len(set(fallback))
    assert fact("docker_info").shell in fallback


def test_verdicts_and_failed_required() -> None:
    bad = run_checks(recorded_host("centos7-docker1712"), ["face-server"])
    assert bad.verdict == "fail"
    assert [i.id for i in bad.failed_required()] == [
        "disk-install",
        "storage-driver",
        "selinux",
        "nvidia-driver",
        "ports",
    ]
    assert bad.conclusion == "The conclusion of environment checking is: fail"
    warn = run_checks(recorded_host("ubuntu2004-healthy", timedatectl={"rc": 1}), ["default"])
    assert warn.verdict == "warn" and [i.name for i in warn.failed_optional()] == ["*time-sync"]
    assert warn.conclusion.endswith(": pass")


def test_overrides_coerce_and_scope() -> None:
    host = "ubuntu1604-vmware"  # 15.7 GiB
    report = run_checks(recorded_host(host), ["face-server"], overrides={"memory.min_gb": "16"})
    assert item(report, "face-server", "memory").passed
    assert item(report, "face-server", "memory").requirement == ">= 16 GB installed"
    scoped = run_checks(
        recorded_host(host),
        ["default", "face-server"],
        overrides={"default/memory.min_gb": "64"},
    )
    assert not item(scoped, "default", "memory").passed
    assert not item(scoped, "face-server", "memory").passed  # still its own 32
    ports = run_checks(
        recorded_host("centos7-docker1712"), ["face-server"], overrides={"ports.ports": "8301,8302"}
    )
    assert item(ports, "face-server", "ports").actual == "8301 free; 8302 free"
    os_min = run_checks(
        recorded_host("centos7-docker1712"), ["face-server"], overrides={"os.min.centos": "7.6"}
    )
    assert not item(os_min, "face-server", "os").passed


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"memory.min_gb": "lots"}, "bad value 'lots'"),
        ({"memroy.min_gb": "1"}, "unknown item 'memroy'"),
        ({"memory.max_gb": "1"}, "has no threshold 'max_gb' \\(known: min_gb\\)"),
        ({"memory": "1"}, "write ITEM.THRESHOLD=VALUE"),
        ({"physical.allow_virtual": "perhaps"}, "expected bool"),
        ({"nosuch/memory.min_gb": "1"}, "unknown profile 'nosuch'"),
    ],
)
def test_bad_overrides_are_usage_errors(overrides: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        run_checks(recorded_host("ubuntu2004-healthy"), ["face-server"], overrides=overrides)


def test_skip_is_shown_but_not_counted() -> None:
    host = recorded_host("ubuntu2204-kvm-vgpu")
    report = run_checks(host, ["face-server"], skip=["gpu", "face-server/time-sync"])
    gpu = item(report, "face-server", "gpu")
    assert gpu.skipped and not gpu.passed and gpu.status == "skip"
    assert report.verdict == "pass"
    assert report.skip == ["face-server/time-sync", "gpu"]
    with pytest.raises(UsageError, match="unknown item 'gpus'"):
        run_checks(host, ["face-server"], skip=["gpus"])


def test_extra_items_tighten_add_and_validate() -> None:
    host = recorded_host("ubuntu2204-kvm-vgpu")  # 31.3 GiB, 16 cores
    report = run_checks(
        host,
        ["face-server"],
        extra_items=[
            {"id": "memory", "min_gb": 64},
            {"id": "os", "min": {"ubuntu": "24.04"}},
            {"id": "cpu-cores", "required": False, "min": 32},
        ],
    )
    assert not item(report, "face-server", "memory").passed
    assert "Ubuntu >= 24.04" in item(report, "face-server", "os").requirement
    assert "CentOS >= 7.2" in item(report, "face-server", "os").requirement  # merged, not lost
    assert item(report, "face-server", "cpu-cores").status == "warn"
    added = run_checks(host, ["mysql"], extra_items=[{"id": "gpu", "profile": "mysql"}])
    assert item(added, "mysql", "gpu").required and not item(added, "mysql", "gpu").passed
    with pytest.raises(UsageError, match="has no threshold 'min_tb'"):
        run_checks(host, ["mysql"], extra_items=[{"id": "memory", "min_tb": 1}])
    with pytest.raises(UsageError, match="profile 'face-server' is not among mysql"):
        run_checks(host, ["mysql"], extra_items=[{"id": "gpu", "profile": "face-server"}])
    with pytest.raises(UsageError, match="unknown item"):
        run_checks(host, ["mysql"], extra_items=[{"min_gb": 1}])


def test_a_crashing_check_fails_its_item_and_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    kind = KINDS["kernel"]

    def boom(params, facts):
        raise KeyError("release")

    monkeypatch.setitem(KINDS, "kernel", kind.__class__(**{**kind.__dict__, "evaluate": boom}))
    report = run_checks(recorded_host("ubuntu2004-healthy"), ["default"])
    broken = item(report, "default", "kernel")
    assert not broken.passed and broken.error == "KeyError: 'release'"
    assert report.errors() == [broken] and report.verdict == "fail"


def test_to_dict_is_json_ready_with_raw_facts() -> None:
    import json

    report = run_checks(recorded_host("rhel8-nodocker"), ["license-server"])
    data = json.loads(json.dumps(report.to_dict()))
    assert data["verdict"] == "fail" and data["host"] == "rhel8-nodocker"
    assert data["facts"]["docker_info"]["rc"] == 127
    assert data["facts"]["docker_info"]["error"] == "docker: command not found (not installed)"
    first = data["items"][0]
    assert set(first) >= {"id", "profile", "meaning", "requirement", "actual", "required"}
    assert set(first) >= {"passed", "skipped", "fix", "status"}
    assert "facts" not in report.to_dict(raw=False)


def test_profiles_are_data_with_known_items_only() -> None:
    for name in ("default", "license-server", "mysql", "face-server"):
        plan = build_plan([name])
        assert all(spec.id in KINDS for _, spec in plan)
    ports = {
        p: spec.merged()["ports"]
        for p, spec in build_plan(["license-server", "mysql", "face-server"])
        if spec.id == "ports"
    }
    assert ports == {"license-server": [8887], "mysql": [5535], "face-server": [8300]}
    physical = [s for _, s in build_plan(["license-server"]) if s.id == "physical"]
    assert physical[0].required and physical[0].merged()["allow_virtual"] is False
