"""Labels that mark containers as ours; one place so every reader agrees (like compose/const.py)."""

from __future__ import annotations

PREFIX = "io.sealbox"
MANAGED = f"{PREFIX}.managed"
MODULE = f"{PREFIX}.module"
INSTANCE = f"{PREFIX}.instance"
BUNDLE_VERSION = f"{PREFIX}.bundle-version"
MODULE_VERSION = f"{PREFIX}.module-version"
CONFIG_HASH = f"{PREFIX}.config-hash"
STAND_IN = f"{PREFIX}.stand-in"

CONTAINER_PREFIX = "sealbox-"


def container_name(module: str, instance: int) -> str:
    """Container names are stable so a field engineer can type them: sealbox-face-server-0."""
    return f"{CONTAINER_PREFIX}{module}-{instance}"
