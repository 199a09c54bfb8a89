"""The small manifest next to each backup: what it is of, and the sha256 of its data file.

Signed by nobody (it lives on the host with the data it describes): the sha256 catches a
damaged copy, and the product / module / data version let ``restore`` refuse a wrong one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

FORMAT = 1
MANIFEST = "manifest.json"


@dataclass
class BackupManifest:
    product: str
    version: str  # the bundle version installed when it was taken
    module: str
    module_version: str
    data_version: str  # the version whose data format it holds (the bundle version)
    method: str
    file: str  # data file name inside the backup folder
    sha256: str
    size: int
    created: str
    with_secrets: bool = False
    secrets: list[str] = field(default_factory=list)  # names only, never values
    format: int = FORMAT

    def to_json(self) -> bytes:
        return (json.dumps(asdict(self), indent=1, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, raw: bytes) -> BackupManifest:
        doc: dict[str, Any] = json.loads(raw.decode("utf-8"))
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in doc.items() if k in known})
