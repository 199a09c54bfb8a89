"""What a module should look like on a host: rendered files and a RunSpec per instance.

Pure computation from specs, variables, state and bundle: nothing here touches the host, so a
plan can be shown before anything runs.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from installer import constants as labels
from installer.bundle.manifest import ImageEntry, Manifest
from installer.deploy.render import Renderer
from installer.deploy.state import StateStore
from installer.errors import UsageError
from installer.i18n import _
from installer.runtime.runspec import PortBinding, RunSpec, VolumeBinding
from installer.spec.model import ModuleSpec


@dataclass(frozen=True)
class FileToWrite:
    path: str
    content: bytes
    mode: int


@dataclass
class DesiredInstance:
    module: str
    index: int
    runspec: RunSpec
    files: list[FileToWrite] = field(default_factory=list)
    data_dirs: list[str] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def container(self) -> str:
        return self.runspec.name


@dataclass
class DesiredModule:
    spec: ModuleSpec
    image: ImageEntry
    instances: list[DesiredInstance]
    gpus: list[str]
    archive: list[ImageEntry] = field(default_factory=list)  # every image in image.file


def module_variables(specs: Mapping[str, ModuleSpec], spec: ModuleSpec) -> set[str]:
    """A module sees its own variables and those of everything it depends on."""
    names = {v.name for v in spec.variables}
    stack = list(spec.depends_on)
    seen: set[str] = set()
    while stack:
        dep = stack.pop()
        if dep in seen:
            continue
        seen.add(dep)
        names |= {v.name for v in specs[dep].variables}
        stack.extend(specs[dep].depends_on)
    return names


def instance_ports(spec: ModuleSpec, values: Mapping[str, Any], index: int) -> dict[str, int]:
    ports = {}
    for p in spec.ports:
        base = int(values[p.variable]) if p.variable else p.port
        ports[p.name] = base + index if p.per_instance else base
    return ports


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def desired_module(
    spec: ModuleSpec,
    specs: Mapping[str, ModuleSpec],
    *,
    values: Mapping[str, Any],
    manifest: Manifest,
    renderer: Renderer,
    store: StateStore,
    count: int,
    gpus: list[str],
    image_id: Optional[str] = None,
    ulimits: tuple[str, ...] = (),
    arch: Optional[str] = None,
) -> DesiredModule:
    """`arch`: the host's architecture; its entry (signed ID, archive) is the one used."""
    entry = manifest.image_for(spec.image.archive, arch)
    if entry is None:
        where = f" for {arch}" if arch else ""
        raise UsageError(
            _(
                "{source}: image.archive {archive} is not listed in the bundle manifest{where}; rebuild the bundle"
            ).format(source=spec.source, archive=spec.image.archive, where=where)
        )
    visible = {k: values[k] for k in module_variables(specs, spec) if k in values}
    instances = []
    for index in range(count):
        name = labels.container_name(spec.name, index, store.deployment_id)
        gpu = gpus[index] if index < len(gpus) else None
        ports = instance_ports(spec, values, index)
        context: dict[str, Any] = {
            **visible,
            "module": spec.name,
            "instance": index,
            "instance_count": count,
            "gpu": gpu if gpu is not None else "",
            "accelerator": spec.accelerator.kind if gpu is not None else "",
            "ports": ports,
            "network": spec.network,
            "container_name": name,
            "bundle_version": manifest.version,
        }
        cfg_dir = store.config_dir(name)
        files: list[FileToWrite] = []
        volumes: list[VolumeBinding] = []
        for cfg in spec.configs:
            text = renderer.render_file(cfg.template, context)
            fname = os.path.basename(cfg.template)
            if fname.endswith(".j2"):
                fname = fname[:-3]
            path = f"{cfg_dir}/{fname}"
            files.append(FileToWrite(path, text.encode(), 0o600 if cfg.secret else 0o644))
            volumes.append(VolumeBinding(path, cfg.mount, read_only=True))
        env_lines = []
        for key, raw in sorted(spec.environment.items()):
            value = renderer.render_string(raw, context, f"{spec.source}: environment.{key}")
            if "\n" in value:
                raise UsageError(
                    _("{source}: environment.{key}: value must be one line").format(
                        source=spec.source, key=key
                    )
                )
            env_lines.append(f"{key}={value}")
        env_file = None
        if env_lines:
            env_file = f"{cfg_dir}/env"
            files.append(FileToWrite(env_file, ("\n".join(env_lines) + "\n").encode(), 0o600))
        data_dirs = []
        for d in spec.data:
            host_dir = store.data_dir(spec.name, d.name, index if d.per_instance else None)
            data_dirs.append(host_dir)
            volumes.append(VolumeBinding(host_dir, d.container, read_only=False))
        for m in spec.mounts:
            volumes.append(VolumeBinding(m.host, m.container, m.read_only))
        command = tuple(
            renderer.render_string(c, context, f"{spec.source}: command[{i}]")
            for i, c in enumerate(spec.command)
        )
        port_bindings = tuple(
            PortBinding(ports[p.name], p.container_port or ports[p.name], p.protocol)
            for p in spec.ports
        )
        runspec = RunSpec(
            name=name,
            module=spec.name,
            instance=index,
            image_ref=spec.image.ref,
            image_id=image_id or entry.id,
            network=spec.network,
            restart=spec.restart,
            ports=port_bindings,
            volumes=tuple(volumes),
            env_file=env_file,
            command=command,
            gpu=gpu,
            accelerator=spec.accelerator.kind
            if gpu is not None and spec.accelerator.kind != "nvidia"
            else "",
            bundle_version=manifest.version,
            module_version=spec.version,
            deployment=store.deployment_id,
            file_hashes={f.path: _sha(f.content) for f in files},
            ulimits=ulimits,
        )
        instances.append(DesiredInstance(spec.name, index, runspec, files, data_dirs, ports))
    archive = manifest.archives(entry.architecture).get(entry.file, [entry])
    return DesiredModule(spec, entry, instances, gpus, archive)
