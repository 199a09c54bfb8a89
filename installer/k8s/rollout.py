"""Wait for every workload at once (one deadline), and when one fails say why: the pods'
last Warning events and last log line, which is where the cause always was (no node, no PV,
no GPU, quota, a crash-looping process), instead of "timed out waiting for the condition".

Causes the cluster already knows will not resolve by waiting (image cannot be pulled, config
error, crash loop, quota refusal) end the wait at once.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

from installer.errors import RuntimeFailure
from installer.k8s import labels as K
from installer.k8s.kubectl import Kubectl

POLL = 1.0
FATAL_WAITING = {
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
}
CRASH_RESTARTS = 3


@dataclass
class Progress:
    ready: set[tuple[str, str]] = field(default_factory=set)
    fatal: dict[tuple[str, str], str] = field(default_factory=dict)


def rolled_out(obj: dict[str, Any]) -> bool:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    want = int(spec.get("replicas", 1))
    meta = obj.get("metadata") or {}
    if int(status.get("observedGeneration", 0)) < int(meta.get("generation", 0)):
        return False
    ready = int(status.get("readyReplicas", 0) or 0)
    updated = int(status.get("updatedReplicas", 0) or 0)
    if obj.get("kind") == "StatefulSet":
        revision_ok = status.get("currentRevision") == status.get("updateRevision")
        return ready >= want and updated >= want and revision_ok
    return (
        ready >= want
        and updated >= want
        and int(status.get("replicas", 0) or 0) == want
        and not int(status.get("unavailableReplicas", 0) or 0)
    )


def _pod_fatal(pod: dict[str, Any]) -> Optional[str]:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason", "")
        if reason in FATAL_WAITING:
            return f"{reason}: {waiting.get('message', '')}".strip(": ")[:200]
        if reason == "CrashLoopBackOff" and int(cs.get("restartCount", 0)) >= CRASH_RESTARTS:
            return f"CrashLoopBackOff after {cs['restartCount']} restarts"
    return None


def _replicaset_fatal(rs: dict[str, Any]) -> Optional[str]:
    for cond in (rs.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "ReplicaFailure" and cond.get("status") == "True":
            return f"{cond.get('reason', '')}: {cond.get('message', '')}"
    return None


def _current(obj: dict[str, Any], items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pods (and ReplicaSet) of the workload's current template: an old crash-looping pod
    about to be replaced says nothing about the new one."""
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    if int(status.get("observedGeneration", 0)) < int(meta.get("generation", 0)):
        return []
    owned = [
        i
        for i in items
        if any(
            ref.get("uid") == meta.get("uid") for ref in i["metadata"].get("ownerReferences") or []
        )
    ]
    if obj.get("kind") == "StatefulSet":
        revision = status.get("updateRevision")
        return [
            p
            for p in owned
            if p.get("kind") == "Pod"
            and (p["metadata"].get("labels") or {}).get("controller-revision-hash") == revision
        ]
    sets = [i for i in owned if i.get("kind") == "ReplicaSet"]
    if not sets:
        return []
    newest = max(
        sets,
        key=lambda r: int(
            (r["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision", 0)
        ),
    )
    pods = [
        i
        for i in items
        if i.get("kind") == "Pod"
        and any(
            ref.get("uid") == newest["metadata"]["uid"]
            for ref in i["metadata"].get("ownerReferences") or []
        )
    ]
    return [newest, *pods]


def _stuck_pod(sts: dict[str, Any], items: list[dict[str, Any]]) -> Optional[str]:
    """A StatefulSet never replaces a broken pod of an old revision by itself (OrderedReady):
    the rollout cannot start until that pod is deleted."""
    revision = (sts.get("status") or {}).get("updateRevision")
    uid = sts["metadata"].get("uid")
    for pod in items:
        if pod.get("kind") != "Pod":
            continue
        meta = pod["metadata"]
        if meta.get("deletionTimestamp"):
            continue  # going already
        if not any(r.get("uid") == uid for r in meta.get("ownerReferences") or []):
            continue
        if (meta.get("labels") or {}).get("controller-revision-hash") == revision:
            continue
        why = _pod_fatal(pod)
        if why:
            ns, name = meta.get("namespace"), meta["name"]
            return (
                f"pod/{name} of the previous revision: {why}; a StatefulSet does not replace a "
                f"broken pod itself: `kubectl -n {ns} delete pod {name}` to roll it"
            )
    return None


def poll(kubectl: Kubectl, namespace: str, wanted: Sequence[tuple[str, str]]) -> Progress:
    res = kubectl.run(
        "get", "deployments,statefulsets,replicasets,pods", "-n", namespace, "-o", "json"
    )
    progress = Progress()
    if not res.ok:
        return progress
    items = json.loads(res.stdout or "{}").get("items") or []
    by_key = {(i.get("kind"), i["metadata"]["name"]): i for i in items}
    for kind, name in wanted:
        obj = by_key.get((kind, name))
        if obj is None:
            continue
        if rolled_out(obj):
            progress.ready.add((kind, name))
            continue
        if kind == "StatefulSet":
            stuck = _stuck_pod(obj, items)
            if stuck:
                progress.fatal[(kind, name)] = stuck
                continue
        for item in _current(obj, items):
            why = None
            if item.get("kind") == "Pod":
                why = _pod_fatal(item)
            elif item.get("kind") == "ReplicaSet":
                why = _replicaset_fatal(item)
            if why:
                progress.fatal[(kind, name)] = (
                    f"{item['kind'].lower()}/{item['metadata']['name']}: {why}"
                )
                break
    return progress


_TELLING = re.compile(r"error|fail|refused|denied|cannot|can't|unable|fatal|exception", re.I)


def telling_line(lines: Sequence[str]) -> Optional[str]:
    """The last line that names a problem (a request log says nothing), else the last line."""
    lines = [x.strip() for x in lines if x.strip()]
    for line in reversed(lines):
        if _TELLING.search(line):
            return line
    return lines[-1] if lines else None


def diagnose(
    kubectl: Kubectl, namespace: str, kind: str, name: str, module: str, since: str = ""
) -> str:
    """The last Warning events of the workload and its pods, and each pod's last log line."""
    lines: list[str] = []
    pods_res = kubectl.run(
        "get", "pods", "-n", namespace, "-l", f"{K.MODULE}={module}", "-o", "json"
    )
    pods = json.loads(pods_res.stdout or "{}").get("items") or [] if pods_res.ok else []
    names = {name} | {p["metadata"]["name"] for p in pods}
    ev_res = kubectl.run(
        "get", "events", "-n", namespace, "--field-selector", "type=Warning", "-o", "json"
    )
    events = json.loads(ev_res.stdout or "{}").get("items") or [] if ev_res.ok else []
    mine = [
        e
        for e in events
        if (
            (e.get("involvedObject") or {}).get("name", "") in names
            or (e.get("involvedObject") or {}).get("name", "").startswith(f"{name}-")
        )
        and (e.get("lastTimestamp") or e.get("eventTime") or "") >= since
    ]
    mine.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
    for e in mine[-3:]:
        obj = e.get("involvedObject") or {}
        msg = " ".join(str(e.get("message", "")).split())[:200]
        lines.append(f"{obj.get('kind', '').lower()}/{obj.get('name')}: {e.get('reason')}: {msg}")
    for p in pods[:3]:
        pname = p["metadata"]["name"]
        restarted = any(
            int(cs.get("restartCount", 0))
            for cs in (p.get("status") or {}).get("containerStatuses") or []
        )
        log = kubectl.run(
            "logs", "-n", namespace, pname, "--tail=30", *(["--previous"] if restarted else [])
        )
        line = telling_line((log.stdout or "").splitlines()) if log.ok else None
        if line:
            lines.append(f"pod/{pname} last log line: {line[:300]}")
    return "; ".join(lines) or "no Warning events and no logs"


def wait_all(
    kubectl: Kubectl,
    namespace: str,
    workloads: Sequence[tuple[str, str]],
    timeout: float,
    on_ready: Optional[Callable[[str, str], None]] = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    deadline = clock() + timeout
    # events older than this wait (a previous failure) are not the cause of this one
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 2))
    pending = list(workloads)
    while True:
        progress = poll(kubectl, namespace, pending)
        for key in [w for w in pending if w in progress.ready]:
            pending.remove(key)
            if on_ready:
                on_ready(*key)
        if not pending:
            return
        failed = [w for w in pending if w in progress.fatal]
        timed_out = clock() >= deadline
        if failed or timed_out:
            reports = []
            for kind, name in failed or pending:
                why = progress.fatal.get((kind, name))
                detail = diagnose(kubectl, namespace, kind, name, name, since)
                head = f"{kind} {name} in {namespace} " + (
                    f"cannot become ready ({why})" if why else f"not ready within {timeout:g}s"
                )
                reports.append(f"{head}: {detail}")
            raise RuntimeFailure(" | ".join(reports))
        sleep(POLL)
