#!/usr/bin/env python3
"""Stage the license client library and the pinned vendor key into ``_staged/`` (run by
demo/build_product_images.py): the face-server stand-in's stage step, into this folder."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[4]


def main() -> int:
    path = ROOT / "demo/images/face-server-standin/stage.py"
    spec = importlib.util.spec_from_file_location("face_server_stage", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.STAGED = HERE / "_staged"  # same files, this image's build folder
    return int(mod.main())


if __name__ == "__main__":
    sys.exit(main())
