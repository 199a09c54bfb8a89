"""The one load path's command building and bookkeeping, on recorded docker outputs."""

from __future__ import annotations

import pytest

from installer.bundle.manifest import ImageEntry
from installer.hosts.base import Result
from installer.hosts.recorded import RecordedHost
from installer.runtime.images import Loaded, Snapshot, parse_loaded, parse_snapshot, settle
from installer.runtime.load import group_command, load_archive, load_route

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
EVIL = "sha256:" + "e" * 64


def test_parse_loaded_tags_and_ids():
    out = (
        "Loaded image: sealbox-demo/mariadb:10.11\n"
        "The image x already exists, renaming the old one with ID sha256:1 to empty string\n"
        f"Loaded image ID: {EVIL}\n"
        "Loaded image: evil/x:1\r\n"
    )
    assert parse_loaded(out) == Loaded(("sealbox-demo/mariadb:10.11", "evil/x:1"), (EVIL,))
    assert parse_loaded("") == Loaded()


def test_parse_snapshot_keeps_untagged_ids_only_as_ids():
    snap = parse_snapshot(f"v/a:1 {A}\n<none>:<none> {EVIL}\nbad line here\n")
    assert snap.tags == {"v/a:1": A} and snap.ids == frozenset({A, EVIL})


def test_route_by_where_the_decompressor_is():
    class Local(RecordedHost):
        @property
        def sees_controller_files(self) -> bool:
            return True

    remote = RecordedHost()
    assert load_route(Local(), "i.tar.zst", set()) == "stream"
    assert load_route(remote, "i.tar.zst", {"zstd", "docker"}) == "host"
    assert load_route(remote, "i.tar.zst", {"gzip", "xz", "docker"}) == "stream"
    assert load_route(remote, "i.tar.xz", {"xz"}) == "host"
    assert load_route(remote, "i.tar.gz", set()) == "stream"
    assert load_route(remote, "i.tar", set()) == "host"


def test_group_command_records_the_process_group():
    text = group_command("exec docker load", "/var/lib/sealbox/images/.load-1.pgid")
    assert text.startswith("cut -d' ' -f5 /proc/$$/stat > /var/lib/sealbox/images/.load-1.pgid")
    assert text.endswith("exec docker load")


def _docker(host: RecordedHost, tags: dict[str, str]) -> None:
    """Answer `docker image ls` from `tags` and apply `docker tag` / `docker rmi` to it."""
    ids = set(tags.values()) | {A, B, EVIL}

    def ls(_: str) -> Result:
        lines = [f"{t} {i}" for t, i in tags.items()] + [f"<none>:<none> {i}" for i in ids]
        return Result("", 0, "\n".join(lines), "")

    def tag(text: str) -> Result:
        _, _, src, ref = text.split()
        tags[ref] = src
        return Result(text, 0)

    def rmi(text: str) -> Result:
        ref = text.split()[-1]
        tags.pop(ref, None)
        ids.discard(ref)
        return Result(text, 0)

    host.answers.update({"docker image ls": ls, "docker tag": tag, "docker rmi": rmi})


def test_settle_after_success_retags_and_removes_what_the_manifest_does_not_list():
    tags = {"v/a:1": EVIL, "other/x:1": EVIL, "customer/app:2": A}
    host = RecordedHost()
    _docker(host, tags)
    before = Snapshot({"customer/app:2": B}, frozenset({B}))
    after = Snapshot(dict(tags), frozenset({A, EVIL, B}))
    loaded = Loaded(("v/a:1", "other/x:1", "customer/app:2"), ())
    changed = settle(host, {"v/a:1": A}, before, after, loaded, succeeded=True)
    assert tags == {"v/a:1": A, "customer/app:2": B}  # bundle tag on the signed ID, others back
    assert f"docker rmi {EVIL}" in host.commands
    assert any("removed image" in c for c in changed)


def test_settle_after_failure_leaves_the_bundle_tag_on_the_signed_id_or_nothing():
    tags = {"v/a:1": EVIL, "v/b:1": EVIL}
    host = RecordedHost()
    _docker(host, tags)
    before = Snapshot({"v/a:1": A, "v/b:1": "sha256:" + "c" * 64}, frozenset({A}))
    after = Snapshot(dict(tags), frozenset({A, EVIL}))
    settle(host, {"v/a:1": A, "v/b:1": B}, before, after, Loaded(), succeeded=False)
    assert tags == {"v/a:1": A}  # the genuine tag restored; the foreign one removed


