"""Shared helpers for the e2e tests of the second demo product, sealbox-ops (demo/products/ops):
build its bundle once, and read what the order-api stand-in wrote back through the services
themselves (psql in the postgres container, redis-cli in the redis one, etcd's JSON API).
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import pytest

from tests.e2e.conftest import ROOT

OPS_BUNDLE = ROOT / "build" / "ops-bundle"
OPS_DIR = ROOT / "demo" / "products" / "ops"
MODULES = {
    "license-server", "redis", "postgres", "etcd", "node-exporter", "order-api", "prometheus",
    "gateway",
}  # fmt: skip
PORTS = {"license_port": 8887, "redis_port": 6379, "postgres_port": 5432, "etcd_port": 2379,
         "etcd_peer_port": 2380, "node_exporter_port": 9100, "order_api_port": 8400,
         "prometheus_port": 9090, "gateway_port": 8080}  # fmt: skip


@pytest.fixture(scope="session")
def ops_bundle(docker_engine) -> Path:
    """The sealbox-ops bundle, built (or refreshed from the image cache) once per session."""
    started = time.monotonic()
    res = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_demo_bundle.py"), "--product", "ops"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, f"building the ops bundle failed:\n{res.stderr[-3000:]}"
    print(f"ops bundle ready in {time.monotonic() - started:.1f}s", file=sys.stderr)
    return OPS_BUNDLE


def ops_skip_args() -> list[str]:
    """`--skip-check` for the required items this build machine fails (cores, VM...), found by
    scripts/below_requirements.py for the profiles this bundle's modules are checked against."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from below_requirements import failing_items

    items = failing_items(bundle=str(OPS_DIR))
    return [arg for item in items for arg in ("--skip-check", item)]


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 60) -> Any:
    """The first truthy value of probe(); fails naming `what` and the last value seen."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except Exception as exc:  # noqa: BLE001 - keep trying until the deadline
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(1)
    pytest.fail(f"timed out waiting for {what}; last: {last!r}")


def http(method: str, url: str, body: Any = None, timeout: float = 10) -> tuple[int, Any]:
    """(status, JSON or text) without raising on HTTP errors."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw, code = resp.read(), resp.status
    except urllib.error.HTTPError as exc:
        raw, code = exc.read(), exc.code
    try:
        return code, json.loads(raw) if raw else None
    except ValueError:
        return code, raw.decode(errors="replace")


# -- reading back through the services ---------------------------------------------------------
Exec = Callable[[Sequence[str]], str]  # runs argv inside a module's container, returns stdout


def docker_exec(container: str, docker: Sequence[str] = ("docker",)) -> Exec:
    def run(argv: Sequence[str]) -> str:
        out = subprocess.run([*docker, "exec", container, *argv], capture_output=True,
                             text=True, timeout=60)  # fmt: skip
        assert out.returncode == 0, f"docker exec {container} {argv}: {out.stderr}"
        return out.stdout

    return run


def psql(run: Exec, sql: str, database: str = "orders", port: int = 5432) -> str:
    """As the postgres OS user over the server's socket (peer auth), tuples only."""
    return run(["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "psql", "-h",
                "/var/run/postgresql", "-p", str(port), "-d", database, "-tAc", sql]).strip()  # fmt: skip


def redis_get(run: Exec, key: str) -> str:
    """redis-cli with the password from the container's own redis.conf (never on our side)."""
    script = ('REDISCLI_AUTH=$(sed -n "s/^requirepass //p" /etc/sealbox/redis.conf) '
              'redis-cli -p "$(sed -n "s/^port //p" /etc/sealbox/redis.conf)" GET "$0"')  # fmt: skip
    return run(["sh", "-c", script, key]).strip()


def etcd_keys(base: str, prefix: str = "/sealbox/order-api/instances/") -> dict[str, str]:
    """Keys under prefix -> values, from etcd's v3 JSON API at base (http://host:port)."""
    start = prefix.encode()
    end = start[:-1] + bytes([start[-1] + 1])
    code, doc = http("POST", f"{base}/v3/kv/range", {
        "key": base64.b64encode(start).decode(), "range_end": base64.b64encode(end).decode()})  # fmt: skip
    assert code == 200, doc
    return {base64.b64decode(kv["key"]).decode(): base64.b64decode(kv["value"]).decode()
            for kv in doc.get("kvs", [])}  # fmt: skip


def prometheus_up(base: str) -> dict[str, str]:
    """job -> value of `up` from Prometheus' query API at base."""
    code, doc = http("GET", f"{base}/api/v1/query?query=up")
    assert code == 200, doc
    return {r["metric"]["job"]: r["value"][1] for r in doc["data"]["result"]}


def order_round_trip(gateway: str, item: str, qty: int) -> dict[str, Any]:
    """POST an order through the gateway; returns {"id", "count"} (201 expected)."""
    code, body = http("POST", f"{gateway}/api/orders", {"item": item, "qty": qty})
    assert code == 201, body
    return body


def check_backends(gateway: str, run_pg: Exec, run_redis: Exec, etcd: str,
                   prometheus: Optional[str] = None) -> None:  # fmt: skip
    """The stand-in really used its providers: an order sent through the gateway is a row in
    PostgreSQL, a cached copy and a counter in Redis; its instance is registered in etcd; and
    Prometheus scrapes both the node exporter and the order-api."""
    before = int(redis_get(run_redis, "sealbox:orders:count") or 0)
    made = order_round_trip(gateway, "widget", 3)
    oid = made["id"]
    assert (
        psql(run_pg, f"SELECT item || ':' || qty FROM orders WHERE id = {int(oid)}") == "widget:3"
    )
    assert int(redis_get(run_redis, "sealbox:orders:count")) == before + 1 == made["count"]
    cached = json.loads(redis_get(run_redis, f"sealbox:order:{oid}"))
    assert cached["item"] == "widget" and cached["qty"] == 3, cached
    code, got = http("GET", f"{gateway}/api/orders/{oid}")
    assert code == 200 and got["item"] == "widget", got
    regs = etcd_keys(etcd)
    assert regs, "order-api registered no instance in etcd"
    if prometheus is not None:
        up = wait_for("prometheus to scrape node-exporter and order-api",
                      lambda: (lambda u: u if u.get("node-exporter") == "1"
                               and u.get("order-api") == "1" else None)(prometheus_up(prometheus)),
                      timeout=60)  # fmt: skip
        assert up["node-exporter"] == "1" and up["order-api"] == "1", up
