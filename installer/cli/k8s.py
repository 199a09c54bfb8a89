"""`sealbox k8s push|render|apply|delete|status`: the bundle's modules on a Kubernetes cluster.

Parsing and printing only; the work is in installer.k8s. Secret values are never printed.
"""

from __future__ import annotations

from typing import List, Optional

import typer

from installer.cli import output
from installer.cli.confirm import YES_OPT as CONFIRM_OPT
from installer.cli.confirm import confirm_purge
from installer.cli.context import CTX
from installer.deploy.variables import parse_set_options
from installer.errors import UsageError
from installer.hosts.local import LocalHost
from installer.i18n import _
from installer.k8s.chart import write_chart
from installer.k8s.flow import RenderResult, apply_bundle, render_to_dir
from installer.k8s.kubectl import Kubectl
from installer.k8s.pods import parse_resource_option
from installer.k8s.push import SKIP, push_bundle
from installer.k8s.registry import RegistryClient
from installer.k8s.render import HOSTPATH_ROOT, K8sOptions
from installer.k8s.validate import DEFAULT_VERSIONS

app = typer.Typer(
    no_args_is_help=True,
    help=_("Cluster mode: push images to the cluster registry, render/validate/apply manifests."),
)

BUNDLE_OPT = typer.Option(None, "--bundle", "-b", help=_("Bundle directory (default: here)."))
JSON_OPT = typer.Option(False, "--json", help=_("Print JSON on stdout (progress stays on stderr)."))
NS_OPT = typer.Option("sealbox", "--namespace", "-n", help=_("Namespace to deploy into."))
KUBECONFIG_OPT = typer.Option(
    None, "--kubeconfig", help=_("kubeconfig (default $KUBECONFIG, ~/.kube/config).")
)


def _bundle(bundle: Optional[str]) -> str:
    if bundle:
        CTX.bundle = bundle
    return CTX.bundle_dir()


@app.command(
    "push", help=_("Load the bundle's images and push them to REGISTRY (skips what is there).")
)
def push(
    registry: str = typer.Option(..., "--registry", help=_("HOST:PORT of the cluster's registry.")),
    insecure: bool = typer.Option(False, "--insecure", help=_("Plain-HTTP registry (no TLS).")),
    ca_cert: Optional[str] = typer.Option(
        None,
        "--ca-cert",
        help=_("CA of the registry (default /etc/docker/certs.d/HOST:PORT/ca.crt)."),
    ),
    trust: List[str] = typer.Option(
        [], "--trust", help=_("Vendor public key to trust; repeatable.")
    ),
    as_json: bool = JSON_OPT,
    bundle: Optional[str] = BUNDLE_OPT,
) -> None:
    bundle_dir = _bundle(bundle)
    client = RegistryClient(registry, insecure=insecure, ca_file=ca_cert)
    printer = output.EventPrinter(quiet=as_json)
    try:
        items = push_bundle(bundle_dir, LocalHost(), client, trust=trust, reporter=printer)
    finally:
        printer.close()
    if as_json:
        output.print_json({"registry": registry, "images": [vars(i) for i in items]})
        return
    output.table(
        _("Images in {registry}").format(registry=registry),
        [_("image"), _("pushed as"), _("action"), _("digest")],
        [
            (i.ref, i.target, "already there" if i.action == SKIP else "pushed", i.digest)
            for i in items
        ],
    )


def _options(
    namespace: str,
    registry: Optional[str],
    sets: List[str],
    service_type: str,
    instances: Optional[int],
    gpus: Optional[int],
    license_node: Optional[str],
    license_file: Optional[str],
    storage_size: str,
    storage_class: Optional[str],
    site: dict,
) -> K8sOptions:
    return K8sOptions(
        namespace=namespace,
        registry=registry,
        overrides=parse_set_options(sets),
        service_type=service_type,
        instances=instances,
        gpus=gpus,
        license_node=license_node,
        license_file=license_file,
        storage_size=storage_size,
        storage_class=storage_class,
        host_path_root=site["host_path_root"],
        node_port=site["node_port"],
        requests=parse_resource_option(site["requests"] or "", "--requests"),
        limits=parse_resource_option(site["limits"] or "", "--limits"),
    )


