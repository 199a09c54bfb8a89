"""Check kinds, registered by importing their modules (by subject), and the names callers use.

``KINDS`` maps an item id to its ``CheckKind``; ``ItemSpec`` is one item of a profile. The kinds
live in ``checks_host`` (machine), ``checks_docker`` (engine, SELinux, firewall), ``checks_gpu``
(NVIDIA), ``checks_npu`` (Huawei Ascend) and ``checks_site`` (VM, LAN, ports, time); ``kinds`` holds the registry they fill.
"""

from __future__ import annotations

from envcheck import (
    checks_docker,
    checks_gpu,
    checks_host,
    checks_npu,
    checks_podman,
    checks_site,
)
from envcheck.kinds import KINDS, CheckKind, Facts, ItemSpec, Outcome, Params


def with_install_path(overrides: dict[str, str], root: str) -> dict[str, str]:
    """``disk-install`` measured where the install writes (its state root, as the install
    gate measures it), unless the user points it elsewhere."""
    if any(k == "disk-install.path" or k.endswith("/disk-install.path") for k in overrides):
        return overrides
    return {"disk-install.path": root, **overrides}


__all__ = [
    "KINDS",
    "CheckKind",
    "Facts",
    "ItemSpec",
    "Outcome",
    "Params",
    "checks_docker",
    "checks_gpu",
    "checks_host",
    "checks_npu",
    "checks_podman",
    "checks_site",
    "with_install_path",
]
