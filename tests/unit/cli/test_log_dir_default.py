"""Run logs never land inside a bundle (issue 19, item 1): the README has the user run
install.py inside the bundle folder, and a log folder left there made the next run refuse it."""

from __future__ import annotations

import os
from pathlib import Path

from installer.cli.remote import default_log_dir


def test_default_log_dir_is_not_under_the_current_folder(monkeypatch, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(bundle)
    path = default_log_dir()
    assert os.path.isabs(path)
    assert path.startswith(str(tmp_path / "home" / ".sealbox" / "logs") + os.sep)
    assert not os.path.abspath(path).startswith(str(bundle))
