"""`sealbox bundle verify`: everything the opener checks, plus every image archive, deep.

Built on the same scan as `open_bundle` (installer.bundle.opened): signature first, then each
listed file once as a plain file, unlisted files and non-regular entries refused. `deep` also
reads each archive once, checking its sha256 and the image IDs inside in that same read.
"""

from __future__ import annotations

import os
from typing import Callable, Optional

from installer import signing
from installer.archive.regular import NotRegular, open_regular
from installer.archive.streams import ArchiveError, stream_decompressed
from installer.archive.tarscan import ImageIdScanner
from installer.bundle.opened import Problem, VerifyReport, scan_bundle
from installer.i18n import _, message_of, split_subject

Progress = Callable[[str, int, int], None]  # archive, bytes read, total

__all__ = ["Problem", "VerifyReport", "verify_bundle"]


def verify_bundle(
    bundle_dir: str,
    trusted: dict[str, signing.PublicKey],
    *,
    deep: bool = True,
    progress: Optional[Progress] = None,
) -> VerifyReport:
    """Check everything and collect one problem per thing wrong (never stops at the first,
    except at a bad signature: nothing is read past that)."""
    report = VerifyReport(os.path.abspath(bundle_dir), deep=deep)
    scan_bundle(bundle_dir, trusted, report)
    if not deep or report.manifest is None:
        return report
    bad = {p.path for p in report.problems}
    for rel, entries in report.manifest.archives().items():
        if rel not in bad:
            _deep_check(bundle_dir, rel, entries, report, progress)
    return report


def _deep_check(
    bundle_dir: str, rel: str, entries: list, report: VerifyReport, progress: Optional[Progress]
) -> None:
    """sha256 of the archive and the image IDs inside it, in one read of the file."""
    full = os.path.join(bundle_dir, rel)
    scanner = ImageIdScanner(rel, [e.id for e in entries])
    try:
        with open_regular(full) as fh:
            for _piece in stream_decompressed(
                full,
                expected_sha256=entries[0].sha256,
                inspector=scanner,
                fh=fh,
                progress=(lambda done, total: progress(rel, done, total)) if progress else None,
            ):
                pass
        report.archives_checked += 1
    except NotRegular as exc:
        report.add(rel, str(exc))
    except FileNotFoundError:
        report.add(rel, _("image archive missing; copy the bundle again"))
    except ArchiveError as exc:
        msg = message_of(exc)
        subject, reason = split_subject(msg, full)
        report.add(rel, reason if reason is not msg else split_subject(msg)[1])
