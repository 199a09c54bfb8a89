"""The renderer pins the module whose spec declares `license: {role: server}`, by that
declaration alone: the license Secret goes into the data dir the role names."""

from __future__ import annotations

from installer.k8s.render import K8sOptions, render_bundle

from .conftest import FIXED_SECRETS, make_bundle


def opts() -> K8sOptions:
    return K8sOptions(registry="10.0.0.5:5000", license_node="node-a", namespace="faces")


def lic_pod(objs, kind="Deployment"):  # type: ignore[no-untyped-def]
    dep = next(o for o in objs if o["kind"] == kind and o["metadata"]["name"] == "license-server")
    return dep["spec"]["template"]["spec"]


def test_the_declared_license_data_dir_gets_the_license_secret(tmp_path) -> None:
    def edit(name, doc):  # type: ignore[no-untyped-def]
        if name == "license-server":  # the license lives in a data dir named `keys` now
            doc["data"][0]["name"] = "keys"
            doc["license"]["license_data"] = "keys"
            doc["backup"]["data"] = ["keys", "state"]

    objs = render_bundle(str(make_bundle(tmp_path / "b", edit)), [], opts(), FIXED_SECRETS).objects
    pod = lic_pod(objs)
    assert pod["nodeSelector"] == {"kubernetes.io/hostname": "node-a"}
    assert {"name": "data-keys", "secret": {"secretName": "license-server-license"}} in pod[
        "volumes"
    ]


def test_without_the_role_the_module_is_an_ordinary_workload(tmp_path) -> None:
    def edit(name, doc):  # type: ignore[no-untyped-def]
        if name == "license-server":
            del doc["license"]

    objs = render_bundle(str(make_bundle(tmp_path / "b", edit)), [], opts(), FIXED_SECRETS).objects
    pod = lic_pod(objs, "StatefulSet")  # data on volumes, like any stateful module
    assert "nodeSelector" not in pod
    assert not any(o["metadata"]["name"] == "license-server-license" for o in objs)
