"""upgrade / history / rollback / backup / restore / prune: day 2 on this machine, -H, -i.

Every command runs through installer.cli.remote.on_targets, as ``in`` does; the work is the
engine's (installer.deploy.day2, installer.deploy.upgrade_run). Only parsing and printing here.
"""

from __future__ import annotations

import os
from typing import Any, List, Optional

import typer

from installer.cli import output
from installer.cli.confirm import on_terminal
from installer.cli.context import CTX
from installer.cli.modules import (
    ANSWERS_OPT,
    DRY_OPT,
    JSON_OPT,
    SET_OPT,
    SKIP_OPT,
    YES_OPT,
    _install_details,
    _options,
)
from installer.cli.remote import on_targets, targets, with_targets
from installer.deploy.day2 import DEFAULT_KEEP, HostOps
from installer.events import Reporter
from installer.fleet import HostResult
from installer.fleet.fleet import OnHost
from installer.fleet.run import Outcome
from installer.i18n import _


def register(app: typer.Typer) -> None:
    app.command("upgrade", help=_("Upgrade to a newer bundle of the same product (backup first, "
                                  "automatic roll-back when a module fails)."))(with_targets(upgrade))  # fmt: skip
    app.command("history", help=_("What was installed, upgraded, rolled back, removed, restored."))(
        with_targets(history)
    )
    app.command("rollback", help=_("Go back to the previous (or a named) version."))(
        with_targets(rollback)
    )
    app.command("backup", help=_("Back up the data of the installed modules (or one)."))(
        with_targets(backup)
    )
    app.command("restore", help=_("Restore a backup made by 'backup' or by an upgrade."))(
        with_targets(restore)
    )
    app.command("prune", help=_("Remove the images of versions older than the last N."))(
        with_targets(prune)
    )


def _host_job(fn: Any) -> Any:
    """A day-2 job on one host: the engine's HostOps, under the host's run lock."""

    def job(oh: OnHost, report: Reporter) -> Outcome:
        ops = HostOps(oh.host, oh.store, report)
        with ops.locked():
            return fn(ops, ops.store.load())  # type: ignore[no-any-return]

    return lambda f: f.each_host(job)


def _no_bundle(
    work: Any, here: Any, title: str, as_json: bool, details: Any = None, root: str = ""
) -> None:
    t = targets()
    if t.here and root:
        CTX.require_root(root)
    on_targets(t, None, work, here, title=title, as_json=as_json, details=details, events=True)


# upgrade ----------------------------------------------------------------------------------
def _upgrade_table(r: HostResult) -> None:
    up = r.data.get("upgrade") if r.data else None
    if not up:
        return
    word = _("Downgrade") if up["downgrade"] else _("Upgrade")
    output.table(
        f"{word} {up['product']} {up['from']} -> {up['to']} ({r.host})",
        [
            _("module"),
            _("version"),
            _("image"),
            _("config"),
            _("new variables"),
            _("backed up first"),
        ],
        [
            (
                m["module"],
                f"{m['from_version'] or '-'} -> {m['to_version']}",
                m["image"],
                m["config"],
                ", ".join(m["variables"]),
                m["backup"] + (" (" + _("migrates data") + ")" if m["migrates_data"] else ""),
            )
            for m in up["modules"]
        ],
    )


def _upgrade_here(r: HostResult, as_json: bool) -> None:
    if as_json:
        output.print_json(r.data)
        return
    _upgrade_table(r)
    if r.data["dry_run"]:
        output.out.print(_("Dry run: nothing changed."), markup=False)
        return
    if not r.data.get("upgrade"):
        output.out.print(_("Nothing to upgrade: this version is installed."), markup=False)
    for path in r.data.get("backups") or []:
        output.out.print(_("backup: {path}").format(path=path), markup=False)
    _install_details(r)


