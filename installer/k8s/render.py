"""Kubernetes manifests from the bundle's module specs: the same specs, variables and
templates the Docker path uses (installer.deploy.desired renders the files), laid out as objects.

Pure computation: nothing here touches a cluster; `write_manifests` writes the result.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence, Union

from installer.bundle.manifest import Manifest
from installer.bundle.opened import VerifiedBundle, as_verified
from installer.deploy.desired import DesiredInstance, desired_module
from installer.deploy.render import Renderer
from installer.deploy.variables import Resolved
from installer.errors import UsageError
from installer.i18n import _
from installer.k8s import labels as K
from installer.k8s import objects as O
from installer.k8s import pods
from installer.k8s.values import ClusterStore, resolve_for_cluster
from installer.k8s.yamlout import dump
from installer.license.shipped.paths import LICENSE_FILE
from installer.spec.model import ModuleSpec
from installer.spec.order import install_order

# The license is bound to one machine (its NICs, machine-id): the license server runs there
# with host networking, pinned by node name, and its license comes from a Secret.
HOSTPATH_ROOT = "/var/lib/sealbox/k8s"
SERVICE_TYPES = ("NodePort", "ClusterIP")


@dataclass
class K8sOptions:
    namespace: str = "sealbox"
    registry: Optional[str] = None
    overrides: dict[str, Any] = field(default_factory=dict)
    service_type: str = "NodePort"  # for modules others call from outside (HTTP APIs)
    instances: Optional[int] = None  # replicas of the named modules (default: the spec's)
    # The chart renders a marker replica count that Helm values replace: not a count to check
    # against a module's max_instances (that refused any module allowing fewer than the marker).
    check_replicas: bool = True
    gpus: Optional[int] = None  # GPUs per replica of the named modules
    license_node: Optional[str] = None
    license_file: Optional[str] = None
    storage_size: str = "20Gi"
    storage_class: Optional[str] = None
    host_path_root: str = HOSTPATH_ROOT  # license-server state on its node
    node_port: Optional[int] = None  # fixed NodePort of the named HTTP modules
    requests: dict[str, str] = field(default_factory=dict)  # cpu/memory of the named modules
    limits: dict[str, str] = field(default_factory=dict)
    image_digests: dict[str, str] = field(default_factory=dict)  # vendor ref -> registry digest


@dataclass
class ManifestFile:
    name: str
    objects: list[dict[str, Any]]
    secret: bool = False  # holds Secrets: written 0600

    def text(self) -> str:
        return dump(self.objects)


@dataclass
class Rendered:
    namespace: str
    modules: list[str]
    files: list[ManifestFile]
    secret_values: dict[str, Any]  # every secret variable: saved to the secrets file

    @property
    def objects(self) -> list[dict[str, Any]]:
        return [obj for f in self.files for obj in f.objects]

    def workloads(self) -> list[tuple[str, str]]:
        return [
            (o["kind"], o["metadata"]["name"])
            for o in self.objects
            if o["kind"] in ("Deployment", "StatefulSet")
        ]


def _hash(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


class _ModuleRenderer:
    def __init__(
        self,
        bundle: VerifiedBundle,
        manifest: Manifest,
        specs: Mapping[str, ModuleSpec],
        renderer: Renderer,
        resolved: Resolved,
        options: K8sOptions,
        named: Sequence[str],
        explicit: bool,
    ) -> None:
        self.bundle = bundle
        self.manifest = manifest
        self.specs = specs
        self.renderer = renderer
        self.resolved = resolved
        self.options = options
        self.named = set(named)
        self.explicit = explicit  # modules named on the command line (not "all")
        self.common = {
            K.MANAGED: "true",
            K.APP_MANAGED_BY: "sealbox",
            K.APP_PART_OF: manifest.product,
            K.APP_INSTANCE: options.namespace,
            K.BUNDLE_VERSION: manifest.version,
        }

    def labels(self, spec: ModuleSpec) -> dict[str, str]:
        return {
            **self.common,
            K.MODULE: spec.name,
            K.MODULE_VERSION: spec.version,
            K.APP_NAME: spec.name,
            K.APP_VERSION: spec.version,
        }

    def image(self, spec: ModuleSpec) -> str:
        """By digest when `push` (or the registry) told us one: a tag can be moved."""
        reg = self.options.registry
        ref = f"{reg.rstrip('/')}/{spec.image.ref}" if reg else spec.image.ref
        digest = self.options.image_digests.get(spec.image.ref)
        if digest:
            return f"{ref.rsplit(':', 1)[0] if ':' in ref.rsplit('/', 1)[-1] else ref}@{digest}"
        return ref

    def replicas(self, spec: ModuleSpec, single: bool) -> int:
        count = spec.instances
        asked = self.options.instances if spec.name in self.named else None
        if asked is not None and (self.explicit or not single):
            count = asked
        if self.options.check_replicas and not 1 <= count <= spec.max_instances:
            raise UsageError(
                _("--instances {count}: {name} allows 1 to {max_instances}").format(
                    count=count, name=spec.name, max_instances=spec.max_instances
                )
            )
        if single and count != 1:
            raise UsageError(
                _(
                    "--instances {count}: {name} runs as one pod in a cluster (its data or license binds it to one place); drop --instances"
                ).format(count=count, name=spec.name)
            )
        return count

    def gpus(self, spec: ModuleSpec) -> int:
        asked = self.options.gpus if spec.name in self.named else None
        if spec.gpu == "none" and not self.explicit:
            asked = None  # "all modules --gpus N": meant for the modules that use GPUs
        if spec.gpu == "none":
            if asked:
                raise UsageError(
                    _("module {name} does not use GPUs; drop --gpus").format(name=spec.name)
                )
            return 0
        if asked is None:
            return 1 if spec.gpu == "required" else 0
        if asked < 0 or (spec.gpu == "required" and asked == 0):
            raise UsageError(
                _("--gpus {asked}: {name} needs at least 1 GPU per replica").format(
                    asked=asked, name=spec.name
                )
            )
        return asked

    def instance(self, spec: ModuleSpec, gpus: int) -> DesiredInstance:
        # In a pod the device plugin exposes only the pod's GPUs, numbered from 0.
        desired = desired_module(
            spec,
            self.specs,
            values=self.resolved.values,
            manifest=self.manifest,
            renderer=self.renderer,
            store=ClusterStore(),  # type: ignore[arg-type]
            count=1,
            gpus=["0"] if gpus else [],
        )
        return desired.instances[0]

    def license_text(self) -> str:
        if self.options.license_file is None:  # the bundle's: its verified bytes
            data = self.bundle.get(f"license/{LICENSE_FILE}")
            if data is not None:
                return data.decode("utf-8")
        path = self.options.license_file or os.path.join(self.bundle.root, "license", LICENSE_FILE)
        try:
            with open(path, encoding="utf-8") as fh:
                return fh.read()
        except FileNotFoundError:
            raise UsageError(
                _(
                    "{path}: no license file; pass --license FILE (the license.cfg issued for the licensed node)"
                ).format(path=path)
            ) from None

    def module(self, spec: ModuleSpec) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(public objects, secret objects) of one module."""
        ns = self.options.namespace
        labels = self.labels(spec)
        gpus = self.gpus(spec)
        inst = self.instance(spec, gpus)
        pinned = spec.is_license_server
        stateful = bool(spec.data) and not pinned
        public_files: dict[str, str] = {}
        secret_files: dict[str, str] = {}
        mounts: list[dict[str, Any]] = []
        for cfg, rendered in zip(spec.configs, inst.files):
            key = os.path.basename(rendered.path)
            (secret_files if cfg.secret else public_files)[key] = rendered.content.decode()
            volume = "secret" if cfg.secret else "config"
            mounts.append(
                {"name": volume, "mountPath": cfg.mount, "subPath": key, "readOnly": True}
            )
        own_secrets = {
            v.name: str(self.resolved.values[v.name])
            for v in spec.variables
            if v.secret and v.name in self.resolved.values
        }
        # One identity per replica (its pod name): seats and leases are per instance.
        env: list[dict[str, Any]] = [
            {"name": "INSTANCE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
        ]
        for key, raw in sorted(spec.environment.items()):
            value = self.renderer.render_string(
                raw,
                {**self.resolved.values, "module": spec.name},
                f"{spec.source}: environment.{key}",
            )
            secret_files[f"env.{key}"] = (
                value  # env may carry passwords: Secret, like the 0600 env file
            )
            env.append(
                {
                    "name": key,
                    "valueFrom": {
                        "secretKeyRef": {"name": f"{spec.name}-secret", "key": f"env.{key}"}
                    },
                }
            )
        secret_data = {**secret_files, **own_secrets}
        volumes: list[dict[str, Any]] = []
        public: list[dict[str, Any]] = []
        secret_objs: list[dict[str, Any]] = []
        if public_files:
            public.append(O.config_map(f"{spec.name}-config", ns, labels, public_files))
            volumes.append({"name": "config", "configMap": {"name": f"{spec.name}-config"}})
        if secret_data:
            secret_objs.append(O.secret(f"{spec.name}-secret", ns, labels, secret_data))
            if secret_files:
                volumes.append({"name": "secret", "secret": {"secretName": f"{spec.name}-secret"}})
        license_text = ""
        claims: list[dict[str, Any]] = []
        for d in spec.data:
            vol = f"data-{d.name}"
            if pinned and spec.license is not None and d.name == spec.license.license_data:
                license_text = self.license_text()
                secret_objs.append(
                    O.secret(f"{spec.name}-license", ns, labels, {LICENSE_FILE: license_text})
                )
                volumes.append({"name": vol, "secret": {"secretName": f"{spec.name}-license"}})
                mounts.append({"name": vol, "mountPath": d.container, "readOnly": True})
            elif stateful:
                claims.append(
                    O.claim(d.name, labels, self.options.storage_size, self.options.storage_class)
                )
                # A subdirectory: a fresh ext4 volume's root holds lost+found.
                mounts.append({"name": d.name, "mountPath": d.container, "subPath": "data"})
            else:
                root = self.options.host_path_root.rstrip("/")
                path = f"{root}/{ns}/{spec.name}/{d.name}"
                volumes.append(
                    {"name": vol, "hostPath": {"path": path, "type": "DirectoryOrCreate"}}
                )
                mounts.append({"name": vol, "mountPath": d.container})
        for i, m in enumerate(spec.mounts):
            vol = f"host-{i}"
            volumes.append({"name": vol, "hostPath": {"path": m.host}})
            mounts.append({"name": vol, "mountPath": m.container, "readOnly": m.read_only})
        replicas = self.replicas(spec, single=pinned or stateful)
        named = spec.name in self.named
        cont = O.container(
            spec,
            self.image(spec),
            inst.ports,
            list(inst.runspec.command),
            env,
            mounts,
            pods.resources(
                spec,
                gpus,
                self.options.requests if named else None,
                self.options.limits if named else None,
            ),
            pods.container_security(spec, pinned=pinned, stateful=stateful),
        )
        pod: dict[str, Any] = {"containers": [cont], "securityContext": pods.pod_security()}
        if volumes:
            pod["volumes"] = volumes
        strategy: Optional[dict[str, Any]] = None
        if pinned:
            node = self.options.license_node
            if not node:
                raise UsageError(
                    _(
                        "{name} is bound to the licensed machine: pass --license-node NODE (its node name in `kubectl get nodes`)"
                    ).format(name=spec.name)
                )
            pod["hostNetwork"] = True
            pod["dnsPolicy"] = "ClusterFirstWithHostNet"
            pod["nodeSelector"] = {"kubernetes.io/hostname": node}
            strategy = {"type": "Recreate"}  # the new pod needs the host port the old one holds
        else:
            # The old pod serves until its replacement is ready: an update that cannot be
            # scheduled (no free GPU) leaves the service up (apply also refuses it up front).
            strategy = {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            }
        annotations = {K.CONFIG_HASH: _hash(public_files, secret_data, license_text)}
        service_type = "ClusterIP" if (pinned or stateful) else self.options.service_type
        node_port = self.options.node_port if named and service_type == "NodePort" else None
        public.append(O.service(spec, ns, labels, inst.ports, service_type, node_port=node_port))
        if stateful:
            public.append(
                O.service(
                    spec,
                    ns,
                    labels,
                    inst.ports,
                    "ClusterIP",
                    name=O.headless_name(spec.name),
                    headless=True,
                )
            )
        public.append(
            O.workload(
                "StatefulSet" if stateful else "Deployment",
                spec,
                ns,
                labels,
                pod,
                replicas=replicas,
                annotations=annotations,
                claims=claims,
                strategy=strategy,
            )
        )
        return public, secret_objs


def render_bundle(
    bundle_dir: Union[VerifiedBundle, str],
    names: Sequence[str],
    options: K8sOptions,
    stored_secrets: Optional[Mapping[str, Any]] = None,
) -> Rendered:
    """Render the named modules (none = all) and what they depend on."""
    if options.service_type not in SERVICE_TYPES:
        raise UsageError(
            _("--service-type {service_type}: expected {service_types}").format(
                service_type=options.service_type, service_types=" or ".join(SERVICE_TYPES)
            )
        )
    bundle = as_verified(bundle_dir)
    manifest, specs, renderer = bundle.manifest, bundle.specs, Renderer(bundle.templates)
    unknown = [n for n in names if n not in specs]
    if unknown:
        raise UsageError(
            _("unknown module {unknown}; the bundle has: {specs}").format(
                unknown=", ".join(unknown), specs=", ".join(sorted(specs))
            )
        )
    named = list(names) or sorted(specs)
    order = install_order(specs, named)
    resolved = resolve_for_cluster(
        specs, order, renderer, options.namespace, options.overrides, stored_secrets or {}
    )
    mr = _ModuleRenderer(
        bundle, manifest, specs, renderer, resolved, options, named, explicit=bool(names)
    )
    files = [
        ManifestFile(
            "00-namespace.yaml",
            [O.namespace(options.namespace, {**mr.common})],
        )
    ]
    for i, name in enumerate(order, start=1):
        public, secret_objs = mr.module(specs[name])
        files.append(ManifestFile(f"{i:02d}-{name}.yaml", public))
        if secret_objs:
            files.append(ManifestFile(f"{i:02d}-{name}-secret.yaml", secret_objs, secret=True))
    secret_values = {**dict(stored_secrets or {}), **resolved.secret_values()}
    return Rendered(options.namespace, order, files, secret_values)


MANIFEST_PREFIXES = tuple(f"{i:02d}-" for i in range(100))


def write_manifests(rendered: Rendered, out_dir: str) -> list[str]:
    """Write one file per module (Secrets apart, 0600); drop files of an earlier render."""
    os.makedirs(out_dir, exist_ok=True)
    wanted = {f.name for f in rendered.files}
    for old in os.listdir(out_dir):
        if old.endswith(".yaml") and old.startswith(MANIFEST_PREFIXES) and old not in wanted:
            os.remove(os.path.join(out_dir, old))
    written = []
    for f in rendered.files:
        path = os.path.join(out_dir, f.name)
        tmp = f"{path}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if f.secret else 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(f.text())
        os.chmod(tmp, 0o600 if f.secret else 0o644)
        os.replace(tmp, path)
        written.append(path)
    return written
