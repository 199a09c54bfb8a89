#!/usr/bin/env python3
"""Stage the license client library and the pinned vendor key into ``_staged/`` (run by
demo/build_images.py).

``installer/license/client.py`` is self-contained (stdlib + cryptography), so the vendor's
service images copy that one file as ``sealbox_license_client.py``. The vendor public key is
pinned under ``/app/pinned`` exactly as in the license-server image (the same key file:
``$SEALBOX_VENDOR_PUB``, else the demo vendor key): each grant's license must verify with it.
The license server's code is staged too (the same file list as its image): the client judges
whether the license names this machine with it (``HostMachine``: one match rule everywhere).
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
STAGED = HERE / "_staged"


def _license_server_stage():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "license_server_stage", ROOT / "demo/images/license-server/stage.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def vendor_pub() -> Path:
    """The key the license-server image pins (one rule for both images)."""
    return Path(_license_server_stage().pinned_key_path())


def main() -> int:
    shutil.rmtree(STAGED, ignore_errors=True)
    STAGED.mkdir()
    shutil.copyfile(ROOT / "installer/license/client.py", STAGED / "sealbox_license_client.py")
    server = _license_server_stage()
    for rel in server.FILES:
        (STAGED / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / rel, STAGED / rel)
    for pkg, skip in server.PACKAGES.items():
        (STAGED / pkg).mkdir(parents=True, exist_ok=True)
        for src in sorted((ROOT / pkg).glob("*.py")):
            if src.name not in skip:
                shutil.copyfile(src, STAGED / pkg / src.name)
    (STAGED / "pinned").mkdir()
    shutil.copyfile(vendor_pub(), STAGED / "pinned" / "vendor.pub")
    return 0


if __name__ == "__main__":
    sys.exit(main())
