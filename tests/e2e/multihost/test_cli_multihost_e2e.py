"""One command line over SSH, end to end on three sandbox hosts (issue 13, item 6).

On a fresh fleet (nothing installed yet): ``inall --dry-run -i`` prints each host's plan and
changes nothing -- it used to fail on the face-server host with "'mysql_port' is undefined",
because the values a dependent inherits from its providers' state do not exist before the first
install. ``envcheck -i`` checks each host against the profiles of the modules placed on it.
"""

from __future__ import annotations

import json

import pytest

from tests.e2e.multihost.conftest import run_cli

pytestmark = pytest.mark.e2e


def _containers(h) -> list[str]:
    out = h.exec(["docker", "ps", "-aq", "--filter", "label=io.sealbox.module"]).stdout.decode()
    return out.split()


def test_dry_run_on_a_fresh_fleet_prints_each_hosts_plan(
    licensed_bundle, inventory, known_hosts, three_hosts, tmp_path
) -> None:
    for h in three_hosts:
        assert _containers(h) == [], "a fresh fleet: no Sealbox container before the dry run"
    common = ["--known-hosts", known_hosts, "--log-dir", str(tmp_path / "logs")]
    bundle = ["--bundle", str(licensed_bundle)]
    res = run_cli(*bundle, "inall", "--dry-run", "-i", str(inventory), *common)
    assert res.rc == 0, res.stderr[-3000:] + res.stdout[-3000:]
    for name, module in (("lic", "license-server"), ("db", "mysql"), ("gpu1", "face-server")):
        assert f"Plan for {name}" in res.stdout, res.stdout
        block = res.stdout.split(f"Plan for {name}", 1)[1].split("Plan for", 1)[0]
        assert "create" in block and module in block, block
    assert "undefined" not in res.stderr + res.stdout
    assert "dry run: nothing changed" in res.stdout
    for h in three_hosts:
        assert _containers(h) == [], "a dry run created a container"
        assert h.exec(["test", "-e", "/var/lib/sealbox/state.json"], check=False).returncode != 0

    # --json carries the same plan per host, and the stand-in for the generated password never
    # reaches the output
    js = run_cli(*bundle, "inall", "--dry-run", "--json", "-i", str(inventory), *common)
    assert js.rc == 0, js.stderr[-3000:]
    hosts = {h["host"]: h for h in json.loads(js.stdout)["hosts"]}
    kinds = {n: {a["kind"] for a in h["data"]["actions"]} for n, h in hosts.items()}
    assert all("create" in k for k in kinds.values()), kinds
    assert "generatedon" not in js.stdout


def test_envcheck_inventory_checks_each_hosts_modules(inventory, known_hosts, tmp_path) -> None:
    res = run_cli(
        "envcheck",
        "-i",
        str(inventory),
        "--format",
        "json",
        "--known-hosts",
        known_hosts,
        "--log-dir",
        str(tmp_path / "logs"),
    )
    assert res.rc in (0, 3, 4), res.stderr[-3000:]
    hosts = {h["host"]: h for h in json.loads(res.stdout)["hosts"]}
    profiles = {n: h["data"]["profiles"] for n, h in hosts.items()}
    assert profiles == {
        "lic": ["license-server"],
        "db": ["mysql"],
        "gpu1": ["face-server"],
    }, profiles

    # named profiles still go to every host
    named = run_cli(
        "envcheck",
        "default",
        "-i",
        str(inventory),
        "--format",
        "json",
        "--known-hosts",
        known_hosts,
        "--log-dir",
        str(tmp_path / "logs2"),
    )
    hosts = {h["host"]: h for h in json.loads(named.stdout)["hosts"]}
    assert {n: h["data"]["profiles"] for n, h in hosts.items()} == {
        n: ["default"] for n in ("lic", "db", "gpu1")
    }
