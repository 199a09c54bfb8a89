"""se / li / in / inall / rm / rmall: the field guide's install.py commands."""

from __future__ import annotations

from typing import Any, Callable, List, Optional

import typer

from installer.cli import output
from installer.cli.confirm import YES_OPT as CONFIRM_OPT
from installer.cli.confirm import confirm_purge
from installer.cli.context import CTX
from installer.cli.prompt import interactive, prompt_variable
from installer.cli.remote import on_targets, targets, with_targets
from installer.deploy.engine import InstallOptions, InstanceStatus
from installer.deploy.variables import load_answers, parse_set_options
from installer.facts.arch import platform
from installer.fleet import Fleet, HostResult
from installer.i18n import _
from installer.license.probe import describe, license_state

JSON_OPT = typer.Option(False, "--json", help=_("Print JSON on stdout (progress stays on stderr)."))
BUNDLE_OPT = typer.Option(None, "--bundle", "-b", help=_("Bundle directory (default: here)."))


def _use_bundle(bundle: Optional[str]) -> None:
    if bundle:
        CTX.bundle = bundle


def register(app: typer.Typer) -> None:
    app.command("se", help=_("List the modules in the bundle."))(with_targets(show_available))
    app.command("li", help=_("List installed modules: containers, ports, state, health."))(
        with_targets(show_installed)
    )
    app.command("in", help=_("Install modules and what they depend on, in dependency order."))(
        with_targets(install)
    )
    app.command(
        "inall",
        help=_(
            "Install every module of the bundle on this host (with --inventory: each host's "
            "modules, in cross-host dependency order)."
        ),
    )(with_targets(install_all))
    app.command("rm", help=_("Remove a module's containers (data kept unless --purge)."))(
        with_targets(remove)
    )
    app.command("rmall", help=_("Remove every module (data kept unless --purge)."))(
        with_targets(remove_all)
    )


def _on_targets(
    work: Callable[[Fleet], list[HostResult]],
    here: Callable[[HostResult], None],
    title: str,
    as_json: bool,
    details: Optional[Callable[[HostResult], None]] = None,
    events: bool = False,
    needs_root: Optional[str] = None,
) -> None:
    """This machine, -H hosts or an inventory: one path (installer.cli.remote.on_targets).
    ``needs_root``: the command's name when it needs root on this machine, said before the
    bundle is opened (its root-only pins would otherwise read as "not trusted")."""
    t = targets()
    if t.here and needs_root:
        CTX.require_root(needs_root)
    on_targets(
        t,
        CTX.verified(),
        work,
        here,
        title=title,
        as_json=as_json,
        details=details,
        events=events,
    )


def _installed_rows(r) -> None:
    rows = [InstanceStatus(**row) for row in r.data["instances"]]
    _installed_table(_("Installed on {host}").format(host=r.host), rows, r.data["license"])


def _install_details(r) -> None:
    output.table(
        _("Endpoints on {host}").format(host=r.host),
        [_("module"), _("container"), _("address")],
        [(e["module"], e["container"], e["address"]) for e in r.data["endpoints"]],
    )


def _plan_details(r) -> None:
    """--dry-run on hosts: each host's plan, as the local --dry-run prints it."""
    output.table(
        _("Plan for {host}").format(host=r.host),
        [_("action"), _("module"), _("container"), _("why")],
        [(a["kind"], a["module"], a["container"], a["reason"]) for a in r.data["actions"]],
    )


def show_available(as_json: bool = JSON_OPT, bundle: Optional[str] = BUNDLE_OPT) -> None:
    _use_bundle(bundle)
    _on_targets(
        lambda f: f.available(),
        lambda r: _available(r.data, as_json),
        _("Modules per host"),
        as_json,
    )


