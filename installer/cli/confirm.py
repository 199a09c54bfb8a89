"""Asking before destroying data: one rule for every command that takes ``--purge``.

On a terminal the user is asked; without one (a script, CI, ``ssh host cmd``) nobody can
answer, so ``--yes`` must say it up front -- a destructive default never happens by silence.
"""

from __future__ import annotations

import sys

import typer

from installer.errors import UsageError
from installer.i18n import _

YES_OPT = typer.Option(False, "--yes", "-y", help=_("Do not ask; answer yes."))


def on_terminal() -> bool:
    return sys.stdin.isatty() and sys.stderr.isatty()


def confirm_purge(what: str, command: str, yes: bool) -> None:
    """Return when the user agreed to delete ``what``; raise (nothing deleted) otherwise."""
    if yes:
        return
    if not on_terminal():
        raise UsageError(
            _(
                "--purge deletes {what} and cannot be undone: add --yes to confirm ({command} --purge --yes); nothing was deleted"
            ).format(what=what, command=command)
        )
    if not typer.confirm(
        _("Delete {what}? This cannot be undone").format(what=what), default=False, err=True
    ):
        raise UsageError(_("not confirmed; nothing was deleted"))
