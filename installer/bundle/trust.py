"""The manifest signature and the keys an installer trusts (see README.md, "Trust model").

`manifest.sig` is a one-line JSON document: format, algorithm, key id and the base64 Ed25519
signature over the exact bytes of `manifest.yaml`. The key that signed is trusted only when it
is pinned outside the bundle: a bundle can carry any key, so a key it carries proves nothing.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Iterable, Optional

from installer import signing
from installer.bundle.manifest import MANIFEST, SIGNATURE
from installer.errors import HostError, SealboxError, UsageError, command
from installer.i18n import _

SIG_FORMAT = 1
ALGORITHM = "ed25519"
TRUST_ENV = "SEALBOX_TRUST"  # os.pathsep-separated public key files (or folders of *.pub)
TRUST_DIR_ENV = "SEALBOX_TRUSTED_KEYS_DIR"  # overrides the host pin folder (tests)
HOST_TRUST_DIR = "/etc/sealbox/trusted-keys"
PACKAGE_TRUST_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "trusted_keys")
UNSIGNED_ENV = "SEALBOX_ALLOW_UNSIGNED"  # "1": development bundles only


class BundleRefused(SealboxError):
    """The bundle is damaged, altered or signed by a key this installer does not trust."""

    exit_code = 5


@dataclass(frozen=True)
class Signature:
    key_id: str
    signature: bytes

    def to_bytes(self) -> bytes:
        doc = {
            "format": SIG_FORMAT,
            "algorithm": ALGORITHM,
            "key_id": self.key_id,
            "signature": signing.b64(self.signature),
        }
        return (json.dumps(doc, sort_keys=True) + "\n").encode()


def parse_signature(data: bytes, source: str = SIGNATURE) -> Signature:
    try:
        doc = json.loads(data)
        if doc.get("algorithm") != ALGORITHM or int(doc.get("format", 0)) != SIG_FORMAT:
            raise ValueError("unsupported format or algorithm")
        return Signature(str(doc["key_id"]), signing.unb64(str(doc["signature"])))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BundleRefused(
            _("{source}: unreadable signature file ({exc})").format(source=source, exc=exc)
        ) from None


def sign_manifest(bundle_dir: str, key: signing.PrivateKey) -> Signature:
    """Sign manifest.yaml as it is on disk, byte for byte, and write manifest.sig."""
    with open(os.path.join(bundle_dir, MANIFEST), "rb") as fh:
        data = fh.read()
    sig = Signature(key.id, key.sign(data))
    tmp = os.path.join(bundle_dir, SIGNATURE + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(sig.to_bytes())
    os.replace(tmp, os.path.join(bundle_dir, SIGNATURE))
    return sig


class TrustUnreadable(HostError):
    """A pin exists but this user cannot read it (exit 3): skipping it would turn into a
    misleading "not trusted here" once the bundle is checked."""


def _unreadable(label: str, path: str) -> TrustUnreadable:
    who = "root" if os.geteuid() == 0 else "this user"
    return TrustUnreadable(
        f"{label} {path}: cannot be read by {who} (permission denied); run the command as "
        f"root (sudo), which installing needs anyway, or make the key readable"
    )


def _pub_files(path: str, label: str) -> list[str]:
    if os.path.isdir(path):
        try:
            names = os.listdir(path)
        except PermissionError:
            raise _unreadable(label, path) from None
        return sorted(
            os.path.join(path, n) for n in names if n.endswith(".pub") and not n.startswith(".")
        )
    return [path]


def trust_sources(explicit: Iterable[str] = ()) -> list[str]:
    """Pins made outside any bundle: --trust, $SEALBOX_TRUST, the host's pin folder."""
    return [s for s, _ in _labelled_sources(list(explicit))]


def _labelled_sources(explicit: list[str]) -> list[tuple[str, str]]:
    """(path, how the user named it), so an error names the option, variable or folder."""
    sources = [(p, "--trust") for p in explicit]
    env = os.environ.get(TRUST_ENV, "")
    sources += [(p, f"${TRUST_ENV} entry") for p in env.split(os.pathsep) if p]
    sources.append((os.environ.get(TRUST_DIR_ENV) or HOST_TRUST_DIR, "trust pin folder"))
    return sources


