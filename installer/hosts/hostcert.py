"""OpenSSH host certificates (PROTOCOL.certkeys), checked against known_hosts' @cert-authority.

paramiko accepts a certificate as a host key but only uses the public key inside it (to check
the key exchange signature); it checks neither the CA's signature, nor the type, principals or
validity window. We do that here, as ``ssh`` does: a certificate is trusted only when all hold.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Optional

import paramiko
from paramiko.message import Message

CERT_SUFFIX = "-cert-v01@openssh.com"
HOST_CERT = 2
# SHA-1 RSA signatures on certificates are refused, as OpenSSH >= 8.2 does by default.
CA_SIGNATURE_ALGORITHMS = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
)
# how many wire strings (an mpint is one too) the certified public key has, after the nonce
_KEY_FIELDS = {
    "ssh-ed25519": 1,
    "ecdsa-sha2-nistp256": 2,
    "ecdsa-sha2-nistp384": 2,
    "ecdsa-sha2-nistp521": 2,
    "ssh-rsa": 2,
}


class CertError(ValueError):
    """The certificate cannot be trusted; the message says why in a few words."""


@dataclass(frozen=True)
class HostCert:
    """The fields of a certificate that decide whether it is trusted."""

    cert_type: str  # e.g. ssh-ed25519-cert-v01@openssh.com
    key_type: str  # the certified key's type, e.g. ssh-ed25519
    key_blob: bytes  # the certified public key, as a plain key blob
    serial: int
    kind: int  # 1 = user, 2 = host
    key_id: str
    principals: tuple[str, ...]
    valid_after: int
    valid_before: int
    critical_options: bytes
    ca_blob: bytes
    signed: bytes  # everything the CA signed
    signature: bytes


class _Reader:
    """SSH wire format, strict: paramiko's Message pads short reads with zeros instead."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise CertError("malformed certificate (truncated)")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def uint(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def string(self) -> bytes:
        return self.take(self.uint(4))

    def text(self) -> str:
        try:
            return self.string().decode("utf-8")
        except UnicodeDecodeError:
            raise CertError("malformed certificate (text field is not UTF-8)") from None


def _wire(*parts: bytes) -> bytes:
    return b"".join(len(p).to_bytes(4, "big") + p for p in parts)


def parse(blob: bytes) -> HostCert:
    """Split a certificate blob into its fields; malformed input is a CertError."""
    r = _Reader(blob)
    cert_type = r.text()
    if not cert_type.endswith(CERT_SUFFIX):
        raise CertError(f"{cert_type} is not a certificate type")
    key_type = cert_type[: -len(CERT_SUFFIX)]
    if key_type.startswith("rsa-sha2-"):
        key_type = "ssh-rsa"
    if key_type not in _KEY_FIELDS:
        raise CertError(f"unsupported certificate type {cert_type}")
    r.string()  # nonce
    key_blob = _wire(key_type.encode(), *(r.string() for _ in range(_KEY_FIELDS[key_type])))
    serial = r.uint(8)
    kind = r.uint(4)
    key_id = r.text()
    principals_r = _Reader(r.string())
    valid_after = r.uint(8)
    valid_before = r.uint(8)
    critical = r.string()
    r.string()  # extensions: none are defined for host certificates
    r.string()  # reserved
    ca_blob = r.string()
    signed = blob[: r.pos]
    signature = r.string()
    if r.pos != len(blob):
        raise CertError("malformed certificate (trailing bytes)")
    principals = []
    while principals_r.pos < len(principals_r.data):
        principals.append(principals_r.text())
    return HostCert(
        cert_type,
        key_type,
        key_blob,
        serial,
        kind,
        key_id,
        tuple(principals),
        valid_after,
        valid_before,
        critical,
        ca_blob,
        signed,
        signature,
    )


def b64decode(text: str) -> bytes:
    """A known_hosts key field as bytes; b"" for garbage (it then matches nothing)."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return b""


def check(
    cert: HostCert, ca_keys_b64: list[str], principal: str, plain_key_b64: str, now: float
) -> Optional[str]:
    """Why ``cert`` is not a valid host certificate for ``principal``, or None when it is.

    ``ca_keys_b64`` are the @cert-authority keys that match the host; ``plain_key_b64`` is the
    key the server proved it holds in the key exchange (it must be the certified one).
    """
    if cert.kind != HOST_CERT:
        return "it is a user certificate, not a host certificate"
    if base64.b64encode(cert.key_blob).decode() != plain_key_b64:
        return "it certifies another key than the one the host used"
    if cert.ca_blob not in [b64decode(k) for k in ca_keys_b64]:
        return "it is signed by a CA that known_hosts does not list for this host"
    sig = Message(cert.signature)
    try:
        algorithm = sig.get_text()
        if algorithm not in CA_SIGNATURE_ALGORITHMS:
            return f"its signature algorithm {algorithm} is not accepted"
        ca_type = Message(cert.ca_blob).get_text()
        ca = paramiko.PKey.from_type_string(ca_type, cert.ca_blob)
        sig.rewind()
        if not ca.verify_ssh_sig(cert.signed, sig):
            return "the CA's signature on it does not verify"
    except Exception as exc:  # an unknown CA key type or a garbled signature
        return f"its signature cannot be checked ({type(exc).__name__})"
    if cert.critical_options:
        return "it carries critical options, which no host certificate may have"
    if not cert.principals:
        return "it names no principals (we require the host's name among them)"
    if principal not in cert.principals:
        return f"it is not valid for {principal} (principals: {', '.join(cert.principals)})"
    if not cert.valid_after <= now < cert.valid_before:
        return "it is outside its validity period (expired or not yet valid)"
    return None
