"""A failed producer kills the whole pipeline it feeds, not only the shell in front of it
(issue 11 item 2: `zstd -dc | docker load` went on after bash was killed)."""

from __future__ import annotations

import time

import pytest

from installer.hosts.local import LocalHost


class Refused(Exception):
    pass


def test_failed_producer_kills_every_stage(tmp_path):
    mark = tmp_path / "stage-finished"

    def chunks():
        yield b"x" * 1000
        time.sleep(0.3)  # every stage is running by now
        raise Refused("sha256 mismatch")

    # a later stage that would finish its work after its input ends (as docker load does)
    cmd = f"( sleep 1; touch {mark} ) & cat > /dev/null; wait"
    with pytest.raises(Refused):
        LocalHost().run_streaming_input(cmd, chunks())
    time.sleep(1.5)
    assert not mark.exists()


def test_a_good_stream_runs_to_the_end(tmp_path):
    out = tmp_path / "out"
    res = LocalHost().run_streaming_input(f"cat > {out}", iter([b"a", b"b"]))
    assert res.ok and out.read_bytes() == b"ab"
