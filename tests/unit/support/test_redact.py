"""The support bundle's redactor: generated secrets byte for byte anywhere (text, binary,
inside gzip), DSN passwords, ``password=``-style values; the report names and counts only."""

from __future__ import annotations

import gzip
import io
import json
import tarfile

from installer.support.archive import write_bundle
from installer.support.collect import USAGE_FILE, HostBundle
from installer.support.redact import Redactor

SECRETS = {"mysql_password": "Zq8vN1xKp0aLm2Rt", "seat_key": "f00dfacecafe1234beef"}


def test_secret_values_go_wherever_they_are() -> None:
    r = Redactor(SECRETS)
    text = b"connected with Zq8vN1xKp0aLm2Rt.\nkey=f00dfacecafe1234beef;Zq8vN1xKp0aLm2Rt\n"
    out = r.redact("h/x.log", text)
    assert b"Zq8vN1xKp0aLm2Rt" not in out and b"f00dfacecafe1234beef" not in out
    assert out.count(b"[REDACTED:mysql_password]") == 2
    assert r.report.rules["secret:mysql_password"] == 2
    assert r.report.rules["secret:seat_key"] == 1


def test_binary_and_gzip_members() -> None:
    r = Redactor(SECRETS)
    binary = b"\x00\xff\x10Zq8vN1xKp0aLm2Rt\x00\x01"
    assert b"Zq8vN1xKp0aLm2Rt" not in r.redact("h/core.bin", binary)
    packed = gzip.compress(b"old log: password is Zq8vN1xKp0aLm2Rt\n")
    out = r.redact("h/old.log.gz", packed)
    assert out[:2] == b"\x1f\x8b"
    assert b"Zq8vN1xKp0aLm2Rt" not in gzip.decompress(out)
    assert "h/old.log.gz#gunzip" in r.report.files


def test_dsn_and_assignment_forms() -> None:
    r = Redactor({})
    text = (
        b"DATABASE_URL=mysql://app:s3cr3t!@db:3306/face\n"
        b"redis://default:abc123@cache:6379/0\n"
        b"MYSQL_ROOT_PASSWORD=hunter2hunter2\n"
        b'{"db_password": "pw-json", "user": "root"}\n'
        b"password: yaml-pw\n"
        b"run --password flag-pw --other keep\n"
        b"GET /x?token=tok123&page=2\n"
        b"nothing secret about this line\n"
    )
    out = r.redact("h/a.txt", text)
    for value in (b"s3cr3t!", b"abc123", b"hunter2hunter2", b"pw-json", b"yaml-pw", b"flag-pw",
                  b"tok123"):  # fmt: skip
        assert value not in out, value
    assert b"keep" in out and b'"user": "root"' in out and b"page=2" in out
    assert b"nothing secret about this line" in out
    assert r.report.rules["dsn"] == 2


def test_report_never_holds_a_value() -> None:
    r = Redactor(SECRETS)
    r.redact("h/a", b"Zq8vN1xKp0aLm2Rt password=hello-there")
    doc = json.dumps(r.report.to_dict())
    assert "Zq8vN1xKp0aLm2Rt" not in doc and "hello-there" not in doc
    assert r.report.to_dict()["secrets_known"] == ["mysql_password", "seat_key"]


def test_short_values_are_not_treated_as_secrets() -> None:
    r = Redactor({"pin": "1234"})
    assert r.redact("h/a", b"port 1234") == b"port 1234"


def test_archive_has_no_secret_and_a_report(tmp_path) -> None:
    """Secrets of one host are redacted in every host's folder; the signed usage report keeps
    its bytes (patterns off) so it still verifies."""
    a = HostBundle("db-host", {"logs/mysql.log": b"pw Zq8vN1xKp0aLm2Rt"}, {}, dict(SECRETS))
    signed = b'{"token":"not-a-secret-but-signed"}\nsignature: x\n'
    b = HostBundle(
        "app-host", {"logs/face.log": b"dsn mysql://u:Zq8vN1xKp0aLm2Rt@db/x", USAGE_FILE: signed}
    )
    w = write_bundle([a, b], str(tmp_path / "s.tar.gz"))
    raw = (tmp_path / "s.tar.gz").read_bytes()
    assert (tmp_path / "s.tar.gz").stat().st_mode & 0o777 == 0o600
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        members = {m.name.split("/", 1)[1]: tar.extractfile(m).read() for m in tar if m.isfile()}
    assert set(members) >= {
        "db-host/logs/mysql.log",
        "app-host/logs/face.log",
        f"app-host/{USAGE_FILE}",
        "redaction-report.json",
        "site.json",
    }
    for data in [raw, *members.values()]:
        assert b"Zq8vN1xKp0aLm2Rt" not in data
    assert members[f"app-host/{USAGE_FILE}"] == signed
    report = json.loads(members["redaction-report.json"])
    assert report["by_rule"]["secret:mysql_password"] == 2 and w.redacted == 2
