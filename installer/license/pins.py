"""Which vendor key each licensed image pins, and refusing a license signed by another one.

The vendor key is baked into the license-server image and into every licensed service image
(``/app/pinned``) at image build time. A license signed with any other key is refused by those
images at run time, so the vendor must learn it when building the bundle, not on the
customer's machine: ``bundle create`` reads the pinned key ids out of each licensed image
(``docker create`` + ``docker cp``, nothing runs), records them in the manifest
(``license_pins``: image ref -> key ids) and refuses a license signed by a key an image does not
pin, naming both key ids. The install gate checks the same record.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from typing import Dict, Iterable, List, Mapping

from installer.errors import LicenseError
from installer.i18n import _
from installer.license.shipped.keys import IMAGE_PINNED_DIR, public_keys_from_pem

MANIFEST_KEY = "license_pins"


def image_pins(ref: str) -> List[str]:
    """Key ids of the vendor keys ``ref`` pins under /app/pinned (empty when it pins none)."""
    made = subprocess.run(["docker", "create", ref], capture_output=True, text=True, timeout=60)
    if made.returncode != 0:
        raise LicenseError(
            _("image {ref}: cannot read its pinned keys: {stderr}").format(
                ref=ref, stderr=made.stderr.strip()
            )
        )
    cid = made.stdout.strip()
    try:
        out = subprocess.run(
            ["docker", "cp", f"{cid}:{IMAGE_PINNED_DIR}/.", "-"], capture_output=True, timeout=60
        )
    finally:
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True, timeout=60)
    if out.returncode != 0:
        return []
    ids: List[str] = []
    with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.endswith(".pub"):
                fh = tar.extractfile(member)
                if fh is not None:
                    ids += [k.id for k in public_keys_from_pem(fh.read(), f"{ref}:{member.name}")]
    return sorted(set(ids))


def licensed_refs(specs: Mapping[str, object], modules: Iterable[str]) -> List[str]:
    """Image refs that pin the vendor key: the license server and every licensed module."""
    refs = []
    for name in modules:
        spec = specs[name]
        ref = getattr(getattr(spec, "image", None), "ref", None)
        server = getattr(getattr(spec, "license", None), "role", None) == "server"
        if ref and (server or getattr(spec, "licensed", False)):
            refs.append(str(ref))
    return refs


def check_license_key(key_id: str, pins: Mapping[str, List[str]], source: str) -> None:
    """LicenseError naming both key ids when an image does not pin the license's key."""
    for ref, ids in sorted(pins.items()):
        if key_id not in ids:
            pinned = ", ".join(ids) or "none"
            raise LicenseError(
                _(
                    "{source} is signed with vendor key {key_id}, but image {ref} pins {pinned}: its services would refuse this license. Sign the license with the pinned key, or rebuild the images with yours (SEALBOX_VENDOR_PUB=vendor.pub demo/build_images.py)"
                ).format(source=source, key_id=key_id, ref=ref, pinned=pinned)
            )


def pins_of(extra: Mapping[str, object]) -> Dict[str, List[str]]:
    raw = extra.get(MANIFEST_KEY)
    if not isinstance(raw, dict):
        return {}
    return {str(k): [str(i) for i in v] for k, v in raw.items() if isinstance(v, list)}
