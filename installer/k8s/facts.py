"""What the cluster already holds, read once before an apply: the namespace, Sealbox's
Secrets and StatefulSets there, nodes, pods, volumes and storage classes.

Every pre-check (installer/k8s/checks.py) decides from these facts, so nothing is applied
before all of them pass.
"""

from __future__ import annotations

import base64
import binascii
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Optional

from installer.k8s import labels as K
from installer.k8s.kubectl import Kubectl


@dataclass
class ClusterFacts:
    namespace: Optional[dict[str, Any]]  # None: it does not exist yet
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> decoded data
    statefulsets: dict[str, dict[str, Any]] = field(default_factory=dict)
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    claims: dict[str, dict[str, Any]] = field(default_factory=dict)  # PVCs in the namespace
    nodes: list[dict[str, Any]] = field(default_factory=list)
    pods: list[dict[str, Any]] = field(default_factory=list)  # all namespaces
    volumes: list[dict[str, Any]] = field(default_factory=list)  # PVs
    storage_classes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def namespace_ours(self) -> bool:
        annotations = (self.namespace or {}).get("metadata", {}).get("annotations") or {}
        return annotations.get(K.CREATED_BY) == "sealbox"


def _items(kubectl: Kubectl, *args: str) -> list[dict[str, Any]]:
    res = kubectl.run("get", *args, "-o", "json")
    if not res.ok:
        return []
    return list(json.loads(res.stdout or "{}").get("items") or [])


def _decode(data: dict[str, str]) -> dict[str, str]:
    out = {}
    for key, value in (data or {}).items():
        try:
            out[key] = base64.b64decode(value).decode()
        except (binascii.Error, UnicodeDecodeError):
            continue
    return out


def read_facts(kubectl: Kubectl, namespace: str) -> ClusterFacts:
    """Three independent reads, run at once (each is a kubectl start-up, ~0.2 s)."""
    with ThreadPoolExecutor(max_workers=3) as pool:
        ns_job = pool.submit(kubectl.run, "get", "namespace", namespace, "-o", "json")
        own_job = pool.submit(
            _items,
            kubectl,
            "secrets,statefulsets,deployments,persistentvolumeclaims",
            "-n",
            namespace,
            "-l",
            K.SELECTOR,
        )
        cluster_job = pool.submit(
            _items, kubectl, "nodes,persistentvolumes,storageclasses,pods", "-A"
        )
        ns_res, own, cluster = ns_job.result(), own_job.result(), cluster_job.result()
    facts = ClusterFacts(json.loads(ns_res.stdout) if ns_res.ok and ns_res.stdout else None)
    if facts.namespace is not None:
        for item in own:
            name = item["metadata"]["name"]
            kind = item.get("kind")
            if kind == "Secret":
                facts.secrets[name] = _decode(item.get("data") or {})
            elif kind == "StatefulSet":
                facts.statefulsets[name] = item
            elif kind == "Deployment":
                facts.deployments[name] = item
            elif kind == "PersistentVolumeClaim":
                facts.claims[name] = item
    for item in cluster:
        kind = item.get("kind")
        if kind == "Node":
            facts.nodes.append(item)
        elif kind == "PersistentVolume":
            facts.volumes.append(item)
        elif kind == "StorageClass":
            facts.storage_classes.append(item)
        elif kind == "Pod":
            facts.pods.append(item)
    return facts
