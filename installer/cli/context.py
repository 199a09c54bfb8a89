"""Shared CLI state: which bundle, which host, which state dir; built once per invocation.

The bundle is opened (verified, read into memory) once per invocation and shared by every
command step; the gates are the engine's (installer.deploy.gates), not the CLI's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import List, Optional

from installer.bundle.manifest import locate_bundle
from installer.bundle.opened import VerifiedBundle, open_bundle
from installer.deploy.engine import Deployment
from installer.deploy.state import StateStore
from installer.errors import SCRIPT_DIR_ENV, HostError, UsageError
from installer.facts.snapshot import RUNTIMES, HostFacts
from installer.fleet.inventory import Inventory
from installer.hosts.local import LocalHost
from installer.i18n import _
from installer.runtime.runspec import parse_ulimit


@dataclass
class CliContext:
    bundle: Optional[str] = None
    state_dir: Optional[str] = None
    runtime: Optional[str] = None  # --runtime: over the inventory's, on every target
    ulimits: Optional[tuple[str, ...]] = None  # --ulimit: likewise
    _opened: Optional[VerifiedBundle] = None

    def set_runtime(self, runtime: Optional[str], ulimits: List[str]) -> None:
        """Check --runtime / --ulimit once, before any host is reached (exit 2 on bad input)."""
        if runtime is not None and runtime not in RUNTIMES:
            raise UsageError(
                _("--runtime {value}: expected one of {choices}").format(
                    value=runtime, choices=", ".join(RUNTIMES)
                )
            )
        self.runtime = runtime
        self.ulimits = tuple(parse_ulimit(u) for u in ulimits) if ulimits else None

    def host_settings(self, inventory: Inventory) -> Inventory:
        """The inventory with --runtime / --ulimit applied to every host."""
        for ih in inventory.hosts.values():
            if self.runtime is not None:
                ih.runtime = self.runtime
            if self.ulimits is not None:
                ih.ulimits = self.ulimits
        return inventory

    def bundle_dir(self) -> str:
        return locate_bundle(self.bundle, os.environ.get(SCRIPT_DIR_ENV))

    def verified(self) -> VerifiedBundle:
        """The bundle, verified against the pins ($SEALBOX_TRUST, host pins; see
        installer.bundle.trust) and read once per invocation (BundleRefused, exit 5)."""
        where = os.path.abspath(self.bundle_dir())
        if self._opened is None or self._opened.root != where:
            self._opened = open_bundle(where)
        return self._opened

    def require_root(self, what: str) -> None:
        """Before the bundle is opened: a user who is not root hears that first (exit 3), not
        that the bundle is "not trusted" because the root-only pins could not be read."""
        host = LocalHost()
        if not HostFacts(host).is_root:
            raise HostError(
                _(
                    "'{what}' needs root on {name} (it runs Docker and writes {root}): run it with sudo"
                ).format(what=what, name=host.name, root=StateStore(host, self.state_dir).root)
            )

    def deployment(self, reporter=None) -> Deployment:
        host = LocalHost()
        return Deployment(
            self.verified(),
            host,
            store=StateStore(host, self.state_dir),
            reporter=reporter,
            runtime=self.runtime or "auto",
            ulimits=self.ulimits or (),
        )


CTX = CliContext()
