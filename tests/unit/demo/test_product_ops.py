"""The second demo product (demo/products/ops) is pure spec data for the same engine: its eight
specs load, every address its dependents need is derived from their `wired_to` (one answer for
an SSH fleet and a cluster), and the cluster renderer lays all eight out from the same specs."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from installer.fleet.inventory import parse_inventory
from installer.fleet.wiring import plan_fleet
from installer.k8s.render import K8sOptions, render_bundle
from installer.k8s.validate import validate_objects
from installer.spec.address import address_variables
from installer.spec.load import load_modules
from installer.spec.order import install_order
from tests.unit.k8s.conftest import make_bundle

ROOT = Path(__file__).resolve().parents[3]
OPS = ROOT / "demo" / "products" / "ops"
DEPENDS = {
    "license-server": set(),
    "redis": set(),
    "postgres": set(),
    "etcd": set(),
    "node-exporter": set(),
    "order-api": {"license-server", "postgres", "redis", "etcd"},
    "prometheus": {"node-exporter", "order-api"},
    "gateway": {"order-api", "prometheus"},
}
PROVIDERS = ["license-server", "redis", "postgres", "etcd", "node-exporter"]


@pytest.fixture(scope="module")
def specs():
    return load_modules(str(OPS / "modules"))


def test_eight_modules_with_health_data_checks_and_backup(specs):
    assert {n: set(s.depends_on) for n, s in specs.items()} == DEPENDS
    order = install_order(specs, sorted(specs))
    assert order.index("gateway") > order.index("prometheus") > order.index("order-api")
    for name, spec in specs.items():
        assert spec.health.type in ("http", "command"), name  # its own check, not a bare port
        assert spec.check_profile is not None and spec.check_profile.items, name
        assert spec.backup is not None, name
        if spec.data:
            assert spec.backup.method != "none", f"{name} has data but no backup"
    assert [n for n, s in specs.items() if s.licensed] == ["order-api"]
    stateful = {n for n, s in specs.items() if s.data}
    assert stateful == {"license-server", "redis", "postgres", "etcd", "prometheus"}
    # the stand-in is named one in its spec and image
    assert "STAND-IN" in (OPS / "modules" / "order-api.yaml").read_text()
    dockerfile = OPS / "images" / "order-api-standin" / "Dockerfile"
    assert "io.sealbox.stand-in" in dockerfile.read_text()


def test_every_address_variable_comes_from_wired_to(specs):
    assert address_variables(specs) == {
        "license-server": ("license_server_host",),
        "postgres": ("postgres_host",),
        "redis": ("redis_host",),
        "etcd": ("etcd_host",),
        "node-exporter": ("node_exporter_host",),
        "order-api": ("order_api_host",),
        "prometheus": ("prometheus_host",),
    }
    host_vars = {v.name for s in specs.values() for v in s.variables if v.type == "host"}
    wired = {var for vs in address_variables(specs).values() for var in vs}
    assert host_vars - wired == {
        f"{m}_bind" for m in ("redis", "postgres", "etcd", "node_exporter", "prometheus", "gateway")
    } | {"license_bind"}  # listen addresses, not addresses of another module


def test_two_hosts_are_wired_by_the_specs_alone(specs):
    inv = parse_inventory(
        {
            "hosts": {
                "providers": {"address": "198.18.0.2", "modules": PROVIDERS},
                "services": {
                    "address": "198.18.0.6",
                    "modules": ["order-api", "prometheus", "gateway"],
                },
            }
        }
    )
    plan = plan_fleet(inv, specs)
    services = plan.hosts["services"]
    assert services.after == ["providers"]
    for var in ("license_server_host", "postgres_host", "redis_host", "etcd_host"):
        assert services.overrides[var] == "198.18.0.2", var
    assert services.overrides["node_exporter_host"] == "198.18.0.2"
    # on the same host no address is wired: 127.0.0.1 (the default) under host networking
    assert "order_api_host" not in services.overrides
    assert plan.hosts["providers"].overrides == {}


def test_cluster_render_of_all_eight(tmp_path, monkeypatch):
    monkeypatch.setenv("SEALBOX_ALLOW_UNSIGNED", "1")
    bundle = make_bundle(tmp_path / "ops", source=OPS)
    rendered = render_bundle(
        str(bundle), [], K8sOptions(registry="10.0.0.5:5000", license_node="node-a")
    )
    kinds = dict((name, kind) for kind, name in rendered.workloads())
    assert kinds == {
        "license-server": "Deployment",
        "redis": "StatefulSet",
        "postgres": "StatefulSet",
        "etcd": "StatefulSet",
        "prometheus": "StatefulSet",
        "node-exporter": "Deployment",
        "order-api": "Deployment",
        "gateway": "Deployment",
    }
    validate_objects(rendered.objects)  # the schemas and rules `k8s apply` checks first
    objs = {(o["kind"], o["metadata"]["name"]): o for o in rendered.objects}
    conf = base64.b64decode(objs[("Secret", "order-api-secret")]["data"]["order-api.conf"]).decode()
    for line in ("POSTGRES_HOST=postgres", "REDIS_HOST=redis", "ETCD_HOST=etcd",
                 "LICENSE_SERVER_HOST=license-server"):  # fmt: skip
        assert line + "\n" in conf, line
    nginx = objs[("ConfigMap", "gateway-config")]["data"]["nginx.conf"]
    assert "proxy_pass http://order-api:8400/v1/;" in nginx
    assert "proxy_pass http://prometheus:9090/;" in nginx
    prom = objs[("ConfigMap", "prometheus-config")]["data"]["prometheus.yml"]
    assert '"node-exporter:9100"' in prom and '"order-api:8400"' in prom


def test_helm_chart_of_all_eight(tmp_path, monkeypatch):
    """`k8s chart` renders with a marker replica count of 13 (installer/k8s/chart.py) and refuses
    a module whose max_instances is lower: the specs of the scalable modules allow 16."""
    from installer.k8s.chart import write_chart

    monkeypatch.setenv("SEALBOX_ALLOW_UNSIGNED", "1")
    bundle = make_bundle(tmp_path / "ops", source=OPS)
    out = tmp_path / "chart"
    write_chart(str(bundle), [], K8sOptions(license_node="node-a"), str(out))
    text = "".join(p.read_text() for p in (out / "templates").glob("*.yaml"))
    assert "replicas: {{ .Values.instances }}" in text
    for module in DEPENDS:
        assert f"name: {module}\n" in text, module
