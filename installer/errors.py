"""Errors the CLI turns into one-line messages and exit codes (see README, "Exit codes")."""

from __future__ import annotations


class SealboxError(Exception):
    """A failure the user can act on; the message names the thing and the fix."""

    exit_code = 1


class UsageError(SealboxError):
    """Bad input from the user: unknown module, malformed file, bad --set."""

    exit_code = 2


class SpecError(UsageError):
    """A module spec or answers file that does not validate."""


class HostError(SealboxError):
    """The host cannot do what we need (not root, Docker missing, port taken)."""

    exit_code = 3


class RuntimeFailure(SealboxError):
    """A container runtime step failed (load, create, health)."""

    exit_code = 1


class LicenseError(SealboxError):
    """The license does not allow what was asked (expired, other machine, module missing)."""

    exit_code = 4
