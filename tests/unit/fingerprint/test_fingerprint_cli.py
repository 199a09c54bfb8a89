"""The fingerprint CLI: files written, exit codes, one-line errors, pure JSON."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fingerprint import load_secfile
from fingerprint.cli import app

runner = CliRunner()


@pytest.fixture
def fake_path(tree, monkeypatch):
    """Run the CLI's LocalHost against a fixture tree: PATH = that tree's command stubs + sh."""

    def use(name: str) -> Path:
        host = tree(name)
        sh = host.bin_dir / "sh"
        if not sh.exists():
            os.symlink("/bin/sh", sh)
        monkeypatch.setenv("PATH", str(host.bin_dir))
        return host.root

    return use


def test_collect_writes_secfile_named_by_primary_ip(fake_path, tmp_path):
    root = fake_path("physical")
    out = tmp_path / "out"
    res = runner.invoke(app, ["collect", "--fact-root", str(root), "-o", str(out)])
    assert res.exit_code == 0, res.output
    path = out / "secfile_10.20.30.41"
    record = load_secfile(path.read_bytes(), name=path.name)
    assert len(record.components) == 8
    assert "wrote" in res.stdout and str(path) in res.stdout


def test_collect_without_root_warns_and_still_writes(fake_path, tmp_path):
    root = fake_path("nonroot")
    res = runner.invoke(app, ["collect", "--fact-root", str(root), "-o", str(tmp_path), "--json"])
    assert res.exit_code == 0
    data = json.loads(res.stdout)  # pure JSON on stdout
    assert Path(data["path"]).exists()
    assert set(data["record"]["missing"]) == {"product_uuid", "board_serial", "system_serial"}
    assert "not root: could not read DMI product UUID, board serial, system serial" in res.stderr


def test_collect_to_unwritable_place_fails_in_one_line(fake_path, tmp_path):
    root = fake_path("vm")
    blocker = tmp_path / "file"
    blocker.write_text("")
    res = runner.invoke(app, ["collect", "--fact-root", str(root), "-o", str(blocker / "sub")])
    assert res.exit_code == 1
    assert res.stderr.count("\n") == 1 and "choose another -o folder" in res.stderr


def test_pack_check_inspect_round_trip(fake_path, tmp_path):
    secdir = tmp_path / "secfiles"
    for name in ("physical", "vm"):
        root = fake_path(name)
        assert (
            runner.invoke(app, ["collect", "--fact-root", str(root), "-o", str(secdir)]).exit_code
            == 0
        )
    archive = tmp_path / "finger.tar.gz"
    res = runner.invoke(app, ["pack", str(secdir), "-o", str(archive)])
    assert res.exit_code == 0, res.output
    assert "packed 2 machine(s)" in res.stdout
    res = runner.invoke(app, ["check", str(archive)])
    assert res.exit_code == 0 and "ok" in res.stdout
    res = runner.invoke(app, ["inspect", str(archive), "--json"])
    assert res.exit_code == 0
    machines = {m["labels"]["hostname"]: m for m in json.loads(res.stdout)["machines"]}
    assert set(machines) == {"face-01", "lic-vm"}
    assert machines["lic-vm"]["labels"]["vm"] == "qemu" and machines["face-01"]["shares"] == []
    res = runner.invoke(app, ["inspect", str(archive)], env={"COLUMNS": "250"})
    assert res.exit_code == 0 and "face-01" in res.stdout and "VM: qemu" in res.stdout
    res = runner.invoke(app, ["inspect", str(archive), "--previous", str(archive), "--json"])
    assert [c["changes"] for c in json.loads(res.stdout)["changes"]] == [[], []]


def test_check_non_flat_archive_exits_3(tmp_path):
    archive = tmp_path / "finger.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("finger/secfile_1")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    res = runner.invoke(app, ["check", str(archive), "--json"])
    assert res.exit_code == 3
    report = json.loads(res.stdout)
    assert report["ok"] is False and any("flat" in e for e in report["errors"])


def test_missing_archive_exits_2_with_one_line(tmp_path):
    res = runner.invoke(app, ["check", str(tmp_path / "nope.tar.gz")])
    assert res.exit_code == 2
    assert res.stderr.strip().startswith("error:") and "no such file" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_cloned_machines_flagged_by_inspect(fake_path, tmp_path):
    root = fake_path("physical")
    secdir = tmp_path / "s"
    runner.invoke(app, ["collect", "--fact-root", str(root), "-o", str(secdir)])
    (root / "etc/machine-id").write_text("aaaabbbbccccddddeeeeffff00001111\n")
    (root / "proc/sys/kernel/hostname").write_text("face-02\n")
    runner.invoke(app, ["collect", "--fact-root", str(root), "-o", str(tmp_path / "t")])
    (tmp_path / "t/secfile_10.20.30.41").rename(secdir / "secfile_10.20.30.42")
    archive = tmp_path / "f.tar.gz"
    assert runner.invoke(app, ["pack", str(secdir), "-o", str(archive)]).exit_code == 0
    res = runner.invoke(app, ["inspect", str(archive), "--json"])
    shares = {m["name"]: m["shares"] for m in json.loads(res.stdout)["machines"]}
    assert shares["secfile_10.20.30.42"] == [
        "product_uuid, board_serial, system_serial, disk_serials, macs, gpu_uuids "
        "with secfile_10.20.30.41"
    ]


def test_encrypted_flow_with_keygen(fake_path, tmp_path):
    root = fake_path("vm")
    prefix = tmp_path / "vendor"
    assert runner.invoke(app, ["keygen", str(prefix)]).exit_code == 0
    assert oct((tmp_path / "vendor.key").stat().st_mode & 0o777) == "0o600"
    secdir = tmp_path / "s"
    res = runner.invoke(
        app,
        [
            "collect",
            "--fact-root",
            str(root),
            "-o",
            str(secdir),
            "--encrypt-to",
            str(tmp_path / "vendor.pub"),
        ],
    )
    assert res.exit_code == 0 and "encrypted" in res.stdout
    assert b"lic-vm" not in (secdir / "secfile_192.168.122.50").read_bytes()
    archive = tmp_path / "f.tar.gz"
    assert runner.invoke(app, ["pack", str(secdir), "-o", str(archive)]).exit_code == 0
    assert runner.invoke(app, ["check", str(archive)]).exit_code == 0
    res = runner.invoke(
        app, ["inspect", str(archive), "--key", str(tmp_path / "vendor.key"), "--json"]
    )
    assert res.exit_code == 0
    assert json.loads(res.stdout)["machines"][0]["labels"]["hostname"] == "lic-vm"
    assert runner.invoke(app, ["keygen", str(prefix)]).exit_code == 2  # never overwrite a key
