"""The per-host record of what Sealbox installed, kept on the host itself.

`state.json` holds modules, instances, config hashes and non-secret variables; `secrets.json`
(0600) holds generated passwords. Both are written atomically through the Host, so a crash
leaves the old record or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from installer.errors import HostError
from installer.hosts.base import Host
from installer.i18n import _, english_tree

DEFAULT_ROOT = "/var/lib/sealbox"
FORMAT = 1


def state_root() -> str:
    return os.environ.get("SEALBOX_STATE_DIR", DEFAULT_ROOT)


@dataclass
class InstanceRecord:
    index: int
    container: str
    config_hash: str
    image_id: str
    ports: dict[str, int] = field(default_factory=dict)
    gpu: Optional[str] = None


@dataclass
class ModuleRecord:
    name: str
    version: str
    bundle_version: str
    image_ref: str
    image_id: str
    instances: list[InstanceRecord] = field(default_factory=list)
    gpus: list[str] = field(default_factory=list)
    installed_at: float = 0.0
    updated_at: float = 0.0
    skipped_checks: list[str] = field(default_factory=list)
    # the spec's `license:` role ({role, license_data, state_data}), so that commands run
    # without the bundle (`license install`, `li` over SSH) find the license server's data
    license: Optional[dict[str, str]] = None
    product: str = ""  # the bundle's product: an upgrade by another product is refused

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModuleRecord:
        d = dict(d)
        d["instances"] = [InstanceRecord(**i) for i in d.get("instances", [])]
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class State:
    modules: dict[str, ModuleRecord] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    runtime: str = ""  # docker | podman: what the installed modules run on ("" before Podman)

    def remembered(self) -> dict[str, Any]:
        return {**self.variables, **self.secrets}


class StateStore:
    """Reads and writes the state of one host under `root` (default /var/lib/sealbox)."""

    def __init__(self, host: Host, root: Optional[str] = None) -> None:
        self.host = host
        self.root = root or state_root()

    @property
    def deployment_id(self) -> str:
        """'default' for /var/lib/sealbox; a short hash of the path for any other state dir."""
        if os.path.normpath(self.root) == DEFAULT_ROOT:
            return "default"
        return "d" + hashlib.sha256(os.path.normpath(self.root).encode()).hexdigest()[:8]

    @property
    def state_file(self) -> str:
        return f"{self.root}/state.json"

    @property
    def secrets_file(self) -> str:
        return f"{self.root}/secrets.json"

    def config_dir(self, container: str) -> str:
        return f"{self.root}/config/{container}"

    def data_dir(self, module: str, name: str, instance: Optional[int] = None) -> str:
        suffix = f"-{instance}" if instance is not None else ""
        return f"{self.root}/data/{module}{suffix}/{name}"

    def _load_json(self, path: str) -> dict[str, Any]:
        try:
            raw = self.host.read(path)
        except FileNotFoundError:
            return {}
        except PermissionError:
            raise HostError(
                _("{path}: permission denied; run as root (sudo)").format(path=path)
            ) from None
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise HostError(
                _(
                    "{path} on {name} is corrupt; move it aside and re-run 'in' to rebuild the record from the running containers"
                ).format(path=path, name=self.host.name)
            ) from None
        return doc if isinstance(doc, dict) else {}

    def recorded_runtime(self) -> Optional[str]:
        """docker | podman: the engine the installed modules run on; None when the state names
        none or cannot be read (the host's facts decide then)."""
        try:
            return self.load().runtime or None
        except (HostError, OSError, ValueError):
            return None

    def load(self) -> State:
        doc = self._load_json(self.state_file)
        secrets = self._load_json(self.secrets_file)
        return State(
            modules={k: ModuleRecord.from_dict(v) for k, v in (doc.get("modules") or {}).items()},
            variables=doc.get("variables") or {},
            secrets=secrets.get("secrets") or {},
            history=doc.get("history") or [],
            runtime=str(doc.get("runtime") or ""),
        )

    def save(self, state: State) -> None:
        self.host.makedirs(self.root, 0o700)
        doc = {
            "format": FORMAT,
            "modules": {k: asdict(v) for k, v in sorted(state.modules.items())},
            "variables": dict(sorted(state.variables.items())),
            "history": state.history[-50:],
        }
        if state.runtime:
            doc["runtime"] = state.runtime
        self.host.write(
            self.secrets_file, json.dumps({"secrets": state.secrets}, indent=1).encode(), 0o600
        )
        doc = english_tree(doc)  # the record is machine output: English in any language
        self.host.write(self.state_file, (json.dumps(doc, indent=1) + "\n").encode(), 0o600)

    def record_event(self, state: State, action: str, module: str, detail: str = "") -> None:
        state.history.append(
            {"at": time.time(), "action": action, "module": module, "detail": detail}
        )

    def purge(self) -> None:
        self.host.remove(self.root, recursive=True)
