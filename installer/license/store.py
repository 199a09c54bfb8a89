"""The license in force on a host: the license-server's license directory.

``license.cfg`` is what the server reads; ``license.cfg.last-good`` is the previous good one.
A replacement is verified first and written with an atomic rename, so the server (which polls
the file) never sees half a file, and a bad file never replaces a good one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional

from installer.errors import LicenseError
from installer.hosts.base import Host
from installer.license.verify import MALFORMED, SIGNATURE, UNKNOWN_KEY, Verdict

SERVER_MODULE = "license-server"
LICENSE_DATA = "license"  # data dir names in modules/license-server.yaml
STATE_DATA = "state"
LICENSE_FILE = "license.cfg"
LAST_GOOD_FILE = "license.cfg.last-good"
CONTAINER_LICENSE_DIR = "/etc/sealbox/license"
CONTAINER_STATE_DIR = "/var/lib/sealbox-license"

Verifier = Callable[[bytes], Verdict]


def license_dir(store) -> str:  # store: installer.deploy.state.StateStore
    """Host path of the license directory mounted into the license-server container."""
    return store.data_dir(SERVER_MODULE, LICENSE_DATA)


def state_dir(store) -> str:
    return store.data_dir(SERVER_MODULE, STATE_DATA)


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
                f"{source}: {reason}; nothing changed, the installed license stays in force"
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
    names = []
    for cont in deployment.runtime.ours():
        if cont.module == SERVER_MODULE and cont.running:
            res = deployment.host.run(["docker", "restart", "-t", "5", cont.name], timeout=120)
            if not res.ok:
                raise LicenseError(
                    f"license installed, but restarting {cont.name} failed: "
                    f"{res.first_error_line()}; run: docker restart {cont.name}"
                )
            names.append(cont.name)
    return names
