#!/usr/bin/env python3
"""Stage what the license-server image needs into ``_staged/`` (run by demo/build_images.py).

The server is the repository's own code, copied -- not pip-installed -- because the image has
Debian's python3 and cryptography only: the in-image license package ``installer/license/shipped/``
whole, and the few modules outside it that the package names in its ``__init__`` (``OUTSIDE_*``;
``tests/unit/license/test_shipped_imports.py`` proves that it needs nothing else). The licensed
service images (the face-server stand-in) carry the same code (``copy_code``).
The vendor public key is pinned into the image here: ``$SEALBOX_VENDOR_PUB``, else the demo
vendor key ``build/demo-vendor/vendor.pub`` (made 0600 on first use, never committed).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import List

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
STAGED = HERE / "_staged"
DEMO_KEY = ROOT / "build" / "demo-vendor" / "vendor.key"

SHIPPED = "installer/license/shipped"


def _module_file(name: str) -> str:
    rel = name.replace(".", "/")
    return f"{rel}/__init__.py" if (ROOT / rel).is_dir() else f"{rel}.py"


def code_files() -> List[str]:
    """Repository paths the images carry: the package, and what it says it needs outside."""
    sys.path.insert(0, str(ROOT))
    from installer.license import shipped  # its __init__ imports nothing

    files = [p.relative_to(ROOT).as_posix() for p in sorted((ROOT / SHIPPED).rglob("*.py"))]
    files += [_module_file(m) for m in shipped.OUTSIDE_MODULES]
    excluded = {_module_file(m) for m in shipped.OUTSIDE_EXCLUDED}
    for pkg in shipped.OUTSIDE_PACKAGES:
        for path in sorted((ROOT / pkg.replace(".", "/")).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel not in excluded:
                files.append(rel)
    return sorted(set(files))


def copy_code(dest: Path) -> List[str]:
    """Copy ``code_files()`` under ``dest`` (the image's /app); returns what was copied."""
    files = code_files()
    for rel in files:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / rel, dest / rel)
    return files


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
    copy_code(STAGED)
    (STAGED / "pinned").mkdir()
    shutil.copyfile(pub, STAGED / "pinned" / "vendor.pub")
    return 0


if __name__ == "__main__":
    sys.exit(main())
