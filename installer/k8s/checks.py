"""Pre-checks against what the cluster holds: each refuses *before* anything is applied,
with the fix, instead of failing half-way or waiting out a timeout.

- immutable StatefulSet fields (claim size/class, governing Service, selector);
- a usable StorageClass or PersistentVolume for each new data claim;
- free GPUs for a GPU change (otherwise the new pod would stay Pending).
"""

from __future__ import annotations

from typing import Any, Optional

from installer.errors import UsageError
from installer.i18n import _
from installer.k8s import labels as K
from installer.k8s.facts import ClusterFacts
from installer.k8s.pods import GPU_RESOURCE, quantity_value
from installer.k8s.render import Rendered

DEFAULT_CLASS_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)


def _claims(sts: dict[str, Any]) -> dict[str, tuple[str, Optional[str]]]:
    out = {}
    for tpl in sts.get("spec", {}).get("volumeClaimTemplates") or []:
        spec = tpl.get("spec") or {}
        size = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "")
        out[tpl["metadata"]["name"]] = (str(size), spec.get("storageClassName"))
    return out


def check_immutable(rendered: Rendered, facts: ClusterFacts) -> None:
    ns = rendered.namespace
    for obj in rendered.objects:
        if obj["kind"] != "StatefulSet":
            continue
        name = obj["metadata"]["name"]
        live = facts.statefulsets.get(name)
        if live is None:
            continue
        want, have = _claims(obj), _claims(live)
        for claim, (size, klass) in want.items():
            old_size, old_class = have.get(claim, (size, klass))
            if quantity_value(size) != quantity_value(old_size):
                raise UsageError(
                    _(
                        'StatefulSet {name} in {ns}: claim {claim} is {old_size}, asked {size}; a StatefulSet\'s claim templates cannot change: resize the PVC (kubectl -n {ns} patch pvc {claim}-{name}-0 -p \'{{"spec":{{"resources":{{"requests":{{"storage":"{size}"}}}}}}}}\', needs a class with allowVolumeExpansion), or keep --storage-size {old_size}'
                    ).format(name=name, ns=ns, claim=claim, old_size=old_size, size=size)
                )
            if (klass or None) != (old_class or None) and klass is not None:
                raise UsageError(
                    _(
                        "StatefulSet {name} in {ns}: claim {claim} uses storage class {old_class}, asked {klass}; it cannot change in place: `kubectl -n {ns} delete statefulset {name} --cascade=orphan` then apply again (the data stays on the old claim), or keep the old --storage-class"
                    ).format(
                        name=name,
                        ns=ns,
                        claim=claim,
                        old_class=old_class or "(default)",
                        klass=klass,
                    )
                )
        for field in ("serviceName", "selector"):
            old, new = live["spec"].get(field), obj["spec"].get(field)
            if old != new:
                raise UsageError(
                    _(
                        "StatefulSet {name} in {ns}: spec.{field} cannot change ({old} -> {new}): `kubectl -n {ns} delete statefulset {name} --cascade=orphan` (pods and data stay) then apply again"
                    ).format(name=name, ns=ns, field=field, old=old, new=new)
                )


def _default_class(facts: ClusterFacts) -> Optional[str]:
    for sc in facts.storage_classes:
        annotations = sc.get("metadata", {}).get("annotations") or {}
        if any(annotations.get(a) == "true" for a in DEFAULT_CLASS_ANNOTATIONS):
            return str(sc["metadata"]["name"])
    return None


def check_storage(rendered: Rendered, facts: ClusterFacts) -> None:
    """A claim that nothing can bind stays Pending forever: say so now."""
    classes = sorted(sc["metadata"]["name"] for sc in facts.storage_classes)
    free = [
        pv
        for pv in facts.volumes
        if (pv.get("status") or {}).get("phase") == "Available"
        and not (pv.get("spec") or {}).get("claimRef")
    ]
    for obj in rendered.objects:
        if obj["kind"] != "StatefulSet":
            continue
        name = obj["metadata"]["name"]
        replicas = int(obj["spec"].get("replicas", 1))
        for claim, (size, klass) in _claims(obj).items():
            for i in range(replicas):
                if f"{claim}-{name}-{i}" in facts.claims:
                    continue  # bound (or being bound) already: nothing new to provision
                if klass:
                    if klass not in classes:
                        have = ", ".join(classes) or "none"
                        raise UsageError(
                            _(
                                "--storage-class {klass}: no such StorageClass in the cluster (have: {have}); pick one of them or create it"
                            ).format(klass=klass, have=have)
                        )
                    continue
                if _default_class(facts):
                    continue
                fits = [
                    pv
                    for pv in free
                    if not (pv["spec"].get("storageClassName") or "")
                    and quantity_value(pv["spec"].get("capacity", {}).get("storage", "0"))
                    >= quantity_value(size)
                ]
                if not fits:
                    raise UsageError(
                        _(
                            "StatefulSet {name}: claim {claim} ({size}) cannot bind: no default StorageClass and no free PersistentVolume of {size} or more without a class; pass --storage-class (have: {classes}), mark one as default, or create a PersistentVolume"
                        ).format(
                            name=name, claim=claim, size=size, classes=", ".join(classes) or "none"
                        )
                    )
                free.remove(fits[0])


def _gpus(container_list: list[dict[str, Any]]) -> float:
    total = 0.0
    for c in container_list:
        limits = (c.get("resources") or {}).get("limits") or {}
        total += quantity_value(str(limits.get(GPU_RESOURCE, "0")))
    return total


def _owned(pod: dict[str, Any], ns: str, module: str) -> bool:
    meta = pod.get("metadata") or {}
    return meta.get("namespace") == ns and (meta.get("labels") or {}).get(K.MODULE) == module


def check_gpus(rendered: Rendered, facts: ClusterFacts) -> None:
    """A GPU change the cluster cannot place would leave the new pod Pending: refuse it while
    the running pods still serve."""
    ns = rendered.namespace
    allocatable = sum(
        quantity_value(str((n.get("status") or {}).get("allocatable", {}).get(GPU_RESOURCE, "0")))
        for n in facts.nodes
    )
    for obj in rendered.objects:
        if obj["kind"] != "Deployment":
            continue
        name = obj["metadata"]["name"]
        per_pod = _gpus(obj["spec"]["template"]["spec"]["containers"])
        if not per_pod:
            continue
        live = facts.deployments.get(name)
        if live is not None and _gpus(live["spec"]["template"]["spec"]["containers"]) == per_pod:
            if int(live["spec"].get("replicas", 1)) >= int(obj["spec"].get("replicas", 1)):
                continue  # unchanged: the pods already hold their GPUs
        used = sum(  # by every other pod: this workload's own free theirs as they are replaced
            _gpus(p.get("spec", {}).get("containers") or [])
            for p in facts.pods
            if (p.get("status") or {}).get("phase") in ("Running", "Pending")
            and not _owned(p, ns, name)
        )
        need = per_pod * int(obj["spec"].get("replicas", 1))
        if allocatable - used < need:
            raise UsageError(
                _(
                    "Deployment {name} in {ns}: needs {need:g} {gpu_resource} but the cluster has {allocatable:g} free ({allocatable2:g} allocatable on {n_nodes} node(s)); nothing was changed, the running pods keep serving: free GPUs or install the NVIDIA device plugin, or drop --gpus"
                ).format(
                    name=name,
                    ns=ns,
                    need=need,
                    gpu_resource=GPU_RESOURCE,
                    allocatable=max(allocatable - used, 0),
                    allocatable2=allocatable,
                    n_nodes=len(facts.nodes),
                )
            )
