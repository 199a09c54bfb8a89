"""The inventory file: which hosts, how to reach them, their variables and which modules go where.

Example (``inventory.yaml``)::

    defaults:                      # connection settings every host inherits
      user: deploy
      key: ~/.ssh/sealbox_ed25519
      sudo: true
    vars:                          # variables for every host (one global namespace)
      mysql_port: 5535
    hosts:
      lic:
        address: 10.0.0.11
        modules: [license-server]
      db:
        address: 10.0.0.12
        user: root
        password_env: SEALBOX_DB_PASSWORD   # the NAME of an env var, never a password
        modules: [mysql]
      gpu1:
        address: 10.0.0.21
        lan_address: 192.168.5.21  # what the other hosts use to reach it (default: address)
        jump: ops@bastion:2222
        vars: {license_check_interval: 5}
        modules:
          face-server: {instances: 2, gpus: [0, 1]}
      kylin1:
        address: 10.0.0.31
        runtime: podman             # docker | podman | auto (default: auto)
        ulimits: [nofile=65536:65536]   # --ulimit for every container here (default: none)

Passwords never live in the file: ``password_env`` / ``sudo_password_env`` name environment
variables read at connect time, so the file can be kept in version control and sent by mail.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Optional

import yaml

from installer.errors import SpecError, UsageError
from installer.hosts.spec import HostSpec
from installer.i18n import _
from installer.runtime.runspec import parse_ulimit
from installer.spec.schema import Field, SchemaErrors, check_map

LOCAL = "@local"
"""The address of this machine in an inventory or after -H (pyinfra's ``@local``): the same
commands run through a LocalHost instead of SSH."""
LOCAL_NAME = "localhost"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SECRET_KEYS = ("password", "sudo_password", "passphrase")

RUNTIME_FIELDS = {
    "runtime": Field("str", choices=("docker", "podman", "auto")),
    "ulimits": Field("list", items=Field("str")),
}
"""The host's container runtime and the ulimits its containers get: in ``defaults`` or a host."""
CONNECTION_FIELDS = {
    "user": Field("str"),
    "port": Field("int", minimum=1, maximum=65535),
    "key": Field("str"),
    "password_env": Field("str"),
    "sudo_password_env": Field("str"),
    "jump": Field("str"),
    "sudo": Field("bool"),
    "known_hosts": Field("str"),
    "connect_timeout": Field("number", minimum=1, maximum=600),
    **RUNTIME_FIELDS,
}
MODULE_FIELDS = {
    "instances": Field("int", minimum=1, maximum=64),
    "gpus": Field("list", items=Field(("int", "str"))),
}
HOST_FIELDS = {
    "address": Field("str", required=True),
    "lan_address": Field("str"),
    "state_dir": Field("str"),
    "vars": Field("map", values=Field(("str", "int", "bool", "number"))),
    "modules": Field("map", values=Field("map", items=MODULE_FIELDS)),
    **CONNECTION_FIELDS,
}
INVENTORY_SCHEMA = {
    "defaults": Field("map", items=None),
    "vars": Field("map", values=Field(("str", "int", "bool", "number"))),
    "hosts": Field("map", required=True),
}


@dataclass(frozen=True)
class Placement:
    """A module on a host, with its instance count and GPUs when given."""

    module: str
    instances: Optional[int] = None
    gpus: Optional[list[str]] = None


@dataclass
class InventoryHost:
    name: str
    address: str
    lan_address: str
    user: str = "root"
    port: int = 22
    key: Optional[str] = None
    password_env: Optional[str] = None
    sudo_password_env: Optional[str] = None
    jump: Optional[str] = None
    sudo: Optional[bool] = None
    known_hosts: Optional[str] = None
    connect_timeout: float = 10.0
    state_dir: Optional[str] = None
    vars: dict[str, Any] = field(default_factory=dict)
    modules: dict[str, Placement] = field(default_factory=dict)
    runtime: str = "auto"  # docker | podman | auto (installer.facts.snapshot.RUNTIMES)
    ulimits: tuple[str, ...] = ()  # "nofile=1024:1024": --ulimit for each container here

    def host_spec(self, environ: Optional[dict[str, str]] = None) -> HostSpec:
        """Connection settings with passwords read from the named environment variables."""
        env = os.environ if environ is None else environ
        password = env.get(self.password_env) if self.password_env else None
        sudo_password = env.get(self.sudo_password_env) if self.sudo_password_env else None
        if self.password_env and password is None:
            raise UsageError(
                _(
                    "host {name}: password_env {password_env} is not set in the environment; export it before running"
                ).format(name=self.name, password_env=self.password_env)
            )
        return HostSpec(
            host=self.address,
            user=self.user,
            port=self.port,
            key_filename=os.path.expanduser(self.key) if self.key else None,
            password=password,
            sudo_password=sudo_password,
            jump=HostSpec.parse(self.jump) if self.jump else None,
        )


@dataclass
class Inventory:
    source: str
    hosts: dict[str, InventoryHost]
    vars: dict[str, Any] = field(default_factory=dict)

    def placements(self) -> dict[str, list[str]]:
        """module -> names of the hosts that run it, in file order."""
        out: dict[str, list[str]] = {}
        for h in self.hosts.values():
            for m in h.modules:
                out.setdefault(m, []).append(h.name)
        return out


def _normalise_modules(value: Any) -> Any:
    """``[a, b]`` and ``{a: null}`` both mean "these modules, defaults"."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return {v: {} for v in value}
    if isinstance(value, dict):
        return {k: ({} if v is None else v) for k, v in value.items()}
    return value


def _check_secrets(data: Any, path: str, errors: SchemaErrors) -> None:
    """A password written into the file is refused, wherever it is."""
    if isinstance(data, dict):
        for k, v in data.items():
            sub = f"{path}.{k}" if path else str(k)
            if isinstance(k, str) and k.lower() in SECRET_KEYS:
                errors.add(
                    sub,
                    _(
                        "passwords are not kept in the inventory: name an environment variable with {k}_env instead"
                    ).format(k=k.lower().replace("passphrase", "password")),
                )
            else:
                _check_secrets(v, sub, errors)


def parse_inventory(data: Any, source: str = "inventory") -> Inventory:
    """Validate the parsed YAML; every problem is reported with its path, all at once."""
    errors = SchemaErrors(source)
    if not isinstance(data, dict):
        raise SpecError(
            _("{source}: expected a mapping with 'hosts', got {name}").format(
                source=source, name=type(data).__name__
            )
        )
    _check_secrets(data, "", errors)
    clean = {k: v for k, v in data.items()}
    check_map(clean, INVENTORY_SCHEMA, "", errors)
    defaults = data.get("defaults") or {}
    if isinstance(defaults, dict):
        safe = {k: v for k, v in defaults.items() if k.lower() not in SECRET_KEYS}
        check_map(safe, CONNECTION_FIELDS, "defaults", errors)
    hosts_raw = data.get("hosts") or {}
    hosts: dict[str, InventoryHost] = {}
    if isinstance(hosts_raw, dict):
        if not hosts_raw:
            errors.add("hosts", _("names no host"))
        for name, raw in hosts_raw.items():
            path = f"hosts.{name}"
            if not isinstance(name, str) or not NAME_RE.match(name):
                errors.add(path, _("host names are letters, digits, '.', '_' and '-'"))
                continue
            if not isinstance(raw, dict):
                errors.add(
                    path, _("expected a mapping with 'address', got {raw!r}").format(raw=raw)
                )
                continue
            raw = {k: v for k, v in raw.items() if str(k).lower() not in SECRET_KEYS}
            if "modules" in raw:
                raw["modules"] = _normalise_modules(raw["modules"])
            n_before = len(errors.errors)
            check_map(raw, HOST_FIELDS, path, errors)
            merged = {**(defaults if isinstance(defaults, dict) else {}), **raw}
            for env_key in ("password_env", "sudo_password_env"):
                v = merged.get(env_key)
                if isinstance(v, str) and not ENV_RE.match(v):
                    errors.add(
                        f"{path}.{env_key}",
                        _("{v!r} is not an environment variable name").format(v=v),
                    )
            for i, u in enumerate(merged.get("ulimits") or []):
                try:
                    parse_ulimit(str(u))
                except UsageError as exc:
                    errors.add(f"{path}.ulimits[{i}]", str(exc))
            if isinstance(merged.get("jump"), str):
                try:
                    HostSpec.parse(merged["jump"])
                except UsageError as exc:
                    errors.add(f"{path}.jump", str(exc))
            if len(errors.errors) != n_before:
                continue
            hosts[name] = _host(name, merged)
    _check_duplicates(hosts, errors)
    if errors.errors:
        raise SpecError("\n".join(errors.errors))
    return Inventory(source, hosts, dict(data.get("vars") or {}))


def _host(name: str, m: dict[str, Any]) -> InventoryHost:
    modules = {
        mod: Placement(
            mod,
            (opts or {}).get("instances"),
            [str(g) for g in opts["gpus"]] if (opts or {}).get("gpus") is not None else None,
        )
        for mod, opts in (m.get("modules") or {}).items()
    }
    return InventoryHost(
        name=name,
        address=m["address"],
        lan_address=m.get("lan_address") or m["address"],
        user=m.get("user", "root"),
        port=m.get("port", 22),
        key=m.get("key"),
        password_env=m.get("password_env"),
        sudo_password_env=m.get("sudo_password_env"),
        jump=m.get("jump"),
        sudo=m.get("sudo"),
        known_hosts=m.get("known_hosts"),
        connect_timeout=float(m.get("connect_timeout", 10.0)),
        state_dir=m.get("state_dir"),
        vars=dict(m.get("vars") or {}),
        modules=modules,
        runtime=m.get("runtime", "auto"),
        ulimits=tuple(parse_ulimit(str(u)) for u in m.get("ulimits") or []),
    )


def _check_duplicates(hosts: dict[str, InventoryHost], errors: SchemaErrors) -> None:
    seen: dict[tuple[str, int, Optional[str]], str] = {}
    for h in hosts.values():
        key = (h.address, h.port, h.state_dir)
        if key in seen:
            errors.add(
                f"hosts.{h.name}.address",
                _(
                    "{address}:{port} is also host {seen}; one entry per machine (or a different state_dir)"
                ).format(address=h.address, port=h.port, seen=seen[key]),
            )
        else:
            seen[key] = h.name


def load_inventory(path: str) -> Inventory:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise UsageError(
            _("{path}: cannot read the inventory ({strerror})").format(
                path=path, strerror=exc.strerror
            )
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise SpecError(
            _("{path}:{where} not valid YAML: {exc}").format(
                path=path, where=where, exc=getattr(exc, "problem", exc)
            )
        ) from None
    return parse_inventory(data, path)


def local_inventory() -> Inventory:
    """This machine as an inventory of one: what every command acts on without -H/-i."""
    return from_targets([LOCAL])


def from_targets(targets: list[str]) -> Inventory:
    """``-H user@host[:port]`` given on the command line: an inventory without placements."""
    hosts: dict[str, InventoryHost] = {}
    for t in targets:
        if t == LOCAL:
            if LOCAL_NAME in hosts:
                raise UsageError(_("-H {t}: given twice").format(t=t))
            hosts[LOCAL_NAME] = InventoryHost(LOCAL_NAME, LOCAL, "127.0.0.1")
            continue
        spec = HostSpec.parse(t)
        name = str(spec)
        if name in hosts:
            raise UsageError(_("-H {t}: given twice").format(t=t))
        hosts[name] = InventoryHost(
            name=name,
            address=spec.host,
            lan_address=spec.host,
            user=spec.user,
            port=spec.port,
        )
    return Inventory("-H", hosts)