MODULES_ARG = typer.Argument(None, help=_("Modules (default: all); dependencies come along."))
OUT_OPT = typer.Option(
    ..., "--out", "-o", help=_("Folder for the manifests (one file per module).")
)
REGISTRY_OPT = typer.Option(None, "--registry", help=_("Images as REGISTRY/<repo>:<tag>."))
SET_OPT = typer.Option([], "--set", help=_("NAME=VALUE for a module variable; repeatable."))
SVC_OPT = typer.Option("NodePort", "--service-type", help=_("NodePort or ClusterIP for HTTP APIs."))
INSTANCES_OPT = typer.Option(None, "--instances", help=_("Replicas of the named modules."))
GPUS_OPT = typer.Option(None, "--gpus", help=_("nvidia.com/gpu per replica of the named modules."))
NODE_OPT = typer.Option(
    None, "--license-node", help=_("Node the license was issued for (license-server runs there).")
)
LICENSE_OPT = typer.Option(None, "--license", help=_("license.cfg (default: the bundle's)."))
SIZE_OPT = typer.Option("20Gi", "--storage-size", help=_("Size of each data volume claim."))
CLASS_OPT = typer.Option(None, "--storage-class", help=_("StorageClass of the data volume claims."))
SECRETS_OPT = typer.Option(
    None,
    "--secrets",
    help=_("Secrets file (0600) kept between renders (default DIR/.sealbox/secrets.yaml)."),
)
HOSTPATH_OPT = typer.Option(
    HOSTPATH_ROOT, "--host-path-root", help=_("Where the license server keeps state on its node.")
)
NODEPORT_OPT = typer.Option(
    None, "--node-port", help=_("Fixed NodePort (30000-32767) of the named HTTP module.")
)
REQUESTS_OPT = typer.Option(
    None, "--requests", help=_("cpu=Q,memory=Q requests of the named modules (default: spec).")
)
LIMITS_OPT = typer.Option(
    None, "--limits", help=_("cpu=Q,memory=Q limits of the named modules (default: spec).")
)
VERSIONS_OPT = typer.Option(
    list(DEFAULT_VERSIONS),
    "--kube-version",
    help=_("Kubernetes schema version to validate against; repeatable."),
)


def _site(
    host_path_root: str, node_port: Optional[int], requests: Optional[str], limits: Optional[str]
) -> dict:
    if node_port is not None and not 30000 <= node_port <= 32767:
        raise UsageError(
            _("--node-port {node_port}: expected 30000-32767 (the NodePort range)").format(
                node_port=node_port
            )
        )
    if not host_path_root.startswith("/"):
        raise UsageError(
            _("--host-path-root {host_path_root}: expected an absolute path").format(
                host_path_root=host_path_root
            )
        )
    return {
        "host_path_root": host_path_root,
        "node_port": node_port,
        "requests": requests,
        "limits": limits,
    }


def _print_render(result: RenderResult, as_json: bool) -> None:
    r = result.rendered
    if as_json:
        output.print_json(
            {
                "namespace": r.namespace,
                "modules": r.modules,
                "out": result.out_dir,
                "files": result.files,
                "objects": [f"{o['kind']}/{o['metadata']['name']}" for o in r.objects],
                "validated_against": list(result.versions),
                "secrets_file": result.secrets_file,
            }
        )
        return
    output.table(
        _("Manifests in {out_dir} (namespace {namespace}; valid for Kubernetes {versions})").format(
            out_dir=result.out_dir, namespace=r.namespace, versions=", ".join(result.versions)
        ),
        [_("file"), _("objects")],
        [
            (f.name, ", ".join(f"{o['kind']}/{o['metadata']['name']}" for o in f.objects))
            for f in r.files
        ],
    )
    output.err.print(
        _("secret values kept in {secrets_file} (0600; not printed)").format(
            secrets_file=result.secrets_file
        )
    )


