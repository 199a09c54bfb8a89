"""Reference parsing, kubectl command lines (recorded host) and status parsing."""

from __future__ import annotations

import json

import pytest

from installer.errors import HostError
from installer.hosts.base import Result
from installer.hosts.recorded import RecordedHost
from installer.k8s.kubectl import Kubectl, parse_status
from installer.k8s.push import target_ref
from installer.k8s.registry import RegistryClient, split_ref


@pytest.mark.parametrize(
    "ref, expected",
    [
        ("sealbox-demo/mariadb:10.11", ("sealbox-demo/mariadb", "10.11")),
        ("vendor.example:5000/a/b:1.0", ("a/b", "1.0")),
        ("localhost/x", ("x", "latest")),
        ("busybox", ("busybox", "latest")),
        ("registry:5000/team/app", ("team/app", "latest")),
    ],
)
def test_split_ref(ref, expected):
    assert split_ref(ref) == expected


def test_target_ref_replaces_any_registry():
    assert target_ref("10.1.1.1:5000", "old.reg:443/v/face:2") == "10.1.1.1:5000/v/face:2"


def test_unreachable_registry_is_a_host_error_naming_it():
    client = RegistryClient("127.0.0.1:9", insecure=True, timeout=2)
    with pytest.raises(HostError, match="registry 127.0.0.1:9 unreachable"):
        client.ping()


def _kubectl(answers):
    host = RecordedHost(answers)
    return host, Kubectl(host, kubeconfig="/k/config")


def test_apply_is_server_side_with_our_field_manager():
    host, k = _kubectl(
        {"kubectl --kubeconfig /k/config apply": "namespace/sealbox serverside-applied"}
    )
    k.apply(["/out"])
    assert host.commands == [
        "kubectl --kubeconfig /k/config apply --server-side --field-manager=sealbox -f /out"
    ]


def test_delete_keeps_pvcs_and_namespace_unless_purge():
    host, k = _kubectl({"kubectl": ""})
    k.delete("faces", purge=False)
    assert len(host.commands) == 1
    assert "persistentvolumeclaims" not in host.commands[0]
    assert "-l io.sealbox.managed=true" in host.commands[0]
    ns = json.dumps({"metadata": {"annotations": {"io.sealbox.created-by": "sealbox"}}})
    host, k = _kubectl({"kubectl --kubeconfig /k/config get namespace": ns, "kubectl": ""})
    k.delete("faces", purge=True)
    assert "persistentvolumeclaims" in host.commands[0]
    assert (
        host.commands[-1]
        == "kubectl --kubeconfig /k/config delete namespace faces --ignore-not-found"
    )


def test_delete_of_named_modules_selects_them_and_keeps_the_namespace():
    host, k = _kubectl({"kubectl": ""})
    k.delete("faces", purge=True, modules=["mysql", "face-server"])
    assert len(host.commands) == 1
    assert "io.sealbox.managed=true,io.sealbox.module in (face-server,mysql)" in host.commands[0]
    assert "persistentvolumeclaims" in host.commands[0]


def test_purge_never_deletes_a_namespace_sealbox_did_not_create():
    # the managed label alone (an apply into an admin's namespace once added it) is not enough
    ns = json.dumps({"metadata": {"labels": {"io.sealbox.managed": "true"}}})
    host, k = _kubectl({"kubectl --kubeconfig /k/config get namespace": ns, "kubectl": ""})
    k.delete("default", purge=True)
    assert not any("delete namespace" in c for c in host.commands)


CONFLICT = """error: Apply failed with 1 conflict: conflict with "kubectl-patch" using apps/v1: .spec.replicas
Please review the fields above--they currently have other managers. Here
are the ways you can resolve this warning:
* If you intend to manage all of these fields, please re-run the apply
  command with the `--force-conflicts` flag.
"""


def test_conflict_names_field_and_manager_in_one_line():
    from installer.k8s.kubectl import conflict_message

    text = (
        'Resource: "apps/v1, Resource=deployments", GroupVersionKind: "apps/v1, Kind=Deployment"\nName: "face-server", Namespace: "faces"\n'
        + CONFLICT
    )
    msg = conflict_message(text)
    assert msg is not None and "\n" not in msg
    assert "Deployment face-server" in msg and ".spec.replicas" in msg
    assert "'kubectl-patch'" in msg and "--force-conflicts" in msg
    assert conflict_message("error: something else") is None


def test_rollout_timeout_names_the_workload():
    host, k = _kubectl({"kubectl": Result("", 1, "", "error: timed out waiting for the condition")})
    with pytest.raises(Exception, match="Deployment face-server in faces not ready within 5s"):
        k.rollout("faces", "Deployment", "face-server", 5)
    assert "--timeout=5s" in host.commands[0]


def test_missing_kubectl_or_kubeconfig_says_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(HostError, match="kubectl not found"):
        Kubectl.find(RecordedHost({}))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(HostError, match="no kubeconfig"):
        Kubectl.find(RecordedHost({"sh -c": "/usr/bin/kubectl"}))


def test_parse_status():
    doc = {
        "items": [
            {
                "kind": "Deployment",
                "metadata": {"name": "face-server", "labels": {"io.sealbox.module": "face-server"}},
                "spec": {"replicas": 2, "template": {"spec": {"containers": [{"image": "r/f:1"}]}}},
                "status": {"readyReplicas": 1},
            },
            {
                "kind": "StatefulSet",
                "metadata": {"name": "mysql", "labels": {"io.sealbox.module": "mysql"}},
                "spec": {"replicas": 1, "template": {"spec": {"containers": [{"image": "r/m:1"}]}}},
                "status": {"readyReplicas": 1},
            },
        ]
    }
    rows = parse_status(doc)
    assert [(r.module, r.ready, r.desired, r.ok) for r in rows] == [
        ("face-server", 1, 2, False),
        ("mysql", 1, 1, True),
    ]
