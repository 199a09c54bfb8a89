"""Render -> validate -> check against the cluster -> write (-> apply -> wait).

Validation and the cluster pre-checks come before anything is written or applied, so a
refused change never leaves half a set of manifests or half-applied objects behind; the
secrets file is saved only after the manifests are, so the two agree.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Callable, Optional, Sequence, Union

from installer.bundle.manifest import Manifest
from installer.bundle.opened import VerifiedBundle, as_verified
from installer.errors import UsageError
from installer.events import Event, Reporter, make
from installer.hosts.base import Host
from installer.i18n import _
from installer.k8s import checks, secretsfile
from installer.k8s.facts import ClusterFacts, read_facts
from installer.k8s.kubectl import Kubectl
from installer.k8s.registry import AuthRequired, RegistryClient, split_ref
from installer.k8s.render import K8sOptions, Rendered, render_bundle, write_manifests
from installer.k8s.rollout import wait_all
from installer.k8s.validate import DEFAULT_VERSIONS, validate_objects

NAMESPACE_FILE = "00-namespace.yaml"
_VARIABLE = re.compile(r"^[a-z][a-z0-9_]{0,60}$")


@dataclass
class RenderResult:
    rendered: Rendered
    out_dir: str
    files: list[str]
    secrets_file: str
    versions: tuple[str, ...]


def render_to_dir(
    bundle_dir: Union[VerifiedBundle, str],
    names: Sequence[str],
    options: K8sOptions,
    out_dir: str,
    *,
    secrets_path: Optional[str] = None,
    versions: Sequence[str] = DEFAULT_VERSIONS,
    cluster_secrets: Optional[dict[str, str]] = None,
    precheck: Optional[Callable[[Rendered], None]] = None,
) -> RenderResult:
    """`cluster_secrets` (what the cluster's Secrets hold) win over the secrets file: the
    database was initialised with them, whichever output directory this render uses."""
    secrets_path = secrets_path or secretsfile.default_path(out_dir)
    stored = secretsfile.load(secrets_path)
    rendered = render_bundle(bundle_dir, names, options, {**stored, **(cluster_secrets or {})})
    validate_objects(rendered.objects, versions)
    if precheck is not None:
        precheck(rendered)
    files = write_manifests(rendered, out_dir)
    if rendered.secret_values != stored:
        secretsfile.save(secrets_path, rendered.secret_values)
    return RenderResult(rendered, os.path.abspath(out_dir), files, secrets_path, tuple(versions))


def secrets_from_cluster(facts: ClusterFacts) -> dict[str, str]:
    """Secret variables as the cluster holds them (keys of Sealbox's `<module>-secret`s that
    are variable names; rendered files and env entries are keys with a dot)."""
    out: dict[str, str] = {}
    for name, data in sorted(facts.secrets.items()):
        if name.endswith("-secret"):
            out.update({k: v for k, v in data.items() if _VARIABLE.match(k)})
    return out


def image_digests(manifest: Manifest, client: RegistryClient) -> dict[str, str]:
    """Vendor ref -> manifest digest in the cluster registry, for images by digest. An image
    the registry lacks (or holds a different one under the tag) is refused now, not left to
    ImagePullBackOff."""
    client.ping()
    out: dict[str, str] = {}
    for entry in manifest.first_per_ref():  # the architecture k8s push pushed
        repo, tag = split_ref(entry.ref)
        try:
            remote = client.manifest(repo, tag)
        except AuthRequired:
            return {}  # cannot look without credentials: images by tag
        if remote is None or remote.config_digest not in (None, entry.id):
            state = "is not" if remote is None else "holds a different image"
            raise UsageError(
                _(
                    "{registry}/{repo}:{tag} {state} in the registry: run `sealbox k8s push --registry {registry}` first"
                ).format(registry=client.registry, repo=repo, tag=tag, state=state)
            )
        out[entry.ref] = remote.digest
    return out


def apply_bundle(
    host: Host,
    bundle_dir: Union[VerifiedBundle, str],
    names: Sequence[str],
    options: K8sOptions,
    out_dir: str,
    *,
    secrets_path: Optional[str] = None,
    versions: Sequence[str] = DEFAULT_VERSIONS,
    kubeconfig: Optional[str] = None,
    registry_client: Optional[RegistryClient] = None,
    timeout: int = 600,
    wait: bool = True,
    force_conflicts: bool = False,
    reporter: Optional[Reporter] = None,
) -> Kubectl:
    report = make(reporter)
    bundle = as_verified(bundle_dir)  # verified once; render and digests use these bytes
    kubectl = Kubectl.find(host, kubeconfig)
    ns = options.namespace
    with ThreadPoolExecutor(max_workers=1) as pool:  # registry and cluster read at once
        digests = (
            pool.submit(image_digests, bundle.manifest, registry_client)
            if registry_client is not None
            else None
        )
        facts = read_facts(kubectl, ns)
        if digests is not None:
            options = replace(options, image_digests=digests.result())

    def precheck(rendered: Rendered) -> None:
        checks.check_immutable(rendered, facts)
        checks.check_storage(rendered, facts)
        checks.check_gpus(rendered, facts)

    result = render_to_dir(
        bundle,
        names,
        options,
        out_dir,
        secrets_path=secrets_path,
        versions=versions,
        cluster_secrets=secrets_from_cluster(facts),
        precheck=precheck,
    )
    paths = result.files
    if facts.namespace is not None and not facts.namespace_ours:
        # An admin's namespace (with its quota, config...): used, never marked as ours.
        paths = [p for p in paths if os.path.basename(p) != NAMESPACE_FILE]
        report(
            Event(
                "step",
                "k8s",
                _("namespace {ns} exists (not created by Sealbox): kept as is").format(ns=ns),
            )
        )
    report(
        Event(
            "step",
            "k8s",
            _("kubectl apply --server-side ({n_paths} files)").format(n_paths=len(paths)),
        )
    )
    keep = {os.path.basename(p) for p in paths}
    order = [
        (o["kind"], o["metadata"]["name"])
        for f in result.rendered.files
        if f.name in keep
        for o in f.objects
    ]
    kubectl.apply(paths, force_conflicts=force_conflicts, order=order)
    if wait:
        workloads = result.rendered.workloads()
        report(
            Event(
                "step",
                "k8s",
                _("waiting for {n_workloads} workloads (up to {timeout}s)").format(
                    n_workloads=len(workloads), timeout=timeout
                ),
            )
        )
        wait_all(
            kubectl,
            ns,
            workloads,
            timeout,
            on_ready=lambda kind, name: report(
                Event(
                    "done", name, _("{kind}/{name} rolled out").format(kind=kind.lower(), name=name)
                )
            ),
        )
    return kubectl
