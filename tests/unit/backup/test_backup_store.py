"""restore's refusals, on a recorded host: a damaged copy always; another product, another
module or a newer data version unless --force. And the password never on a command line."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from installer.backup import methods
from installer.backup.manifest import BackupManifest
from installer.backup.store import BackupStore
from installer.errors import RuntimeFailure, UsageError
from installer.hosts.recorded import RecordedHost

SHA = "ab" * 32


def _store(sha: str = SHA) -> BackupStore:
    host = RecordedHost(answers={"sha256sum": f"{sha}  data.sql.gz\n"})
    return BackupStore(SimpleNamespace(host=host, root="/s"))


def _man(**kw) -> BackupManifest:
    base = dict(product="demo", version="2", module="mysql", module_version="10.11",
                data_version="2", method="mysqldump", file="data.sql.gz", sha256=SHA, size=1,
                created="now")  # fmt: skip
    return BackupManifest(**{**base, **kw})


def _check(
    store: BackupStore, man: BackupManifest, *, force: bool = False, module="mysql", installed="2"
):
    spec = SimpleNamespace(backup=SimpleNamespace(method="mysqldump"))
    return store.check("/s/backups/b", man, spec=spec, module=module, product="demo",
                       installed_version=installed, force=force)  # fmt: skip


def test_a_matching_backup_passes() -> None:
    assert _check(_store(), _man()) == []


@pytest.mark.parametrize(
    "man,kw,why",
    [
        (_man(product="other"), {}, "backup of product other, this host runs demo"),
        (_man(), {"module": "ledger"}, "backup of module mysql, not ledger"),
        (_man(data_version="3"), {}, "newer than the installed 2"),
    ],
)
def test_refused_unless_forced(man, kw, why) -> None:
    with pytest.raises(UsageError, match=why + ".*--force"):
        _check(_store(), man, **kw)
    assert any(why in w for w in _check(_store(), man, force=True, **kw))


def test_a_damaged_copy_is_refused_even_forced() -> None:
    with pytest.raises(RuntimeFailure, match="damaged"):
        _check(_store(sha="cd" * 32), _man(), force=True)


def test_the_dump_password_goes_in_on_stdin_never_on_the_command_line() -> None:
    seen: list[tuple[str, bytes]] = []

    class Host(RecordedHost):
        def run(self, cmd, *, input=None, timeout=None, env=None):  # type: ignore[override]
            seen.append((str(cmd), input or b""))
            return super().run(cmd, input=input, timeout=timeout, env=env)

    host = Host(answers={"bash": ""})
    spec = SimpleNamespace(
        name="mysql", source="modules/mysql.yaml",
        backup=SimpleNamespace(method="mysqldump", user=None, password="pw", database="db", stop=False),
    )  # fmt: skip
    t = methods.Target(spec, ["c0"], "/s/data", ["mysql/db"], {"pw": "s3cr3tvalue", "db": "face"})  # type: ignore[arg-type]
    methods.save(host, t, "/s/backups/x/data.sql.gz")
    methods.load(host, t, "/s/backups/x/data.sql.gz")
    assert len(seen) == 2
    for cmd, stdin in seen:
        assert "s3cr3tvalue" not in cmd and stdin == b"s3cr3tvalue\n"
    assert "--single-transaction" in seen[0][0] and "face" in seen[0][0]
