"""Secfile integrity, archive pack/check/read, inspection helpers, and HPKE sealing."""

from __future__ import annotations

import dataclasses
import io
import json
import tarfile
from pathlib import Path
from typing import Dict

import pytest

from fingerprint import (
    Fingerprint,
    MachineRecord,
    SecfileError,
    check_archive,
    clone_flags,
    diff_records,
    dump_secfile,
    generate_keypair,
    load_secfile,
    pack_dir,
    pack_files,
    pair_records,
    read_archive,
    seal,
    shared_components,
)


def machine(n: int, **override) -> MachineRecord:
    raw = {
        "machine_id": (f"{n:032x}a",),
        "product_uuid": (f"4c4c4544-0000-0000-0000-{n:012d}",),
        "macs": (f"b4:96:91:00:00:{n:02x}",),
        "cpu_model": ("Intel(R) Xeon(R) Silver 4214 CPU @ 2.20GHz",),
    }
    raw.update(override)
    labels = {"hostname": f"node{n}", "primary_ip": f"10.0.0.{n}", "memory_bytes": 1 << 35}
    fp = Fingerprint(raw={k: v for k, v in raw.items() if v}, labels=labels, missing={})
    return fp.to_record()


def tar_gz(entries: Dict[str, bytes], dirs=()) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_secfile_round_trip_and_format_fields():
    rec = machine(1)
    data = dump_secfile(rec)
    body = json.loads(data)
    assert body["format"] == "sealbox-secfile" and body["version"] == 1
    assert body["algorithm"] == "hmac-sha256-v1" and body["checksum"].startswith("sha256:")
    assert body["labels"]["hostname"] == "node1"  # readable labels beside the hashes
    back = load_secfile(data, name="secfile_10.0.0.1")
    assert back.components == rec.components and back.labels == rec.labels


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d.replace(b'"node1"', b'"node9"'),  # hand edit of a label
        lambda d: d[: len(d) // 2],  # truncated copy
        lambda d: d.replace(b"hmac-sha256-v1", b"hmac-sha256-v0"),
        lambda d: b"\xff" + d,
    ],
)
def test_corrupted_or_edited_secfile_detected(damage):
    with pytest.raises(SecfileError, match="secfile_x"):
        load_secfile(damage(dump_secfile(machine(1))), name="secfile_x")


def test_flipped_hash_digit_detected():
    rec = machine(1)
    data = dump_secfile(rec).decode()
    h = rec.components["machine_id"][0]
    flipped = h[:-1] + ("0" if h[-1] != "0" else "1")
    with pytest.raises(SecfileError, match="checksum mismatch"):
        load_secfile(data.replace(h, flipped).encode(), name="secfile_x")


def test_newer_version_asks_for_upgrade():
    body = json.loads(dump_secfile(machine(1)))
    body["version"] = 2
    with pytest.raises(SecfileError, match="upgrade sealbox"):
        load_secfile(json.dumps(body).encode())


def test_pack_dir_then_check_and_read(tmp_path: Path):
    for n in (1, 2):
        (tmp_path / f"secfile_10.0.0.{n}").write_bytes(dump_secfile(machine(n)))
    (tmp_path / "README.txt").write_text("not a fingerprint")
    result = pack_dir(str(tmp_path))
    assert result.names == ["secfile_10.0.0.1", "secfile_10.0.0.2"] and result.skipped == [
        "README.txt"
    ]
    with tarfile.open(fileobj=io.BytesIO(result.archive)) as tar:
        names = tar.getnames()
    assert names == ["secfile_10.0.0.1", "secfile_10.0.0.2", "SHA256SUMS"]  # flat, no folder
    report = check_archive(result.archive)
    assert report.ok and report.errors == [] and report.warnings == []
    assert [r.name for r in read_archive(result.archive)] == names[:2]
    assert pack_dir(str(tmp_path)).archive == result.archive  # reproducible bytes


def test_pack_refuses_corrupted_secfile_and_empty_dir(tmp_path: Path):
    with pytest.raises(SecfileError, match="no secfile_"):
        pack_dir(str(tmp_path))
    (tmp_path / "secfile_bad").write_bytes(dump_secfile(machine(1))[:-40])
    with pytest.raises(SecfileError, match="secfile_bad"):
        pack_dir(str(tmp_path))


def test_non_flat_archive_rejected():
    data = tar_gz({"finger/secfile_10.0.0.1": dump_secfile(machine(1))}, dirs=["finger"])
    report = check_archive(data)
    assert not report.ok
    assert any("must be flat" in e for e in report.errors)
    with pytest.raises(SecfileError, match="flat"):
        read_archive(data)


def test_reference_style_dot_slash_archive_accepted_with_manifest_warning():
    """`tar cvzf ../finger.tar.gz ./*` (the field guide's way) gives ./secfile_x members."""
    data = tar_gz({"./secfile_10.0.0.1": dump_secfile(machine(1))}, dirs=["."])
    report = check_archive(data)
    assert report.ok, report.errors
    assert [r.name for r in report.records] == ["secfile_10.0.0.1"]
    assert any("SHA256SUMS" in w for w in report.warnings)


