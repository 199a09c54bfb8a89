"""Vendor keys: Ed25519 key pairs, key ids, detached signatures.

One module for the license and the bundle, so a vendor has one key tooling. A key id is the
first 16 hex digits of the SHA-256 of the raw public key: short enough to read, long enough to
tell keys apart when they rotate.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from installer.errors import UsageError
from installer.i18n import _


class SignatureInvalid(Exception):
    """The bytes were altered or signed by another key."""


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class PublicKey:
    key: Ed25519PublicKey

    @property
    def id(self) -> str:
        return key_id(self.key)

    def verify(self, signature: bytes, data: bytes) -> None:
        try:
            self.key.verify(signature, data)
        except InvalidSignature:
            raise SignatureInvalid("signature does not match") from None

    def pem(self) -> bytes:
        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@dataclass(frozen=True)
class PrivateKey:
    key: Ed25519PrivateKey

    @property
    def public(self) -> PublicKey:
        return PublicKey(self.key.public_key())

    @property
    def id(self) -> str:
        return self.public.id

    def sign(self, data: bytes) -> bytes:
        return self.key.sign(data)


def generate() -> PrivateKey:
    return PrivateKey(Ed25519PrivateKey.generate())


def write_keypair(private: PrivateKey, path: str) -> tuple[str, str]:
    """Private key at `path` (0600, created exclusively), public key at `path`.pub."""
    pem = private.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    pub_path = path + ".pub" if not path.endswith(".key") else path[:-4] + ".pub"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UsageError(
            _("{path} already exists; refusing to overwrite a key (move it aside)").format(
                path=path
            )
        ) from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    with open(pub_path, "wb") as fh:
        fh.write(private.public.pem())
    return path, pub_path


def load_private(path: str) -> PrivateKey:
    try:
        with open(path, "rb") as fh:
            key = serialization.load_pem_private_key(fh.read(), password=None)
    except FileNotFoundError:
        raise UsageError(_("{path}: vendor private key not found").format(path=path)) from None
    except ValueError:
        raise UsageError(_("{path}: not a PEM private key").format(path=path)) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(_("{path}: not an Ed25519 key").format(path=path))
    return PrivateKey(key)


def load_public_pem(data: bytes, source: str = "public key") -> PublicKey:
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        raise UsageError(_("{source}: not a PEM public key").format(source=source)) from None
    if not isinstance(key, Ed25519PublicKey):
        raise UsageError(_("{source}: not an Ed25519 key").format(source=source))
    return PublicKey(key)


def load_public(path: str) -> PublicKey:
    try:
        with open(path, "rb") as fh:
            return load_public_pem(fh.read(), path)
    except FileNotFoundError:
        raise UsageError(_("{path}: public key not found").format(path=path)) from None


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode(), validate=True)
