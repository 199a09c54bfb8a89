"""A small wrapper over `docker inspect` JSON (like compose/container.py): what we read of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from installer import constants as labels


@dataclass(frozen=True)
class Container:
    raw: dict[str, Any]

    @property
    def id(self) -> str:
        return self.raw.get("Id", "")

    @property
    def name(self) -> str:
        return self.raw.get("Name", "").lstrip("/")

    @property
    def labels(self) -> dict[str, str]:
        return (self.raw.get("Config") or {}).get("Labels") or {}

    @property
    def module(self) -> Optional[str]:
        return self.labels.get(labels.MODULE)

    @property
    def instance(self) -> int:
        try:
            return int(self.labels.get(labels.INSTANCE, "0"))
        except ValueError:
            return 0

    @property
    def config_hash(self) -> str:
        return self.labels.get(labels.CONFIG_HASH, "")

    @property
    def image_id(self) -> str:
        return self.raw.get("Image", "")

    @property
    def image_ref(self) -> str:
        return (self.raw.get("Config") or {}).get("Image", "")

    @property
    def status(self) -> str:
        return (self.raw.get("State") or {}).get("Status", "unknown")

    @property
    def running(self) -> bool:
        return bool((self.raw.get("State") or {}).get("Running"))

    @property
    def pid(self) -> int:
        return int((self.raw.get("State") or {}).get("Pid") or 0)

    @property
    def exit_code(self) -> int:
        return int((self.raw.get("State") or {}).get("ExitCode") or 0)

    @property
    def restart_count(self) -> int:
        return int(self.raw.get("RestartCount") or 0)

    @property
    def managed(self) -> bool:
        return self.labels.get(labels.MANAGED) == "true"
