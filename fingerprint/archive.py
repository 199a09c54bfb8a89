"""The fingerprint archive the vendor receives: a flat ``finger.tar.gz`` of ``secfile_*`` files
plus ``SHA256SUMS`` (sha256sum format). Flat because the vendor's tooling expects exactly that;
the manifest so a damaged or swapped file is caught before a license is issued from it.

Archives are read in memory, never extracted: a member name cannot write anywhere.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple, Union

from fingerprint.errors import SecfileError
from fingerprint.model import MachineRecord
from fingerprint.secfile import is_sealed, load_secfile

MANIFEST = "SHA256SUMS"
PREFIX = "secfile_"
MAX_MEMBER = 1 << 20
MAX_MEMBERS = 10000


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pack_files(files: Dict[str, bytes]) -> bytes:
    """A reproducible flat tar.gz of ``{name: bytes}`` plus the manifest."""
    manifest = "".join(f"{_sha(files[n])}  {n}\n" for n in sorted(files)).encode()
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for name, data in [*sorted(files.items()), (MANIFEST, manifest)]:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mode = 0o644
                info.mtime = 0
                tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@dataclass
class PackResult:
    archive: bytes
    names: List[str]
    skipped: List[str]


def pack_dir(directory: str, *, private_key: Optional[bytes] = None) -> PackResult:
    """Pack every ``secfile_*`` in ``directory``; each must verify first (encrypted ones are
    checked for integrity only, unless ``private_key`` is given)."""
    if not os.path.isdir(directory):
        raise SecfileError(f"{directory}: not a directory; give the folder holding secfile_* files")
    files: Dict[str, bytes] = {}
    skipped: List[str] = []
    for entry in sorted(os.listdir(directory)):
        path = os.path.join(directory, entry)
        if not entry.startswith(PREFIX) or not os.path.isfile(path):
            skipped.append(entry)
            continue
        with open(path, "rb") as fh:
            data = fh.read(MAX_MEMBER + 1)
        _verify_member(entry, data, private_key)
        files[entry] = data
    if not files:
        raise SecfileError(
            f"{directory}: no secfile_* files; run 'fingerprint collect' on each machine "
            "and copy the files here"
        )
    return PackResult(pack_files(files), sorted(files), skipped)


def _verify_member(name: str, data: bytes, private_key: Optional[bytes]) -> Optional[MachineRecord]:
    if len(data) > MAX_MEMBER:
        raise SecfileError(f"{name}: larger than 1 MiB, not a secfile; remove it")
    if is_sealed(data) and private_key is None:
        from fingerprint.crypto import envelope_ciphertext

        envelope_ciphertext(data, name=name)
        return None
    return load_secfile(data, name=name, private_key=private_key)


@dataclass
class Member:
    name: str
    data: bytes


def read_members(source: Union[str, bytes]) -> Tuple[List[Member], List[str]]:
    """Regular-file members of an archive (name without ``./``) and structural problems."""
    label = source if isinstance(source, str) else "archive"
    try:
        if isinstance(source, str):
            tar = tarfile.open(source, mode="r:*")
        else:
            tar = tarfile.open(fileobj=io.BytesIO(source), mode="r:*")
    except FileNotFoundError:
        raise SecfileError(f"{label}: no such file; give the path of finger.tar.gz") from None
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise SecfileError(f"{label}: not a readable tar.gz ({exc}); pack it again") from None
    problems: List[str] = []
    members: List[Member] = []
    with tar:
        try:
            entries = tar.getmembers()
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise SecfileError(
                f"{label}: archive truncated or corrupted ({exc}); pack it again"
            ) from None
        if len(entries) > MAX_MEMBERS:
            raise SecfileError(
                f"{label}: more than {MAX_MEMBERS} entries; not a fingerprint archive"
            )
        for info in entries:
            name = info.name
            while name.startswith("./"):
                name = name[2:]
            if info.isdir():
                if name not in ("", "."):
                    problems.append(f"{info.name}: folder in archive (must be flat)")
                continue
            if "/" in name or name.startswith(".."):
                problems.append(f"{info.name}: file inside a folder (archive must be flat)")
                continue
            if not info.isfile():
                problems.append(f"{info.name}: not a regular file (link or device)")
                continue
            if info.size > MAX_MEMBER:
                problems.append(f"{info.name}: larger than 1 MiB, not a secfile")
                continue
            fh = tar.extractfile(info)
            members.append(Member(name, fh.read() if fh else b""))
    return members, problems


@dataclass
class CheckReport:
    """What ``check`` found: errors make the archive unusable, warnings deserve a look."""

    archive: str
    records: List[MachineRecord] = field(default_factory=list)
    sealed: List[str] = field(default_factory=list)
    errors: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict:
        return {
            "archive": self.archive,
            "ok": self.ok,
            "machines": [r.name for r in self.records] + self.sealed,
            "encrypted": self.sealed,
            "errors": self.errors,
            "warnings": self.warnings,
        }


def check_archive(source: Union[str, bytes], *, private_key: Optional[bytes] = None) -> CheckReport:
    """Flat? only secfiles? each verifies? manifest matches? duplicates? clones?"""
    from fingerprint.compare import shared_components

    label = source if isinstance(source, str) else "archive"
    report = CheckReport(label)
    members, report.errors = read_members(source)
    seen: Dict[str, int] = {}
    manifest: Optional[bytes] = None
    for m in members:
        seen[m.name] = seen.get(m.name, 0) + 1
    for name, count in seen.items():
        if count > 1:
            report.errors.append(f"{name}: appears {count} times in the archive")
    files: Dict[str, bytes] = {}
    for m in members:
        if m.name == MANIFEST:
            manifest = m.data
        elif not m.name.startswith(PREFIX):
            report.errors.append(f"{m.name}: not a fingerprint file (only secfile_* belong here)")
        else:
            files[m.name] = m.data
    for name, data in sorted(files.items()):
        try:
            record = _verify_member(name, data, private_key)
        except SecfileError as exc:
            report.errors.append(str(exc))
            continue
        if record is None:
            report.sealed.append(name)
        else:
            report.records.append(record)
    if manifest is None:
        report.warnings.append(
            f"no {MANIFEST} manifest (packed by hand?); repack with 'fingerprint pack'"
        )
    else:
        report.errors.extend(_check_manifest(manifest, files))
    if not files:
        report.errors.append("no secfile_* in the archive; pack the collected files")
    by_hashes: Dict[Tuple, str] = {}
    for r in report.records:
        key = (r.algorithm, r.product, tuple(sorted(r.components.items())))
        if r.components and key in by_hashes:
            report.errors.append(
                f"{r.name}: same machine as {by_hashes[key]} (collected twice?); remove one"
            )
        else:
            by_hashes[key] = r.name
    for shared in shared_components(report.records):
        if len(set(shared.machines)) > 1:
            report.warnings.append(
                f"{', '.join(shared.machines)} share {shared.kind} (cloned VM or copied disk?)"
            )
    return report


def _check_manifest(manifest: bytes, files: Dict[str, bytes]) -> List[str]:
    errors: List[str] = []
    listed: Dict[str, str] = {}
    for line in manifest.decode("utf-8", "replace").splitlines():
        if not line.strip():
            continue
        digest, _, name = line.partition("  ")
        listed[name.strip().lstrip("*")] = digest.strip()
    for name, data in files.items():
        if name not in listed:
            errors.append(f"{name}: not listed in {MANIFEST} (added after packing?); repack")
        elif listed[name] != _sha(data):
            errors.append(f"{name}: sha256 differs from {MANIFEST} (changed after packing); repack")
    for name in listed:
        if name not in files:
            errors.append(f"{name}: listed in {MANIFEST} but missing from the archive; repack")
    return errors


def read_archive(
    source: Union[str, bytes], *, private_key: Optional[bytes] = None
) -> List[MachineRecord]:
    """Every machine in a fingerprint archive; raises ``SecfileError`` on any problem ``check``
    would report as an error (this is what the license issuer should call)."""
    report = check_archive(source, private_key=private_key)
    if report.sealed:
        report.errors.append(
            f"{', '.join(report.sealed)}: encrypted; pass the vendor private key to read them"
        )
    if report.errors:
        extra = (
            f" (+{len(report.errors) - 1} more; run 'fingerprint check')"
            if len(report.errors) > 1
            else ""
        )
        raise SecfileError(f"{report.archive}: {report.errors[0]}{extra}")
    return report.records
