"""The second demo product (sealbox-ops, demo/products/ops) on this machine with the same
engine as the three-module demo: `inall --yes` brings all eight modules up healthy, and the
licensed order-api stand-in really uses its providers (an order sent through the nginx gateway
is read back from PostgreSQL, Redis and etcd, and Prometheus scrapes it)."""

from __future__ import annotations

import socket
import subprocess
import time

import pytest

from tests.e2e.conftest import run_cli
from tests.e2e.product_ops import (
    MODULES,
    PORTS,
    check_backends,
    docker_exec,
    ops_bundle,  # noqa: F401 - fixture
    ops_skip_args,
    psql,
)

pytestmark = pytest.mark.e2e


def _busy(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def deployed(ops_bundle, tmp_path_factory):  # noqa: F811
    busy = [f"{name}={port}" for name, port in PORTS.items() if _busy(port)]
    if busy:
        pytest.fail(f"ports in use on this machine: {', '.join(busy)}; stop what holds them")
    state = tmp_path_factory.mktemp("ops-state")
    started = time.monotonic()
    res = run_cli("inall", "--yes", "--json", *ops_skip_args(), bundle=ops_bundle,
                  state_dir=state, timeout=900)  # fmt: skip
    took = time.monotonic() - started
    try:
        yield res, state, took
    finally:
        run_cli("rmall", "--purge", "--yes", bundle=ops_bundle, state_dir=state)


def _container(state, module: str) -> str:
    from installer.constants import container_name
    from installer.deploy.state import StateStore
    from installer.hosts.local import LocalHost

    return container_name(module, 0, StateStore(LocalHost(), str(state)).deployment_id)


def test_ops_inall_all_healthy_and_wired(deployed, ops_bundle):  # noqa: F811
    res, state, took = deployed
    assert res.rc == 0, res.stderr
    print(f"inall of {len(MODULES)} modules: {took:.1f}s")
    assert set(res.json()["changed"]) == MODULES
    li = run_cli("li", "--json", bundle=ops_bundle, state_dir=state)
    assert li.rc == 0, li.stderr
    rows = {r["module"]: r for r in li.json()["instances"]}
    assert set(rows) == MODULES
    assert all(r["state"] == "running" and r["health"] == "healthy" for r in rows.values()), rows
    assert li.json()["license"]["seats"]["order-api"]["in_use"] == 1, li.json()["license"]

    gateway = f"http://127.0.0.1:{PORTS['gateway_port']}"
    check_backends(
        gateway,
        docker_exec(_container(state, "postgres")),
        docker_exec(_container(state, "redis")),
        f"http://127.0.0.1:{PORTS['etcd_port']}",
        prometheus=f"{gateway}/prometheus",
    )


def test_ops_data_kept_across_rm_and_reinstall(deployed, ops_bundle):  # noqa: F811
    """`rm` keeps each module's data dir: a re-installed postgres serves the same orders, and
    its init.sql is not run again (the role's password in the data dir still matches)."""
    res, state, _ = deployed
    assert res.rc == 0, res.stderr
    pg = docker_exec(_container(state, "postgres"))
    count = psql(pg, "SELECT count(*) FROM orders")
    assert int(count) >= 1
    rm = run_cli("rm", "postgres", "--force", "--yes", bundle=ops_bundle, state_dir=state)
    assert rm.rc == 0, rm.stderr
    gone = subprocess.run(["docker", "inspect", _container(state, "postgres")],
                          capture_output=True)  # fmt: skip
    assert gone.returncode != 0, "postgres container still there after rm"
    again = run_cli("in", "postgres", "--yes", *ops_skip_args(), bundle=ops_bundle,
                    state_dir=state, timeout=600)  # fmt: skip
    assert again.rc == 0, again.stderr
    assert psql(docker_exec(_container(state, "postgres")), "SELECT count(*) FROM orders") == count


def test_ops_check_profile_from_the_spec_gates_the_install(ops_bundle, tmp_path):  # noqa: F811
    """A module's own check items come from its spec and stop `in` before anything runs (on
    main, a module that envcheck did not know by name had its items silently dropped)."""
    import yaml

    from tests.e2e.conftest import copy_bundle, resign

    bundle = copy_bundle(ops_bundle, tmp_path / "bundle")
    spec_path = bundle / "modules" / "redis.yaml"
    doc = yaml.safe_load(spec_path.read_text())
    (memory,) = [i for i in doc["check_profile"]["items"] if i["id"] == "memory"]
    memory["min_gb"] = 100000  # no machine has that: the item must fail
    spec_path.write_text(yaml.safe_dump(doc, sort_keys=False))
    resign(bundle)
    state = tmp_path / "state"
    res = run_cli("in", "redis", "--yes", bundle=bundle, state_dir=state)
    assert res.rc == 3, res.stderr
    assert "redis/memory" in res.stderr, res.stderr
    assert "--skip-check redis/memory" in res.stderr, res.stderr
    assert not _deployed_containers(state), "a container was created although the check failed"


def _deployed_containers(state) -> list[str]:
    from installer.deploy.state import StateStore
    from installer.hosts.local import LocalHost

    dep = StateStore(LocalHost(), str(state)).deployment_id
    out = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=io.sealbox.deployment={dep}"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return out.split()