def _available(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        output.print_json(data)
        return
    rows = data["modules"]
    manifest = CTX.verified().manifest
    title = f"{manifest.product} {data['version']}  ({data['bundle']})"
    if data.get("delta_of"):
        title += "  " + _("upgrade (delta) bundle of {version}: installs over it only").format(
            version=data["delta_of"]["version"]
        )
    host_arch = data.get("host_arch")
    note = "" if host_arch is None or data.get("host_arch_carried") else _(" - NOT CARRIED")
    if data.get("host_arch_overridden"):
        note += _(" (test override)")
    arches = _("architectures: {carried}; this host: {host}{note}").format(
        carried=", ".join(platform(a) for a in data.get("architectures", [])) or "-",
        host=platform(host_arch) if host_arch else "?",
        note=note,
    )
    output.table(
        title,
        [_("module"), _("version"), _("description"), _("depends on"), _("installed")],
        [
            (
                r["name"],
                r["version"],
                r["description"],
                ", ".join(r["depends_on"]),
                _("? (state needs root)")
                if r["installed"] is None
                else (
                    _("yes ({version})").format(version=r["installed_version"])
                    if r["installed"]
                    else _("no")
                ),
            )
            for r in rows
        ],
    )
    output.out.print(arches, markup=False, highlight=False, soft_wrap=True)


K8S_OPT = typer.Option(False, "--k8s", help=_("On the Kubernetes cluster (kubeconfig) instead."))
NAMESPACE_OPT = typer.Option("sealbox", "--namespace", "-n", help=_("Namespace (with --k8s)."))
KUBECONFIG_OPT = typer.Option(None, "--kubeconfig", help=_("kubeconfig (with --k8s)."))


def show_installed(
    as_json: bool = JSON_OPT,
    bundle: Optional[str] = BUNDLE_OPT,
    k8s: bool = K8S_OPT,
    namespace: str = NAMESPACE_OPT,
    kubeconfig: Optional[str] = KUBECONFIG_OPT,
) -> None:
    if k8s:  # the same view as `sealbox k8s status`
        from installer.cli.k8s import status as k8s_status

        return k8s_status(namespace, kubeconfig, as_json)
    _use_bundle(bundle)

    def here(r: HostResult) -> None:
        if as_json:
            output.print_json(r.data)
        else:
            _installed_rows(r)

    work = lambda f: f.status(_license_of)  # noqa: E731
    _on_targets(work, here, _("Installed, per host"), as_json, _installed_rows, needs_root="li")


def _license_of(dep) -> Optional[tuple[dict, str]]:  # type: ignore[no-untyped-def]
    """The license server's answer on that host, for li's license line."""
    lic = license_state(dep)
    return (lic, describe(lic)) if lic is not None else None


def _installed_table(title: str, rows: list[InstanceStatus], lic: Optional[dict] = None) -> None:
    if not rows:
        output.out.print(_("{title}: no Sealbox modules.").format(title=title), markup=False)
        return
    if lic is not None:  # the license server's own answer: serving or why not, days, seats
        output.out.print(
            _("License ({lic}): {lic2}").format(lic=lic.get("container"), lic2=describe(lic)),
            markup=False,
        )
    output.table(
        title,
        [_("module"), _("container"), _("image"), _("ports"), _("gpu"), _("state"), _("health")],
        [
            (
                r.module,
                r.container,
                f"{r.image} ({r.image_id[7:19]})" if r.image_id else r.image,
                ", ".join(f"{k}={v}" for k, v in r.ports.items()),
                r.gpu,
                r.state,
                r.health,
            )
            for r in rows
        ],
    )


def _options(
    sets: List[str],
    answers: Optional[str],
    yes: bool,
    instances: Optional[int],
    gpus: Optional[str],
    dry_run: bool,
    skip_check: List[str],
) -> InstallOptions:
    return InstallOptions(
        overrides=parse_set_options(sets),
        answers=load_answers(answers) if answers else {},
        prompter=prompt_variable if (interactive() and not yes and not dry_run) else None,
        instances=instances,
        gpus=[g.strip() for g in gpus.split(",") if g.strip()] if gpus is not None else None,
        dry_run=dry_run,
        skip_checks=list(skip_check),
    )


def _print_result(data: dict[str, Any], as_json: bool) -> None:
    """This machine's install: the host's record as JSON, or the plan / the endpoints."""
    if as_json:
        output.print_json(data)
        return
    if data["dry_run"]:
        output.table(
            _("Plan"),
            [_("action"), _("module"), _("container"), _("why")],
            [(a["kind"], a["module"], a["container"], a["reason"]) for a in data["actions"]],
        )
        return
    changes = len([a for a in data["actions"] if a["kind"] != "noop"])
    output.out.print(
        _(
            "{value}: {n_data} module(s), {changes} change(s), {data} image(s) loaded in {data2:.1f}s"
        ).format(
            value="Installed" if changes else "Nothing to change",
            n_data=len(data["modules"]),
            changes=changes,
            data=data["images_loaded"],
            data2=data["seconds"],
        )
    )
    output.table(
        _("Endpoints"),
        [_("module"), _("container"), _("address")],
        [(e["module"], e["container"], e["address"]) for e in data["endpoints"]],
    )


SET_OPT = typer.Option([], "--set", "-s", help=_("Set a variable: NAME=VALUE (repeatable)."))
ANSWERS_OPT = typer.Option(None, "--answers", help=_("YAML file of variable: value answers."))
YES_OPT = typer.Option(
    False, "--yes", "-y", help=_("Do not prompt; take defaults for unset variables.")
)
DRY_OPT = typer.Option(False, "--dry-run", "--check", help=_("Show the plan; change nothing."))
SKIP_OPT = typer.Option(
    [], "--skip-check", help=_("Skip an environment check item by name (recorded).")
)


def _install(
    work: Callable[[Fleet], list[HostResult]], dry_run: bool, as_json: bool, what: str
) -> None:
    details = _plan_details if dry_run else _install_details
    _on_targets(
        work,
        lambda r: _print_result(r.data, as_json),
        _("Install"),
        as_json,
        details,
        events=True,
        needs_root=None if dry_run else what,
    )


def install(
    modules: List[str] = typer.Argument(..., help=_("Modules to install.")),
    sets: List[str] = SET_OPT,
    answers: Optional[str] = ANSWERS_OPT,
    yes: bool = YES_OPT,
    instances: Optional[int] = typer.Option(
        None, "--instances", help=_("Instances of the named module(s).")
    ),
    gpus: Optional[str] = typer.Option(None, "--gpus", help=_("GPU ids, one per instance: 0,1")),
    dry_run: bool = DRY_OPT,
    skip_check: List[str] = SKIP_OPT,
    as_json: bool = JSON_OPT,
    bundle: Optional[str] = BUNDLE_OPT,
) -> None:
    _use_bundle(bundle)
    opts = _options(sets, answers, yes, instances, gpus, dry_run, skip_check)
    _install(lambda f: f.install(opts, list(modules)), dry_run, as_json, "in")


def install_all(
    sets: List[str] = SET_OPT,
    answers: Optional[str] = ANSWERS_OPT,
    yes: bool = YES_OPT,
    dry_run: bool = DRY_OPT,
    skip_check: List[str] = SKIP_OPT,
    as_json: bool = JSON_OPT,
    bundle: Optional[str] = BUNDLE_OPT,
) -> None:
    _use_bundle(bundle)
    opts = _options(sets, answers, yes, None, None, dry_run, skip_check)
    # an inventory places modules per host; this machine and bare -H hosts get every module
    _install(lambda f: f.install(opts, everything=True), dry_run, as_json, "inall")


def remove(
    module: str = typer.Argument(..., help=_("Module to remove.")),
    purge: bool = typer.Option(
        False, "--purge", help=_("Also delete its data and generated secrets.")
    ),
    force: bool = typer.Option(
        False, "--force", help=_("Remove even if installed modules depend on it.")
    ),
    yes: bool = CONFIRM_OPT,
    as_json: bool = JSON_OPT,
    bundle: Optional[str] = BUNDLE_OPT,
    k8s: bool = K8S_OPT,
    namespace: str = NAMESPACE_OPT,
    kubeconfig: Optional[str] = KUBECONFIG_OPT,
) -> None:
    if purge:
        what = (
            _("the data of {module} in namespace {namespace}").format(
                module=module, namespace=namespace
            )
            if k8s
            else _("the data of {module}").format(module=module)
        )
        confirm_purge(what, f"rm {module}{' --k8s' if k8s else ''}", yes)
    if k8s:  # the same as `sealbox k8s delete MODULE` (volume claims kept unless --purge)
        from installer.cli.k8s import delete as k8s_delete

        return k8s_delete([module], namespace, purge, kubeconfig, yes=True)
    _use_bundle(bundle)

    def here(r: HostResult) -> None:
        if as_json:
            output.print_json(r.data)
        else:
            output.out.print(
                f"Removed {module}: {', '.join(r.data['removed']) or 'no containers'}"
                + (" (data purged)" if purge else "")
            )

    work = lambda f: f.remove(module, purge=purge, force=force)  # noqa: E731
    _on_targets(
        work,
        here,
        _("Remove {module}").format(module=module),
        as_json,
        events=True,
        needs_root="rm",
    )


def remove_all(
    purge: bool = typer.Option(
        False, "--purge", help=_("Also delete all data, secrets and state.")
    ),
    yes: bool = CONFIRM_OPT,
    as_json: bool = JSON_OPT,
    bundle: Optional[str] = BUNDLE_OPT,
) -> None:
    _use_bundle(bundle)
    if purge:
        confirm_purge("every module's data, secrets, license and state", "rmall", yes)

    def here(r: HostResult) -> None:
        if as_json:
            output.print_json(r.data)
        else:
            output.out.print(
                f"Removed {len(r.data['removed'])} container(s)"
                + (", data and state purged" if purge else "")
            )

    _on_targets(
        lambda f: f.remove_all(purge=purge),
        here,
        _("Remove all"),
        as_json,
        events=True,
        needs_root="rmall",
    )
