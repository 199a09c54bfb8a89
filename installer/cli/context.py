"""Shared CLI state: which bundle, which host, which state dir; built once per invocation."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

from installer.bundle.manifest import locate_bundle
from installer.deploy import Deployment, Gate
from installer.hosts.local import LocalHost
from installer.preflight import envcheck_gate
from installer.state import StateStore

SCRIPT_DIR_ENV = "SEALBOX_SCRIPT_DIR"  # set by install.py: the folder it was run from


@dataclass
class CliContext:
    bundle: Optional[str] = None
    state_dir: Optional[str] = None
    gates: list[Gate] = field(default_factory=lambda: [envcheck_gate])

    def bundle_dir(self) -> str:
        return locate_bundle(self.bundle, os.environ.get(SCRIPT_DIR_ENV))

    def deployment(self, reporter=None) -> Deployment:
        host = LocalHost()
        return Deployment(
            self.bundle_dir(),
            host,
            store=StateStore(host, self.state_dir),
            reporter=reporter,
            gates=self.gates,
        )


CTX = CliContext()
