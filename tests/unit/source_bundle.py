"""The repo's own modules/ and templates/ as an in-memory VerifiedBundle, for unit tests of
planning and rendering (no signature: the opener's own tests are in tests/unit/bundle)."""

from __future__ import annotations

from pathlib import Path

from installer.bundle.manifest import Manifest
from installer.bundle.opened import VerifiedBundle

ROOT = Path(__file__).resolve().parents[2]


def source_bundle(root: Path = ROOT) -> VerifiedBundle:
    files = {
        str(p.relative_to(root)): p.read_bytes()
        for sub in ("modules", "templates")
        for p in sorted((root / sub).rglob("*"))
        if p.is_file()
    }
    return VerifiedBundle(str(root), Manifest("source-tree", "0"), b"", None, files)
