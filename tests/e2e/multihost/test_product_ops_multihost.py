"""The second demo product (sealbox-ops) across two sandbox hosts, wired by the specs alone:
the providers (license-server, redis, postgres, etcd, node-exporter) on host A, the dependents
(order-api, prometheus, gateway) on host B. The inventory names no address variable: B's
`*_host` variables come from the dependents' `wired_to` (installer/spec/address.py), and the
order-api on B really stores in A's PostgreSQL and Redis and registers in A's etcd.

Packets between the sandbox hosts cross the root namespace, whose FORWARD policy Docker sets
to DROP: the fixture adds one ACCEPT rule for 198.18.0.0/15 and removes it afterwards (as the
demo's multihost fixture does).
"""

from __future__ import annotations

import time
from typing import Iterator, Sequence

import pytest
import yaml

from tests.e2e.multihost.conftest import _forward, licensed_copy, run_cli, ssh
from tests.e2e.product_ops import (
    OPS_DIR,
    check_backends,
    ops_bundle,  # noqa: F401 - fixture
)
from tests.e2e.testhosts import SandboxHost, can_run_docker, sandbox_hosts

pytestmark = pytest.mark.e2e
PROVIDERS = ["license-server", "redis", "postgres", "etcd", "node-exporter"]
DEPENDENTS = ["order-api", "prometheus", "gateway"]
NEVER_SKIPPED = {"ports", "docker-installed", "docker-running"}


@pytest.fixture(scope="module")
def two_hosts() -> Iterator[list[SandboxHost]]:
    why = can_run_docker()
    if why:
        pytest.skip(f"sandbox hosts: {why}")
    _forward(True)
    try:
        with sandbox_hosts(2, docker=True) as hosts:
            yield hosts
    finally:
        _forward(False)


@pytest.fixture(scope="module")
def deployed(ops_bundle, two_hosts, tmp_path_factory):  # noqa: F811
    a, b = two_hosts
    tmp = tmp_path_factory.mktemp("ops-mh")
    kh = tmp / "known_hosts"
    kh.write_text("".join(h.known_hosts_line() for h in two_hosts))
    # Both machines: order-api (on b) checks that its license names the machine it runs on.
    bundle = licensed_copy(ops_bundle, [a, b], str(kh), tmp / "bundle", {"order-api": 4})
    inv = tmp / "inventory.yaml"
    inv.write_text(yaml.safe_dump({
        "defaults": {"user": "root", "key": a.client_key, "connect_timeout": 5},
        "hosts": {"providers": {"address": a.address, "modules": PROVIDERS},
                  "services": {"address": b.address, "modules": DEPENDENTS}},
    }, sort_keys=False))  # fmt: skip
    common = ["--known-hosts", str(kh), "--log-dir", str(tmp / "logs")]
    skips = _host_skips(two_hosts, str(kh))
    started = time.monotonic()
    res = run_cli("--bundle", str(bundle), "inall", "--inventory", str(inv), "-y", "--json",
                  *skips, *common)  # fmt: skip
    took = time.monotonic() - started
    try:
        yield res, took
    finally:
        run_cli("--bundle", str(bundle), "rmall", "--purge", "--yes", "--inventory", str(inv),
                *common)  # fmt: skip


def _host_skips(hosts: list[SandboxHost], known_hosts: str) -> list[str]:
    """`--skip-check` for the required items these sandbox hosts fail (cores, VM...), found by
    running envcheck on them over SSH; ports and Docker are never skipped."""
    import envcheck

    catalog = envcheck.default_catalog(str(OPS_DIR))  # the profiles of the product's specs
    items: set[str] = set()
    for h in hosts:
        with ssh(h, known_hosts) as host:
            report = envcheck.run_checks(
                host,
                list(catalog.sources),
                overrides={"disk-install.path": "/var/lib"},
                catalog=catalog,
            )
        items |= {
            f"{i.profile}/{i.id}" for i in report.failed_required() if i.id not in NEVER_SKIPPED
        }
    return [a for item in sorted(items) for a in ("--skip-check", item)]


def _containers(h: SandboxHost) -> set[str]:
    out = h.exec(["docker", "ps", "--format", "{{.Names}}"]).stdout.decode()
    return {line for line in out.split() if line}


def _in(h: SandboxHost, container: str):
    def run(argv: Sequence[str]) -> str:
        return h.exec(["docker", "exec", container, *argv]).stdout.decode()

    return run


def test_ops_two_hosts_wired_by_specs(deployed, two_hosts):
    res, took = deployed
    assert res.rc == 0, res.stderr[-4000:] + res.stdout[-4000:]
    print(f"inall across two hosts: {took:.1f}s")
    a, b = two_hosts
    hosts = {h["host"]: h for h in res.json()["hosts"]}
    assert {n: h["status"] for n, h in hosts.items()} == {
        "providers": "changed",
        "services": "changed",
    }
    assert _containers(a) == {f"sealbox-{m}-0" for m in PROVIDERS}
    assert _containers(b) == {f"sealbox-{m}-0" for m in DEPENDENTS}
    # every address B needs came from the specs' wired_to: A's address, nothing in the inventory
    wired = hosts["services"]["data"]["wired"]
    for var in ("license_server_host", "postgres_host", "redis_host", "etcd_host",
                "node_exporter_host"):  # fmt: skip
        assert wired.get(var, "").startswith(a.address), (var, wired)
    conf = b.exec(
        ["sh", "-c", "cat /var/lib/sealbox/config/sealbox-order-api-0/*order-api.conf*"]
    ).stdout.decode()
    for key in ("POSTGRES_HOST", "REDIS_HOST", "ETCD_HOST", "LICENSE_SERVER_HOST"):
        assert f"{key}={a.address}\n" in conf, key
    # the order-api on B writes to A's services; read back there, through the services
    gateway = f"http://{b.address}:8080"
    check_backends(
        gateway,
        _in(a, "sealbox-postgres-0"),
        _in(a, "sealbox-redis-0"),
        f"http://{a.address}:2379",
        prometheus=f"{gateway}/prometheus",
    )
