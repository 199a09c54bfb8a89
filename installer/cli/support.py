"""``logs``, ``restart``, ``support-bundle`` and ``license usage ...``: printing only.

The work is ``installer.support`` (per-host jobs on the Fleet, the redacting archive writer)
and ``installer.license.shipped.usage`` (the signed usage report).
"""

from __future__ import annotations

import os
import time
from typing import Any, Optional

import typer

from installer.bundle.opened import VerifiedBundle
from installer.cli import output
from installer.cli.context import CTX
from installer.cli.remote import fleet as make_fleet
from installer.cli.remote import on_targets, targets, with_targets
from installer.errors import LicenseError, UsageError
from installer.fleet import Fleet, HostResult
from installer.fleet.fleet import OnHost
from installer.fleet.run import Outcome
from installer.i18n import _
from installer.support.archive import write_bundle
from installer.support.collect import LOG_TAIL, HostBundle
from installer.support.jobs import collect_job, follow, logs_job, restart_job, runtime_of
from installer.support.logs import LogLine, check_instance, prefixed

JSON_OPT = typer.Option(False, "--json", help=_("Print JSON on stdout (progress stays on stderr)."))
INSTANCE_OPT = typer.Option(None, "--instance", help=_("Only this instance (0, 1, ...)."))
K8S_OPT = typer.Option(False, "--k8s", help=_("From the Kubernetes cluster (kubeconfig) instead."))
NAMESPACE_OPT = typer.Option("sealbox", "--namespace", "-n", help=_("Namespace (with --k8s)."))
KUBECONFIG_OPT = typer.Option(None, "--kubeconfig", help=_("kubeconfig (with --k8s)."))


def _kubectl(kubeconfig: Optional[str]):  # type: ignore[no-untyped-def]
    from installer.hosts.local import LocalHost
    from installer.k8s.kubectl import Kubectl

    return Kubectl.find(LocalHost(), kubeconfig)


def register(app: typer.Typer, license_app: typer.Typer) -> None:
    app.command("logs", help=_("Show a module's container logs on every host that runs it."))(
        with_targets(logs)
    )
    app.command("restart", help=_("Restart a module's containers on every host that runs it."))(
        with_targets(restart)
    )
    app.command(
        "support-bundle",
        help=_("One archive for the vendor's support: per host facts, logs, state; redacted."),
    )(with_targets(support_bundle))
    license_app.add_typer(usage_app, name="usage")


def _optional_bundle() -> Optional[VerifiedBundle]:
    """The bundle when one is given or found here (li, the envcheck profiles); the commands
    here work without one."""
    try:
        CTX.bundle_dir()
    except UsageError:
        return None
    return CTX.verified()


def _nowhere(module: str, instance: Optional[int], results: list[HostResult]) -> None:
    """A module no host runs is bad input (exit 2), not an empty success."""
    key = "containers" if results and "containers" in (results[0].data or {}) else "restarted"
    if any((r.data or {}).get(key) for r in results):
        return
    if any(r.error is not None or r.data is None for r in results):
        return  # a host failed: its error says why
    which = " " + _("instance {n}").format(n=instance) if instance is not None else ""
    where = _("this machine") if targets().here else _("any of the hosts")
    raise UsageError(
        _("{module}{which} does not run on {where}; 'li' lists the modules that run").format(
            module=module, which=which, where=where
        )
    )


def _print_lines(lines: list[tuple[str, LogLine]], many_containers: bool) -> None:
    for host, line in lines:
        output.out.print(
            prefixed(host, line, with_container=many_containers), markup=False, highlight=False
        )


def logs(
    module: str = typer.Argument(..., help=_("Module name (as 'se' lists it).")),
    instance: Optional[int] = INSTANCE_OPT,
    tail: Optional[int] = typer.Option(100, "--tail", min=0, help=_("Last N lines.")),
    follow_: bool = typer.Option(False, "-f", "--follow", help=_("Keep printing new lines.")),
    since: Optional[str] = typer.Option(
        None, "--since", help=_("Only lines since: 10m, 2h, or a time (2026-12-06T05:00:00).")
    ),
    as_json: bool = JSON_OPT,
    k8s: bool = K8S_OPT,
    namespace: str = NAMESPACE_OPT,
    kubeconfig: Optional[str] = KUBECONFIG_OPT,
) -> None:
    check_instance(instance)
    t = targets()
    if k8s:
        return _k8s_logs(module, instance, tail, since, follow_, as_json, namespace, kubeconfig)
    if t.here:
        CTX.require_root("logs")
    if follow_:
        if as_json:
            raise UsageError(
                _("--json and -f do not go together: follow prints lines as they come")
            )
        f = make_fleet(t, None)
        many = not t.here or instance is None

        def show(host: str, lines: list[LogLine]) -> None:
            _print_lines([("" if t.here else host, x) for x in lines], many)

        try:
            follow(f, module, instance, tail, show, on_event=_warn)
        except KeyboardInterrupt:
            raise typer.Exit(0) from None  # Ctrl-C is how -f ends: not an error
        return

    def work(f: Fleet) -> list[HostResult]:
        results = f.each_host(logs_job(module, instance, tail, since))
        _nowhere(module, instance, results)
        if not t.here and not as_json:
            merged = [(r.host, LogLine(**x)) for r in results if r.data for x in r.data["lines"]]
            merged.sort(key=lambda hx: hx[1].time)
            _print_lines(merged, True)
        return results

    def here(r: HostResult) -> None:
        if as_json:
            output.print_json(r.data)
            return
        lines = [("", LogLine(**x)) for x in r.data["lines"]]
        _print_lines(lines, len(r.data["containers"]) > 1)

    on_targets(t, None, work, here, title=_("Logs of {m}").format(m=module), as_json=as_json)


