"""Every rendered object against the shipped Kubernetes schemas; refusals name object + field."""

from __future__ import annotations

import copy

import pytest

from installer.k8s.render import K8sOptions, render_bundle
from installer.k8s.validate import (
    DEFAULT_VERSIONS,
    ValidationFailed,
    schema_errors,
    semantic_errors,
    supported_versions,
    validate_objects,
)

from .conftest import FIXED_SECRETS, make_bundle

OPTS = dict(registry="10.0.0.5:5000", license_node="node-a")


def test_default_versions_are_shipped_by_the_schema_package():
    shipped = supported_versions()
    assert set(DEFAULT_VERSIONS) <= set(shipped)
    assert DEFAULT_VERSIONS[0] == shipped[0] and DEFAULT_VERSIONS[-1] == shipped[-1]


@pytest.mark.parametrize("gpus", [None, 1])
def test_every_rendered_object_is_valid_for_every_shipped_version(bundle, gpus):
    rendered = render_bundle(str(bundle), [], K8sOptions(**OPTS, gpus=gpus), FIXED_SECRETS)
    kinds = sorted({o["kind"] for o in rendered.objects})
    assert kinds == ["ConfigMap", "Deployment", "Namespace", "Secret", "Service", "StatefulSet"]
    for obj in rendered.objects:
        assert schema_errors(obj, supported_versions()) == []
        assert semantic_errors(obj) == []
    validate_objects(rendered.objects)  # raises on any problem


def _deployment(bundle):
    objs = render_bundle(str(bundle), ["face-server"], K8sOptions(**OPTS), FIXED_SECRETS).objects
    return next(
        o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == "face-server"
    )


def test_schema_refuses_wrong_type_naming_object_and_field(bundle):
    dep = copy.deepcopy(_deployment(bundle))
    dep["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8300"
    with pytest.raises(ValidationFailed) as exc:
        validate_objects([dep], ["1.25"])
    msg = str(exc.value)
    assert "Deployment face-server: spec.template.spec.containers[0].ports[0].containerPort" in msg
    assert "'8300' is not of type 'integer'" in msg and "Kubernetes 1.25 schema" in msg


def test_schema_is_strict_about_unknown_fields(bundle):
    dep = copy.deepcopy(_deployment(bundle))
    dep["spec"]["template"]["spec"]["containers"][0]["gpu"] = 1
    errors = schema_errors(dep, ["1.37"])
    assert len(errors) == 1
    assert errors[0].startswith("Deployment face-server: spec.template.spec.containers[0]: ")
    assert "'gpu'" in errors[0]


def test_missing_required_field_is_named():
    svc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": 1}}
    errors = schema_errors(svc, ["1.30"])
    assert errors and errors[0].startswith("ConfigMap x: data.a: 1 is not of type 'string'")


def _spec_refused(tmp_path, edit, expected):
    b = make_bundle(tmp_path / "b", edit)
    rendered = render_bundle(str(b), [], K8sOptions(**OPTS), FIXED_SECRETS)
    with pytest.raises(ValidationFailed) as exc:
        validate_objects(rendered.objects)
    assert expected in str(exc.value)
    return str(exc.value)


def test_spec_with_bad_port_name_is_refused(tmp_path):
    def edit(name, doc):
        if name == "mysql":
            doc["ports"][0]["name"] = "mysql_db"
            doc["health"]["port"] = "mysql_db"

    msg = _spec_refused(
        tmp_path,
        edit,
        "StatefulSet mysql: spec.template.spec.containers[0].ports[0].name: 'mysql_db'",
    )
    assert "Service mysql: spec.ports[0].name: 'mysql_db'" in msg


def test_spec_with_bad_data_name_is_refused(tmp_path):
    def edit(name, doc):
        if name == "mysql":
            doc["data"][0]["name"] = "db_files"

    _spec_refused(
        tmp_path, edit, "StatefulSet mysql: spec.volumeClaimTemplates[0].metadata.name: 'db_files'"
    )


def test_spec_with_too_long_port_name_is_refused(tmp_path):
    def edit(name, doc):
        if name == "mysql":
            doc["ports"][0]["name"] = "mysql-classic-protocol"
            doc["health"]["port"] = "mysql-classic-protocol"

    _spec_refused(
        tmp_path, edit, "StatefulSet mysql: spec.template.spec.containers[0].ports[0].name"
    )


def test_bad_namespace_is_refused(bundle):
    rendered = render_bundle(
        str(bundle), ["mysql"], K8sOptions(**OPTS, namespace="Faces_NS"), FIXED_SECRETS
    )
    with pytest.raises(ValidationFailed, match="Namespace Faces_NS: metadata.name: 'Faces_NS'"):
        validate_objects(rendered.objects)
