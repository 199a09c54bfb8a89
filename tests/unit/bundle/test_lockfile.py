"""requirements/runtime.lock and `bundle create`'s hashed download of the carried wheels.

The download tests run the real pip, offline (`--wheels-from`, or a poisoned cache with no
index), on a tiny real wheel.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest

from installer.bundle import carry
from installer.bundle.carry import download_locked
from installer.bundle.lockfile import (
    Lock,
    Locked,
    canonical,
    load_lock,
    parse_lock,
    pyproject_dependencies,
    render_lock,
)
from installer.bundle.trust import BundleRefused
from installer.errors import SealboxError, UsageError

from .shim_bundle import PY, wheel

ROOT = Path(__file__).resolve().parents[3]


def test_committed_lock_is_fresh_and_covers_every_dependency_for_each_python():
    lock = load_lock(str(ROOT))  # refuses a lock older than pyproject.toml's dependencies
    assert lock.platform == carry.PLATFORM
    assert lock.pythons() == ["3.9", "3.10", "3.11", "3.12", "3.13"]
    deps = pyproject_dependencies((ROOT / "pyproject.toml").read_text())
    wanted = {canonical(re.split(r"[<>=!~ \[;]", d)[0]) for d in deps}
    for py in lock.pythons():
        names = [e.name for e in lock.for_python(py)]
        assert wanted <= set(names), (py, wanted - set(names))
        assert len(names) == len(set(names))  # one version of each per target
        # one wheel per architecture (issue 22): 1 hash for a pure wheel, 2 for a compiled one
        assert all(1 <= len(e.hashes) <= len(lock.platforms) for e in lock.for_python(py))
    assert lock.platforms == ("manylinux2014_x86_64", "manylinux2014_aarch64")
    compiled = {e.name for e in lock.for_python("3.11") if len(e.hashes) == 2}
    assert {"cryptography", "psutil", "zstandard"} <= compiled


def test_lock_round_trips_and_a_changed_dependency_list_is_stale(tmp_path):
    entries = [Locked("a-b", "1.0", "3.9", ("1" * 64,)), Locked("c", "2", "3.11", ("2" * 64,))]
    text = render_lock(entries, ["a-b>=1", "c"], "manylinux2014_x86_64")
    lock = parse_lock(text.encode())
    assert (
        list(lock.entries) == entries and lock.sha256 == hashlib.sha256(text.encode()).hexdigest()
    )
    (tmp_path / "requirements").mkdir()
    (tmp_path / "requirements" / "runtime.lock").write_text(text)
    (tmp_path / "pyproject.toml").write_text('dependencies = [\n    "a-b>=1",\n    "c",\n]\n')
    assert load_lock(str(tmp_path)).entries == lock.entries
    (tmp_path / "pyproject.toml").write_text('dependencies = [\n    "a-b>=2",\n    "c",\n]\n')
    with pytest.raises(UsageError, match="stale"):
        load_lock(str(tmp_path))
    with pytest.raises(UsageError, match="not understood"):
        parse_lock(text.replace("--hash=sha256:" + "1" * 64, "--hash=md5:00").encode())


def _lock_for(path: Path) -> Lock:
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return Lock((Locked("shimdep", "1.0", PY, (sha,)),), "x", carry.PLATFORM, "f" * 64)


@pytest.fixture
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv(carry.WHEEL_CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # no configured mirror or find-links
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    (tmp_path / "vendor").mkdir()
    return wheel(tmp_path / "vendor", "shimdep", "1.0", {"shimdep.py": b"MARK = 'genuine'\n"})


def test_locked_wheels_are_carried_with_their_hashes(tmp_path, offline):
    genuine = offline
    out = tmp_path / "wheels"
    got = download_locked(_lock_for(genuine), str(out), [PY], wheels_from=str(genuine.parent))
    sha = hashlib.sha256(genuine.read_bytes()).hexdigest()
    assert got == [
        {"file": f"wheels/{genuine.name}", "sha256": sha, "requirement": "shimdep==1.0",
         "python": [PY]}
    ]  # fmt: skip
    assert (out / genuine.name).read_bytes() == genuine.read_bytes()
    with pytest.raises(UsageError, match="no wheels for Python 3.99"):
        download_locked(_lock_for(genuine), str(out), ["3.99"], wheels_from=str(genuine.parent))


def test_a_wheel_whose_hash_is_not_the_locks_is_refused(tmp_path, offline):
    """Issue 11 item 10: whatever sits in the vendor's cache or wheel folder is not signed
    into a bundle unless it is the locked file."""
    genuine = offline
    lock = _lock_for(genuine)
    poisoned = tmp_path / "poisoned"
    poisoned.mkdir()
    wheel(poisoned, "shimdep", "1.0", {"shimdep.py": b"MARK = 'evil'\n"})
    out = tmp_path / "wheels"
    with pytest.raises(BundleRefused, match=r"shimdep==1\.0.*does not match the hash"):
        download_locked(lock, str(out), [PY], wheels_from=str(poisoned))
    assert not list(out.glob("*.whl"))
    # the same name in the wheel cache, no index: pip drops the bad file ("bad hash,
    # re-downloading") and, with no index to fetch the genuine one, fails; nothing is carried
    cache = Path(os.environ[carry.WHEEL_CACHE_ENV])
    cache.mkdir(exist_ok=True)
    wheel(cache, "shimdep", "1.0", {"shimdep.py": b"MARK = 'evil'\n"})
    with pytest.raises(SealboxError, match="shimdep"):
        download_locked(lock, str(out), [PY])
    assert not list(out.glob("*.whl"))
