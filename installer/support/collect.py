"""What the support bundle takes from one host: a folder of files, read through the Host.

Each part is read on its own: a part that fails (no journal, no license server, Docker down)
becomes a line in ``errors.json`` and the rest is still collected -- a support bundle is made
when things are broken. The generated secrets are read too, but only to redact them: they are
handed back apart from the files and never written into the archive.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import shlex
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from installer.bundle.opened import VerifiedBundle
from installer.deploy.state import StateStore
from installer.events import Event, Reporter
from installer.facts.catalog import STATIC_FACTS
from installer.facts.snapshot import HostFacts
from installer.hosts.base import Host
from installer.license.probe import ask_recorded
from installer.runtime.docker import ContainerRuntime

LOG_TAIL = 2000  # container log lines per container
KERNEL_TAIL = 500
RUN_LOG_MAX = 1 << 20  # bytes kept of each of Sealbox's own run logs (the end)
USAGE_DAYS = 90
USAGE_FILE = "license-usage.report"  # signed: redacted byte for byte only (patterns off)
# dmesg when the kernel lets us read it, else the journal's kernel messages (whichever works)
_KERNEL = (
    f'k=$(dmesg -T 2>/dev/null) && [ -n "$k" ] && printf "%s\\n" "$k" | tail -n {KERNEL_TAIL} '
    f"|| journalctl -k -n {KERNEL_TAIL} --no-pager"
)


@dataclass
class HostBundle:
    """One host's folder: relative path -> bytes; ``secrets`` only for the redactor."""

    host: str
    files: dict[str, bytes] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, Any] = field(default_factory=dict)

    def json(self, name: str, doc: Any) -> None:
        self.files[name] = (json.dumps(doc, indent=1, sort_keys=True, default=str) + "\n").encode()

    def part(self, name: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - one part failing must not lose the others
            self.errors[name] = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]


def _run_text(host: Host, argv: list[str], timeout: float = 60) -> bytes:
    res = host.run(argv, timeout=timeout)
    text = res.stdout + (("\n--- stderr ---\n" + res.stderr) if res.stderr.strip() else "")
    if not res.ok and not res.stdout.strip():
        raise RuntimeError(f"{res.cmd}: {res.first_error_line()}")
    return text.encode()


def _files_under(host: Host, pattern: str) -> list[str]:
    """Regular files matching a shell glob (``<state>/history*``) or under a folder."""
    res = host.run(
        ["sh", "-c", f"find {pattern} -maxdepth 3 -type f 2>/dev/null; true"], timeout=30
    )
    return sorted(p for p in res.stdout.splitlines() if p.strip())


def _tail_file(host: Host, path: str, limit: int) -> bytes:
    data = host.read(path)
    return data[-limit:] if len(data) > limit else data


def collect_host(
    host: Host,
    store: StateStore,
    report: Reporter,
    *,
    bundle: Optional[VerifiedBundle] = None,
    tail: int = LOG_TAIL,
) -> HostBundle:
    """Everything a vendor's engineer asks for first, from one host."""
    out = HostBundle(host.name)
    runtime = ContainerRuntime(
        host,
        store.deployment_id,
        staging_dir=f"{store.root}/images",
        cli=store.recorded_runtime() or "docker",
    )
    facts = HostFacts(host)

    def raw_facts() -> None:
        got = facts.gather(list(STATIC_FACTS))
        out.json("facts.json", {k: v.to_dict() for k, v in sorted(got.items())})

    def envcheck() -> None:
        from envcheck.engine import run_checks
        from envcheck.profiles import catalog_from_specs

        catalog = catalog_from_specs(bundle.specs) if bundle is not None else None
        names = [m for m in store.load().modules if catalog and m in catalog.profiles]
        rep = run_checks(host, names, catalog=catalog, facts=facts)
        out.json("envcheck.json", rep.to_dict(raw=False))

    def state() -> None:
        st = store.load()
        out.secrets = dict(st.secrets)  # for the redactor only
        try:
            out.files["state/state.json"] = host.read(store.state_file)
        except FileNotFoundError:
            out.errors["state"] = f"no {store.state_file}: nothing installed here"
        for path in _files_under(host, shlex.quote(store.root) + "/history*"):
            out.files["state/" + path[len(store.root) + 1 :]] = host.read(path)

    def containers() -> None:
        rows = []
        for c in sorted(runtime.ours(), key=lambda c: c.name):
            st = c.raw.get("State") or {}
            rows.append(
                {
                    "container": c.name,
                    "module": c.module,
                    "instance": c.instance,
                    "image": c.image_ref,
                    "image_id": c.image_id,
                    "status": c.status,
                    "started_at": st.get("StartedAt"),
                    "exit_code": c.exit_code,
                    "restart_count": c.restart_count,
                    "health": (st.get("Health") or {}).get("Status"),
                }
            )
            out.part(f"logs/{c.name}", functools.partial(_logs, c.name))
        out.json("containers.json", rows)

    def _logs(name: str) -> None:
        out.files[f"logs/{name}.log"] = (
            "\n".join(runtime.log_lines(name, tail=tail)) + "\n"
        ).encode()

    def li() -> None:
        if bundle is None:
            out.errors["li"] = "no bundle given: containers.json lists what runs"
            return
        from installer.deploy.engine import Deployment

        rows = Deployment(bundle, host, store=store).status()
        out.json("li.json", [dataclasses.asdict(r) for r in rows])

    def license_parts() -> None:
        status = ask_recorded(runtime, store, "/v1/status")
        if status is None:
            out.errors["license"] = "no license server runs on this host"
            return
        out.files["license-status.json"] = status
        usage = ask_recorded(runtime, store, f"/v1/usage?days={USAGE_DAYS}")
        if usage is not None:
            out.files[USAGE_FILE] = usage

    def run_logs() -> None:
        root = store.root + "/logs"
        for path in _files_under(host, shlex.quote(root)):
            out.files["sealbox-logs/" + path[len(root) + 1 :]] = _tail_file(host, path, RUN_LOG_MAX)

    steps: list[tuple[str, Callable[[], None]]] = [
        ("facts", raw_facts),
        ("envcheck", envcheck),
        ("state", state),
        ("containers", containers),
        ("li", li),
        ("docker-info", lambda: _put("docker-info.txt", [runtime.cli, "info"])),
        ("docker-version", lambda: _put("docker-version.txt", [runtime.cli, "version"])),
        ("kernel", lambda: _put("kernel.log", ["sh", "-c", _KERNEL])),
        ("license", license_parts),
        ("sealbox-logs", run_logs),
    ]

    def _put(name: str, argv: list[str]) -> None:
        out.files[name] = _run_text(host, argv)

    for name, fn in steps:
        report(Event("step", "support", name))
        out.part(name, fn)
    out.json("errors.json", out.errors)
    report(Event("done", "support", f"{len(out.files)} file(s), {len(out.errors)} part(s) missing"))
    return out
