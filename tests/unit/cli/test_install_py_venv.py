"""`python3 install.py` from a checkout after scripts/setup.sh (issue 19, item 10).

The venv's python is a symlink to the interpreter that made it, so comparing real paths of the
executables never re-executed; the test runs install.py with that very base interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
VENV = ROOT / ".venv"


def _base_python() -> str:
    return os.path.realpath(VENV / "bin" / "python")


@pytest.mark.skipif(
    not (VENV / "bin" / "python").exists(), reason="no .venv in this checkout (scripts/setup.sh)"
)
def test_base_interpreter_reexecutes_with_the_checkouts_venv() -> None:
    base = _base_python()
    probe = subprocess.run([base, "-c", "import typer"], capture_output=True)
    if probe.returncode == 0:
        pytest.skip(f"{base} has Sealbox's packages itself: nothing to re-execute")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    res = subprocess.run(
        [base, str(ROOT / "install.py"), "--help"], capture_output=True, text=True, env=env
    )
    assert res.returncode == 0, res.stderr
    assert "not installed" not in res.stderr
    assert "Usage: install.py" in res.stdout


def test_in_venv_compares_prefixes_not_executables(tmp_path) -> None:
    """The running interpreter is in the venv exactly when sys.prefix is the venv."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("install_shim_py", ROOT / "install.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod._in_venv(sys.prefix)
    assert not mod._in_venv(str(tmp_path))
