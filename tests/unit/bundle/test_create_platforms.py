"""`bundle create --platform` (issue 22): which local image is taken for each architecture, and
how the archives are named; the local engine is answered from a table (no Docker)."""

from __future__ import annotations

import pytest

from installer.bundle import create as C
from installer.bundle import platforms as P
from installer.errors import RuntimeFailure, UsageError


@pytest.fixture
def engine(monkeypatch):
    images: dict[str, tuple[str, str]] = {}
    monkeypatch.setattr(P, "_inspect", lambda ref: images.get(ref))
    return images


def test_the_arch_tag_or_the_reference_whichever_is_that_architecture(engine) -> None:
    engine["app:1"] = ("sha256:amd", "amd64")
    engine["app:1-arm64"] = ("sha256:arm", "arm64")
    assert P.image_for_arch("app:1", "arm64") == ("app:1-arm64", "sha256:arm", "arm64")
    assert P.image_for_arch("app:1", "amd64") == ("app:1", "sha256:amd", "amd64")
    assert P.image_for_arch("app:1", None) == ("app:1", "sha256:amd", "amd64")


def test_an_image_of_the_wrong_architecture_is_refused_by_name(engine) -> None:
    engine["app:1"] = ("sha256:amd", "amd64")
    engine["app:1-arm64"] = ("sha256:x", "amd64")  # mislabelled: its config says amd64
    with pytest.raises(RuntimeFailure) as exc:
        P.image_for_arch("app:1", "arm64")
    msg = str(exc.value)
    assert "no linux/arm64 image for app:1" in msg and "app:1-arm64: amd64" in msg
    assert "app:1: amd64" in msg


def test_arch_tags_and_archive_names() -> None:
    assert P.arch_ref("sealbox-demo/license-server:0.1", "arm64") == (
        "sealbox-demo/license-server:0.1-arm64"
    )
    assert P.arch_ref("registry:5000/app", "arm64") == "registry:5000/app:latest-arm64"
    imgs = [C._Image("m", "r", f"sha256:{a}", "images/m.tar.zst", a) for a in ("amd64", "arm64")]
    assert list(C._plan_archives(imgs, "shared", "zstd", multi=True)) == [
        "images/images-amd64.tar.zst",
        "images/images-arm64.tar.zst",
    ]
    assert list(C._plan_archives(imgs, "per-image", "zstd", multi=True)) == [
        "images/m-amd64.tar.zst",
        "images/m-arm64.tar.zst",
    ]
    assert list(C._plan_archives(imgs[:1], "shared", "zstd")) == ["images/images.tar.zst"]


def test_platforms_are_checked() -> None:
    assert P.parse_platforms(["linux/arm64", "aarch64", "linux/amd64"], "--platform") == [
        "arm64",
        "amd64",
    ]
    with pytest.raises(UsageError, match="--platform linux/s390x: unknown platform"):
        P.parse_platforms(["linux/s390x"], "--platform")
