"""envcheck as a per-host job: what the fleet runs on each host (this machine included).

The fleet knows no tool; it hands each job a reached host (installer.fleet.fleet.OnHost) and
takes back an ``Outcome`` whose data is the full ``Report`` for the CLI to print.
"""

from __future__ import annotations

from typing import Callable, Optional

from envcheck.checks import with_install_path
from envcheck.engine import run_checks
from envcheck.output import exit_code
from envcheck.profiles import Catalog
from installer.events import Event, Reporter
from installer.fleet.fleet import HostJob, OnHost
from installer.fleet.run import Outcome
from installer.i18n import _


def envcheck_job(
    profiles: list[str],
    overrides: dict[str, str],
    skip: list[str],
    profiles_for: Optional[Callable[[str], list[str]]] = None,
    catalog: Optional[Catalog] = None,
) -> HostJob:
    """``profiles_for(host name)``, when given, picks each host's profiles (its modules');
    ``catalog``: the profiles of the bundle's specs (default: this checkout's)."""

    def run(on: OnHost, report: Reporter) -> Outcome:
        names = profiles_for(on.name) if profiles_for is not None else profiles
        report(
            Event(
                "step",
                "envcheck",
                _("profiles: {names}").format(names=", ".join(names) or "default"),
            )
        )
        rep = run_checks(
            on.host,
            names,
            overrides=with_install_path(overrides, on.store.root),
            skip=skip,
            catalog=catalog,
            runtime="auto",  # a Podman-only host is judged by the Podman items
        )
        code = exit_code(rep)
        failed = rep.failed_required()
        msg = rep.conclusion.rsplit(":", 1)[-1].strip()
        if failed:
            msg += ": " + ", ".join(f"{i.profile}/{i.id}" for i in failed)
        elif rep.failed_optional():
            msg += f" ({len(rep.failed_optional())} optional item(s) failed)"
        return Outcome(False, msg, rep, exit_code=code, failed=code in (1, 3))

    return run
