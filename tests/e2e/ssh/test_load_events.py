"""No wrong image on the engine, not even for a moment (issue 18, item 2).

The attack: the bundle's archive replaced by one holding another image under the bundle's tag,
ended with a zstd skippable frame so the decompressor has produced the attacker's whole tar long
before the file (and its sha256) ends. The final state was already checked elsewhere; here the
engine's own event log (`docker events`) is read for the time of the attack, on each of the
three load routes, and any `load` or `tag` of an image the manifest does not list fails the test.
On the old code the remote route without zstd showed `load` and a `tag` of the bundle's name
for the attacker's image (the guard released a prefix Go reads as a complete tar, and the SSH
route then ended docker load's input instead of killing it).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import subprocess
import time
from typing import Callable, Iterator

import pytest
import zstandard

from installer.archive.streams import ArchiveError
from installer.bundle.manifest import ImageEntry
from installer.errors import SealboxError
from installer.hosts.local import LocalHost
from installer.runtime.load import load_archive
from tests.e2e.ssh.conftest import image_archive

pytestmark = pytest.mark.e2e


@contextlib.contextmanager
def _without_zstd(h) -> Iterator[None]:
    h.exec(["mount", "--bind", "/dev/null", "/usr/bin/zstd"])
    try:
        yield
    finally:
        h.exec(["umount", "/usr/bin/zstd"])


def image_events(docker: Callable[[list[str]], str], since: float) -> list[dict]:
    """The engine's image events from ``since`` until a second from now."""
    out = docker(
        [
            "events",
            "--since",
            f"{since:.3f}",
            "--until",
            f"{time.time() + 1:.3f}",
            "--filter",
            "type=image",
            "--format",
            "{{json .}}",
        ]
    )
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def unlisted(events: list[dict], listed_ids: set[str], ours: set[str]) -> list[str]:
    """`load` / `tag` events of an image the manifest does not list. ``ours``: the IDs and
    names this test made (the main engine is shared: other images may come and go there)."""

    def bare(x: str) -> str:
        return x.split(":", 1)[1] if x.startswith("sha256:") else x

    listed_ids = {bare(i) for i in listed_ids}
    ours = {bare(i) for i in ours}
    bad = []
    for ev in events:
        action = ev.get("Action") or ev.get("status")
        actor = ev.get("Actor") or {}
        image = bare(actor.get("ID") or ev.get("id") or "")
        name = (actor.get("Attributes") or {}).get("name", "")
        if action not in ("load", "tag") or image in listed_ids:
            continue
        if ours and image not in ours and name not in ours:
            continue
        bad.append(f"{action} {image} {name}")
    return bad


def attack(tmp_path) -> tuple[str, ImageEntry, str, str]:
    """(evil file, the manifest's entry for the genuine one, tag, attacker's image ID)."""
    tag = f"sealbox-test/events:{os.urandom(3).hex()}"
    genuine_tar, genuine_id = image_archive(tag)
    evil_tar, evil_id = image_archive(tag)  # another image under the bundle's name
    genuine = zstandard.ZstdCompressor().compress(genuine_tar)
    evil = zstandard.ZstdCompressor().compress(evil_tar)
    evil += struct.pack("<II", 0x184D2A50, 2 << 20) + bytes(2 << 20)  # skippable-frame pad
    sha = hashlib.sha256(genuine).hexdigest()
    entry = ImageEntry(tag, genuine_id, "images/img.tar.zst", sha)
    bad = tmp_path / "img.tar.zst"
    bad.write_bytes(evil)
    return str(bad), entry, tag, evil_id


@pytest.mark.parametrize("route", ["this-machine", "remote-zstd", "remote-no-zstd"])
def test_the_attackers_image_is_never_loaded_or_tagged(docker_hosts, connect, tmp_path, route):
    bad, entry, tag, evil_id = attack(tmp_path)
    if route == "this-machine":
        host = LocalHost()

        def docker(argv: list[str]) -> str:
            return subprocess.run(
                ["docker", *argv], capture_output=True, text=True, check=True, timeout=60
            ).stdout

        ours = {evil_id, tag}
        hidden = contextlib.nullcontext()
    else:
        h = docker_hosts[0]
        host = connect(h, "deploy")

        def docker(argv: list[str]) -> str:
            return h.exec(["docker", *argv]).stdout.decode()

        ours = set()  # the sandbox engine is this test's alone: every unlisted image counts
        hidden = _without_zstd(h) if route == "remote-no-zstd" else contextlib.nullcontext()
    steps: list[str] = []
    since = time.time() - 0.5
    with hidden, pytest.raises((ArchiveError, SealboxError)) as err:
        load_archive(host, bad, [entry], on_step=steps.append)
    # remote with zstd: the upload's sha256 check on the host stops it before any load
    assert steps == (["upload"] if route == "remote-zstd" else ["stream"])
    assert "sha256" in str(err.value), err.value
    time.sleep(1)  # let a load that was not stopped finish and report
    events = image_events(docker, since)
    bad_events = unlisted(events, {entry.id}, ours)
    assert bad_events == [], f"{route}: the engine loaded or tagged {bad_events}"
    with contextlib.suppress(subprocess.CalledProcessError):
        docker(["image", "inspect", evil_id])
        pytest.fail(f"{route}: the attacker's image {evil_id} is on the engine")
