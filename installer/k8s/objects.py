"""Builders for the Kubernetes objects of one module: plain dicts, one function per kind.

Kept free of bundle and variable handling (see render.py) so each builder reads as the
manifest it produces.
"""

from __future__ import annotations

import base64
import math
from typing import Any, Optional

from installer.k8s import labels as K
from installer.spec.model import HealthCheck, ModuleSpec

GPU_RESOURCE = "nvidia.com/gpu"
STARTUP_PERIOD = 5


def meta(
    name: str,
    namespace: Optional[str],
    labels: dict[str, str],
    annotations: Optional[dict[str, str]] = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "labels": dict(labels)}
    if namespace is not None:
        out["namespace"] = namespace
    if annotations:
        out["annotations"] = dict(annotations)
    return out


def namespace(name: str, labels: dict[str, str]) -> dict[str, Any]:
    """Pod Security labels: the license server needs hostNetwork + hostPath, so the namespace
    can enforce only `privileged`; warn/audit at `restricted` show what else would be refused.
    The created-by annotation is what `delete --purge` checks (never set on a namespace an
    admin made: apply leaves an existing namespace alone)."""
    pss = {
        "pod-security.kubernetes.io/enforce": "privileged",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
    }
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": meta(name, None, {**labels, **pss}, {K.CREATED_BY: "sealbox"}),
    }


def config_map(name: str, ns: str, labels: dict[str, str], data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(name, ns, labels),
        "data": data,
    }


def secret(name: str, ns: str, labels: dict[str, str], data: dict[str, str]) -> dict[str, Any]:
    """`data` (base64), not `stringData`: what the API server stores, so apply shows no drift."""
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta(name, ns, labels),
        "type": "Opaque",
        "data": encoded,
    }


def service(
    spec: ModuleSpec,
    ns: str,
    labels: dict[str, str],
    ports: dict[str, int],
    service_type: str,
    *,
    name: Optional[str] = None,
    headless: bool = False,
    node_port: Optional[int] = None,
) -> dict[str, Any]:
    """`headless`: the StatefulSet's governing Service (stable pod DNS names); clients use
    the ClusterIP one. `node_port`: the fixed port field users expect (one port only)."""
    svc_ports: list[dict[str, Any]] = []
    for p in spec.ports:
        entry: dict[str, Any] = {
            "name": p.name,
            "port": ports[p.name],
            "targetPort": p.name,
            "protocol": p.protocol.upper(),
        }
        if node_port and service_type == "NodePort" and not svc_ports:
            entry["nodePort"] = node_port
        svc_ports.append(entry)
    body: dict[str, Any] = {"selector": {K.MODULE: spec.name}, "ports": svc_ports}
    if headless:
        body["clusterIP"] = "None"
        body["publishNotReadyAddresses"] = True
    else:
        body["type"] = service_type
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(name or spec.name, ns, labels),
        "spec": body,
    }


def probe_action(health: HealthCheck) -> dict[str, Any]:
    if health.type == "http":
        return {"httpGet": {"path": health.path, "port": health.port}}
    if health.type == "tcp":
        return {"tcpSocket": {"port": health.port}}
    return {"exec": {"command": list(health.command)}}


def probes(health: HealthCheck) -> dict[str, Any]:
    """The module's health check as three probes.

    startup: the spec's timeout is how long a first start may take (the face service loads
    models for ~2 minutes), so liveness cannot kill a slow starter; readiness takes the pod
    out of its Service while the check fails; liveness restarts it after a minute of failing.
    """
    action = probe_action(health)
    return {
        "startupProbe": {
            **action,
            "periodSeconds": STARTUP_PERIOD,
            "timeoutSeconds": 3,
            "failureThreshold": max(1, math.ceil(health.timeout / STARTUP_PERIOD)),
        },
        "readinessProbe": {
            **action,
            "periodSeconds": 5,
            "timeoutSeconds": 3,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            **action,
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 6,
        },
    }


def container(
    spec: ModuleSpec,
    image: str,
    ports: dict[str, int],
    args: list[str],
    env: list[dict[str, Any]],
    mounts: list[dict[str, Any]],
    resources: dict[str, Any],
    security: dict[str, Any],
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": spec.name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [
            {"name": p.name, "containerPort": ports[p.name], "protocol": p.protocol.upper()}
            for p in spec.ports
        ],
        **probes(spec.health),
        "resources": resources,
        "securityContext": security,
    }
    if args:
        out["args"] = args  # a Docker CMD override, as `docker run IMAGE ARGS...` does
    if env:
        out["env"] = env
    if mounts:
        out["volumeMounts"] = mounts
    return out


def workload(
    kind: str,
    spec: ModuleSpec,
    ns: str,
    labels: dict[str, str],
    pod_spec: dict[str, Any],
    *,
    replicas: int,
    annotations: dict[str, str],
    claims: list[dict[str, Any]],
    strategy: Optional[dict[str, Any]] = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": {K.MODULE: spec.name}},
        "template": {
            "metadata": {"labels": dict(labels), "annotations": annotations},
            "spec": pod_spec,
        },
    }
    if kind == "StatefulSet":
        body["serviceName"] = headless_name(spec.name)
        if claims:
            body["volumeClaimTemplates"] = claims
    elif strategy:
        body["strategy"] = strategy
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": meta(spec.name, ns, labels),
        "spec": body,
    }


def headless_name(module: str) -> str:
    return f"{module}-headless"


def claim(
    name: str, labels: dict[str, str], size: str, storage_class: Optional[str]
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": size}},
    }
    if storage_class:
        spec["storageClassName"] = storage_class
    return {"metadata": {"name": name, "labels": dict(labels)}, "spec": spec}
