"""The envcheck command on recorded hosts: output formats, last line, log file, exit codes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from envcheck import cli

from .conftest import recorded_host


def run(monkeypatch, capsys, host: str, *args: str, **swap: Any) -> tuple[int, str, str]:
    monkeypatch.setattr(cli, "_host", lambda: recorded_host(host, **swap))
    # the fixtures were recorded with the install dir at /opt/sealbox; envcheck now measures
    # the state root, as the install gate does (issue 19, item 8)
    monkeypatch.setenv("SEALBOX_STATE_DIR", "/opt/sealbox")
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_pass_exit_0_and_exact_last_line(monkeypatch, capsys) -> None:
    code, out, _ = run(monkeypatch, capsys, "ubuntu2004-healthy", "face-server", "--no-log")
    assert code == 0
    assert out.splitlines()[-1] == "The conclusion of environment checking is: pass"
    assert "Failed items" not in out


def test_required_failure_exit_3_with_table(monkeypatch, capsys) -> None:
    code, out, _ = run(monkeypatch, capsys, "centos7-docker1712", "face-server", "--no-log")
    assert code == 3
    assert out.splitlines()[-1] == "The conclusion of environment checking is: fail"
    for text in ("Profile", "Requirement", "storage-driver", "enforcing", "*firewall", "375.26"):
        assert text in out
    assert "PASS" not in out


def test_verbose_lists_passes_one_line_each(monkeypatch, capsys) -> None:
    _, out, _ = run(monkeypatch, capsys, "centos7-docker1712", "-v", "face-server", "--no-log")
    lines = [ln for ln in out.splitlines() if ln.startswith("PASS")]
    assert len(lines) == 24 - 5 - 2  # items - required failures - optional ones
    assert any(ln.split()[2] == "gpu" and "Tesla P4" in ln for ln in lines)


def test_only_optional_failures_exit_4(monkeypatch, capsys) -> None:
    code, out, _ = run(
        monkeypatch, capsys, "ubuntu2004-healthy", "--no-log", timedatectl="timedatectl_no_systemd"
    )
    assert code == 4
    assert "*time-sync" in out and out.splitlines()[-1].endswith(": pass")


def test_skip_check_turns_fail_into_pass(monkeypatch, capsys) -> None:
    code, out, _ = run(
        monkeypatch,
        capsys,
        "ubuntu2204-kvm-vgpu",
        "face-server",
        "--skip-check",
        "gpu",
        "--skip-check",
        "time-sync",
        "--no-log",
    )
    assert code == 0
    assert [ln.split()[:3] for ln in out.splitlines() if ln.startswith("SKIP")] == [
        ["SKIP", "face-server", "gpu"],
        ["SKIP", "face-server", "*time-sync"],
    ]


def test_json_is_pure_json(monkeypatch, capsys) -> None:
    code, out, err = run(
        monkeypatch, capsys, "rhel8-nodocker", "--format", "json", "mysql", "--no-log"
    )
    data = json.loads(out)
    assert code == 3 and data["verdict"] == "fail" and data["profiles"] == ["mysql"]
    assert "facts" not in data
    assert err == ""
    code, out, _ = run(monkeypatch, capsys, "rhel8-nodocker", "-f", "json", "-v", "--no-log")
    assert "facts" in json.loads(out)


def test_junit_counts(monkeypatch, capsys) -> None:
    code, out, _ = run(
        monkeypatch, capsys, "centos7-docker1712", "--format", "junit", "face-server", "--no-log"
    )
    root = ET.fromstring(out.split("\n", 1)[1])
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == "centos7-docker1712.face-server"
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("24", "5", "2")
    failure = root.find(".//testcase[@name='selinux']/failure")
    assert failure is not None and failure.get("message") == "enforcing"
    assert root.find(".//testcase[@name='*firewall']/skipped") is not None


def test_log_file_keeps_raw_facts(monkeypatch, capsys, tmp_path: Path) -> None:
    log = tmp_path / "envcheck.log"
    code, _, err = run(monkeypatch, capsys, "ubuntu1604-vmware", "face-server", "--log", str(log))
    assert code == 3 and str(log) in err
    data = json.loads(log.read_text())
    assert data["facts"]["nvidia_smi"]["stderr"] == "sh: 1: nvidia-smi: not found\n"
    assert data["facts"]["docker_info"]["command"] == "docker info --format '{{json .}}'"


def test_thresholds_from_the_command_line(monkeypatch, capsys) -> None:
    code, out, _ = run(
        monkeypatch,
        capsys,
        "ubuntu2204-kvm-vgpu",
        "license-server",
        "-t",
        "physical.allow_virtual=true",
        "--threshold",
        "ports.ports=8888",
        "--skip-check",
        "time-sync",
        "--no-log",
    )
    assert code == 0, out


@pytest.mark.parametrize(
    "args,needle",
    [
        (["nosuch"], "unknown profile 'nosuch'"),
        (["--format", "xml"], "'xml' is not one of"),
        (["-t", "memory"], "write ITEM.THRESHOLD=VALUE"),
        (["-t", "memory.min_gb=x"], "bad value 'x'"),
        (["--skip-check", "gpus"], "unknown item 'gpus'"),
        (["list", "face-server"], "'list' takes no profile names"),
    ],
)
def test_usage_errors_exit_2(monkeypatch, capsys, args: list[str], needle: str) -> None:
    code, out, err = run(monkeypatch, capsys, "ubuntu2004-healthy", *args, "--no-log")
    assert code == 2
    assert needle in err and out == ""


def test_check_that_cannot_run_exits_1(monkeypatch, capsys) -> None:
    class Down:
        name = "down"

        def run(self, *a, **kw):  # type: ignore[no-untyped-def]
            raise TimeoutError("ssh: connect timed out")

    monkeypatch.setattr(cli, "_host", lambda: Down())
    assert cli.main(["--no-log"]) == 1
    assert "could not read facts" in capsys.readouterr().err


def test_unwritable_log_exits_1(monkeypatch, capsys, tmp_path: Path) -> None:
    code, _, err = run(
        monkeypatch, capsys, "ubuntu2004-healthy", "--log", str(tmp_path / "no" / "dir" / "x.log")
    )
    assert code == 1 and "No such file or directory" in err


def test_list_profiles(monkeypatch, capsys) -> None:
    code, out, _ = run(monkeypatch, capsys, "ubuntu2004-healthy", "list")
    assert code == 0
    for name in ("default", "license-server", "offline-security-server", "mysql", "face-server"):
        assert name in out
    code, out, _ = run(monkeypatch, capsys, "ubuntu2004-healthy", "list", "-f", "json")
    data = {p["profile"]: p for p in json.loads(out)}
    assert data["license-server"]["aliases"] == ["offline-security-server"]
    gpu = next(i for i in data["face-server"]["items"] if i["id"] == "gpu")
    assert gpu["requirement"] == ">= 1 GPU(s), >= 6 GB each, not virtual (vGPU)"


def test_disk_install_is_measured_where_the_install_writes(monkeypatch, capsys) -> None:
    """Issue 19, item 8: standalone envcheck measured /opt/sealbox while the install gate
    measures the state root (/var/lib/sealbox); both now measure the state root."""
    from envcheck.checks import with_install_path

    monkeypatch.setattr(cli, "_host", lambda: recorded_host("ubuntu2004-healthy"))
    monkeypatch.setenv("SEALBOX_STATE_DIR", "/srv/sealbox-state")
    code = cli.main(["face-server", "--no-log", "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    disk = next(i for i in out["items"] if i["id"] == "disk-install")
    assert "/srv/sealbox-state" in disk["requirement"], disk
    assert code in (0, 1, 3, 4)
    assert with_install_path({"disk-install.path": "/data"}, "/x") == {"disk-install.path": "/data"}
    assert with_install_path({"mysql/disk-install.path": "/d"}, "/x") == {
        "mysql/disk-install.path": "/d"
    }
