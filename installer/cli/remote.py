"""``-H user@host[:port]`` / ``--inventory`` for every command: options, the Fleet, the summary.

``with_targets`` adds the remote options to a typer command without repeating them in every
signature. Every command has one code path: ``on_targets`` runs its work on a Fleet -- this
machine is an inventory of one LocalHost (``@local``), like -H hosts or an inventory file -- and
only the printing differs: this machine gets the command's own view, hosts a block each and
the summary table. Printing only: the work is ``installer.fleet`` and the tools' jobs.
"""

from __future__ import annotations

import functools
import inspect
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional, Union

import typer

from installer.bundle.opened import VerifiedBundle
from installer.cli import output
from installer.errors import UsageError
from installer.events import Event
from installer.fleet import ConnectOptions, Fleet, HostResult, exit_code
from installer.fleet.inventory import Inventory, from_targets, load_inventory, local_inventory
from installer.hosts.base import Host
from installer.i18n import _

STYLE = {
    "ok": "green",
    "changed": "yellow",
    "failed": "red",
    "unreachable": "red",
    "skipped": "magenta",
}


@dataclass
class Targets:
    hosts: list[str] = field(default_factory=list)
    inventory: Optional[str] = None
    accept_new_host_keys: bool = False
    known_hosts: Optional[str] = None
    identity: Optional[str] = None
    parallel: int = 8
    log_dir: Optional[str] = None

    @property
    def here(self) -> bool:
        """No -H and no --inventory: this machine, as an inventory of one."""
        return not (self.hosts or self.inventory)

    def load(self) -> Inventory:
        if self.hosts and self.inventory:
            raise UsageError(_("give either -H hosts or --inventory, not both"))
        if self.inventory:
            return load_inventory(self.inventory)
        if self.hosts:
            return from_targets(self.hosts)
        return local_inventory()


_current: Optional[Targets] = None


def targets() -> Targets:
    """The targets of this invocation: -H hosts, an inventory, or this machine."""
    return _current if _current is not None else Targets()


_OPTIONS: list[tuple[str, Any, Any]] = [
    (
        "hosts",
        List[str],
        typer.Option(
            [], "-H", "--host", metavar="USER@HOST[:PORT]", help=_("Act on this host over SSH.")
        ),
    ),
    (
        "inventory",
        Optional[str],
        typer.Option(None, "--inventory", "-i", help=_("Inventory YAML: hosts and placements.")),
    ),
    (
        "accept_new_host_keys",
        bool,
        typer.Option(False, "--accept-new-host-keys", help=_("Add unknown host keys.")),
    ),
    (
        "known_hosts",
        Optional[str],
        typer.Option(
            None, "--known-hosts", help=_("known_hosts file (default ~/.ssh/known_hosts).")
        ),
    ),
    (
        "identity",
        Optional[str],
        typer.Option(None, "--identity", help=_("SSH private key for hosts without their own.")),
    ),
    ("parallel", int, typer.Option(8, "--parallel", min=1, help=_("Hosts at a time."))),
    (
        "log_dir",
        Optional[str],
        typer.Option(None, "--log-dir", help=_("Per-host logs (default ~/.sealbox/logs/<time>).")),
    ),
]


