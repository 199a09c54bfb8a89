"""The Helm chart's shape without helm (the live tests run real helm on it)."""

from __future__ import annotations

import yaml

from installer.k8s.chart import write_chart
from installer.k8s.render import K8sOptions


def test_chart_has_knobs_as_values_and_no_marker_left(bundle, tmp_path):
    out = tmp_path / "chart"
    opts = K8sOptions(registry="10.0.0.5:5000", license_node="node-a", node_port=30300)
    files = write_chart(str(bundle), [], opts, str(out))
    chart = yaml.safe_load((out / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["version"] == "2026.11.0"
    values = yaml.safe_load((out / "values.yaml").read_text())
    assert values["registry"] == "10.0.0.5:5000" and values["nodePort"] == 30300
    assert values["licenseNode"] == "node-a" and values["storageSize"] == "20Gi"
    assert set(values["resources"]) == {"license-server", "mysql", "face-server"}
    assert [i["ref"] for i in values["images"]]  # the image list, for mirroring
    text = "".join(open(f).read() for f in files)
    assert "sbx-" not in text and "987654Mi" not in text and "32123" not in text
    assert "{{ .Values.instances }}" in (out / "templates" / "03-face-server.yaml").read_text()
    secret = (out / "templates" / "02-mysql-secret.yaml").read_text()
    assert 'lookup "v1" "Secret" .Release.Namespace "mysql-secret"' in secret
    assert not (out / "templates" / "00-namespace.yaml").exists()
    assert (out / ".helmignore").read_text().strip() == ".sealbox/"


def test_chart_of_a_module_allowing_fewer_replicas_than_the_marker(tmp_path):
    """The chart renders a marker replica count (13) that .Values.instances replaces; a module
    allowing fewer replicas (max_instances 4) was refused with '--instances 13: ... allows 1 to
    4' although no one asked for 13 (found by the second product, issue 17)."""
    from tests.unit.k8s.conftest import make_bundle

    def four(name, doc):  # type: ignore[no-untyped-def]
        if name == "face-server":
            doc["max_instances"] = 4

    bundle = make_bundle(tmp_path / "bundle", four)
    out = tmp_path / "chart"
    write_chart(str(bundle), [], K8sOptions(license_node="node-a"), str(out))
    assert "{{ .Values.instances }}" in (out / "templates" / "03-face-server.yaml").read_text()
