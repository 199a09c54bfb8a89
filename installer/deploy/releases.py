"""What each installed version was, kept on the host so it can come back without its bundle.

``<state>/releases/<version>.json`` (0600: rendered files may hold generated passwords, as
secrets.json does) holds, per module, the verified spec bytes, the signed image, and per
instance the RunSpec and every rendered file. Rollback (automatic or asked for) recreates the
containers from exactly this: the previous signed image IDs and the previous rendered files.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from installer.deploy.desired import DesiredInstance, DesiredModule, FileToWrite
from installer.deploy.state import StateStore
from installer.errors import HostError
from installer.runtime.runspec import PortBinding, RunSpec, VolumeBinding
from installer.spec.load import parse_module_bytes
from installer.spec.model import ModuleSpec

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")


@dataclass
class ModuleRelease:
    name: str
    version: str
    spec_source: str
    spec_b64: str
    image_id: str
    image_ref: str
    instances: list[dict[str, Any]] = field(default_factory=list)

    def spec(self) -> ModuleSpec:
        return parse_module_bytes(base64.b64decode(self.spec_b64), self.spec_source, self.name)

    def desired(self) -> list[DesiredInstance]:
        out = []
        for inst in self.instances:
            rs = dict(inst["runspec"])
            rs["ports"] = tuple(PortBinding(**p) for p in rs.get("ports", ()))
            rs["volumes"] = tuple(VolumeBinding(**v) for v in rs.get("volumes", ()))
            rs["command"] = tuple(rs.get("command", ()))
            files = [
                FileToWrite(f["path"], base64.b64decode(f["content"]), int(f["mode"]))
                for f in inst.get("files", [])
            ]
            out.append(
                DesiredInstance(
                    self.name,
                    int(inst["index"]),
                    RunSpec(**rs),
                    files,
                    list(inst.get("data_dirs", [])),
                    dict(inst.get("ports", {})),
                )
            )
        return out


@dataclass
class Release:
    product: str
    version: str
    modules: dict[str, ModuleRelease] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # dependency order, as installed

    def image_ids(self) -> set[str]:
        return {m.image_id for m in self.modules.values()}


def _instance_doc(inst: DesiredInstance) -> dict[str, Any]:
    return {
        "index": inst.index,
        "runspec": asdict(inst.runspec),
        "files": [
            {"path": f.path, "mode": f.mode, "content": base64.b64encode(f.content).decode()}
            for f in inst.files
        ],
        "data_dirs": list(inst.data_dirs),
        "ports": dict(inst.ports),
    }


class Releases:
    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.dir = f"{store.root}/releases"

    def path(self, version: str) -> str:
        if not _SAFE.match(version):
            raise HostError(f"version {version!r} cannot name a release file")
        return f"{self.dir}/{version}.json"

    def load(self, version: str) -> Optional[Release]:
        try:
            raw = self.store.host.read(self.path(version))
        except FileNotFoundError:
            return None
        doc = json.loads(raw.decode())
        mods = {k: ModuleRelease(**v) for k, v in doc.get("modules", {}).items()}
        return Release(doc["product"], doc["version"], mods, list(doc.get("order", [])))

    def save(self, rel: Release) -> None:
        self.store.host.makedirs(self.dir, 0o700)
        doc = {
            "product": rel.product,
            "version": rel.version,
            "order": rel.order,
            "modules": {k: asdict(v) for k, v in rel.modules.items()},
        }
        self.store.host.write(self.path(rel.version), json.dumps(doc).encode(), 0o600)
        known = set(self.versions()) | {rel.version}
        self.store.host.write(f"{self.dir}/index.json", json.dumps(sorted(known)).encode(), 0o600)

    def versions(self) -> list[str]:
        """The versions with a release record (an index file: no directory listing needed)."""
        try:
            doc = json.loads(self.store.host.read(f"{self.dir}/index.json").decode())
        except (FileNotFoundError, ValueError):
            return []
        return sorted(v for v in doc if isinstance(v, str) and _SAFE.match(v))

    def remove(self, version: str) -> None:
        self.store.host.remove(self.path(version))

    def record_module(
        self, product: str, version: str, desired: DesiredModule, spec_bytes: bytes
    ) -> None:
        """After a module of ``version`` is healthy: its run specs and files join the release
        (a partial release is still exact for the modules it lists)."""
        rel = self.load(version) or Release(product, version)
        spec = desired.spec
        rel.modules[spec.name] = ModuleRelease(
            name=spec.name,
            version=spec.version,
            spec_source=spec.source,
            spec_b64=base64.b64encode(spec_bytes).decode(),
            image_id=desired.image.id,
            image_ref=spec.image.ref,
            instances=[_instance_doc(i) for i in desired.instances],
        )
        if spec.name not in rel.order:
            rel.order.append(spec.name)
        self.save(rel)
