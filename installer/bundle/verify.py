"""Bundle verification: signature, every listed file, no unlisted files, image archives.

Two depths. `quick` (run before every install) reads the manifest, its signature and the small
files, and only stats the image archives: their sha256 and image IDs are checked while they
stream into `docker load`, so a multi-GB archive is read once, not twice. `deep`
(`sealbox bundle verify`) also reads every archive once, checking its sha256 and the image IDs
inside in that same read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Optional

from installer import signing
from installer.bundle.manifest import MANIFEST, SIGNATURE, Manifest, load_manifest
from installer.bundle.tarscan import ImageIdScanner
from installer.bundle.trust import BundleRefused, check_signature
from installer.errors import SealboxError
from installer.runtime.archive import ArchiveError, sha256_file, stream_decompressed

Progress = Callable[[str, int, int], None]  # archive, bytes read, total
TOP_LEVEL = {MANIFEST, SIGNATURE}


@dataclass
class Problem:
    path: str
    reason: str

    def line(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class VerifyReport:
    bundle: str
    key_id: Optional[str] = None
    manifest: Optional[Manifest] = None
    problems: list[Problem] = field(default_factory=list)
    files_checked: int = 0
    archives_checked: int = 0
    deep: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, path: str, reason: str) -> None:
        self.problems.append(Problem(path, reason))

    def raise_if_bad(self) -> None:
        if self.problems:
            first = self.problems[0].line()
            more = (
                f" (and {len(self.problems) - 1} more problem(s))" if len(self.problems) > 1 else ""
            )
            raise BundleRefused(
                f"bundle {self.bundle} refused: {first}{more}; run 'sealbox bundle verify' for all"
            )


def _safe_rel(path: str) -> bool:
    norm = os.path.normpath(path)
    return not (os.path.isabs(path) or norm.startswith("..") or norm != path.replace("\\", "/"))


def _walk(bundle_dir: str, report: VerifyReport) -> set[str]:
    """Every path under the bundle (relative, '/'-separated); symlinks are problems."""
    found: set[str] = set()
    for root, dirs, names in os.walk(bundle_dir):
        for d in list(dirs):
            full = os.path.join(root, d)
            if os.path.islink(full):
                report.add(
                    os.path.relpath(full, bundle_dir), "symbolic link; bundles hold plain files"
                )
                dirs.remove(d)
        for name in names:
            full = os.path.join(root, name)
            rel = os.path.relpath(full, bundle_dir).replace(os.sep, "/")
            if os.path.islink(full):
                report.add(rel, "symbolic link; bundles hold plain files")
                continue
            found.add(rel)
    return found


def verify_bundle(
    bundle_dir: str,
    trusted: dict[str, signing.PublicKey],
    *,
    deep: bool = True,
    progress: Optional[Progress] = None,
) -> VerifyReport:
    """Check everything and collect one problem per thing wrong (never stops at the first)."""
    report = VerifyReport(os.path.abspath(bundle_dir), deep=deep)
    mpath = os.path.join(bundle_dir, MANIFEST)
    try:
        with open(mpath, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        report.add(MANIFEST, "missing; this is not a Sealbox bundle")
        return report
    try:
        report.key_id = check_signature(bundle_dir, trusted, data)
    except BundleRefused as exc:
        path, _, reason = str(exc).partition(": ")
        report.add(path, reason)
    try:
        manifest = load_manifest(bundle_dir)
    except SealboxError as exc:
        report.add(MANIFEST, str(exc).split(": ", 1)[-1])
        return report
    report.manifest = manifest
    present = _walk(bundle_dir, report)

    listed: set[str] = set(TOP_LEVEL)
    for rel, want in sorted(manifest.files.items()):
        listed.add(rel)
        if not _safe_rel(rel):
            report.add(rel, "path leaves the bundle; the manifest is malformed")
            continue
        if rel not in present:
            report.add(rel, "listed in the manifest but missing; copy the bundle again")
            continue
        got = sha256_file(os.path.join(bundle_dir, rel))
        report.files_checked += 1
        if got != want:
            report.add(rel, f"sha256 {got[:16]}... does not match the manifest ({want[:16]}...)")

    for rel, entries in manifest.archives().items():
        listed.add(rel)
        first = entries[0]
        if not _safe_rel(rel):
            report.add(rel, "path leaves the bundle; the manifest is malformed")
            continue
        full = os.path.join(bundle_dir, rel)
        if rel not in present:
            report.add(rel, "image archive missing; copy the bundle again")
            continue
        size = os.path.getsize(full)
        if first.size and size != first.size:
            kind = "truncated" if size < first.size else "too long"
            report.add(rel, f"{kind}: {size} bytes, the manifest says {first.size}; copy it again")
            continue
        if not deep:
            continue
        _deep_check(bundle_dir, rel, entries, report, progress)

    for rel in sorted(present - listed):
        if rel.endswith(".tmp") and rel[:-4] in TOP_LEVEL:
            report.add(rel, "leftover of an interrupted write; not listed in the manifest")
        else:
            report.add(rel, "not listed in the manifest; a bundle carries only what it lists")
    return report


def _deep_check(
    bundle_dir: str, rel: str, entries: list, report: VerifyReport, progress: Optional[Progress]
) -> None:
    """sha256 of the archive and the image IDs inside it, in one read of the file."""
    full = os.path.join(bundle_dir, rel)
    scanner = ImageIdScanner(rel, [e.id for e in entries])
    try:
        for _piece in stream_decompressed(
            full,
            expected_sha256=entries[0].sha256,
            inspector=scanner,
            progress=(lambda done, total: progress(rel, done, total)) if progress else None,
        ):
            pass
        report.archives_checked += 1
    except ArchiveError as exc:
        msg = str(exc)
        report.add(
            rel, msg[len(full) + 2 :] if msg.startswith(full + ": ") else msg.split(": ", 1)[-1]
        )
