"""The secfile: one machine's hashed fingerprint as pretty JSON with a format version and a
SHA-256 checksum over its canonical form, so a truncated copy or a hand edit is detected.

Layout (version 1)::

    {
      "format": "sealbox-secfile", "version": 1,
      "name": "secfile_10.0.0.5", "algorithm": "hmac-sha256-v1", "product": "sealbox",
      "collected_at": "2024-05-01T10:00:00+00:00",
      "components": {"machine_id": ["<sha256 hex>"], "macs": ["<hex>", "<hex>"], ...},
      "missing": {"product_uuid": "permission denied: run as root", ...},
      "labels": {"hostname": "...", "primary_ip": "...", "cpu_model": "...", ...},
      "checksum": "sha256:<hex of canonical JSON of every other field>"
    }

An encrypted secfile is an envelope (see ``fingerprint.crypto``) holding these exact bytes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any, Dict, Optional

from fingerprint.errors import SecfileError
from fingerprint.model import MachineRecord

FORMAT = "sealbox-secfile"
VERSION = 1
SUPPORTED_VERSIONS = (1,)


def _canonical(body: Dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def checksum(body: Dict[str, Any]) -> str:
    """``sha256:<hex>`` over the canonical JSON of everything but the checksum itself."""
    body = {k: v for k, v in body.items() if k != "checksum"}
    return "sha256:" + hashlib.sha256(_canonical(body)).hexdigest()


def dump_secfile(record: MachineRecord) -> bytes:
    """The secfile bytes for ``record`` (deterministic: same record, same bytes)."""
    body: Dict[str, Any] = {"format": FORMAT, "version": VERSION}
    body.update(record.to_dict())
    body["checksum"] = checksum(body)
    return (json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def is_sealed(data: bytes) -> bool:
    """Whether ``data`` is an encrypted envelope rather than a plain secfile."""
    from fingerprint.crypto import SEALED_FORMAT

    if SEALED_FORMAT.encode() not in data:
        return False
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return True  # a damaged envelope: let the envelope parser name the problem
    return isinstance(body, dict) and body.get("format") == SEALED_FORMAT


def load_secfile(
    data: bytes, *, name: str = "secfile", private_key: Optional[bytes] = None
) -> MachineRecord:
    """Parse and verify a secfile (or an encrypted one when ``private_key`` PEM is given).

    Raises ``SecfileError`` naming ``name`` for corruption, edits, unknown versions.
    """
    if is_sealed(data):
        from fingerprint.crypto import open_envelope

        if private_key is None:
            raise SecfileError(
                f"{name}: is encrypted to the vendor key; pass --key vendor.key to read it"
            )
        data = open_envelope(data, private_key, name=name)
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SecfileError(
            f"{name}: corrupted (not valid JSON: {exc.__class__.__name__}); "
            "collect it again on that machine"
        ) from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise SecfileError(f"{name}: not a sealbox secfile; collect it with 'fingerprint collect'")
    if body.get("version") not in SUPPORTED_VERSIONS:
        raise SecfileError(
            f"{name}: secfile version {body.get('version')!r} is newer than this sealbox "
            f"(reads {', '.join(map(str, SUPPORTED_VERSIONS))}); upgrade sealbox"
        )
    if body.get("checksum") != checksum(body):
        raise SecfileError(
            f"{name}: checksum mismatch (file corrupted or edited); "
            "collect it again on that machine"
        )
    record = MachineRecord.from_dict(body, source=name)
    if name != "secfile" or not record.name:
        # The file name is what the user sees and may have renamed; it names the machine.
        record = dataclasses.replace(record, name=os.path.basename(name))
    return record
