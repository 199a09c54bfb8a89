#!/usr/bin/env python3
"""`python3 install.py se|li|in MODULE|inall|rm MODULE|rmall`, as field engineers type it.

A thin shim over the `sealbox` CLI. It works from a checkout or from a bundle: when the
interpreter lacks Sealbox's dependencies it re-executes itself with the `.venv` beside it.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def _in_venv(venv: str) -> bool:
    """Is this interpreter the venv's? A venv's python is a symlink to the very interpreter that
    made it (``/usr/bin/python3``), so the executable's real path cannot tell; ``sys.prefix``
    is the venv's folder only when Python started from the venv."""
    return os.path.realpath(sys.prefix) == os.path.realpath(venv)


def _reexec_in_venv() -> None:
    venv = os.path.join(HERE, ".venv")
    venv_python = os.path.join(venv, "bin", "python")
    if os.path.exists(venv_python) and not _in_venv(venv):
        os.execv(venv_python, [venv_python, os.path.abspath(__file__), *sys.argv[1:]])
    sys.stderr.write(
        "error: Sealbox's Python packages are not installed: run 'bash scripts/setup.sh' "
        "in the Sealbox checkout (or use the bundle's install.py)\n"
    )
    sys.exit(2)


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    try:
        import typer  # noqa: F401

        import installer

        if not getattr(installer, "__sealbox__", False):
            raise ImportError("the 'installer' package imported is not Sealbox's")
    except ImportError:
        _reexec_in_venv()
    os.environ.setdefault("SEALBOX_SCRIPT_DIR", HERE)
    from installer.cli.app import main

    main(prog_name="install.py")