def test_load_archive_refuses_entries_of_several_archives(tmp_path):
    entries = [ImageEntry("a:1", A, "images/a.tar.zst", "1"), ImageEntry("b:1", B, "b.tar", "2")]
    from installer.errors import UsageError

    with pytest.raises(UsageError):
        load_archive(RecordedHost(), str(tmp_path / "a.tar.zst"), entries)


def test_settle_after_failure_leaves_tags_the_load_did_not_move():
    tags = {"v/a:1": B}  # someone's image under the bundle's name, there before the load
    host = RecordedHost()
    _docker(host, tags)
    before = Snapshot({"v/a:1": B}, frozenset({B}))
    settle(host, {"v/a:1": A}, before, before, Loaded(), succeeded=False)
    assert tags == {"v/a:1": B}
    assert not any(c.startswith(("docker rmi", "docker tag")) for c in host.commands)


def _docker_save_tar(path) -> bytes:  # type: ignore[no-untyped-def]
    """A small tar shaped like `docker save` output (a layer member, then manifest.json)."""
    import io
    import json
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in (
            ("abc/layer.tar", b"x" * 300_000),
            ("manifest.json", json.dumps([{"RepoTags": ["v/a:1"]}]).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_stream_route_reads_the_engine_beside_the_stream_but_before_the_tar_ends(tmp_path):
    """The engine's images are read in a thread while the archive streams (issue 18's speed
    target), yet the withheld end of the tar is released only after that snapshot finished:
    docker load registers nothing before its tar ends, so it is still the engine before."""
    import hashlib
    import threading
    import time

    import zstandard

    tar = _docker_save_tar(tmp_path)
    path = tmp_path / "a.tar.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(tar))
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    events: list[tuple[str, int]] = []
    snapshots = [0]

    class Local(RecordedHost):
        @property
        def sees_controller_files(self) -> bool:
            return True

        def run_streaming_input(self, cmd, chunks, *, timeout=None):  # type: ignore[no-untyped-def,override]
            got = 0
            for chunk in chunks:
                got += len(chunk)
                events.append(("stream", got))
            events.append(("stream end", got))
            return Result(str(cmd), 0, "Loaded image: v/a:1\n", "")

    def ls(_: str) -> Result:
        snapshots[0] += 1
        if snapshots[0] == 1:  # the one beside the stream: slow, in its own thread
            assert threading.current_thread() is not threading.main_thread()
            time.sleep(0.5)
            events.append(("before done", 0))
        return Result("", 0, f"v/a:1 {A}\n" if snapshots[0] > 1 else "", "")

    host = Local(answers={"docker image ls": ls, "command -v": "docker\n", "cut -d": ""})
    entry = ImageEntry("v/a:1", A, "images/a.tar.zst", sha)
    result = load_archive(host, str(path), [entry])
    assert result.route == "stream" and result.loaded.refs == ("v/a:1",)
    names = [e[0] for e in events]
    done = names.index("before done")
    assert names[-1] == "stream end" and events[-1][1] == len(tar)
    # the last bytes of the tar went to docker only after the snapshot: never before
    released_before = max((n for k, n in events[:done] if k == "stream"), default=0)
    assert released_before < len(tar), events
    assert any(k == "stream" for k, _ in events[done + 1 :]), events


def test_settle_keeps_an_image_the_archive_carries_under_another_tag_only():
    """A vendor's per-architecture image is saved under `app:1-arm64` (issue 22); the manifest
    lists `app:1`. Docker deletes an image with its last tag, so the bundle's tag must be put on
    it before the archive's own tag is removed (the other order left no image to tag)."""
    tags = {"v/a:1-arm64": A}  # what `docker load` of the archive set on a fresh engine
    images = {A}

    def ls(_: str) -> Result:
        lines = [f"{t} {i}" for t, i in tags.items()] + [f"<none>:<none> {i}" for i in images]
        return Result("", 0, "\n".join(lines), "")

    def tag(text: str) -> Result:
        _, _, src, ref = text.split()
        if src not in images:
            return Result(text, 1, "", f"Error response from daemon: No such image: {src}")
        tags[ref] = src
        return Result(text, 0)

    def rmi(text: str) -> Result:
        ref = text.split()[-1]
        gone = tags.pop(ref, ref)
        if gone not in tags.values():  # its last tag: docker deletes the image with it
            images.discard(gone)
        return Result(text, 0)

    host = RecordedHost(answers={"docker image ls": ls, "docker tag": tag, "docker rmi": rmi})
    before = Snapshot({}, frozenset())
    after = Snapshot(dict(tags), frozenset(images))
    settle(host, {"v/a:1": A}, before, after, Loaded(("v/a:1-arm64",), ()), succeeded=True)
    assert tags == {"v/a:1": A} and images == {A}
