"""Optional encryption of secfiles to the vendor's public key.

We use HPKE (RFC 9180, base mode) from ``cryptography`` (>= 47): DHKEM(X25519, HKDF-SHA256),
HKDF-SHA256, ChaCha20-Poly1305 -- a standard construction from a well-kept library, not a
home-made one. The envelope carries a checksum of the ciphertext so ``check`` can detect a
damaged file without the private key; the AEAD detects any change once opened.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Tuple

from fingerprint.errors import FingerprintError, SecfileError

SEALED_FORMAT = "sealbox-secfile-sealed"
SEALED_VERSION = 1
SUITE = "HPKE-base/DHKEM-X25519-HKDF-SHA256/HKDF-SHA256/ChaCha20-Poly1305"
_INFO = b"sealbox secfile v1"


def _hpke():
    try:
        from cryptography.hazmat.primitives import hpke
    except ImportError:  # pragma: no cover - depends on the installed cryptography
        raise FingerprintError(
            "encryption needs cryptography >= 47 (HPKE); run: pip install -U 'cryptography>=47'"
        ) from None
    return hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)


def generate_keypair() -> Tuple[bytes, bytes]:
    """(private PEM, public PEM) for the vendor's secfile key (X25519)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    key = X25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def _raw_public(public_key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key) -> str:
    """Short id of a public key, written in the envelope so a wrong key is named clearly."""
    return hashlib.sha256(_raw_public(public_key)).hexdigest()[:16]


def load_public_key(pem: bytes, *, name: str = "public key"):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        raise FingerprintError(
            f"{name}: not a PEM public key; use the .pub written by 'fingerprint keygen'"
        ) from None
    if not isinstance(key, X25519PublicKey):
        raise FingerprintError(f"{name}: not an X25519 key; use 'fingerprint keygen'")
    return key


def load_private_key(pem: bytes, *, name: str = "private key"):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise FingerprintError(
            f"{name}: not an unencrypted PEM private key; use the .key from 'fingerprint keygen'"
        ) from None
    if not isinstance(key, X25519PrivateKey):
        raise FingerprintError(f"{name}: not an X25519 key; use 'fingerprint keygen'")
    return key


def seal(plaintext: bytes, public_pem: bytes) -> bytes:
    """Encrypt secfile bytes to the vendor public key; returns the envelope bytes."""
    pub = load_public_key(public_pem)
    ct = _hpke().encrypt(plaintext, pub, info=_INFO)
    body = {
        "format": SEALED_FORMAT,
        "version": SEALED_VERSION,
        "suite": SUITE,
        "recipient": key_id(pub),
        "ciphertext": base64.b64encode(ct).decode(),
        "checksum": "sha256:" + hashlib.sha256(ct).hexdigest(),
    }
    return (json.dumps(body, indent=2) + "\n").encode()  # format first, ciphertext near last


def envelope_ciphertext(data: bytes, *, name: str = "secfile") -> Tuple[dict, bytes]:
    """Parse an envelope and verify its checksum (needs no key)."""
    try:
        body = json.loads(data.decode("utf-8"))
        ct = base64.b64decode(body["ciphertext"], validate=True)
    except (UnicodeDecodeError, ValueError, KeyError, TypeError):
        raise SecfileError(f"{name}: encrypted secfile is corrupted; collect it again") from None
    if body.get("format") != SEALED_FORMAT or body.get("version") != SEALED_VERSION:
        raise SecfileError(f"{name}: unknown encrypted secfile version; upgrade sealbox")
    if body.get("suite") != SUITE:
        raise SecfileError(f"{name}: unsupported encryption suite {body.get('suite')!r}")
    if body.get("checksum") != "sha256:" + hashlib.sha256(ct).hexdigest():
        raise SecfileError(f"{name}: checksum mismatch (file corrupted); collect it again")
    return body, ct


def open_envelope(data: bytes, private_pem: bytes, *, name: str = "secfile") -> bytes:
    """Decrypt an envelope with the vendor private key; errors name the file and the key."""
    body, ct = envelope_ciphertext(data, name=name)
    key = load_private_key(private_pem)
    if body.get("recipient") != key_id(key.public_key()):
        raise SecfileError(
            f"{name}: encrypted to key {body.get('recipient')}, not to this key "
            f"({key_id(key.public_key())}); use the matching vendor key"
        )
    try:
        return _hpke().decrypt(ct, key, info=_INFO)
    except Exception:  # cryptography raises InvalidTag-like errors
        raise SecfileError(f"{name}: decryption failed (file altered); collect it again") from None
