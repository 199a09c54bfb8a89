"""Constants every reader shares: the labels that mark containers as ours (like compose/const.py)."""

from __future__ import annotations

PREFIX = "io.sealbox"
MANAGED = f"{PREFIX}.managed"
MODULE = f"{PREFIX}.module"
INSTANCE = f"{PREFIX}.instance"
BUNDLE_VERSION = f"{PREFIX}.bundle-version"
MODULE_VERSION = f"{PREFIX}.module-version"
CONFIG_HASH = f"{PREFIX}.config-hash"
STAND_IN = f"{PREFIX}.stand-in"
DEPLOYMENT = f"{PREFIX}.deployment"
DEFAULT_DEPLOYMENT = "default"

CONTAINER_PREFIX = "sealbox-"


def container_name(module: str, instance: int, deployment: str = DEFAULT_DEPLOYMENT) -> str:
    """Stable names a field engineer can type: sealbox-face-server-0.

    A deployment kept under another state dir (tests, a staging copy) gets its id in the name,
    so two deployments on one Docker engine never touch each other's containers.
    """
    if deployment == DEFAULT_DEPLOYMENT:
        return f"{CONTAINER_PREFIX}{module}-{instance}"
    return f"{CONTAINER_PREFIX}{deployment}-{module}-{instance}"