@app.command("render", help=_("Render and validate Kubernetes manifests for modules into DIR."))
def render(
    modules: Optional[List[str]] = MODULES_ARG,
    out: str = OUT_OPT,
    namespace: str = NS_OPT,
    registry: Optional[str] = REGISTRY_OPT,
    sets: List[str] = SET_OPT,
    service_type: str = SVC_OPT,
    instances: Optional[int] = INSTANCES_OPT,
    gpus: Optional[int] = GPUS_OPT,
    license_node: Optional[str] = NODE_OPT,
    license_file: Optional[str] = LICENSE_OPT,
    storage_size: str = SIZE_OPT,
    storage_class: Optional[str] = CLASS_OPT,
    host_path_root: str = HOSTPATH_OPT,
    node_port: Optional[int] = NODEPORT_OPT,
    requests: Optional[str] = REQUESTS_OPT,
    limits: Optional[str] = LIMITS_OPT,
    secrets: Optional[str] = SECRETS_OPT,
    versions: List[str] = VERSIONS_OPT,
    as_json: bool = JSON_OPT,
    bundle: Optional[str] = BUNDLE_OPT,
) -> None:
    opts = _options(
        namespace,
        registry,
        sets,
        service_type,
        instances,
        gpus,
        license_node,
        license_file,
        storage_size,
        storage_class,
        _site(host_path_root, node_port, requests, limits),
    )
    result = render_to_dir(
        _bundle(bundle), modules or [], opts, out, secrets_path=secrets, versions=versions
    )
    _print_render(result, as_json)


@app.command(
    "chart", help=_("Write a Helm chart of the modules into DIR (same render, site knobs).")
)
def chart(
    modules: Optional[List[str]] = MODULES_ARG,
    out: str = OUT_OPT,
    registry: Optional[str] = REGISTRY_OPT,
    sets: List[str] = SET_OPT,
    service_type: str = SVC_OPT,
    instances: Optional[int] = INSTANCES_OPT,
    gpus: Optional[int] = GPUS_OPT,
    license_node: Optional[str] = NODE_OPT,
    license_file: Optional[str] = LICENSE_OPT,
    storage_size: str = SIZE_OPT,
    storage_class: Optional[str] = CLASS_OPT,
    host_path_root: str = HOSTPATH_OPT,
    node_port: Optional[int] = NODEPORT_OPT,
    requests: Optional[str] = REQUESTS_OPT,
    limits: Optional[str] = LIMITS_OPT,
    secrets: Optional[str] = SECRETS_OPT,
    versions: List[str] = VERSIONS_OPT,
    as_json: bool = JSON_OPT,
    bundle: Optional[str] = BUNDLE_OPT,
) -> None:
    opts = _options(
        "sealbox",
        registry,
        sets,
        service_type,
        instances,
        gpus,
        license_node,
        license_file,
        storage_size,
        storage_class,
        _site(host_path_root, node_port, requests, limits),
    )
    files = write_chart(
        _bundle(bundle), modules or [], opts, out, secrets_path=secrets, versions=versions
    )
    if as_json:
        output.print_json({"chart": out, "files": files})
        return
    output.table(_("Helm chart in {out}").format(out=out), [_("file")], [(f,) for f in files])
    output.err.print(
        _("install: helm install NAME {out} -n NAMESPACE --create-namespace").format(out=out)
    )