def with_targets(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add -H/--inventory and the SSH options to a typer command."""
    names = [n for n, _, _ in _OPTIONS]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        global _current
        _current = Targets(**{n: kwargs.pop(n) for n in names})
        return fn(*args, **kwargs)

    sig = inspect.signature(fn)
    extra = [
        inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=a)
        for n, a, d in _OPTIONS
    ]
    params = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in sig.parameters.values()
    ] + extra
    wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    return wrapper


class HostEventPrinter:
    """Engine events of many hosts as ``[host] [module] message`` lines on stderr."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet

    def __call__(self, host: str, event: Event) -> None:
        if event.kind == "progress" or (self.quiet and event.kind not in ("warn", "fail")):
            return
        style = {"done": "green", "warn": "yellow", "fail": "red"}.get(event.kind)
        text = f"[{host}] [{event.module}] {event.message}"
        if style:
            output.err.print(f"[{style}]{output.escape(text)}[/]", markup=True, highlight=False)
        else:
            output.err.print(text, markup=False, highlight=False)


LOG_HOME = "~/.sealbox/logs"


def default_log_dir() -> str:
    """Run logs go under the controller user's home, never into the current folder: the README
    has the user run install.py inside the bundle folder, and a bundle carries only the files
    its signed manifest lists, so a log folder left there made the next run refuse the bundle.
    (The bundle reader stays strict rather than ignoring a log folder: nothing unverified may
    sit in a bundle, and a bundle may be on read-only media.) Home, not /var/log: controller
    commands need not run as root."""
    return os.path.join(os.path.expanduser(LOG_HOME), time.strftime("%Y%m%d-%H%M%S"))


def fleet(
    t: Targets,
    bundle: Union[VerifiedBundle, str, None],
    *,
    quiet: bool = False,
    on_event: Optional[Callable[[str, Event], None]] = None,
) -> Fleet:
    from installer.cli.context import CTX

    log_dir = t.log_dir or (None if t.here else default_log_dir())
    return Fleet(
        bundle,
        CTX.host_settings(t.load()),
        connect=ConnectOptions(
            known_hosts=t.known_hosts,
            accept_new_host_keys=t.accept_new_host_keys,
            identity=t.identity,
        ),
        parallel=t.parallel,
        log_dir=log_dir,
        state_dir=CTX.state_dir,
        on_event=on_event or HostEventPrinter(quiet),
    )


def on_targets(
    t: Targets,
    bundle: Union[VerifiedBundle, str, None],
    work: Callable[[Fleet], list[HostResult]],
    here: Callable[[HostResult], None],
    *,
    title: str,
    as_json: bool,
    details: Optional[Callable[[HostResult], None]] = None,
    quiet: bool = False,
    events: bool = False,
    local_host: Optional[Callable[[], Host]] = None,
) -> None:
    """A command's one code path: ``work(fleet)`` on the targets, then the printing.

    This machine: ``here(result)`` prints the command's own view, and a failure is raised as
    the error it was (one line and its exit code, as for any command); ``events`` shows the
    engine's steps and progress there. Hosts: per-host ``details``, then the summary table
    (or JSON) and the exit code. ``local_host`` builds this machine's Host (a test seam)."""
    printer = output.EventPrinter() if t.here and events else None
    on_event: Optional[Callable[[str, Event], None]] = None
    if t.here:
        on_event = (lambda _host, ev: printer(ev)) if printer is not None else _silent
    f = fleet(t, bundle, quiet=quiet or as_json, on_event=on_event)
    if t.here and local_host is not None:
        f.given[next(iter(f.inventory.hosts))] = local_host()
    try:
        results = work(f)
    finally:
        if printer is not None:
            printer.close()
    if t.here:
        (result,) = results
        if result.error is not None:
            raise result.error
        here(result)
        return
    finish(title, results, as_json, details, f.log_dir)


def _silent(_host: str, _event: Event) -> None:
    return None


def finish(
    title: str,
    results: list[HostResult],
    as_json: bool,
    details: Optional[Callable[[HostResult], None]] = None,
    log_dir: Optional[str] = None,
) -> None:
    """Per-host details, the summary table (or JSON), then exit non-zero if a host failed."""
    code = exit_code(results)
    if as_json:
        output.print_json(
            {"ok": code == 0, "exit_code": code, "hosts": [r.to_dict() for r in results]}
        )
    else:
        if details is not None:
            for r in results:
                if r.data is not None:
                    details(r)
        output.table(
            title,
            [_("host"), _("result"), _("time"), _("detail")],
            [
                (
                    r.host,
                    f"[{STYLE.get(r.status, '')}]{r.status}[/]",
                    f"{r.seconds:.1f}s",
                    output.escape(r.message),
                )
                for r in results
            ],
        )
        if log_dir:
            output.out.print(_("per-host logs in {log_dir}/").format(log_dir=log_dir), markup=False)
    raise typer.Exit(code)
