"""Where the vendor public key is pinned, and loading it.

- In the license-server image: ``/app/pinned/*.pub``, baked in at image build time. The server
  never reads a key from the license directory the customer can write to.
- In a bundle: ``license/vendor.pub``, listed with its sha256 in the bundle's signed
  ``manifest.yaml``; it is taken from the VerifiedBundle (installer.bundle.opened), never
  re-read from disk.

A file may hold several PEM public keys (key rotation): a license names the one it needs by id.
"""

from __future__ import annotations

import os
import re
from typing import Iterable, List, Optional, Protocol

from installer.errors import LicenseError, UsageError
from installer.license.shipped.fileformat import KeyRing
from installer.signing import PublicKey, load_public_pem

IMAGE_PINNED_DIR = "/app/pinned"
BUNDLE_LICENSE_DIR = "license"
BUNDLE_LICENSE = "license/license.cfg"
BUNDLE_PUBKEY = "license/vendor.pub"

_PEM = re.compile(rb"-----BEGIN PUBLIC KEY-----\n.*?-----END PUBLIC KEY-----\n?", re.DOTALL)


def public_keys_from_pem(data: bytes, source: str) -> List[PublicKey]:
    blocks = _PEM.findall(data)
    if not blocks:
        raise LicenseError(f"{source}: no PEM public key in it; the vendor key file is damaged")
    try:
        return [load_public_pem(b, source) for b in blocks]
    except UsageError as exc:
        raise LicenseError(str(exc)) from None


def keyring_from_files(paths: Iterable[str]) -> KeyRing:
    keys: List[PublicKey] = []
    for path in paths:
        with open(path, "rb") as fh:
            keys += public_keys_from_pem(fh.read(), path)
    return KeyRing(keys)


def keyring_from_dir(directory: str = IMAGE_PINNED_DIR) -> KeyRing:
    """Every ``*.pub`` in ``directory`` (the image's pinned keys)."""
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(".pub"))
    except FileNotFoundError:
        names = []
    ring = keyring_from_files(os.path.join(directory, n) for n in names)
    if not ring:
        raise LicenseError(
            f"no vendor public key pinned in {directory}; this image was built without one "
            "(rebuild it with the vendor key)"
        )
    return ring


class CarriedFiles(Protocol):
    """What ``bundle_keyring`` reads of an ``installer.bundle.opened.VerifiedBundle`` (this
    package runs in images and imports nothing of the controller)."""

    @property
    def root(self) -> str: ...

    def get(self, rel: str) -> Optional[bytes]: ...


def bundle_keyring(bundle: CarriedFiles) -> KeyRing:
    """The vendor key the bundle carries in ``license/vendor.pub``: the verified bytes, so it is
    listed in the signed manifest with a matching sha256 (checked when the bundle was opened)."""
    data = bundle.get(BUNDLE_PUBKEY)
    if data is None:
        raise LicenseError(
            f"{bundle.root}: {BUNDLE_PUBKEY} (the vendor public key) is not listed in the bundle "
            "manifest; ask the vendor for a bundle with the license key pinned"
        )
    return KeyRing(public_keys_from_pem(data, f"{bundle.root}/{BUNDLE_PUBKEY}"))
