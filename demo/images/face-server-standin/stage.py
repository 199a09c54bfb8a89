#!/usr/bin/env python3
"""Stage the license client library and the pinned vendor key into ``_staged/`` (run by
demo/build_images.py).

The client library is ``installer.license.shipped.client``: the image carries the in-image
license package exactly as the license-server image does (the license-server stage's
``copy_code``: the package whole and what it needs, never a hand-written list), so the
service imports it under its own name. The vendor public key is pinned under ``/app/pinned``
exactly as in the license-server image (the same key file: ``$SEALBOX_VENDOR_PUB``, else the
demo vendor key): each grant's license must verify with it.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
STAGED = HERE / "_staged"


def license_server_stage() -> ModuleType:
    """The license-server image's stage.py: one rule for both images (code and pinned key)."""
    spec = importlib.util.spec_from_file_location(
        "license_server_stage", ROOT / "demo/images/license-server/stage.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main() -> int:
    shutil.rmtree(STAGED, ignore_errors=True)
    STAGED.mkdir()
    stage = license_server_stage()
    stage.copy_code(STAGED)
    (STAGED / "pinned").mkdir()
    shutil.copyfile(Path(stage.pinned_key_path()), STAGED / "pinned" / "vendor.pub")
    return 0


if __name__ == "__main__":
    sys.exit(main())
