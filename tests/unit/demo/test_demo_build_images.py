"""Unit tests of demo/build_images.py parts that need no root and no Docker."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location(
    "sealbox_demo_build_images", REPO / "demo" / "build_images.py"
)
assert _spec and _spec.loader
bi = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bi)

DEB822 = """\
# comment
Types: deb deb-src
URIs: http://mirror.example.invalid/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.example.invalid/debian-security
Suites: bookworm-security
Components: main

Types: deb
Enabled: no
URIs: http://disabled.example.invalid/debian
Suites: bookworm

Types: deb-src
URIs: http://src.example.invalid/debian
Suites: bookworm
"""


def _etc_apt(tmp_path: Path, deb822: str = "", one_line: str = "") -> Path:
    (tmp_path / "sources.list.d").mkdir()
    if deb822:
        (tmp_path / "sources.list.d" / "debian.sources").write_text(deb822)
    if one_line:
        (tmp_path / "sources.list").write_text(one_line)
    return tmp_path


def test_reads_deb822_skipping_disabled_and_source_only(tmp_path: Path) -> None:
    sources = bi.read_apt_sources(str(_etc_apt(tmp_path, DEB822)))
    assert [s.uri for s in sources] == [
        "http://mirror.example.invalid/debian",
        "http://security.example.invalid/debian-security",
    ]
    assert sources[0].suites == ["bookworm", "bookworm-updates"]
    assert sources[0].components == ["main", "contrib"]


def test_reads_one_line_format_with_options(tmp_path: Path) -> None:
    text = (
        "# deb http://old.example.invalid/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://m.example.invalid/debian bookworm main\n"
        "deb-src http://m.example.invalid/debian bookworm main\n"
    )
    sources = bi.read_apt_sources(str(_etc_apt(tmp_path, one_line=text)))
    assert sources == [bi.AptSource("http://m.example.invalid/debian", ["bookworm"], ["main"])]


def test_pick_sources_puts_main_suite_first_and_keeps_security(tmp_path: Path) -> None:
    sec = bi.AptSource("http://s.example.invalid/ds", ["bookworm-security"], ["main"])
    main = bi.AptSource("http://m.example.invalid/d", ["bookworm", "trixie"], ["main"])
    other = bi.AptSource("http://o.example.invalid/d", ["trixie"], ["main"])
    local = bi.AptSource("file:/srv/repo", ["bookworm"], ["main"])
    picked = bi.pick_sources([sec, other, local, main], "bookworm")
    assert picked[0] == bi.AptSource(main.uri, ["bookworm"], ["main"])
    assert picked[1] == sec
    assert len(picked) == 2
    text = bi.sources_deb822(picked)
    assert "URIs: http://m.example.invalid/d\nSuites: bookworm\n" in text


def test_pick_sources_without_main_suite_is_an_actionable_error() -> None:
    sec = bi.AptSource("http://s.example.invalid/ds", ["bookworm-security"], ["main"])
    with pytest.raises(bi.BuildError, match="no http\\(s\\) apt source for 'bookworm'"):
        bi.pick_sources([sec], "bookworm")


def test_base_key_is_stable_and_follows_the_package_list(monkeypatch: pytest.MonkeyPatch) -> None:
    key = bi.base_key("amd64")
    assert key == bi.base_key("amd64")
    assert key != bi.base_key("arm64")
    monkeypatch.setattr(bi, "BASE_PACKAGES", [*bi.BASE_PACKAGES, "curl"])
    assert bi.base_key("amd64") != key
    assert bi.mariadb_key(key) != bi.mariadb_key(bi.base_key("amd64"))


def test_dir_key_follows_files_and_parent(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "Dockerfile").write_text("FROM x\n")
    (tmp_path / "app" / "a.py").write_text("print(1)\n")
    key = bi.dir_key("sha256:1", tmp_path)
    (tmp_path / "app" / "__pycache__").mkdir()
    (tmp_path / "app" / "__pycache__" / "a.pyc").write_bytes(b"junk")
    assert bi.dir_key("sha256:1", tmp_path) == key
    assert bi.dir_key("sha256:2", tmp_path) != key
    (tmp_path / "app" / "a.py").write_text("print(2)\n")
    assert bi.dir_key("sha256:1", tmp_path) != key


def test_no_mirror_host_is_committed_in_demo() -> None:
    """The apt source is read at run time; no Debian mirror host name may live in demo/."""
    for path in (REPO / "demo").rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            text = path.read_text(errors="replace")
            for host in ("deb.debian.org", "security.debian.org", "ftp.debian.org"):
                assert host not in text, f"{path} names {host}"