@app.command("apply", help=_("Render, validate, kubectl apply --server-side, wait for rollouts."))
def apply(
    modules: Optional[List[str]] = MODULES_ARG,
    out: str = OUT_OPT,
    namespace: str = NS_OPT,
    registry: Optional[str] = REGISTRY_OPT,
    sets: List[str] = SET_OPT,
    service_type: str = SVC_OPT,
    instances: Optional[int] = INSTANCES_OPT,
    gpus: Optional[int] = GPUS_OPT,
    license_node: Optional[str] = NODE_OPT,
    license_file: Optional[str] = LICENSE_OPT,
    storage_size: str = SIZE_OPT,
    storage_class: Optional[str] = CLASS_OPT,
    host_path_root: str = HOSTPATH_OPT,
    node_port: Optional[int] = NODEPORT_OPT,
    requests: Optional[str] = REQUESTS_OPT,
    limits: Optional[str] = LIMITS_OPT,
    secrets: Optional[str] = SECRETS_OPT,
    versions: List[str] = VERSIONS_OPT,
    kubeconfig: Optional[str] = KUBECONFIG_OPT,
    insecure: bool = typer.Option(
        False, "--insecure", help=_("Plain-HTTP registry (for the image digest look-up).")
    ),
    ca_cert: Optional[str] = typer.Option(None, "--ca-cert", help=_("CA of the registry.")),
    force_conflicts: bool = typer.Option(
        False, "--force-conflicts", help=_("Take back fields another manager changed.")
    ),
    timeout: int = typer.Option(600, "--timeout", help=_("Seconds to wait for all rollouts.")),
    no_wait: bool = typer.Option(False, "--no-wait", help=_("Do not wait for rollouts.")),
    as_json: bool = JSON_OPT,
    bundle: Optional[str] = BUNDLE_OPT,
) -> None:
    if timeout < 1:
        raise UsageError(_("--timeout {timeout}: expected seconds >= 1").format(timeout=timeout))
    opts = _options(
        namespace,
        registry,
        sets,
        service_type,
        instances,
        gpus,
        license_node,
        license_file,
        storage_size,
        storage_class,
        _site(host_path_root, node_port, requests, limits),
    )
    client = RegistryClient(registry, insecure=insecure, ca_file=ca_cert) if registry else None
    printer = output.EventPrinter(quiet=as_json)
    try:
        kubectl = apply_bundle(
            LocalHost(),
            _bundle(bundle),
            modules or [],
            opts,
            out,
            secrets_path=secrets,
            versions=versions,
            kubeconfig=kubeconfig,
            registry_client=client,
            timeout=timeout,
            wait=not no_wait,
            force_conflicts=force_conflicts,
            reporter=printer,
        )
    finally:
        printer.close()
    _print_status(kubectl, namespace, as_json)


def _print_status(kubectl: Kubectl, namespace: str, as_json: bool) -> None:
    rows = kubectl.status(namespace)
    if as_json:
        output.print_json(
            {"namespace": namespace, "workloads": [{**vars(r), "ok": r.ok} for r in rows]}
        )
        return
    output.table(
        _("Sealbox workloads in namespace {namespace}").format(namespace=namespace),
        [_("module"), _("kind"), _("name"), _("ready"), _("image")],
        [(r.module, r.kind, r.name, f"{r.ready}/{r.desired}", r.image) for r in rows],
    )


@app.command("status", help=_("Workloads Sealbox deployed in the namespace (found by label)."))
def status(
    namespace: str = NS_OPT, kubeconfig: Optional[str] = KUBECONFIG_OPT, as_json: bool = JSON_OPT
) -> None:
    _print_status(Kubectl.find(LocalHost(), kubeconfig), namespace, as_json)


@app.command(
    "delete", help=_("Delete what Sealbox deployed (data volume claims kept unless --purge).")
)
def delete(
    modules: Optional[List[str]] = typer.Argument(None, help=_("Modules (default: all of them).")),
    namespace: str = NS_OPT,
    purge: bool = typer.Option(
        False, "--purge", help=_("Also delete the data volume claims and the namespace.")
    ),
    kubeconfig: Optional[str] = KUBECONFIG_OPT,
    yes: bool = CONFIRM_OPT,
) -> None:
    if purge:
        what = (
            _("the data volume claims in {namespace}")
            if modules
            else _("the data volume claims and the namespace in {namespace}")
        ).format(namespace=namespace)
        confirm_purge(what, "k8s delete", yes)
    kubectl = Kubectl.find(LocalHost(), kubeconfig)
    text = kubectl.delete(namespace, purge=purge, modules=modules or [])
    for line in text.splitlines():
        output.err.print(line, markup=False, highlight=False)
    if not purge:
        output.err.print(_("data volume claims kept; `sealbox k8s delete --purge` removes them"))
