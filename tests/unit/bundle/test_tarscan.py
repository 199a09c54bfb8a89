"""The image-ID check that rides along the decompression stream."""

from __future__ import annotations

import pytest

from installer.archive.streams import ArchiveError
from installer.archive.tarscan import ImageIdScanner

from .conftest import CFG_A, CFG_B, image_id, save_tar


def scan(data: bytes, ids: list[str], piece: int = 777) -> ImageIdScanner:
    s = ImageIdScanner("images/x.tar", ids)
    for i in range(0, len(data), piece):  # odd piece sizes cross header boundaries
        s.feed(data[i : i + piece])
    return s


@pytest.mark.parametrize("oci", [False, True])
def test_expected_ids_accepted(oci):
    s = scan(save_tar([CFG_A, CFG_B], oci=oci), [image_id(CFG_A), image_id(CFG_B)])
    assert s.problems() == []
    s.finish()


def test_wrong_id_refused():
    s = scan(save_tar([CFG_A]), [image_id(CFG_B)])
    with pytest.raises(ArchiveError, match="wrong image ID"):
        s.finish()
    assert any("not in the archive" in p for p in s.problems())


def test_unlisted_image_in_archive_refused():
    s = scan(save_tar([CFG_A, CFG_B]), [image_id(CFG_A)])
    assert any("does not list" in p for p in s.problems())


def test_not_a_docker_save_tar():
    s = scan(save_tar([]), [image_id(CFG_A)])
    probs = s.problems()
    assert len(probs) == 1 and "not in the archive" in probs[0]
