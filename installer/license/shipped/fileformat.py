"""``license.cfg``: a readable JSON payload and one Ed25519 signature over its exact bytes.

Layout (every byte before the ``signature:`` line is signed, comment lines included)::

    # Sealbox license LIC-... for ACME -- signed: any edit invalidates it.
    # Check it with: sealbox license verify license.cfg
    -----BEGIN SEALBOX LICENSE-----
    { ...pretty JSON payload... }
    -----END SEALBOX LICENSE-----
    signature: ed25519 <key id, 16 hex> <base64 signature, canonical>

Parsing is exact (no re-serialisation, no tolerated whitespace, canonical base64 only): the
trusted object is built from the very bytes the signature covers, so no edit anywhere in the
file can verify. CRLF line endings get their own message (copied in text mode from Windows).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Dict, Iterable, Optional

from installer.errors import LicenseError
from installer.license.shipped.model import License, day
from installer.signing import PrivateKey, PublicKey, SignatureInvalid

BEGIN = "-----BEGIN SEALBOX LICENSE-----"
END = "-----END SEALBOX LICENSE-----"
MAX_SIZE = 1 << 20

_FILE = re.compile(
    rb"\A(?P<signed>(?:#[^\n]*\n)*" + BEGIN.encode() + rb"\n(?P<payload>(?:[^\n]*\n)+?)"
    rb"" + END.encode() + rb"\n)"
    rb"signature: ed25519 (?P<kid>[0-9a-f]{16}) (?P<sig>[A-Za-z0-9+/]{86}==)\n\Z"
)


class SignatureError(LicenseError):
    """The signature does not verify: the file was altered or made with another vendor key."""


class UnknownKeyError(LicenseError):
    """The license names a key id that is not pinned here (rotated or foreign vendor key)."""


class MalformedError(LicenseError):
    """Not a license.cfg at all (truncated, wrong file, line endings converted)."""


@dataclass(frozen=True)
class SignedLicense:
    """The raw file split into what is signed, the key id and the signature (not yet trusted)."""

    data: bytes
    signed: bytes
    payload: bytes
    key_id: str
    signature: bytes


class KeyRing:
    """The vendor public keys pinned by the image or the bundle, by key id (rotation)."""

    def __init__(self, keys: Iterable[PublicKey] = ()) -> None:
        self.keys: Dict[str, PublicKey] = {k.id: k for k in keys}

    def get(self, key_id: str) -> Optional[PublicKey]:
        return self.keys.get(key_id)

    def __bool__(self) -> bool:
        return bool(self.keys)

    def ids(self) -> list:
        return sorted(self.keys)


def render(lic: License, key: PrivateKey) -> bytes:
    """Sign ``lic`` with the vendor key: the bytes to write to license.cfg."""
    payload = json.dumps(lic.to_dict(), indent=2, ensure_ascii=True) + "\n"
    head = (
        f"# Sealbox license {lic.license_id} for {_one_line(lic.customer)} "
        f"({lic.type}, expires {day(lic.expires_at)}) -- signed: any edit invalidates it.\n"
        "# Check it with: sealbox license verify license.cfg\n"
    )
    signed = (head + BEGIN + "\n" + payload + END + "\n").encode("ascii")
    sig = base64.b64encode(key.sign(signed)).decode()
    return signed + f"signature: ed25519 {key.id} {sig}\n".encode()


def _one_line(text: str) -> str:
    return re.sub(r"[^\x20-\x7e]", "?", text)[:80]


def split(data: bytes, source: str = "license.cfg") -> SignedLicense:
    """Structure only; raises MalformedError naming what is wrong."""
    if len(data) > MAX_SIZE:
        raise MalformedError(f"{source}: larger than 1 MiB, not a license file")
    if b"\r\n" in data:
        raise MalformedError(
            f"{source}: has Windows line endings (CRLF), which breaks the signature; "
            "copy the file in binary mode"
        )
    m = _FILE.match(data)
    if m is None:
        if BEGIN.encode() not in data:
            raise MalformedError(f"{source}: not a Sealbox license (no '{BEGIN}' line)")
        raise MalformedError(
            f"{source}: damaged license file (layout or signature line altered); "
            "ask the vendor for a fresh copy"
        )
    sig_text = m.group("sig")
    try:
        sig = base64.b64decode(sig_text, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedError(f"{source}: signature is not base64") from None
    if base64.b64encode(sig) != sig_text or len(sig) != 64:
        raise MalformedError(f"{source}: signature is not in canonical form")
    return SignedLicense(data, m.group("signed"), m.group("payload"), m.group("kid").decode(), sig)


def check_signature(parts: SignedLicense, keys: KeyRing, source: str = "license.cfg") -> None:
    key = keys.get(parts.key_id)
    if key is None:
        pinned = ", ".join(keys.ids()) or "none"
        raise UnknownKeyError(
            f"{source}: signed with vendor key {parts.key_id}, which is not pinned here "
            f"(pinned: {pinned}); signature invalid (file altered or wrong vendor key)"
        )
    try:
        key.verify(parts.signature, parts.signed)
    except SignatureInvalid:
        raise SignatureError(
            f"{source}: signature invalid (file altered or wrong vendor key {parts.key_id})"
        ) from None


def load(data: bytes, keys: KeyRing, source: str = "license.cfg") -> License:
    """Split, verify the signature, then parse the payload: the only way to get a License."""
    parts = split(data, source)
    check_signature(parts, keys, source)
    try:
        doc = json.loads(parts.payload.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedError(f"{source}: signed payload is not JSON ({exc})") from None
    return License.from_dict(doc)


def peek(data: bytes, source: str = "license.cfg") -> License:
    """The payload WITHOUT checking the signature: for ``show`` on the vendor side only."""
    parts = split(data, source)
    try:
        return License.from_dict(json.loads(parts.payload.decode("ascii")))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedError(f"{source}: payload is not JSON ({exc})") from None
