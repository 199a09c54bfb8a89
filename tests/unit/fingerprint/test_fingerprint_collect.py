"""Collecting from fake /sys, /proc, /etc trees with the real shell script."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from fingerprint import ALGORITHMS, collect, dump_secfile, load_secfile
from fingerprint.placeholders import clean_value

PHYSICAL_RAW = {
    "machine_id": ("8f3c2a9e1b7d4c6f9a0e2d4b6c8e0f12",),
    "product_uuid": ("4C4C4544-0042-3610-8057-B4C04F4B4E32",),
    "board_serial": ("..CN7475163F0123.",),
    "system_serial": ("B6WKN42",),
    "disk_serials": ("Z1W4K2L8",),
    "macs": ("b4:96:91:2a:10:01", "b4:96:91:2a:10:02"),
    "cpu_model": ("Intel(R) Xeon(R) Silver 4214 CPU @ 2.20GHz",),
    "gpu_uuids": (
        "GPU-5e1d6a4b-9c1e-4b7a-8a4f-2d3c4b5a6f70",
        "GPU-0a9b8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d",
    ),
}


def test_physical_server_reads_every_component(collected, tree):
    fp = collected("physical")
    assert dict(fp.raw) == PHYSICAL_RAW
    assert dict(fp.missing) == {}
    labels = fp.labels
    assert labels["hostname"] == "face-01"
    assert labels["primary_ip"] == "10.20.30.41"  # the default route's interface (a bond)
    assert labels["os"] == "CentOS Linux 7 (Core)"
    assert labels["memory_bytes"] == 65693704 * 1024
    assert labels["cpu_count"] == 2
    assert labels["gpus"] == ["Tesla P4", "Tesla P4"]
    assert labels["vm"] is None and labels["container"] is None
    assert labels["collected_as_root"] is True


def test_one_round_trip(tree):
    host = tree("physical")
    collect(host, root=str(host.root))
    assert len(host.commands) == 1


def test_virtual_nics_are_ignored_and_bond_slave_uses_permanent_mac(collected):
    fp = collected("physical")
    assert fp.labels["nics"] == ["eno1", "eno2"]
    assert fp.labels["ignored_nics"] == ["bond0", "docker0", "lo", "tun0", "veth3f2a1b0"]
    # eno2's current address is the bond's (shared with eno1); its permanent MAC is the identity.
    assert "b4:96:91:2a:10:02" in fp.raw["macs"]
    assert "02:42:ac:11:00:01" not in fp.raw["macs"]  # docker0
    assert "6a:1c:33:9e:aa:01" not in fp.raw["macs"]  # veth


def test_root_disk_found_through_lvm_and_data_disk_left_out(collected):
    fp = collected("physical")
    assert fp.raw["disk_serials"] == ("Z1W4K2L8",)
    assert "WD-DATADISK0001" not in fp.raw["disk_serials"]


def test_placeholder_values_are_missing_never_hashed(collected):
    fp = collected("placeholders")
    for kind in ("machine_id", "product_uuid", "board_serial", "system_serial", "gpu_uuids"):
        assert kind not in fp.raw, kind
        assert "placeholder" in fp.missing[kind], fp.missing[kind]
    assert "placeholder" in fp.missing["disk_serials"]
    assert "placeholder MACs" in fp.missing["macs"]
    record = fp.to_record()
    assert set(record.components) == {"cpu_model"}
    algo = ALGORITHMS[record.algorithm]
    placeholder_hash = algo.hash("board_serial", "To be filled by O.E.M.", record.product)
    assert placeholder_hash not in dump_secfile(record).decode()
    assert fp.labels["dmi_vendor"] is None  # placeholder vendor strings are not shown either


@pytest.mark.parametrize(
    "value",
    [
        "To be filled by O.E.M.",
        "  Default string ",
        "00000000-0000-0000-0000-000000000000",
        "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
        "03000200-0400-0500-0006-000700080009",
        "",
        "\x00\x00",
        "Not Specified",
        "System Serial Number",
        "XXXXXXXX",
    ],
)
def test_placeholder_strings_rejected(value):
    assert clean_value("system_serial", value)[0] is None


@pytest.mark.parametrize("value", ["B6WKN42", "4C4C4544-0042-3610-8057-B4C04F4B4E32", "Z1W4K2L8"])
def test_real_serials_kept(value):
    assert clean_value("system_serial", value) == (value, "")


def test_missing_dmi_without_root_says_so(collected):
    fp = collected("nonroot")
    assert fp.labels["collected_as_root"] is False
    for kind in ("product_uuid", "board_serial", "system_serial"):
        assert kind not in fp.raw
        assert "root" in fp.missing[kind]
    assert fp.raw["machine_id"] == PHYSICAL_RAW["machine_id"]  # what it could read, it has


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv to drop privileges")
def test_permission_denied_dmi_as_a_real_unprivileged_user(tree, world_readable_tmp):
    """Real kernel permission checks: DMI serials 0400 root, the script run as nobody."""
    src = tree("physical").root
    root = world_readable_tmp / "physical"
    shutil.copytree(src, root)
    for dirpath, dirnames, _ in os.walk(root):
        for d in dirnames:
            os.chmod(os.path.join(dirpath, d), 0o755)
    for key in ("product_uuid", "board_serial", "product_serial"):
        os.chmod(root / "sys/class/dmi/id" / key, 0o400)
    host = tree("physical")
    host.root = root
    bin_dir = world_readable_tmp / "bin"
    shutil.copytree(host.bin_dir, bin_dir)
    host.bin_dir = bin_dir
    if os.geteuid() == 0:
        host.runas = "65534"
    else:
        for key in ("product_uuid", "board_serial", "product_serial"):
            os.chmod(root / "sys/class/dmi/id" / key, 0o000)
    fp = collect(host, root=str(root))
    for kind in ("product_uuid", "board_serial", "system_serial"):
        assert fp.missing[kind] == "permission denied: run as root"
    assert fp.raw["machine_id"] == PHYSICAL_RAW["machine_id"]


def test_container_sees_host_dmi_but_no_physical_nic_or_disk(collected):
    host_fp = collected("physical")
    fp = collected("container")
    assert fp.labels["container"] == "docker"
    assert "/.dockerenv" in fp.labels["container_evidence"]
    assert fp.raw["product_uuid"] == host_fp.raw["product_uuid"]
    assert (
        fp.to_record().components["product_uuid"] == host_fp.to_record().components["product_uuid"]
    )
    assert "macs" not in fp.raw and "eth0" in fp.labels["ignored_nics"]
    assert "container" in fp.missing["disk_serials"]
    assert fp.raw["machine_id"] != host_fp.raw["machine_id"]


def test_vm_detected_from_dmi_and_cpu_flag_without_systemd(collected):
    fp = collected("vm")
    assert fp.labels["vm"] == "qemu"
    assert any(e.startswith("DMI: QEMU") for e in fp.labels["vm_evidence"])
    assert "CPU flag: hypervisor" in fp.labels["vm_evidence"]
    assert fp.raw["disk_serials"] == ("vd-0001-lic",)
    assert fp.missing["system_serial"].startswith("placeholder")
    assert fp.missing["board_serial"] == "empty"
    phys = collected("physical")
    assert phys.labels["vm"] is None and phys.labels["vm_evidence"] == []


def test_systemd_detect_virt_is_used_when_present(collected):
    def kvm(root: Path) -> None:
        import json

        cmds = json.loads((root / "commands.json").read_text())
        cmds["systemd-detect-virt --vm"] = "kvm"
        (root / "commands.json").write_text(json.dumps(cmds))

    fp = collected("physical", edit=kvm)
    assert fp.labels["vm"] == "kvm"
    assert fp.labels["vm_evidence"] == ["systemd-detect-virt --vm: kvm"]


def test_stable_across_two_runs(collected):
    a, b = collected("physical"), collected("physical")
    assert a.raw == b.raw and a.labels == b.labels and a.missing == b.missing
    ra, rb = a.to_record(), b.to_record()
    rb = type(rb)(**{**rb.__dict__, "collected_at": ra.collected_at})
    assert dump_secfile(ra) == dump_secfile(rb)


def test_nic_rename_and_reboot_do_not_change_components(collected):
    before = collected("physical").to_record()

    def rename_and_reboot(root: Path) -> None:
        net = root / "sys/class/net"
        (net / "eno1").rename(net / "enp59s0f0")
        (net / "eno2").rename(net / "eth0")
        (root / "proc/sys/kernel/random/boot_id").write_text(
            "11111111-2222-3333-4444-555555555555\n"
        )
        (root / "proc/uptime").write_text("12.00 20.00\n")

    after = collected("physical", edit=rename_and_reboot).to_record()
    assert after.components == before.components
    assert after.labels["nics"] == ["enp59s0f0", "eth0"]


def test_secfile_holds_no_raw_serial(collected):
    fp = collected("physical")
    data = dump_secfile(fp.to_record())
    for values in PHYSICAL_RAW.values():
        for value in values:
            if value == PHYSICAL_RAW["cpu_model"][0]:
                continue  # the CPU model is also a readable label by design
            assert value.encode() not in data and value.lower().encode() not in data, value
    assert "raw" not in repr(fp) and "B6WKN42" not in repr(fp)
    assert load_secfile(data).components == fp.to_record().components


def test_script_failure_is_a_clear_error():
    from fingerprint.errors import FingerprintError
    from installer.hosts.recorded import RecordedHost

    with pytest.raises(FingerprintError, match="did not finish"):
        collect(RecordedHost(name="box"))


def test_script_is_posix_sh():
    """dash (Debian's /bin/sh) parses the script: catches bashisms before a CentOS host does."""
    from fingerprint.collect import collect_script

    sh = shutil.which("dash") or "/bin/sh"
    proc = subprocess.run([sh, "-n", "-c", collect_script("/x")], capture_output=True)
    assert proc.returncode == 0, proc.stderr
