#!/usr/bin/env python3
"""Stage the license client library and the pinned vendor key into ``_staged/`` (run by
demo/build_images.py).

``installer/license/shipped/client.py`` is self-contained (stdlib + cryptography), so the vendor's
service images copy that one file as ``sealbox_license_client.py``. The vendor public key is
pinned under ``/app/pinned`` exactly as in the license-server image (the same key file:
``$SEALBOX_VENDOR_PUB``, else the demo vendor key): each grant's license must verify with it.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
STAGED = HERE / "_staged"


def vendor_pub() -> Path:
    """The key the license-server image pins (one rule for both images)."""
    spec = importlib.util.spec_from_file_location(
        "license_server_stage", ROOT / "demo/images/license-server/stage.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return Path(mod.pinned_key_path())


def main() -> int:
    shutil.rmtree(STAGED, ignore_errors=True)
    STAGED.mkdir()
    shutil.copyfile(
        ROOT / "installer/license/shipped/client.py", STAGED / "sealbox_license_client.py"
    )
    (STAGED / "pinned").mkdir()
    shutil.copyfile(vendor_pub(), STAGED / "pinned" / "vendor.pub")
    return 0


if __name__ == "__main__":
    sys.exit(main())
