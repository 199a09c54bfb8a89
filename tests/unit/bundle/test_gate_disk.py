"""Disk preflight: uncompressed sizes (x2 for docker load's staging) vs free on the data-root."""

from __future__ import annotations

import pytest

from installer.bundle.gate import LOAD_FACTOR, NotEnoughDisk, archives_to_load, check_disk
from installer.bundle.manifest import ImageEntry, Manifest
from installer.hosts.base import Result

DF = """Filesystem        1B-blocks        Used    Available Capacity Mounted on
/dev/vda1    270000000000 20000000000 {free} 10% /var/lib/docker
"""


class DfHost:
    name = "h1"

    def __init__(self, free: int) -> None:
        self.free = free
        self.commands: list[list[str]] = []

    def run(self, cmd, timeout=None):
        self.commands.append(list(cmd))
        return Result("df", 0, DF.format(free=self.free), "")


def manifest() -> Manifest:
    shared = [
        ImageEntry(f"r/{n}", f"sha256:{n}", "images/images.tar.zst", "s", 10, 3_000_000_000)
        for n in "ab"
    ]
    return Manifest(
        "p", "1", shared + [ImageEntry("r/c", "sha256:c", "images/c.tar.zst", "s", 1, 5)]
    )


def test_shared_archive_counted_once():
    m = manifest()
    assert archives_to_load(m, m.images) == {
        "images/images.tar.zst": 3_000_000_000,
        "images/c.tar.zst": 5,
    }


def test_enough_space_passes_and_reads_df_on_the_data_root():
    host = DfHost(free=10_000_000_000)
    m = manifest()
    check = check_disk(host, "/srv/docker", m, m.images[:2])
    assert check.needed == 3_000_000_000 * LOAD_FACTOR and check.free == 10_000_000_000
    assert host.commands == [["df", "-P", "-B1", "/srv/docker"]]


def test_not_enough_space_names_the_numbers_and_the_fix():
    host = DfHost(free=4_000_000_000)
    m = manifest()
    with pytest.raises(NotEnoughDisk) as exc:
        check_disk(host, "/var/lib/docker", m, m.images[:1])
    msg = str(exc.value)
    assert "h1:/var/lib/docker" in msg and "need 5.6 GB" in msg and "3.7 GB free" in msg
    assert "daemon.json" in msg


def test_nothing_to_load_needs_no_df():
    host = DfHost(free=0)
    assert check_disk(host, "/var/lib/docker", manifest(), []).needed == 0
    assert host.commands == []


def test_a_full_podman_graph_root_is_refused_the_same_way_with_podmans_fix():
    """Disk full behaves the same on Podman: the graph root (podman info's store.graphRoot,
    the engine facts' data_root) is measured and the fix names Podman's setting."""
    host = DfHost(free=4_000_000_000)
    m = manifest()
    with pytest.raises(NotEnoughDisk) as exc:
        check_disk(host, "/var/lib/containers/storage", m, m.images[:1], "podman")
    msg = str(exc.value)
    assert host.commands == [["df", "-P", "-B1", "/var/lib/containers/storage"]]
    assert "need 5.6 GB" in msg and "by podman load" in msg
    assert "storage.conf" in msg and "daemon.json" not in msg
