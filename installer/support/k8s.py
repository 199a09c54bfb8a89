"""``logs --k8s`` and ``support-bundle --k8s``: the same views, read from the cluster with
kubectl (installer.k8s.kubectl) instead of a host's Docker engine.

The cluster's Secrets that Sealbox made are read only to learn the values to redact; they are
never written into the bundle (nor is any Secret object: ``get`` names the kinds it takes).
"""

from __future__ import annotations

import base64
import functools
import json
from typing import Optional

from installer.errors import RuntimeFailure
from installer.i18n import _
from installer.k8s import labels as K
from installer.k8s.kubectl import Kubectl
from installer.support.collect import HostBundle
from installer.support.logs import LogLine

KINDS = (
    "deployments,statefulsets,daemonsets,replicasets,pods,services,configmaps,"
    "persistentvolumeclaims,jobs,networkpolicies,ingresses"
)


def parse_prefixed(text: str) -> list[LogLine]:
    """``kubectl logs --prefix --timestamps`` lines: ``[pod/NAME/CONTAINER] TIME text``."""
    out = []
    for raw in text.splitlines():
        if raw.startswith("[") and "] " in raw:
            who, _, rest = raw[1:].partition("] ")
            line = LogLine.parse(who.removeprefix("pod/"), rest)
        else:
            line = LogLine.parse("", raw)
        out.append(line)
    out.sort(key=lambda x: x.time)
    return out


def k8s_logs(
    kubectl: Kubectl,
    namespace: str,
    module: str,
    *,
    tail: Optional[int],
    since: Optional[str],
    instance: Optional[int] = None,
) -> list[LogLine]:
    """The module's pods' lines (every container), merged in time order."""
    selector = f"{K.MODULE}={module}"
    argv = ["logs", "-n", namespace, "-l", selector, "--all-containers", "--prefix",
            "--timestamps", "--max-log-requests", "20"]  # fmt: skip
    if tail is not None:
        argv += ["--tail", str(tail)]
    if since:
        argv += ["--since", since]
    res = kubectl.run(*argv, timeout=120)
    if not res.ok:
        raise RuntimeFailure(
            _("kubectl logs -l {selector} failed: {err}").format(
                selector=selector, err=res.first_error_line()
            )
        )
    lines = parse_prefixed(res.stdout)
    if instance is not None:  # a StatefulSet's pod NAME-I
        lines = [x for x in lines if x.container.split("/")[0].endswith(f"-{instance}")]
    return lines


def collect_cluster(kubectl: Kubectl, namespace: str, tail: int) -> HostBundle:
    """The namespace as one folder: objects (no Secrets), pod descriptions, events, logs."""
    hb = HostBundle(f"k8s-{namespace}")

    def text(name: str, *argv: str) -> None:
        res = kubectl.run(*argv, timeout=120)
        if not res.ok and not res.stdout.strip():
            raise RuntimeFailure(
                _("kubectl {cmd}: {err}").format(cmd=" ".join(argv[:2]), err=res.first_error_line())
            )
        hb.files[name] = res.stdout.encode()

    def secrets() -> None:
        res = kubectl.run("get", "secrets", "-n", namespace, "-l", K.SELECTOR, "-o", "json")
        if not res.ok:
            raise RuntimeFailure(_("kubectl get secrets: {err}").format(err=res.first_error_line()))
        for item in json.loads(res.stdout or "{}").get("items", []):
            name = item.get("metadata", {}).get("name", "secret")
            for key, value in (item.get("data") or {}).items():
                hb.secrets[f"{name}/{key}"] = base64.b64decode(value).decode("utf-8", "replace")

    def one_pod(pod: str) -> None:
        name = pod.removeprefix("pod/")
        text(f"logs/{name}.log", "logs", "-n", namespace, pod, "--all-containers", "--prefix",
             "--timestamps", "--tail", str(tail))  # fmt: skip

    def pod_logs() -> None:
        res = kubectl.run("get", "pods", "-n", namespace, "-o", "name")
        for pod in res.stdout.split():
            hb.part(f"logs/{pod}", functools.partial(one_pod, pod))

    hb.part("secrets", secrets)  # first: the redactor must know them
    hb.part("version", lambda: text("kubectl-version.txt", "version"))
    hb.part("nodes", lambda: text("nodes.txt", "get", "nodes", "-o", "wide"))
    hb.part("objects", lambda: text("objects.yaml", "get", KINDS, "-n", namespace, "-o", "yaml"))
    hb.part("describe", lambda: text("describe-pods.txt", "describe", "pods", "-n", namespace))
    hb.part("events", lambda: text("events.txt", "get", "events", "-n", namespace))
    hb.part("logs", pod_logs)
    hb.json("errors.json", hb.errors)
    return hb
