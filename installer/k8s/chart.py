"""A Helm chart from the same render: field sites deploy with `helm install` (field guide).

The modules are rendered once with marker values for the site knobs; the markers become
Helm template expressions, so the chart's objects are byte-for-byte the render's apart from
the knobs. Knobs (values.yaml): registry, storageClass, storageSize, nodePort, licenseNode,
instances, gpus, resources per module, hostPathRoot; the image list is data for mirroring.
Secrets keep what the release namespace already holds (`lookup`), so `helm upgrade` of a
chart generated elsewhere never replaces the passwords MariaDB was initialised with.
Config values baked into files (ports, passwords, license) are chosen when the chart is made.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from typing import Any, Optional, Sequence, Union

import yaml

import installer.i18n.yamltext  # noqa: F401  (a Text in the YAML is written in English)
from installer.bundle.manifest import Manifest
from installer.bundle.opened import VerifiedBundle, as_verified
from installer.k8s import labels as K
from installer.k8s import secretsfile
from installer.k8s.pods import GPU_RESOURCE
from installer.k8s.render import K8sOptions, Rendered, render_bundle
from installer.k8s.validate import DEFAULT_VERSIONS, validate_objects
from installer.k8s.yamlout import dump

REG, NS, SC, SIZE, NODE, HOSTPATH = (
    "sbx-registry.invalid",
    "sbx-namespace",
    "sbx-storage-class",
    "987654Mi",
    "sbx-license-node",
    "/sbx-hostpath-root",
)
INSTANCES, NODE_PORT, GPUS = 13, 32123, 7


def _marker_options(options: K8sOptions) -> K8sOptions:
    return replace(
        options,
        namespace=NS,
        registry=REG,
        storage_class=SC,
        storage_size=SIZE,
        license_node=NODE,
        host_path_root=HOSTPATH,
        node_port=NODE_PORT if options.service_type == "NodePort" else None,
        instances=INSTANCES,
        check_replicas=False,  # a marker, replaced by .Values.instances
        gpus=GPUS,
        image_digests={},
    )


def _mark_resources(rendered: Rendered) -> None:
    for obj in rendered.objects:
        if obj["kind"] in ("Deployment", "StatefulSet"):
            for c in obj["spec"]["template"]["spec"]["containers"]:
                gpu = "gpu-" if GPU_RESOURCE in c["resources"].get("limits", {}) else ""
                c["resources"] = f"sbx-resources-{gpu}{c['name']}"
        obj["metadata"]["labels"][K.APP_MANAGED_BY] = "Helm"
        obj["metadata"]["labels"][K.APP_INSTANCE] = "sbx-release"


def _helmify(text: str) -> str:
    """Marker values -> template expressions (whole lines where a field is optional)."""
    out = []
    for line in text.splitlines():
        indent = " " * (len(line) - len(line.lstrip()))
        stripped = line.strip()
        if stripped == f"storageClassName: {SC}":
            out += [
                "{{- with .Values.storageClass }}",
                f"{indent}storageClassName: {{{{ . | quote }}}}",
                "{{- end }}",
            ]
        elif stripped == f"nodePort: {NODE_PORT}":
            out += ["{{- with .Values.nodePort }}", f"{indent}nodePort: {{{{ . }}}}", "{{- end }}"]
        elif stripped.startswith("resources: sbx-resources-"):
            module = stripped.split("sbx-resources-", 1)[1]
            gpu = module.startswith("gpu-")
            module = module[4:] if gpu else module
            out += [
                f"{indent}resources:",
                f'{{{{- $res := deepCopy (index .Values.resources "{module}") }}}}',
            ]
            if gpu:
                out.append(
                    "{{- if .Values.gpus }}{{- $_ := set $res.limits "
                    f'"{GPU_RESOURCE}" (toString .Values.gpus) }}}}{{{{- end }}}}'
                )
            out.append(f"{{{{- toYaml $res | nindent {len(indent) + 2} }}}}")
        elif stripped == f"replicas: {INSTANCES}":
            out.append(f"{indent}replicas: {{{{ .Values.instances }}}}")
        else:
            line = line.replace(f"{REG}/", "{{ with .Values.registry }}{{ . }}/{{ end }}")
            line = line.replace(
                f"{HOSTPATH}/{NS}/", "{{ .Values.hostPathRoot }}/{{ .Release.Namespace }}/"
            )
            line = line.replace(SIZE, "{{ .Values.storageSize }}")
            line = line.replace(NODE, "{{ .Values.licenseNode }}")
            line = line.replace("sbx-release", "{{ .Release.Name }}")
            line = re.sub(rf"\b{NS}\b", "{{ .Release.Namespace }}", line)
            out.append(line)
    return "\n".join(out) + "\n"


def _secret_template(obj: dict[str, Any]) -> str:
    """Keep the data of a Secret the namespace already holds; else the rendered data."""
    name = obj["metadata"]["name"]
    head = {k: v for k, v in obj.items() if k != "data"}
    data = yaml.safe_dump({"data": obj["data"]}, default_flow_style=False, sort_keys=True)
    fresh = "\n".join(line for line in data.splitlines()[1:])
    return (
        f'{{{{- $old := lookup "v1" "Secret" .Release.Namespace "{name}" }}}}\n'
        + _helmify(dump([head])).rstrip()
        + "\ndata:\n{{- if $old }}\n{{ toYaml $old.data | indent 2 }}\n{{- else }}\n"
        + fresh
        + "\n{{- end }}\n"
    )


def _values(options: K8sOptions, rendered: Rendered, manifest: Manifest) -> dict[str, Any]:
    resources = {}
    for obj in rendered.objects:
        if obj["kind"] in ("Deployment", "StatefulSet"):
            for c in obj["spec"]["template"]["spec"]["containers"]:
                res = dict(c["resources"])
                res["limits"] = {k: v for k, v in res["limits"].items() if "gpu" not in k}
                resources[c["name"]] = res
    return {
        "registry": options.registry or "",
        "storageClass": options.storage_class or "",
        "storageSize": options.storage_size,
        "nodePort": options.node_port,
        "licenseNode": options.license_node or "",
        "instances": options.instances or 1,
        "gpus": options.gpus or 0,
        "hostPathRoot": options.host_path_root,
        "resources": resources,
        "images": [{"ref": e.ref, "id": e.id, "archive": e.file} for e in manifest.images],
    }


def write_chart(
    bundle_dir: Union[VerifiedBundle, str],
    names: Sequence[str],
    options: K8sOptions,
    out_dir: str,
    *,
    secrets_path: Optional[str] = None,
    versions: Sequence[str] = DEFAULT_VERSIONS,
) -> list[str]:
    secrets_path = secrets_path or secretsfile.default_path(out_dir)
    stored = secretsfile.load(secrets_path)
    bundle = as_verified(bundle_dir)  # verified once; both renders and the values use it
    manifest = bundle.manifest
    real = render_bundle(bundle, names, options, stored)
    validate_objects(real.objects, versions)
    marked = render_bundle(bundle, names, _marker_options(options), real.secret_values)
    values = _values(options, real, manifest)
    # file contents (service.conf's GPU_ID...) as the real render has them, not the markers'
    real_objs = {(o["kind"], o["metadata"]["name"]): o for o in real.objects}
    for obj in marked.objects:
        twin = real_objs.get((obj["kind"], obj["metadata"]["name"]), {})
        if obj["kind"] in ("Secret", "ConfigMap"):
            obj["data"] = twin["data"]
        elif obj["kind"] in ("Deployment", "StatefulSet"):  # the config hash of that data
            obj["spec"]["template"]["metadata"]["annotations"] = twin["spec"]["template"][
                "metadata"
            ]["annotations"]
    _mark_resources(marked)
    tdir = os.path.join(out_dir, "templates")
    os.makedirs(tdir, exist_ok=True)
    written = []
    chart = {
        "apiVersion": "v2",
        "name": manifest.product,
        "description": f"{manifest.product} {manifest.version}: {', '.join(real.modules)}",
        "type": "application",
        "version": manifest.version,
        "appVersion": manifest.version,
    }
    for name, text in (
        ("Chart.yaml", yaml.safe_dump(chart, sort_keys=False)),
        ("values.yaml", yaml.safe_dump(values, sort_keys=False)),
        (".helmignore", f"{secretsfile.SECRETS_DIR}/\n"),  # the secrets file stays out of packages
    ):
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as fh:
            fh.write(text)
        written.append(os.path.join(out_dir, name))
    for f in marked.files:
        if f.name.startswith("00-"):
            continue  # the release namespace: `helm install -n NS --create-namespace`
        if f.secret:
            text = "---\n".join(_secret_template(o) for o in f.objects)
        else:
            text = _helmify(f.text())
        path = os.path.join(tdir, f.name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if f.secret else 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        written.append(path)
    if real.secret_values != stored:
        secretsfile.save(secrets_path, real.secret_values)
    return written
