"""Issue 11 item 8 end to end: values cannot inject SQL or config lines into the real MariaDB.

A signed copy of the demo bundle whose `mysql_user` has no pattern (a vendor may ship such a
spec) shows both walls on the real install path: a password with a quote or a newline is
refused before anything changes, and a user name full of SQL-special characters -- allowed,
it is not a secret and has no control characters -- is escaped in init.sql and works against
the real MariaDB.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import copy_bundle, port_sets, resign, run_cli

pymysql = pytest.importorskip("pymysql")

pytestmark = pytest.mark.e2e

TRICKY_USER = "o'br\\ien\";--%_`"  # quote, backslash, double quote, ;, --, LIKE wildcards
INJECTED = [
    ("mysql_password", "pw'; GRANT ALL ON *.* TO 'face'@'%' WITH GRANT OPTION; -- long"),
    ("mysql_password", "Abcdefgh12345678\nGRANT ALL ON *.* TO 'face'@'%' WITH GRANT OPTION;"),
    ("mysql_root_password", "Abcdefgh12345678\r"),
    ("mysql_database", "face\n"),  # the old re.match("^...$") let a trailing newline through
    ("mysql_user", "face\nLICENSE_SERVER_HOST=198.51.100.9"),
    ("mysql_bind_address", "0.0.0.0\nskip-grant-tables"),
]


def containers(state: Path) -> dict[str, str]:
    """name -> container ID of this deployment's containers."""
    from installer.deploy.state import StateStore
    from installer.hosts.local import LocalHost

    dep = StateStore(LocalHost(), str(state)).deployment_id
    out = subprocess.run(
        ["docker", "ps", "-a", "--filter", f"label=io.sealbox.deployment={dep}"]
        + ["--format", "{{.Names}} {{.ID}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(line.split(" ", 1) for line in out.strip().splitlines() if line)


def snapshot(state: Path) -> dict[str, bytes]:
    return {str(p.relative_to(state)): p.read_bytes() for p in state.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def loose_bundle(demo_bundle, tmp_path_factory) -> Path:
    bundle = copy_bundle(demo_bundle, tmp_path_factory.mktemp("b") / "bundle")
    spec = bundle / "modules" / "mysql.yaml"
    doc = yaml.safe_load(spec.read_text())
    del doc["variables"]["mysql_user"]["pattern"]
    spec.write_text(yaml.safe_dump(doc, sort_keys=False))
    resign(bundle)
    return bundle


@pytest.fixture(scope="module")
def install_args(ports, skip_args) -> list[str]:
    return ["in", "mysql", "-y", *port_sets(ports), *skip_args]


@pytest.fixture(scope="module")
def state(loose_bundle, tmp_path_factory):
    path = tmp_path_factory.mktemp("state")
    yield path
    run_cli("rmall", "--purge", "-y", bundle=loose_bundle, state_dir=path)


def refused(res, name: str) -> None:
    assert res.rc == 2, res.stderr
    errors = res.error_lines()
    assert len(errors) == 1 and errors[0].startswith(f"error: variable {name}: "), res.stderr


def test_injection_refused_before_anything_exists(loose_bundle, state, install_args):
    for name, value in INJECTED:
        res = run_cli(
            *install_args, "--set", f"{name}={value}", bundle=loose_bundle, state_dir=state
        )
        refused(res, name)
        assert containers(state) == {}
        assert not (state / "state.json").exists() and not (state / "secrets.json").exists()


def test_sql_special_user_is_escaped_and_works_then_injection_changes_nothing(
    loose_bundle, state, install_args, ports
):
    res = run_cli(
        *install_args, "--set", f"mysql_user={TRICKY_USER}", bundle=loose_bundle, state_dir=state
    )
    assert res.rc == 0, res.stderr
    password = json.loads((state / "secrets.json").read_text())["secrets"]["mysql_password"]
    conn = pymysql.connect(
        host="127.0.0.1",
        port=ports["mysql_port"],
        user=TRICKY_USER,
        password=password,
        database="face",
        connect_timeout=10,
    )
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT CURRENT_USER()")
            assert cur.fetchone()[0] == f"{TRICKY_USER}@%"
            cur.execute("SHOW GRANTS")
            grants = " ".join(row[0] for row in cur.fetchall())
            assert "GRANT OPTION" not in grants and "ON *.*" not in grants.replace(
                "USAGE ON *.*", ""
            )
    finally:
        conn.close()

    before, running = snapshot(state), containers(state)
    assert set(running) and before
    for name, value in INJECTED:
        res = run_cli(
            *install_args, "--set", f"{name}={value}", bundle=loose_bundle, state_dir=state
        )
        refused(res, name)
    answers = state.parent / "answers.yaml"
    answers.write_text("mysql_database: |\n  face\n")  # a YAML block scalar ends in a newline
    res = run_cli(*install_args, "--answers", str(answers), bundle=loose_bundle, state_dir=state)
    refused(res, "mysql_database")
    assert snapshot(state) == before and containers(state) == running
