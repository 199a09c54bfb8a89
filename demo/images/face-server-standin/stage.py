#!/usr/bin/env python3
"""Stage the license client library into ``_staged/`` (run by demo/build_images.py).

``installer/license/client.py`` is self-contained (stdlib + cryptography), so the vendor's
service images copy that one file as ``sealbox_license_client.py``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
STAGED = HERE / "_staged"


def main() -> int:
    shutil.rmtree(STAGED, ignore_errors=True)
    STAGED.mkdir()
    shutil.copyfile(ROOT / "installer/license/client.py", STAGED / "sealbox_license_client.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
