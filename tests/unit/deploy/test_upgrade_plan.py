"""Upgrade planning and refusals, pure: which version order, which bundle is refused, what the
plan says per module, and the disk check that runs before anything changes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from installer.deploy.history import History
from installer.deploy.state import InstanceRecord, ModuleRecord, State, StateStore
from installer.deploy.upgrade import assess, check_disk, disk_needed_kb
from installer.errors import HostError, UsageError
from installer.hosts.recorded import RecordedHost
from installer.spec.versions import compare


@pytest.mark.parametrize(
    "a,b,want",
    [
        ("2026.12.0", "2026.11.0", 1),
        ("2026.11.0", "2026.11", 0),
        ("2026.9.1", "2026.10.0", -1),  # numbers, not text: 9 < 10
        ("1.1-rc1", "1.1.0", -1),
        ("1.10", "1.9", 1),
    ],
)
def test_version_order(a: str, b: str, want: int) -> None:
    assert compare(a, b) == want


def _spec(name: str, version: str, method: str = "none", migrates: bool = False, deps=(), lic=None):
    return SimpleNamespace(
        name=name,
        version=version,
        backup=SimpleNamespace(method=method),
        migrates_data=migrates,
        depends_on=tuple(deps),
        license=lic,
    )


def _mp(spec, image: str, files: dict[str, str], changes=()):
    inst = SimpleNamespace(runspec=SimpleNamespace(file_hashes=files))
    desired = SimpleNamespace(spec=spec, image=SimpleNamespace(id=image), instances=[inst])
    return SimpleNamespace(desired=desired, changes=list(changes))


LIC = "sha256:" + "d" * 64


def _state(product: str = "sealbox-demo", version: str = "2026.11.0") -> State:
    def rec(name: str, mver: str, image: str) -> ModuleRecord:
        return ModuleRecord(
            name, mver, version, f"r/{name}", image,
            [InstanceRecord(0, f"c-{name}", "h", image)], product=product, updated_at=1.0,
        )  # fmt: skip

    return State(
        modules={
            "mysql": rec("mysql", "10.11", "sha256:" + "a" * 64),
            "license-server": rec("license-server", "0.1", LIC),
            "face-server": rec("face-server", "1.0", "sha256:" + "b" * 64),
        },
        variables={"mysql_port": 5535},
    )


def _plan():
    return SimpleNamespace(
        modules=[
            _mp(_spec("mysql", "10.11", "mysqldump"), "sha256:" + "a" * 64, {"/c/my.cnf": "1"}),
            _mp(_spec("license-server", "0.1", "archive", lic="server"), LIC, {}),
            _mp(
                _spec("face-server", "1.1", migrates=True, deps=("license-server", "mysql")),
                "sha256:" + "c" * 64,
                {"/c/s": "2"},
                changes=["recreate"],
            ),
        ]
    )


def _previous():
    def mod(files: dict[str, str]):
        return SimpleNamespace(instances=[{"runspec": {"file_hashes": files}}])

    return SimpleNamespace(
        modules={"mysql": mod({"/c/my.cnf": "1"}), "face-server": mod({"/c/s": "1"})}
    )


def _assess(state: State, version: str, product: str = "sealbox-demo", allow: bool = False):
    return assess(
        _plan(),  # type: ignore[arg-type]
        state,
        product=product,
        version=version,
        previous=_previous(),  # type: ignore[arg-type]
        allow_downgrade=allow,
        new_variables={"face-server": ["face_min_quality"]},
    )


def test_the_plan_says_per_module_what_changes_and_what_is_backed_up() -> None:
    up = _assess(_state(), "2026.12.0")
    assert up is not None and (up.from_version, up.to_version) == ("2026.11.0", "2026.12.0")
    mysql, lic, face = up.modules
    assert (mysql.image, mysql.config, mysql.backup) == ("same", "same", "mysqldump")
    # the face server migrates the data of what it depends on: its database is saved first;
    # the license server's state never goes back in time, so it is not
    assert (lic.image, lic.backup) == ("same", "")
    assert face.image == f"{'b' * 12} -> {'c' * 12}" and face.config == "changed"
    assert face.variables == ["face_min_quality"] and face.migrates_data
    assert up.backed_up == ["mysql"]


def test_another_product_is_refused() -> None:
    with pytest.raises(UsageError, match="another product"):
        _assess(_state(), "2026.12.0", product="ops-suite")


def test_an_older_version_is_refused_unless_allowed() -> None:
    with pytest.raises(UsageError, match="older than the installed 2026.11.0.*--allow-downgrade"):
        _assess(_state(), "2026.10.0")
    up = _assess(_state(), "2026.10.0", allow=True)
    assert up is not None and up.downgrade


def test_the_same_version_or_a_fresh_host_is_no_upgrade() -> None:
    assert _assess(_state(), "2026.11.0") is None
    assert _assess(State(), "2026.12.0") is None


def test_disk_too_small_for_the_backups_is_refused_naming_the_space() -> None:
    need = disk_needed_kb(500_000, SimpleNamespace(modules=[]))  # type: ignore[arg-type]
    with pytest.raises(HostError, match="has 97 MiB free, the upgrade needs 489 MiB.*nothing"):
        check_disk("h1", need, (100_000, 100_000), ("/s/backups", "/var/lib/docker"))
    check_disk("h1", need, (600_000, 600_000), ("/s/backups", "/var/lib/docker"))


def test_images_on_another_disk_are_checked_there() -> None:
    img = SimpleNamespace(file="images/f.tar.zst", size=10, uncompressed_size=300 * 1024 * 1024)
    plan = SimpleNamespace(
        modules=[SimpleNamespace(load_image=True, desired=SimpleNamespace(image=img))]
    )
    need = disk_needed_kb(10, plan)  # type: ignore[arg-type]
    with pytest.raises(HostError, match="/var/lib/docker has 97 MiB free, the new images need 300"):
        check_disk("h1", need, (900_000, 100_000), ("/s/backups", "/var/lib/docker"))


def test_history_appends_and_survives_a_torn_line() -> None:
    host = RecordedHost()
    hist = History(StateStore(host, "/s"))
    hist.record("install", product="p", version="1", modules=["a"], result="ok")
    host.files["/s/history.jsonl"] += b'{"torn'
    hist.record("upgrade", product="p", version="2", modules=["a"], result="ok", previous="1")
    rows = hist.entries()
    assert [(r["action"], r["version"]) for r in rows] == [("install", "1"), ("upgrade", "2")]
    assert host.files["/s/history.jsonl"].startswith(b'{"action": "install"')


def test_a_half_done_upgrade_is_the_same_upgrade_when_run_again() -> None:
    """SIGKILL after mysql's record moved to 2026.12.0 and before face-server's: the re-run
    must still be the upgrade from 2026.11.0 (backups first, roll-back armed), not an install."""
    state = _state()
    state.modules["mysql"].bundle_version = "2026.12.0"
    state.modules["mysql"].updated_at = 2.0
    up = _assess(state, "2026.12.0")
    assert up is not None and up.from_version == "2026.11.0" and up.backed_up == ["mysql"]