def upgrade(
    bundle: str = typer.Argument(..., help=_("The newer bundle's folder.")),
    allow_downgrade: bool = typer.Option(
        False, "--allow-downgrade", help=_("Install an older version of the product.")
    ),
    sets: List[str] = SET_OPT,
    answers: Optional[str] = ANSWERS_OPT,
    yes: bool = YES_OPT,
    dry_run: bool = DRY_OPT,
    skip_check: List[str] = SKIP_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    CTX.bundle = bundle
    opts = _options(sets, answers, yes, None, None, dry_run, skip_check)
    opts.allow_downgrade = allow_downgrade
    opts.installed_only = True
    t = targets()
    if t.here and not dry_run:
        CTX.require_root("upgrade")

    def details(r: HostResult) -> None:
        _upgrade_table(r)

    on_targets(
        t,
        CTX.verified(),
        lambda f: f.install(opts, everything=True),
        lambda r: _upgrade_here(r, as_json),
        title=_("Upgrade"),
        as_json=as_json,
        details=details,
        events=True,
    )


# history ----------------------------------------------------------------------------------
def _history_table(host: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        output.out.print(_("{host}: no history yet.").format(host=host), markup=False)
        return
    output.table(
        _("History of {host}").format(host=host),
        [_("time"), _("user"), _("action"), _("version"), _("modules"), _("result"), _("backups")],
        [
            (
                e.get("time", ""),
                e.get("user", ""),
                e.get("action", ""),
                (f"{e.get('previous')} -> " if e.get("previous") else "")
                + str(e.get("version", "")),
                ", ".join(e.get("modules") or []),
                e.get("result", ""),
                "\n".join(os.path.basename(b) for b in e.get("backups") or []),
            )
            for e in rows
        ],
    )


def history(as_json: bool = JSON_OPT) -> None:
    def one(ops: HostOps, _state: Any) -> Outcome:
        rows = ops.history.entries()
        return Outcome(
            False, _("{n} entries").format(n=len(rows)), {"host": ops.host.name, "history": rows}
        )

    def here(r: HostResult) -> None:
        if as_json:
            output.print_json(r.data)
        else:
            _history_table(r.host, r.data["history"])

    _no_bundle(_host_job(one), here, _("History"), as_json,
               lambda r: _history_table(r.host, r.data["history"]), root="history")  # fmt: skip


# rollback ---------------------------------------------------------------------------------
def rollback(
    to: Optional[str] = typer.Option(None, "--to", help=_("The version to go back to.")),
    yes: bool = typer.Option(
        False, "--yes", "-y", help=_("Restore the pre-upgrade backup without asking.")
    ),
    as_json: bool = JSON_OPT,
) -> None:
    if not yes and on_terminal() and targets().here:
        yes = typer.confirm(
            _("Roll back? When the newer version migrated data, the backup taken before the "
              "upgrade is restored (changes since are lost)"), default=False, err=True,
        )  # fmt: skip
        if not yes:
            raise typer.Exit(1)

    def one(ops: HostOps, state: Any) -> Outcome:
        res = ops.rollback(state, to, yes=yes)
        data = {
            "from": res.from_version,
            "to": res.to_version,
            "modules": res.modules,
            "restored": res.restored,
            "seconds": round(res.seconds, 2),
        }
        msg = _("{a} -> {b}: {n} module(s)").format(
            a=res.from_version, b=res.to_version, n=len(res.modules)
        )
        if res.restored:
            msg = _("{msg}, restored {n} backup(s)").format(msg=msg, n=len(res.restored))
        return Outcome(True, msg, data)

    def here(r: HostResult) -> None:
        if as_json:
            output.print_json(r.data)
            return
        d = r.data
        output.out.print(
            _("Rolled back {a} -> {b}: {mods} in {s:.1f}s").format(
                a=d["from"], b=d["to"], mods=", ".join(d["modules"]), s=d["seconds"]
            ),
            markup=False,
        )
        for path in d["restored"]:
            output.out.print(_("data restored from {path}").format(path=path), markup=False)

    _no_bundle(_host_job(one), here, _("Rollback"), as_json, root="rollback")


# backup / restore -------------------------------------------------------------------------
def _backups_table(host: str, rows: list[dict[str, Any]]) -> None:
    output.table(
        _("Backups on {host}").format(host=host),
        [_("backup"), _("module"), _("version"), _("method"), _("size"), _("created"), _("secrets")],
        [
            (r["path"], r["module"], r["version"], r["method"], str(r["size"]), r["created"],
             _("included") if r["with_secrets"] else _("not included"))
            for r in rows
        ],
    )  # fmt: skip


def backup(
    module: Optional[str] = typer.Argument(None, help=_("One module (default: all with data).")),
    with_secrets: bool = typer.Option(
        False, "--with-secrets", help=_("Also save the module's generated secrets (0600).")
    ),
    list_only: bool = typer.Option(False, "--list", help=_("List the backups; take none.")),
    as_json: bool = JSON_OPT,
) -> None:
    def one(ops: HostOps, state: Any) -> Outcome:
        if list_only:
            made = [(p, m) for p, m in ops.backups.all()]
        else:
            made = [(m.path, m.manifest) for m in ops.backup(state, [module] if module else [],
                                                              with_secrets=with_secrets)]  # fmt: skip
            if made:
                product = next(iter(state.modules.values())).product
                ops.history.record("backup", product=product, version=made[0][1].version,
                                   modules=[m.module for _p, m in made], result="ok",
                                   backups=[p for p, _m in made])  # fmt: skip
        rows = [{"path": p, **vars(m)} for p, m in made]
        return Outcome(
            not list_only,
            _("{n} backup(s)").format(n=len(rows)),
            {"host": ops.host.name, "backups": rows},
        )

    def here(r: HostResult) -> None:
        if as_json:
            output.print_json(r.data)
            return
        _backups_table(r.host, r.data["backups"])
        if with_secrets and not list_only:
            output.out.print(_("The backups hold the generated secrets in clear (files 0600): "
                               "keep them as you keep the passwords."), markup=False)  # fmt: skip

    _no_bundle(_host_job(one), here, _("Backup"), as_json,
               lambda r: _backups_table(r.host, r.data["backups"]), root="backup")  # fmt: skip


def restore(
    backup: str = typer.Argument(
        ..., help=_("A backup folder (its name under backups/, or path).")
    ),
    module: Optional[str] = typer.Option(None, "--module", help=_("Restore into this module.")),
    force: bool = typer.Option(
        False, "--force", help=_("Restore a backup of another product, module or a newer version.")
    ),
    as_json: bool = JSON_OPT,
) -> None:
    def one(ops: HostOps, state: Any) -> Outcome:
        data = ops.restore(state, backup, module=module, force=force)
        return Outcome(
            True,
            _("{module} restored from {path}").format(module=data["module"], path=data["backup"]),
            data,
        )

    def here(r: HostResult) -> None:
        if as_json:
            output.print_json(r.data)
            return
        output.out.print(
            _("Restored {module} from {path}").format(
                module=r.data["module"], path=r.data["backup"]
            ),
            markup=False,
        )
        for why in r.data["forced"]:
            output.out.print(_("forced: {why}").format(why=why), markup=False)

    _no_bundle(_host_job(one), here, _("Restore"), as_json, root="restore")


def prune(
    keep: int = typer.Option(
        int(os.environ.get("SEALBOX_KEEP_VERSIONS", DEFAULT_KEEP)),
        "--keep",
        help=_("Versions whose images stay (default 2, or $SEALBOX_KEEP_VERSIONS)."),
    ),
    as_json: bool = JSON_OPT,
) -> None:
    def one(ops: HostOps, state: Any) -> Outcome:
        data = ops.prune(state, keep)
        return Outcome(
            bool(data["removed_images"]),
            _("{n} image(s) removed").format(n=len(data["removed_images"])),
            data,
        )

    def here(r: HostResult) -> None:
        if as_json:
            output.print_json(r.data)
            return
        d = r.data
        output.out.print(
            _("Kept {kept}; removed {n} image(s) of {old}").format(
                kept=", ".join(d["kept"]) or "-", n=len(d["removed_images"]),
                old=", ".join(d["pruned_versions"]) or "-",
            ),
            markup=False,
        )  # fmt: skip

    _no_bundle(_host_job(one), here, _("Prune"), as_json, root="prune")