def _load(sources: list[tuple[str, str]], explicit: list[str]) -> dict[str, signing.PublicKey]:
    keys: dict[str, signing.PublicKey] = {}
    for source, label in sources:
        try:
            os.stat(source)
        except PermissionError:
            raise _unreadable(label, source) from None
        except OSError:
            if source in explicit:
                raise UsageError(
                    _("--trust {source}: no such file").format(source=source)
                ) from None
            continue
        for path in _pub_files(source, label):
            try:
                key = signing.load_public(path)
            except PermissionError:
                raise _unreadable(label, path) from None
            keys.setdefault(key.id, key)
    return keys


def trusted_keys(explicit: Iterable[str] = ()) -> dict[str, signing.PublicKey]:
    """Key id -> key. Pins made outside the bundle win: when there are any, only they count.
    Without any, the keys built into this Sealbox package (the vendor's, pinned when the
    carried wheel was built) are used."""
    explicit = list(explicit)
    keys = _load(_labelled_sources(explicit), explicit)
    return keys or _load([(PACKAGE_TRUST_DIR, "built-in trust folder")], [])


def check_signature(
    bundle_dir: str, trusted: dict[str, signing.PublicKey], manifest_data: Optional[bytes] = None
) -> Optional[str]:
    """check_signature_bytes over the files on disk (read as plain files only)."""
    from installer.archive.regular import read_regular

    if manifest_data is None:
        manifest_data = read_regular(os.path.join(bundle_dir, MANIFEST))
    try:
        sig_data: Optional[bytes] = read_regular(os.path.join(bundle_dir, SIGNATURE))
    except FileNotFoundError:
        sig_data = None
    return check_signature_bytes(manifest_data, sig_data, trusted)


def check_signature_bytes(
    manifest_data: bytes, sig_data: Optional[bytes], trusted: dict[str, signing.PublicKey]
) -> Optional[str]:
    """The signer's key id, or None for an unsigned bundle allowed by $SEALBOX_ALLOW_UNSIGNED
    (`sig_data` None: no manifest.sig). Raises BundleRefused naming the problem and the fix."""
    if sig_data is None:
        if os.environ.get(UNSIGNED_ENV) == "1":
            return None
        raise BundleRefused(
            _(
                "{signature}: missing, the bundle is not signed; ask the vendor for a signed bundle (sealbox bundle create --key), or set {unsigned_env}=1 for a development bundle"
            ).format(signature=SIGNATURE, unsigned_env=UNSIGNED_ENV)
        )
    sig = parse_signature(sig_data)
    key = trusted.get(sig.key_id)
    if key is None:
        raise BundleRefused(
            _(
                "{signature}: signed by key {key_id}, which is not trusted here; get the vendor's public key through a separate channel, compare its id, and pass --trust vendor.pub (or pin it: {value})"
            ).format(
                signature=SIGNATURE, key_id=sig.key_id, value=command("bundle trust vendor.pub")
            )
        )
    try:
        key.verify(sig.signature, manifest_data)
    except signing.SignatureInvalid:
        raise BundleRefused(
            _(
                "{manifest}: does not match its signature (key {key_id}); the manifest was altered or damaged, copy the bundle again"
            ).format(manifest=MANIFEST, key_id=sig.key_id)
        ) from None
    return sig.key_id


def pin_key(pub_path: str, trust_dir: Optional[str] = None) -> tuple[str, str]:
    """Copy a vendor public key into the host's pin folder as <key id>.pub."""
    key = signing.load_public(pub_path)
    folder = trust_dir or os.environ.get(TRUST_DIR_ENV) or HOST_TRUST_DIR
    os.makedirs(folder, mode=0o755, exist_ok=True)
    dest = os.path.join(folder, f"{key.id}.pub")
    tmp = dest + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(key.pem())
    os.chmod(tmp, 0o644)
    os.replace(tmp, dest)
    return key.id, dest
