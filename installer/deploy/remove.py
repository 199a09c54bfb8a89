"""Remove modules from a host: containers, their config, and with purge their data and values.

Runs inside the engine's run lock (``Deployment.remove`` / ``remove_all``); the caller saves
the state afterwards.
"""

from __future__ import annotations

import os

from installer.deploy.apply import OLD_SUFFIX
from installer.deploy.state import State, StateStore
from installer.events import Event, Reporter
from installer.hosts.base import Host
from installer.i18n import _
from installer.runtime.docker import ContainerRuntime
from installer.spec.model import ModuleSpec
from installer.spec.order import install_order


class Remover:
    def __init__(
        self,
        host: Host,
        runtime: ContainerRuntime,
        store: StateStore,
        specs: dict[str, ModuleSpec],
        report: Reporter,
    ) -> None:
        self.host = host
        self.runtime = runtime
        self.store = store
        self.specs = specs
        self.report = report

    def module(self, state: State, name: str, purge: bool) -> list[str]:
        """Stop and remove a module's containers; with ``purge`` its data and values too."""
        removed = []
        rec = state.modules.get(name)
        names = {i.container for i in rec.instances} if rec else set()
        names |= {c.name for c in self.runtime.ours() if c.module == name}
        for cname in sorted(names):
            self.report(Event("step", name, _("removing {cname}").format(cname=cname), cname))
            # runtime.remove stops first: a licensed service gives its seat back on SIGTERM.
            self.runtime.remove(cname)
            self.runtime.remove(cname + OLD_SUFFIX)
            self.host.remove(self.store.config_dir(cname), recursive=True)
            removed.append(cname)
        spec = self.specs.get(name)
        if purge and spec is not None:
            for d in spec.data:
                indexes = [i.index for i in rec.instances] if (rec and d.per_instance) else [None]
                for path in sorted({self.store.data_dir(name, d.name, i) for i in indexes}):
                    self.report(Event("step", name, _("purging data {path}").format(path=path)))
                    self.host.remove(os.path.dirname(path), recursive=True)
            for var in spec.variables:
                state.variables.pop(var.name, None)
                state.secrets.pop(var.name, None)
        state.modules.pop(name, None)
        self.store.record_event(state, "remove", name, "purge" if purge else "")
        return removed

    def everything(self, state: State, purge: bool) -> list[str]:
        """Every module, dependents first, then containers of modules the bundle lost."""
        removed: list[str] = []
        installed = set(state.modules) | {c.module for c in self.runtime.ours() if c.module}
        known = install_order(self.specs, [n for n in installed if n in self.specs])
        for name in reversed(known):
            removed += self.module(state, name, purge)
        for cont in self.runtime.ours():  # modules the bundle no longer knows
            self.runtime.remove(cont.name)
            removed.append(cont.name)
        if purge:
            root = self.store.root
            self.host.remove(os.path.join(root, "config"), recursive=True)
            self.host.remove(os.path.join(root, "data"), recursive=True)
            for f in (self.store.state_file, self.store.secrets_file):
                self.host.remove(f)
        else:
            self.store.save(state)
        return removed
