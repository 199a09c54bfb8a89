"""Render -> validate -> write (-> apply): the steps the CLI commands share.

Validation comes before anything is written, so a refused spec never leaves half a set of
manifests behind; the secrets file is saved only after the manifests are, so the two agree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, Sequence

from installer.events import Event, Reporter, make
from installer.hosts.base import Host
from installer.k8s import secretsfile
from installer.k8s.kubectl import Kubectl, wait_rollouts
from installer.k8s.render import K8sOptions, Rendered, render_bundle, write_manifests
from installer.k8s.validate import DEFAULT_VERSIONS, validate_objects


@dataclass
class RenderResult:
    rendered: Rendered
    out_dir: str
    files: list[str]
    secrets_file: str
    versions: tuple[str, ...]


def render_to_dir(
    bundle_dir: str,
    names: Sequence[str],
    options: K8sOptions,
    out_dir: str,
    *,
    secrets_path: Optional[str] = None,
    versions: Sequence[str] = DEFAULT_VERSIONS,
) -> RenderResult:
    secrets_path = secrets_path or secretsfile.default_path(out_dir)
    stored = secretsfile.load(secrets_path)
    rendered = render_bundle(bundle_dir, names, options, stored)
    validate_objects(rendered.objects, versions)
    files = write_manifests(rendered, out_dir)
    if rendered.secret_values != stored:
        secretsfile.save(secrets_path, rendered.secret_values)
    return RenderResult(rendered, os.path.abspath(out_dir), files, secrets_path, tuple(versions))


def apply_dir(
    host: Host,
    result: RenderResult,
    *,
    kubeconfig: Optional[str] = None,
    timeout: int = 600,
    wait: bool = True,
    reporter: Optional[Reporter] = None,
) -> Kubectl:
    report = make(reporter)
    kubectl = Kubectl.find(host, kubeconfig)
    ns = result.rendered.namespace
    report(Event("step", "k8s", f"kubectl apply --server-side -f {result.out_dir}"))
    kubectl.apply(result.out_dir)
    if wait:
        for kind, name in result.rendered.workloads():
            report(Event("step", name, f"waiting for {kind.lower()}/{name} (up to {timeout}s)"))
            wait_rollouts(kubectl, ns, [(kind, name)], timeout)
            report(Event("done", name, f"{kind.lower()}/{name} rolled out"))
    return kubectl
