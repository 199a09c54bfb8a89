"""The license in force on a host: the license-server's license directory.

``license.cfg`` is what the server reads; ``license.cfg.last-good`` is the previous good one.
A replacement is verified first and written with an atomic rename, so the server (which polls
the file) never sees half a file, and a bad file never replaces a good one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, List, Mapping, Optional

from installer.errors import LicenseError
from installer.hosts.base import Host
from installer.i18n import _
from installer.license.shipped.paths import LAST_GOOD_FILE, LICENSE_FILE
from installer.license.shipped.verify import MALFORMED, SIGNATURE, UNKNOWN_KEY, Verdict

Verifier = Callable[[bytes], Verdict]


@dataclass(frozen=True)
class ServerRef:
    """Which module is the license server and which of its data dirs hold what: its spec's
    `license: {role: server, license_data, state_data}` (installer/spec/README.md)."""

    module: str
    license_data: str = "license"
    state_data: str = "state"


def server_of(specs: Mapping[str, Any]) -> Optional[ServerRef]:
    """The license server the bundle's specs declare (None: the bundle has none)."""
    for name, spec in specs.items():
        role = getattr(spec, "license", None)
        if role is not None and getattr(role, "role", None) == "server":
            return ServerRef(name, role.license_data, role.state_data)
    return None


def server_recorded(store) -> Optional[ServerRef]:  # store: installer.deploy.state.StateStore
    """The license server this host's state recorded at install (commands without a bundle)."""
    modules = store.load().modules
    for rec in modules.values():
        role = rec.license or {}
        if role.get("role") == "server":
            return ServerRef(
                rec.name, role.get("license_data", "license"), role.get("state_data", "state")
            )
    # a state written before the role was recorded: the module holding a license in the
    # role's default data dir (re-recorded by the next `in`)
    for name in modules:
        ref = ServerRef(name)
        if store.host.exists(f"{store.data_dir(name, ref.license_data)}/{LICENSE_FILE}"):
            return ref
    return None


def _server(store, server: Optional[ServerRef]) -> ServerRef:
    ref = server or server_recorded(store)
    if ref is None:
        raise LicenseError(
            _(
                "no license server is installed under {root} (no installed module's spec declares license: {{role: server}}); install the bundle first"
            ).format(root=store.root)
        )
    return ref


def license_dir(store, server: Optional[ServerRef] = None) -> str:
    """Host path of the license directory mounted into the license-server container.
    ``server``: from the bundle's specs (`server_of`); default: what the state recorded."""
    ref = _server(store, server)
    return store.data_dir(ref.module, ref.license_data)


def state_dir(store, server: Optional[ServerRef] = None) -> str:
    ref = _server(store, server)
    return store.data_dir(ref.module, ref.state_data)


@dataclass
class Installed:
    path: str
    previous_kept: Optional[str]
    verdict: Verdict


class LicenseStore:
    def __init__(self, host: Host, directory: str) -> None:
        self.host = host
        self.directory = directory.rstrip("/")

    @property
    def current(self) -> str:
        return f"{self.directory}/{LICENSE_FILE}"

    @property
    def last_good(self) -> str:
        return f"{self.directory}/{LAST_GOOD_FILE}"

    def read(self, path: Optional[str] = None) -> Optional[bytes]:
        try:
            return self.host.read(path or self.current)
        except FileNotFoundError:
            return None

    def install(self, data: bytes, verify: Verifier, *, source: str = "license") -> Installed:
        """Verify ``data`` (signature, dates, machine); keep the current one as last-good;
        swap atomically. Raises LicenseError and changes nothing when ``data`` is not good."""
        verdict = verify(data)
        if not verdict.ok:
            reason = verdict.reason()
            if reason.startswith(f"{source}: "):  # signature problems name the file already
                reason = reason[len(source) + 2 :]
            raise LicenseError(
                _(
                    "{source}: {reason}; nothing changed, the installed license stays in force"
                ).format(source=source, reason=reason)
            )
        self.host.makedirs(self.directory, 0o755)
        old = self.read()
        kept = None
        if old is not None and old != data and _signature_good(verify(old)):
            self.host.write(self.last_good, old, 0o644)
            kept = self.last_good
        self.host.write(self.current, data, 0o644)
        return Installed(self.current, kept, verdict)

    def seed(self, data: bytes) -> bool:
        """Put the bundle's license in place when none is installed yet (first install)."""
        if self.read() is not None:
            return False
        self.host.makedirs(self.directory, 0o755)
        self.host.write(self.current, data, 0o644)
        return True


def _signature_good(v: Verdict) -> bool:
    return not ({SIGNATURE, UNKNOWN_KEY, MALFORMED} & set(v.codes))


def restart_server(deployment) -> List[str]:
    """Restart the running license-server container(s) of this deployment; names restarted."""
    names: List[str] = []
    ref = server_of(deployment.specs)
    if ref is None:
        return names
    for cont in deployment.runtime.ours():
        if cont.module == ref.module and cont.running:
            cli = deployment.runtime.cli
            res = deployment.host.run([cli, "restart", "-t", "5", cont.name], timeout=120)
            if not res.ok:
                raise LicenseError(
                    _(
                        "license installed, but restarting {name} failed: {res}; run: {cli} restart {name}"
                    ).format(name=cont.name, res=res.first_error_line(), cli=cli)
                )
            names.append(cont.name)
    return names
