"""Fake machines for fingerprint tests: the real collect script runs under /bin/sh against a
fixture tree (fact root) with the few commands it calls replaced by recorded-output stubs."""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from pathlib import Path
from typing import Callable, Dict, Mapping, Optional

import pytest

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:  # bare `pytest` without the project installed
    sys.path.insert(0, str(REPO))

from fingerprint import Fingerprint, collect  # noqa: E402
from installer.hosts.base import Command, Result, command_text  # noqa: E402
from installer.hosts.local import LocalHost  # noqa: E402

TREES = Path(__file__).resolve().parents[2] / "fixtures" / "fingerprint"


def write_stubs(commands: Mapping[str, object], bin_dir: Path) -> None:
    """One shell stub per program answering each recorded argument list; others exit 1."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    by_prog: Dict[str, Dict[str, object]] = {}
    for cmd, answer in commands.items():
        prog, _, args = cmd.partition(" ")
        by_prog.setdefault(prog, {})[args] = answer
    for prog, answers in by_prog.items():
        lines = ["#!/bin/sh", 'case "$*" in']
        for args, answer in answers.items():
            if isinstance(answer, str):
                answer = {"rc": 0, "out": answer}
            out, rc = str(answer["out"]), int(answer["rc"])  # type: ignore[index]
            lines.append(f"  {shlex.quote(args)}) printf '%s' {shlex.quote(out)}; exit {rc};;")
        lines += ['  *) echo unexpected args: "$*" >&2; exit 1;;', "esac", ""]
        path = bin_dir / prog
        path.write_text("\n".join(lines))
        path.chmod(0o755)


class TreeHost:
    """A Host whose commands run locally with PATH holding only the tree's command stubs."""

    def __init__(self, root: Path, bin_dir: Path, runas: Optional[str] = None) -> None:
        self.name = root.name
        self.root = root
        self.bin_dir = bin_dir
        self.runas = runas
        self._local = LocalHost(root.name)
        self.commands: list = []

    @property
    def is_local(self) -> bool:
        return False

    def run(self, cmd: Command, *, input=None, timeout=None, env=None) -> Result:  # noqa: A002
        text = command_text(cmd)
        self.commands.append(text)
        argv = ["/bin/sh", "-c", text]
        if self.runas:
            argv = [
                "setpriv",
                f"--reuid={self.runas}",
                f"--regid={self.runas}",
                "--clear-groups",
                *argv,
            ]
            return self._local.run(
                argv, timeout=timeout, env={"PATH": f"{self.bin_dir}:/usr/bin:/bin"}
            )
        return self._local.run(argv, timeout=timeout, env={"PATH": str(self.bin_dir)})

    def read(self, path: str) -> bytes:
        return self._local.read(str(self.root) + path)


@pytest.fixture
def tree(tmp_path: Path) -> Callable[..., TreeHost]:
    """``tree("physical")`` -> (host, root) over a private copy of a fixture tree."""

    def make(name: str, *, edit: Optional[Callable[[Path], None]] = None) -> TreeHost:
        root = tmp_path / name
        if not root.exists():
            shutil.copytree(TREES / name, root, symlinks=True)
        if edit:
            edit(root)
        cmds = json.loads((root / "commands.json").read_text())
        bin_dir = tmp_path / f"{name}-bin"
        shutil.rmtree(bin_dir, ignore_errors=True)
        write_stubs(cmds, bin_dir)
        return TreeHost(root, bin_dir)

    return make


@pytest.fixture
def collected(tree: Callable[..., TreeHost]) -> Callable[..., Fingerprint]:
    """``collected("vm")`` -> the Fingerprint the real script reads from that fixture tree."""

    def run(name: str, *, edit: Optional[Callable[[Path], None]] = None) -> Fingerprint:
        host = tree(name, edit=edit)
        return collect(host, root=str(host.root))

    return run


@pytest.fixture
def world_readable_tmp() -> Path:
    """A temp dir a dropped-privilege process can traverse (pytest's tmp_path is 0700)."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="fp-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)
