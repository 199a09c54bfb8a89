"""Errors the CLI turns into one-line messages and exit codes (see README, "Exit codes")."""

from __future__ import annotations

import os

SCRIPT_DIR_ENV = "SEALBOX_SCRIPT_DIR"  # set by install.py (a checkout's or a bundle's)


def command(args: str) -> str:
    """A Sealbox command as the user can type it where they are, for the fix a message names:
    a controller that has only the bundle has its install.py, not the `sealbox` entry point."""
    return f"python3 install.py {args}" if os.environ.get(SCRIPT_DIR_ENV) else f"sealbox {args}"


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