def _k8s_logs(
    module: str,
    instance: Optional[int],
    tail: Optional[int],
    since: Optional[str],
    follow_: bool,
    as_json: bool,
    namespace: str,
    kubeconfig: Optional[str],
) -> None:
    from installer.support.k8s import k8s_logs

    if follow_:
        raise UsageError(
            _("-f with --k8s: use kubectl logs -f -l io.sealbox.module={m}").format(m=module)
        )
    lines = k8s_logs(_kubectl(kubeconfig), namespace, module, tail=tail, since=since,
                     instance=instance)  # fmt: skip
    if not lines and not as_json:
        output.err.print(_("no log lines of {m} in namespace {n}").format(m=module, n=namespace))
    if as_json:
        output.print_json({"namespace": namespace, "lines": [x.to_dict() for x in lines]})
        return
    _print_lines([("", x) for x in lines], True)


def _warn(host: str, event) -> None:  # type: ignore[no-untyped-def]
    output.err.print(f"[{host}] {event.message}", markup=False, highlight=False)


def restart(
    module: str = typer.Argument(..., help=_("Module name.")),
    instance: Optional[int] = INSTANCE_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    check_instance(instance)
    t = targets()
    if t.here:
        CTX.require_root("restart")

    def work(f: Fleet) -> list[HostResult]:
        results = f.each_host(restart_job(module, instance))
        _nowhere(module, instance, results)
        return results

    def here(r: HostResult) -> None:
        if as_json:
            output.print_json(r.data)
            return
        for d in r.data["restarted"]:
            output.out.print(
                _("Restarted {c}: {s} (started {t})").format(
                    c=d["container"], s=d["status"], t=d["started_at"]
                ),
                markup=False,
            )

    on_targets(
        t, None, work, here, title=_("Restart {m}").format(m=module), as_json=as_json, events=True
    )


def support_bundle(
    out: Optional[str] = typer.Option(
        None, "-o", "--output", help=_("Archive to write (.tar.gz).")
    ),
    tail: int = typer.Option(LOG_TAIL, "--tail", min=0, help=_("Log lines per container.")),
    no_redact: bool = typer.Option(
        False, "--no-redact", help=_("Keep secrets in clear (for your own eyes only).")
    ),
    as_json: bool = JSON_OPT,
    k8s: bool = K8S_OPT,
    namespace: str = NAMESPACE_OPT,
    kubeconfig: Optional[str] = KUBECONFIG_OPT,
) -> None:
    t = targets()
    path = out or time.strftime("sealbox-support-%Y%m%d-%H%M%S.tar.gz")
    if os.path.isdir(path):
        raise UsageError(_("-o {p} is a folder; name the archive file to write").format(p=path))
    if k8s:
        from installer.support.k8s import collect_cluster

        hb = collect_cluster(_kubectl(kubeconfig), namespace, tail)
        w = write_bundle([hb], path, redact=not no_redact)
        if as_json:
            output.print_json({"path": w.path, "size": w.size, "files": w.files,
                               "redacted": w.redacted, "missing": hb.errors})  # fmt: skip
        else:
            output.out.print(_("Wrote {p} ({n} files); {r} secret value(s) redacted").format(
                p=w.path, n=w.files, r=w.redacted), markup=False)  # fmt: skip
        return
    if t.here:
        CTX.require_root("support-bundle")
    bundle = _optional_bundle()
    written: dict[str, Any] = {}

    def work(f: Fleet) -> list[HostResult]:
        sink: dict[str, HostBundle] = {}
        results = f.each_host(collect_job(bundle, tail, sink))
        hosts = [sink[r.host] for r in results if r.host in sink]
        if not hosts:
            return results
        w = write_bundle(hosts, path, redact=not no_redact)
        written.update(
            path=w.path, size=w.size, files=w.files, redacted=w.redacted, report=w.report
        )
        for r in results:
            if isinstance(r.data, dict):
                r.data["archive"] = w.path
        if not t.here:
            summary()  # then the per-host table
        return results

    def summary() -> None:
        if not written:
            return
        if as_json:
            return
        output.out.print(
            _("Wrote {p} ({k} KiB, {n} files); {r} secret value(s) redacted").format(
                p=written["path"],
                k=int(written["size"]) // 1024,
                n=written["files"],
                r=written["redacted"],
            ),  # fmt: skip
            markup=False,
        )
        if no_redact:
            output.err.print(_("warning: NOT redacted: it holds this site's secrets"), markup=False)

    def here(r: HostResult) -> None:
        if as_json:
            output.print_json({**written, "host": r.data})
            return
        if r.data.get("missing"):
            output.err.print(
                _("not collected: {w}").format(w=", ".join(sorted(r.data["missing"]))),
                markup=False,
            )
        summary()

    on_targets(t, bundle, work, here, title=_("Support bundle"), as_json=as_json)


# license usage ---------------------------------------------------------------------------------
usage_app = typer.Typer(
    help=_("The license server's signed usage report: fetch it, verify it offline."),
    no_args_is_help=True,
    add_completion=False,
)


@usage_app.command("verify", help=_("Verify a usage report offline against the vendor key."))
def usage_verify(
    report: str = typer.Argument(..., help=_("The usage report file.")),
    vendor_pub: str = typer.Option(..., "--vendor-pub", help=_("The vendor's public key file.")),
    as_json: bool = JSON_OPT,
) -> None:
    from installer.license.shipped import keys
    from installer.license.shipped.usage import ReportInvalid, verify_report

    try:
        with open(report, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise UsageError(
            _("{report}: cannot read it ({why}); check the path").format(
                report=report, why=exc.strerror
            )
        ) from None
    ring = keys.keyring_from_files([vendor_pub])
    try:
        v = verify_report(data, ring)
    except ReportInvalid as exc:
        raise LicenseError(_("{r}: does NOT verify: {why}").format(r=report, why=exc)) from None
    if as_json:
        output.print_json(
            {
                "ok": True,
                "license_id": v.license_id,
                "signer": v.signer,
                "signer_pinned": v.signer_pinned,
                "warnings": v.warnings,
                "period": v.body.get("period"),
                "usage": v.body.get("usage"),
            }
        )
        return
    period = v.body.get("period") or {}
    output.out.print(
        _("{r}: verified: license {l}, signed by license server key {k}, {a} .. {b}").format(
            r=report, l=v.license_id, k=v.signer, a=period.get("from"), b=period.get("to")
        ),
        markup=False,
    )
    for w in v.warnings:
        output.err.print(_("warning: {w}").format(w=w), markup=False)
    usage = v.body.get("usage") or {}
    output.table(
        _("Usage"),
        [_("module"), _("grants"), _("peak seats")],
        [(m, u["grants"], u["peak_seats"]) for m, u in (usage.get("modules") or {}).items()],
    )
    if usage.get("refusals"):
        output.table(_("Refusals"), [_("reason:module"), _("count")], usage["refusals"].items())
    for c in usage.get("clock_events") or []:
        output.out.print(
            _("clock {event} at {at}: {reason}").format(
                event=c["event"], at=c["at"], reason=c["reason"]
            ),
            markup=False,
        )


def usage_get(
    out: str = typer.Option("usage.report", "-o", "--output", help=_("File to write.")),
    days: float = typer.Option(30, "--days", min=0, help=_("The period: the last N days.")),
) -> None:
    from installer.license.probe import ask_recorded

    CTX.require_root("license usage get")

    def one(on: OnHost, report) -> Outcome:  # type: ignore[no-untyped-def]
        data = ask_recorded(runtime_of(on), on.store, f"/v1/usage?days={days:g}")
        if data is None:
            raise LicenseError(
                _("no license server runs on {h}; run this where it is installed").format(h=on.name)
            )
        target = out if targets().here else f"{out}.{on.name}"
        with open(target, "wb") as fh:
            fh.write(data)
        return Outcome(False, target, {"path": target, "bytes": len(data)})

    def here(r: HostResult) -> None:
        output.out.print(_("Wrote {p}").format(p=r.data["path"]), markup=False)

    on_targets(
        targets(), None, lambda f: f.each_host(one), here, title=_("Usage report"), as_json=False
    )


usage_app.command("get", help=_("Fetch the signed usage report from the license server."))(
    with_targets(usage_get)
)
