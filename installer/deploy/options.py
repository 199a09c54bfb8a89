"""The values an install takes and gives back: what the caller asks for, what it got.

Kept apart from the engine so that gates, the fleet and the CLI can name them without
importing the engine (and without an import cycle back to it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from installer.deploy.plan import Plan
from installer.deploy.variables import Prompter


@dataclass
class InstallOptions:
    overrides: Mapping[str, Any] = field(default_factory=dict)
    answers: Mapping[str, Any] = field(default_factory=dict)
    prompter: Optional[Prompter] = None
    instances: Optional[int] = None  # for the modules named on the command line
    gpus: Optional[list[str]] = None
    dry_run: bool = False
    skip_checks: list[str] = field(default_factory=list)
    # Dependencies another host provides (multi-host): not installed here; their address
    # variables are set in ``overrides`` (see installer.fleet.wiring).
    elsewhere: frozenset[str] = frozenset()
    # The license the license server on another host serves (where it is read from, its
    # bytes): the license gate judges this one there, and writes no second copy here.
    served_license: Optional[tuple[str, bytes]] = None
    # an install over an older version of the same product (installer.deploy.upgrade)
    allow_downgrade: bool = False
    # ``upgrade``: only the modules the host has installed (all of them when it has none)
    installed_only: bool = False


@dataclass
class InstallResult:
    plan: Plan
    applied: list[str] = field(default_factory=list)
    endpoints: list[tuple[str, str, int]] = field(default_factory=list)  # module, container, port
    loaded_images: int = 0
    seconds: float = 0.0
    upgrade: Optional[dict[str, Any]] = None  # installer.deploy.upgrade.Upgrade.to_dict()
    backups: list[str] = field(default_factory=list)  # taken before an upgrade changed anything


@dataclass
class InstanceStatus:
    module: str
    container: str
    image: str
    ports: dict[str, int]
    state: str
    health: str
    gpu: Optional[str] = None
    in_state: bool = True
    image_id: str = ""  # the image the container runs
    signed_id: str = ""  # the signed image ID it should run (from the state record)
