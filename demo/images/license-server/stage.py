#!/usr/bin/env python3
"""Stage what the license-server image needs into ``_staged/`` (run by demo/build_images.py).

The server is the repository's own code (installer.license, installer.signing, fingerprint),
copied -- not pip-installed -- because the image has Debian's python3 and cryptography only.
The vendor public key is pinned into the image here: ``$SEALBOX_VENDOR_PUB``, else the demo
vendor key ``build/demo-vendor/vendor.pub`` (made 0600 on first use, never committed).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
STAGED = HERE / "_staged"
DEMO_KEY = ROOT / "build" / "demo-vendor" / "vendor.key"

FILES = [
    "installer/__init__.py",
    "installer/errors.py",
    "installer/hosts/__init__.py",
    "installer/hosts/base.py",
    "installer/hosts/local.py",
    "installer/runtime/__init__.py",
    "installer/runtime/labels.py",
    "installer/signing/__init__.py",
]
PACKAGES = {"installer/license": {"gate.py"}, "fingerprint": {"cli.py"}, "installer/facts": set()}
"""fingerprint reads the machine through installer.facts (the one home for host facts)."""


def demo_vendor_pub() -> Path:
    """The demo vendor key pair, created once (private key 0600 under build/, gitignored)."""
    pub = DEMO_KEY.with_suffix(".pub")
    if not pub.exists():
        sys.path.insert(0, str(ROOT))
        from installer import signing

        DEMO_KEY.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(DEMO_KEY.parent, 0o700)
        signing.write_keypair(signing.generate(), str(DEMO_KEY))
    return pub


def pinned_key_path() -> Path:
    """The vendor public key the licensed images pin (the stand-in's stage.py uses it too)."""
    return Path(os.environ.get("SEALBOX_VENDOR_PUB") or demo_vendor_pub())


def main() -> int:
    pub = pinned_key_path()
    shutil.rmtree(STAGED, ignore_errors=True)
    for rel in FILES:
        (STAGED / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / rel, STAGED / rel)
    for pkg, skip in PACKAGES.items():
        (STAGED / pkg).mkdir(parents=True, exist_ok=True)
        for src in sorted((ROOT / pkg).glob("*.py")):
            if src.name not in skip:
                shutil.copyfile(src, STAGED / pkg / src.name)
    (STAGED / "pinned").mkdir()
    shutil.copyfile(pub, STAGED / "pinned" / "vendor.pub")
    return 0


if __name__ == "__main__":
    sys.exit(main())