def test_foreign_file_symlink_and_manifest_mismatch_rejected():
    good = dump_secfile(machine(1))
    archive = pack_files({"secfile_10.0.0.1": good})
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        manifest = tar.extractfile("SHA256SUMS").read()  # type: ignore[union-attr]
    other = dump_secfile(machine(2))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in (
            ("secfile_10.0.0.1", other),
            ("SHA256SUMS", manifest),
            ("notes.txt", b"x"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("secfile_link")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/shadow"
        tar.addfile(link)
    report = check_archive(out.getvalue())
    assert any("sha256 differs from SHA256SUMS" in e for e in report.errors)
    assert any("notes.txt: not a fingerprint file" in e for e in report.errors)
    assert any("secfile_link: not a regular file" in e for e in report.errors)


def test_duplicate_machine_and_duplicate_name_are_errors():
    rec = dump_secfile(machine(1))
    report = check_archive(pack_files({"secfile_a": rec, "secfile_b": rec}))
    assert any("same machine as secfile_a" in e for e in report.errors)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for _ in range(2):
            info = tarfile.TarInfo("secfile_a")
            info.size = len(rec)
            tar.addfile(info, io.BytesIO(rec))
    assert any("appears 2 times" in e for e in check_archive(out.getvalue()).errors)


def test_not_an_archive():
    with pytest.raises(SecfileError, match="not a readable tar.gz"):
        check_archive(b"this is not gzip")
    with pytest.raises(SecfileError, match="no such file"):
        check_archive("/nonexistent/finger.tar.gz")


def test_cloned_machines_flagged():
    a = machine(1)
    b = machine(2, machine_id=(f"{1:032x}a",))  # a VM cloned from node1's image
    c = machine(3)
    assert a.components["machine_id"] == b.components["machine_id"]
    shared = shared_components([a, b, c])
    assert [(s.kind, s.machines) for s in shared] == [("machine_id", (a.name, b.name))]
    flags = clone_flags([a, b, c])
    assert flags[a.name] == [f"machine_id with {b.name}"] and flags[c.name] == []
    report = check_archive(
        pack_files({a.name: dump_secfile(a), b.name: dump_secfile(b), c.name: dump_secfile(c)})
    )
    assert report.ok and any("share machine_id" in w for w in report.warnings)


def test_same_cpu_model_is_not_a_clone():
    assert shared_components([machine(1), machine(2)]) == []


def test_previous_archive_diff_pairs_machines_by_components_not_ip():
    old1, old2 = machine(1), machine(2)
    moved = dataclasses.replace(
        machine(1, macs=("b4:96:91:00:00:99",)),
        name="secfile_10.0.0.77",
        labels={**old1.labels, "primary_ip": "10.0.0.77"},
    )
    new3 = machine(3)
    pairs = pair_records([old1, old2], [moved, new3])
    assert (old1, moved) in pairs and (None, new3) in pairs and (old2, None) in pairs
    changes = diff_records(old1, moved)
    assert "physical NIC MACs: changed" in changes
    assert "primary_ip: 10.0.0.1 -> 10.0.0.77" in changes
    assert diff_records(None, new3) == ["new machine"]
    assert diff_records(old1, old1) == []


def test_encryption_round_trip_and_failures():
    private, public = generate_keypair()
    rec = machine(1)
    plain = dump_secfile(rec)
    sealed = seal(plain, public)
    assert b"node1" not in sealed and rec.components["machine_id"][0].encode() not in sealed
    with pytest.raises(SecfileError, match="--key"):
        load_secfile(sealed, name="secfile_1")
    back = load_secfile(sealed, name="secfile_1", private_key=private)
    assert back.components == rec.components and back.labels == rec.labels
    other_private, _ = generate_keypair()
    with pytest.raises(SecfileError, match="not to this key"):
        load_secfile(sealed, name="secfile_1", private_key=other_private)
    body = json.loads(sealed)
    ct = bytearray(__import__("base64").b64decode(body["ciphertext"]))
    ct[-1] ^= 1
    body["ciphertext"] = __import__("base64").b64encode(bytes(ct)).decode()
    with pytest.raises(SecfileError, match="checksum mismatch"):
        load_secfile(json.dumps(body).encode(), private_key=private)
    body["checksum"] = "sha256:" + __import__("hashlib").sha256(bytes(ct)).hexdigest()
    with pytest.raises(SecfileError, match="decryption failed"):
        load_secfile(json.dumps(body).encode(), private_key=private)


def test_encrypted_archive_checks_without_key_and_reads_with_it(tmp_path: Path):
    private, public = generate_keypair()
    (tmp_path / "secfile_10.0.0.1").write_bytes(seal(dump_secfile(machine(1)), public))
    archive = pack_dir(str(tmp_path)).archive
    report = check_archive(archive)
    assert report.ok and report.sealed == ["secfile_10.0.0.1"] and report.records == []
    with pytest.raises(SecfileError, match="encrypted"):
        read_archive(archive)
    records = read_archive(archive, private_key=private)
    assert records[0].components == machine(1).components
