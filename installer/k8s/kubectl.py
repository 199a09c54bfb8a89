"""kubectl, through a Host: server-side apply, rollout waits, status and delete by label.

kubectl (not a Python client) because it is what the cluster's admins already have and
trust, it handles every auth plugin of their kubeconfig, and it keeps Sealbox dependency-free.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from installer.errors import HostError, RuntimeFailure
from installer.facts.osinfo import install_hint
from installer.hosts.base import Host, Result
from installer.i18n import _
from installer.k8s import labels as K

FIELD_MANAGER = "sealbox"
KINDS = "deployments,statefulsets,services,configmaps,secrets"


@dataclass
class WorkloadStatus:
    kind: str
    name: str
    module: str
    desired: int
    ready: int
    image: str

    @property
    def ok(self) -> bool:
        return self.ready >= self.desired


def find_kubeconfig(explicit: Optional[str]) -> Optional[str]:
    if explicit:
        return explicit if os.path.exists(explicit) else None
    env = os.environ.get("KUBECONFIG", "")
    for path in [p for p in env.split(os.pathsep) if p] + [os.path.expanduser("~/.kube/config")]:
        if os.path.exists(path):
            return path
    return None


class Kubectl:
    def __init__(
        self, host: Host, kubeconfig: Optional[str] = None, binary: str = "kubectl"
    ) -> None:
        self.host = host
        self.kubeconfig = kubeconfig
        self.binary = binary

    @classmethod
    def find(cls, host: Host, kubeconfig: Optional[str] = None) -> Kubectl:
        """kubectl and a kubeconfig, or an error that says what to do instead."""
        res = host.run(["sh", "-c", "command -v kubectl"], timeout=30)
        if not res.ok:
            raise HostError(
                _(
                    "kubectl not found: install it ({hint}), or "
                    "run `sealbox k8s render -o DIR` and apply DIR from a machine that has it"
                ).format(hint=install_hint(None, "kubectl"))
            )
        config = find_kubeconfig(kubeconfig)
        if config is None:
            raise HostError(
                _(
                    "no kubeconfig (--kubeconfig, $KUBECONFIG or ~/.kube/config): point Sealbox at "
                    "the cluster, or apply the rendered DIR with kubectl elsewhere"
                )
            )
        return cls(host, config)

    def _cmd(self, *args: str) -> list[str]:
        base = [self.binary]
        if self.kubeconfig:
            base += ["--kubeconfig", self.kubeconfig]
        return base + list(args)

    def run(self, *args: str, timeout: float = 120) -> Result:
        return self.host.run(self._cmd(*args), timeout=timeout)

    def _check(self, res: Result, what: str) -> Result:
        if not res.ok:
            raise RuntimeFailure(
                _("kubectl {what} failed: {res}").format(what=what, res=res.first_error_line())
            )
        return res

    def apply(
        self,
        paths: Sequence[str],
        *,
        dry_run: Optional[str] = None,
        force_conflicts: bool = False,
        order: Sequence[tuple[str, str]] = (),
    ) -> str:
        """`order`: (kind, name) of the objects in file order; kubectl does not name the
        object a conflict is on, but it is the first one not reported applied."""
        args = ["apply", "--server-side", f"--field-manager={FIELD_MANAGER}"]
        for path in paths:
            args += ["-f", path]
        if dry_run:
            args.append(f"--dry-run={dry_run}")
        if force_conflicts:
            args.append("--force-conflicts")
        res = self.run(*args, timeout=300)
        if not res.ok:
            conflict = conflict_message(
                res.stdout + "\n" + res.stderr, _first_unapplied(res.stdout, order)
            )
            if conflict:
                raise RuntimeFailure(conflict)
        return self._check(res, "apply").stdout

    def rollout(self, namespace: str, kind: str, name: str, timeout: int) -> None:
        res = self.run(
            "rollout",
            "status",
            "-n",
            namespace,
            f"{kind.lower()}/{name}",
            f"--timeout={timeout}s",
            timeout=timeout + 30,
        )
        if not res.ok:
            raise RuntimeFailure(
                _(
                    "{kind} {name} in {namespace} not ready within {timeout}s ({res}); see kubectl -n {namespace} describe {kind2} {name}"
                ).format(
                    kind=kind,
                    name=name,
                    namespace=namespace,
                    timeout=timeout,
                    res=res.first_error_line(),
                    kind2=kind.lower(),
                )
            )

    def status(self, namespace: str) -> list[WorkloadStatus]:
        res = self._check(
            self.run(
                "get", "deployments,statefulsets", "-n", namespace, "-l", K.SELECTOR, "-o", "json"
            ),
            "get",
        )
        return parse_status(json.loads(res.stdout or "{}"))

    def delete(self, namespace: str, *, purge: bool, modules: Sequence[str] = ()) -> str:
        """Everything labelled ours (or the named modules' objects); PVCs (data) only with
        purge; the namespace only with purge and no module named."""
        kinds = KINDS + (",persistentvolumeclaims" if purge else "")
        selector = K.SELECTOR
        if modules:
            selector += f",{K.MODULE} in ({','.join(sorted(modules))})"
        out = self._check(
            self.run(
                "delete",
                kinds,
                "-n",
                namespace,
                "-l",
                selector,
                "--ignore-not-found",
                "--wait",
                timeout=600,
            ),
            "delete",
        ).stdout
        if purge and not modules and self._namespace_is_ours(namespace):
            out += self._check(
                self.run("delete", "namespace", namespace, "--ignore-not-found", timeout=600),
                "delete namespace",
            ).stdout
        return out

    def _namespace_is_ours(self, namespace: str) -> bool:
        """Only a namespace Sealbox created goes with --purge: apply marks the ones it creates
        (annotation) and never touches one that existed, e.g. an admin's with its quota."""
        res = self.run("get", "namespace", namespace, "-o", "json")
        if not res.ok:
            return False
        meta = json.loads(res.stdout or "{}").get("metadata") or {}
        return (meta.get("annotations") or {}).get(K.CREATED_BY) == "sealbox"


_CONFLICT = re.compile(r'conflicts? with "([^"]+)"(?: using [^:]+)?: (\S+)')
_OBJECT = re.compile(r'Kind=(\w+).*?Name: "([^"]+)"', re.S)


def _first_unapplied(stdout: str, order: Sequence[tuple[str, str]]) -> Optional[str]:
    done = set()
    for line in stdout.splitlines():
        ref = line.split(" ", 1)[0]
        kind, _, name = ref.partition("/")
        done.add((kind.split(".", 1)[0].lower(), name))
    for kind, name in order:
        if (kind.lower(), name) not in done:
            return f"{kind} {name}"
    return None


def conflict_message(text: str, where: Optional[str] = None) -> Optional[str]:
    """kubectl's multi-line conflict report as one line: object, field, other manager, fix."""
    found = _CONFLICT.findall(text)
    if not found:
        return None
    objects = _OBJECT.findall(text)
    if objects:
        where = f"{objects[0][0]} {objects[0][1]}"
    where = f"{where}: " if where else ""
    fields = "; ".join(f"{field} is managed by {manager!r}" for manager, field in found)
    return (
        f"kubectl apply: {where}{fields} (changed outside Sealbox); re-run with "
        f"--force-conflicts to take the field(s) back, or change them through Sealbox's options"
    )


def parse_status(doc: dict[str, Any]) -> list[WorkloadStatus]:
    rows = []
    for item in doc.get("items") or []:
        meta = item.get("metadata") or {}
        spec = item.get("spec") or {}
        status = item.get("status") or {}
        containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or [{}]
        rows.append(
            WorkloadStatus(
                kind=item.get("kind", ""),
                name=meta.get("name", ""),
                module=(meta.get("labels") or {}).get(K.MODULE, ""),
                desired=int(spec.get("replicas", 1)),
                ready=int(status.get("readyReplicas", 0) or 0),
                image=containers[0].get("image", ""),
            )
        )
    return sorted(rows, key=lambda r: (r.module, r.kind, r.name))
