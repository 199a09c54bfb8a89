"""Fingerprint errors: one-line messages that name the file or component and the fix."""

from __future__ import annotations

from installer.errors import SealboxError, UsageError


class FingerprintError(SealboxError):
    """A fingerprint operation failed in a way the user can act on (exit code 1)."""


class SecfileError(UsageError):
    """A secfile or archive is malformed, corrupted, altered or unreadable (exit code 2)."""


class AlgorithmError(FingerprintError):
    """Two fingerprints cannot be compared (unknown or different hashing algorithm/product)."""
