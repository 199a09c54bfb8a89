"""Open a bundle: verify first, then hand out only the bytes that were verified.

`open_bundle` reads `manifest.yaml` and `manifest.sig` (the only files read before the
signature is checked), checks the signature against the pins (installer.bundle.trust), then
reads every file the manifest lists **once**, as a plain file (installer.archive.regular),
hashes it against the manifest and keeps the bytes. Specs, templates and the license come from
those bytes; nothing of the bundle is read from disk again, so a file swapped after the check
is never used. Image archives are only stat-ed here (plain file, size): their content is
checked while they stream into `docker load`, or by `sealbox bundle verify` (deep).
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Mapping, Optional, Union

from installer import signing
from installer.archive.regular import NotRegular, kind_of, lstat_regular, read_regular
from installer.bundle.manifest import MANIFEST, SIGNATURE, ImageEntry, Manifest, parse_manifest
from installer.bundle.trust import BundleRefused, check_signature_bytes, trusted_keys
from installer.errors import SealboxError, command
from installer.i18n import _, message_of, split_subject
from installer.spec.load import load_modules_from_bytes
from installer.spec.model import ModuleSpec

TOP_LEVEL = {MANIFEST, SIGNATURE}
TEMPLATES = "templates/"
FILE_LIMIT = 256 << 20  # no listed file (spec, template, wheel) comes near; a bigger one is refused


@dataclass
class Problem:
    path: str
    reason: str

    def line(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class VerifyReport:
    """Every problem found (never stops at the first) and what was checked."""

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
                _("bundle {bundle} refused: {first}{more}; run '{value}' for all").format(
                    bundle=self.bundle, first=first, more=more, value=command("bundle verify")
                )
            )


@dataclass(frozen=True)
class VerifiedBundle:
    """A bundle whose signature and listed files were checked; its content, in memory.

    `files` maps every path the manifest lists under `files:` (modules/*.yaml, templates/**,
    license/*, install.py, wheels/*, ...) to the exact bytes whose sha256 matched. Image
    archives stay on disk: `archive_path()` gives their path for the streaming, checked load.
    """

    root: str  # absolute bundle folder
    manifest: Manifest
    manifest_bytes: bytes  # the signed bytes, exactly
    key_id: Optional[str]  # None: an unsigned development bundle ($SEALBOX_ALLOW_UNSIGNED=1)
    files: Mapping[str, bytes]

    @property
    def signed(self) -> bool:
        return self.key_id is not None

    def signer(self) -> str:
        if self.key_id:
            return _("signed by key {key_id}").format(key_id=self.key_id)
        return _("UNSIGNED (development)")

    def read(self, rel: str) -> bytes:
        """The verified bytes of a listed file; BundleRefused if the manifest does not list it."""
        try:
            return self.files[rel]
        except KeyError:
            raise BundleRefused(
                _("{rel}: not listed in the bundle manifest; the bundle does not carry it").format(
                    rel=rel
                )
            ) from None

    def get(self, rel: str) -> Optional[bytes]:
        return self.files.get(rel)

    @cached_property
    def specs(self) -> dict[str, ModuleSpec]:
        """The module specs parsed from the verified `modules/*.yaml` (once per bundle)."""
        return load_modules_from_bytes(self.files)

    @cached_property
    def templates(self) -> dict[str, str]:
        """Template name (relative to templates/) -> verified source text."""
        out: dict[str, str] = {}
        for rel, data in self.files.items():
            if rel.startswith(TEMPLATES):
                try:
                    out[rel[len(TEMPLATES) :]] = data.decode("utf-8")
                except UnicodeDecodeError:
                    raise BundleRefused(
                        _("{rel}: not UTF-8 text; a template must be").format(rel=rel)
                    ) from None
        return out

    def archive_path(self, entry: Union[ImageEntry, str]) -> str:
        """Where an image archive listed in the manifest lies (its content is checked while
        it streams, never trusted from this path alone)."""
        rel = entry.file if isinstance(entry, ImageEntry) else entry
        if rel not in self.manifest.archives():
            raise BundleRefused(
                _("{rel}: not an image archive of this bundle's manifest").format(rel=rel)
            )
        return os.path.join(self.root, rel)


def open_bundle(bundle_dir: str, trust: Union[tuple[str, ...], list[str]] = ()) -> VerifiedBundle:
    """Verify the bundle against the pins (--trust, $SEALBOX_TRUST, host pins; see trust.py)
    and return its verified content. Raises BundleRefused (exit 5) naming the first problem."""
    return open_with_keys(bundle_dir, trusted_keys(trust))


def as_verified(bundle: Union[VerifiedBundle, str]) -> VerifiedBundle:
    """A library caller may pass a path: it is opened (verified) here, with the default pins."""
    return bundle if isinstance(bundle, VerifiedBundle) else open_bundle(bundle)


def open_with_keys(bundle_dir: str, trusted: dict[str, signing.PublicKey]) -> VerifiedBundle:
    report = VerifyReport(os.path.abspath(bundle_dir))
    bundle = scan_bundle(bundle_dir, trusted, report)
    report.raise_if_bad()
    assert bundle is not None
    return bundle


def _safe_rel(path: str) -> bool:
    norm = os.path.normpath(path)
    return not (os.path.isabs(path) or norm.startswith("..") or norm != path.replace("\\", "/"))


def _walk(bundle_dir: str, report: VerifyReport) -> dict[str, int]:
    """Every non-directory path under the bundle -> its lstat mode (nothing is opened);
    symbolic links to folders are problems and not entered."""
    found: dict[str, int] = {}
    for root, dirs, names in os.walk(bundle_dir):
        for d in list(dirs):
            full = os.path.join(root, d)
            if os.path.islink(full):
                rel = os.path.relpath(full, bundle_dir).replace(os.sep, "/")
                report.add(rel, _("symbolic link; bundles hold plain files"))
                dirs.remove(d)
        for name in names:
            full = os.path.join(root, name)
            rel = os.path.relpath(full, bundle_dir).replace(os.sep, "/")
            try:
                found[rel] = os.lstat(full).st_mode
            except FileNotFoundError:
                continue
    return found


def _read_top(bundle_dir: str, name: str, report: VerifyReport) -> Optional[bytes]:
    try:
        return read_regular(os.path.join(bundle_dir, name), FILE_LIMIT)
    except NotRegular as exc:
        report.add(name, str(exc))
    return None


def scan_bundle(
    bundle_dir: str, trusted: dict[str, signing.PublicKey], report: VerifyReport
) -> Optional[VerifiedBundle]:
    """Collect every problem into `report`; the VerifiedBundle when there are none.

    Nothing but manifest.yaml and manifest.sig is read, and nothing is parsed, before the
    signature over manifest.yaml's exact bytes checks out."""
    try:
        mdata = _read_top(bundle_dir, MANIFEST, report)
    except FileNotFoundError:
        report.add(MANIFEST, _("missing; this is not a Sealbox bundle"))
        return None
    try:
        sdata = _read_top(bundle_dir, SIGNATURE, report)
    except FileNotFoundError:
        sdata = None
    if mdata is None or report.problems:
        return None
    try:
        report.key_id = check_signature_bytes(mdata, sdata, trusted)
    except BundleRefused as exc:
        path, reason = split_subject(message_of(exc))
        report.add(path, reason)
        return None
    try:
        manifest = parse_manifest(mdata, MANIFEST)
    except SealboxError as exc:
        report.add(MANIFEST, split_subject(message_of(exc))[1])
        return None
    report.manifest = manifest
    present = _walk(bundle_dir, report)
    files = _read_listed(bundle_dir, manifest, present, report)
    listed = (
        set(TOP_LEVEL)
        | set(manifest.files)
        | _check_archives(bundle_dir, manifest, present, report)
    )
    for rel in sorted(set(present) - listed):
        mode = present[rel]
        if not stat.S_ISREG(mode):
            report.add(
                rel,
                _("a {mode} the manifest does not list; bundles hold plain files").format(
                    mode=kind_of(mode)
                ),
            )
        elif rel.endswith(".tmp") and rel[:-4] in TOP_LEVEL:
            report.add(rel, _("leftover of an interrupted write; not listed in the manifest"))
        else:
            report.add(
                rel,
                _(
                    "not listed in the manifest; a bundle carries only what it lists: move it out "
                    "of the bundle folder"
                ),
            )
    if report.problems:
        return None
    return VerifiedBundle(report.bundle, manifest, mdata, report.key_id, MappingProxyType(files))


def _read_listed(
    bundle_dir: str, manifest: Manifest, present: dict[str, int], report: VerifyReport
) -> dict[str, bytes]:
    """Each listed small file read once, as a plain file, and kept when its sha256 matches."""
    files: dict[str, bytes] = {}
    for rel, want in sorted(manifest.files.items()):
        if not _safe_rel(rel) or rel in TOP_LEVEL:
            report.add(rel, _("path leaves the bundle; the manifest is malformed"))
            continue
        if rel not in present:
            report.add(rel, _("listed in the manifest but missing; copy the bundle again"))
            continue
        try:
            data = read_regular(os.path.join(bundle_dir, rel), FILE_LIMIT)
        except FileNotFoundError:
            report.add(rel, _("listed in the manifest but missing; copy the bundle again"))
            continue
        except NotRegular as exc:
            report.add(rel, str(exc))
            continue
        report.files_checked += 1
        got = hashlib.sha256(data).hexdigest()
        if got != want:
            report.add(
                rel,
                _("sha256 {got}... does not match the manifest ({want}...)").format(
                    got=got[:16], want=want[:16]
                ),
            )
            continue
        files[rel] = data
    return files


def _check_archives(
    bundle_dir: str, manifest: Manifest, present: dict[str, int], report: VerifyReport
) -> set[str]:
    """Archives: plain file, the size the manifest says (content is checked as it streams)."""
    listed: set[str] = set()
    for rel, entries in manifest.archives().items():
        listed.add(rel)
        if not _safe_rel(rel):
            report.add(rel, _("path leaves the bundle; the manifest is malformed"))
            continue
        if rel not in present:
            report.add(rel, _("image archive missing; copy the bundle again"))
            continue
        try:
            size = lstat_regular(os.path.join(bundle_dir, rel)).st_size
        except FileNotFoundError:
            report.add(rel, _("image archive missing; copy the bundle again"))
            continue
        except NotRegular as exc:
            report.add(rel, str(exc))
            continue
        want = entries[0].size
        if want and size != want:
            kind = "truncated" if size < want else "too long"
            report.add(
                rel,
                _("{kind}: {size} bytes, the manifest says {want}; copy it again").format(
                    kind=kind, size=size, want=want
                ),
            )
    return listed
