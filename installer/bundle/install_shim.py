#!/usr/bin/env python3
"""`python3 install.py se|li|in MODULE|inall|rm MODULE|rmall|bundle verify`, from a bundle.

Copied to the top of every bundle as install.py. The customer machine has python3 and no
internet: on first use this makes a virtual environment and installs Sealbox from the bundle's
own wheels/ with the package index switched off, then runs the same command in it.
The environment lives outside the bundle (which may sit on read-only media):
$SEALBOX_HOME, else /var/lib/sealbox/python (root) or ~/.local/share/sealbox/python.
Written without f-strings so that an old python3 (CentOS 7's 3.6) still gets a clear error.
"""
# ruff: noqa: UP031, UP036

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
WHEELS = os.path.join(HERE, "wheels")
MARK = "SEALBOX_BOOTSTRAPPED"


def _fail(msg):
    sys.stderr.write("error: " + msg + "\n")
    sys.exit(2)


def _sealbox_wheel():
    names = [n for n in os.listdir(WHEELS) if n.startswith("sealbox-") and n.endswith(".whl")]
    if len(names) != 1:
        _fail(
            "%s: expected exactly one sealbox wheel, found %s; copy the bundle again"
            % (WHEELS, names)
        )
    return names[0]


def _home():
    if os.environ.get("SEALBOX_HOME"):
        return os.environ["SEALBOX_HOME"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return "/var/lib/sealbox/python"
    return os.path.expanduser("~/.local/share/sealbox/python")


def _bootstrap():
    """Make (or reuse) the venv for this bundle's Sealbox version; return its python."""
    if sys.version_info < (3, 9):
        _fail("Sealbox needs Python >= 3.9 (this is %d.%d)" % sys.version_info[:2])
    wheel = _sealbox_wheel()
    version = wheel.split("-")[1]
    venv = os.path.join(_home(), "sealbox-%s-py%d.%d" % ((version,) + sys.version_info[:2]))
    python = os.path.join(venv, "bin", "python")
    stamp = os.path.join(venv, ".sealbox-wheel")
    try:
        with open(stamp) as fh:
            if fh.read().strip() == wheel and os.path.exists(python):
                return python
    except OSError:
        pass
    sys.stderr.write(
        "Setting up Sealbox %s in %s (offline, from the bundle's wheels)\n" % (version, venv)
    )
    res = subprocess.call([sys.executable, "-m", "venv", "--clear", venv])
    if res != 0:
        _fail("cannot create a virtual environment (Debian/Ubuntu: apt-get install python3-venv)")
    res = subprocess.call(
        [
            python,
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--no-index",
            "--find-links",
            WHEELS,
            os.path.join(WHEELS, wheel),
        ]
    )
    if res != 0:
        _fail(
            "installing Sealbox from %s failed (see above); is this Python/platform one the "
            "bundle was built for?" % WHEELS
        )
    with open(stamp, "w") as fh:
        fh.write(wheel + "\n")
    return python


def _ours():
    try:
        import typer  # noqa: F401

        import installer
    except ImportError:
        return False
    return getattr(installer, "__sealbox__", False)


if __name__ == "__main__":
    if not _ours():
        if os.environ.get(MARK):
            _fail(
                "Sealbox is still not importable after installing it; remove %s and retry" % _home()
            )
        python = _bootstrap()
        os.environ[MARK] = "1"
        os.execv(python, [python, os.path.abspath(__file__)] + sys.argv[1:])
    os.environ.setdefault("SEALBOX_SCRIPT_DIR", HERE)
    from installer.cli.app import main

    main(prog_name="install.py")
