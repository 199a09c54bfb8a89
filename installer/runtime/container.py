"""A small wrapper over `docker inspect` / `podman inspect` JSON (like compose/container.py):
what we read of it (the two engines write the same keys; image IDs are normalised)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from installer import constants as labels


def image_id(value: str) -> str:
    """An image ID as Docker writes it (``sha256:<hex>``): Podman's inspect gives the bare hex."""
    if value and ":" not in value and len(value) == 64:
        return f"sha256:{value}"
    return value


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
        return image_id(self.raw.get("Image", ""))

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
