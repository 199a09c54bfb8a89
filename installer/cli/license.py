"""``sealbox license ...``: vendor side (keygen, issue, show) and customer side (verify, install).

Printing only; logic lives in ``installer.license`` (its install gate is one of the engine's
gates, ``installer.deploy.gates``). The bundle's vendor key and license are the opened bundle's
verified bytes.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import List, Optional

import typer

from installer.bundle.opened import VerifiedBundle
from installer.cli import output
from installer.cli.context import CTX
from installer.cli.license_print import print_summary, print_verdict, replaced_line
from installer.cli.remote import on_targets, targets, with_targets
from installer.errors import LicenseError, SealboxError, UsageError
from installer.fleet.fleet import OnHost
from installer.fleet.run import Outcome
from installer.i18n import _
from installer.license import store
from installer.license.onhost import license_on, summary, verify_on
from installer.license.shipped import fileformat, keys
from installer.license.shipped.model import day

app = typer.Typer(
    help=_("Licenses: vendor keys, issuing from finger.tar.gz, verifying and installing."),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _guard(fn):
    try:
        return fn()
    except SealboxError as exc:
        output.error(str(exc))
        raise typer.Exit(exc.exit_code) from None


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise UsageError(
            _("{path}: cannot read {what} ({strerror}); check the path").format(
                path=path, what=what, strerror=exc.strerror
            )
        ) from None


def _bundle() -> Optional[VerifiedBundle]:
    """The verified bundle when there is one (a refused bundle is an error, not "none")."""
    try:
        CTX.bundle_dir()
    except UsageError:
        return None
    return CTX.verified()


def _pinned(vendor_pub: Optional[str], key_option: bool = True) -> fileformat.KeyRing:
    """An explicit public key file (vendor side), else the key pinned in the bundle.
    ``key_option``: whether the calling command has --vendor-pub (the error suggests it)."""
    if vendor_pub:
        return keys.keyring_from_files([vendor_pub])
    bundle = _bundle()
    if bundle is None:
        fix = "pass --vendor-pub FILE" if key_option else "pass --bundle DIR before 'license'"
        raise UsageError(  # bad usage (exit 2), not "the license does not allow it" (4)
            _(
                "no vendor public key: run in the bundle (its license/vendor.pub is pinned) or {fix}"
            ).format(fix=fix)
        )
    return keys.bundle_keyring(bundle)


@app.command(
    "keygen",
    help=_(
        "Make a vendor Ed25519 key pair: KEY (0600, default vendor.key) and its .pub beside it."
    ),
)
def keygen(
    key: Optional[str] = typer.Argument(
        None, metavar="[KEY]", help=_("Private key file to create.")
    ),
    out: Optional[str] = typer.Option(
        None,
        "-o",
        "--out",
        help=_("Private key file to create (the same as KEY; default vendor.key)."),
    ),
) -> None:
    from installer import signing

    if key and out and key != out:
        raise UsageError(
            _("two key files given ({key} and -o {out}): give one").format(key=key, out=out)
        )
    out = key or out or "vendor.key"

    def run() -> None:
        key = signing.generate()
        priv, pub = signing.write_keypair(key, out)
        output.out.print(
            _("private key {priv} (0600, keep it secret)\npublic key  {pub}").format(
                priv=priv, pub=pub
            )
        )
        output.out.print(_("key id      {id_}").format(id_=key.id))

    _guard(run)


@app.command("issue", help=_("Issue a signed license for the machines in a finger.tar.gz."))
def issue_cmd(
    request: str = typer.Option(..., "--request", "-r", help=_("finger.tar.gz from the customer.")),
    modules: List[str] = typer.Option(
        ..., "--modules", "-m", help=_("NAME=INSTANCES[:GPUS], e.g. face-server=4 (repeatable).")
    ),
    days: int = typer.Option(90, "--days", help=_("Validity in days (trials: 90).")),
    key: str = typer.Option(..., "--key", "-k", help=_("Vendor private key (from keygen).")),
    out: str = typer.Option("license.cfg", "-o", "--out", help=_("License file to write.")),
    customer: str = typer.Option("customer", "--customer", help=_("Customer name.")),
    product: str = typer.Option("sealbox", "--product", help=_("Product name.")),
    type_: str = typer.Option("trial", "--type", help=_("trial or production.")),
    grace_days: int = typer.Option(7, "--grace-days", help=_("Days served after expiry.")),
    warn_days: int = typer.Option(14, "--warn-days", help=_("Warn this many days before expiry.")),
    allow_vm: bool = typer.Option(False, "--allow-vm", help=_("Allow virtual machines.")),
    required: Optional[int] = typer.Option(
        None, "--required", help=_("Components that must match (default: all recorded but one).")
    ),
    must_match: List[str] = typer.Option([], "--must-match", help=_("Component that must match.")),
    report_key: Optional[str] = typer.Option(
        None, "--report-key", help=_("Pin the license server's usage-report key (its key id).")
    ),
) -> None:
    from installer import signing
    from installer.license.issue import issue, parse_modules, vm_machines

    def run() -> None:
        if report_key is not None:  # a key id, as `license usage verify` prints the signer
            if len(report_key) != 16 or any(c not in "0123456789abcdef" for c in report_key):
                raise UsageError(f"--report-key {report_key}: expected a 16-hex-digit key id")
        private = signing.load_private(key)
        data = _read(request, "fingerprint request")
        lic = issue(
            data,
            modules=parse_modules(modules),
            days=days,
            customer=customer,
            product=product,
            type=type_,
            grace_days=grace_days,
            warn_days=warn_days,
            allow_vm=allow_vm,
            required=required,
            must_match=must_match,
        )
        if report_key is not None:
            lic = dataclasses.replace(lic, extra={**lic.extra, "report_key": report_key})
        vms = vm_machines(lic.machines)
        if vms and not allow_vm:
            output.err.print(
                _(
                    "warning: {vms} show VM evidence; this license will refuse them (add --allow-vm to allow)"
                ).format(vms=", ".join(vms)),
                markup=False,
            )
        text = fileformat.render(lic, private)
        Path(out).write_bytes(text)
        output.out.print(
            _(
                "{out}: license {license_id} for {customer}, {n_machines} machine(s), modules {modules}, expires {expires_at} (key {id_})"
            ).format(
                out=out,
                license_id=lic.license_id,
                customer=lic.customer,
                n_machines=len(lic.machines),
                modules=", ".join(sorted(lic.modules)),
                expires_at=day(lic.expires_at),
                id_=private.id,
            ),
            markup=False,
        )

    _guard(run)


def _license_server_hosts(f) -> None:  # type: ignore[no-untyped-def]
    """An inventory that places modules: act only where it places the license server (the
    module whose spec declares ``license: {role: server}``). The services on the other hosts
    use that server's license; a copy written next to them would be a second license in play
    (what `license show` and the install gate then read)."""
    inv = f.inventory
    placements = inv.placements()
    if not placements:
        return  # this machine, -H hosts, or an inventory of bare hosts: the hosts named
    bundle = f.bundle if hasattr(f.bundle, "specs") else _bundle()  # opened, or a folder
    server = store.server_of(bundle.specs) if bundle is not None else None
    if server is None:
        raise UsageError(
            _(
                "{source}: which module is the license server? run this in the bundle (its module specs say) or name the host with -H"
            ).format(source=inv.source)
        )
    servers = placements.get(server.module, [])
    if not servers:
        raise UsageError(
            _(
                "{source}: no host runs {module}; place it on a host (modules: [{module}]) or name the host with -H"
            ).format(source=inv.source, module=server.module)
        )
    others = [n for n in inv.hosts if n not in servers]
    if others:
        output.err.print(
            _(
                "license: acting on {servers} (where the inventory places {module}); {others} use(s) that server's license"
            ).format(servers=", ".join(servers), module=server.module, others=", ".join(others)),
            markup=False,
        )
    f.inventory = dataclasses.replace(inv, hosts={n: inv.hosts[n] for n in servers})


def _on_license_servers(job):  # type: ignore[no-untyped-def]
    """``work(fleet)`` that runs ``job`` only where the inventory places the license server."""

    def work(f):  # type: ignore[no-untyped-def]
        _license_server_hosts(f)
        return job(f)

    return work


@app.command(
    "show",
    help=_(
        "Print what a license grants (signature checked when a key is known): a license.cfg, "
        "else the installed one (each -H/--inventory host's)."
    ),
)
@with_targets
def show(
    path: Optional[str] = typer.Argument(None, help=_("license.cfg (default: the installed one).")),
    vendor_pub: Optional[str] = typer.Option(None, "--vendor-pub", help=_("Vendor public key.")),
    as_json: bool = typer.Option(False, "--json", help=_("Pure JSON on stdout.")),
) -> None:
    try:
        ring: Optional[fileformat.KeyRing] = _pinned(vendor_pub)
    except (LicenseError, UsageError):
        ring = None
    given = (path, _guard(lambda: _read(path, "license"))) if path else None

    def one(on: OnHost, report) -> Outcome:  # type: ignore[no-untyped-def]
        where, data = license_on(on.host, on.store, given, _bundle)
        s = summary(data, where, ring)
        return Outcome(
            False, _("{s}, expires {s2}").format(s=s["license_id"], s2=s["expires_at"]), s
        )

    def here(r) -> None:  # type: ignore[no-untyped-def]
        if as_json:
            output.print_json(r.data)
        else:
            print_summary(None, r.data)

    def details(r) -> None:  # type: ignore[no-untyped-def]
        print_summary(f"{r.host}", r.data)

    _guard(
        lambda: on_targets(
            targets(),
            None,
            _on_license_servers(lambda f: f.each_host(one)),
            here,
            title="license show",
            as_json=as_json,
            details=details,
            quiet=True,
        )
    )


@app.command("verify", help=_("Verify signature, dates and whether THIS machine matches."))
@with_targets
def verify_cmd(
    path: Optional[str] = typer.Argument(None, help=_("license.cfg (default: the installed one).")),
    module: List[str] = typer.Option([], "--module", help=_("Also require this module.")),
    vendor_pub: Optional[str] = typer.Option(
        None, "--vendor-pub", help=_("Vendor public key (default: pinned in the bundle).")
    ),
    no_machine: bool = typer.Option(
        False, "--no-machine", help=_("Skip the machine check (vendor side).")
    ),
    as_json: bool = typer.Option(False, "--json", help=_("Pure JSON on stdout.")),
) -> None:
    ring = _guard(lambda: _pinned(vendor_pub))
    given = (path, _guard(lambda: _read(path, "license"))) if path else None

    def one(on: OnHost, report) -> Outcome:  # type: ignore[no-untyped-def]
        where, data = license_on(on.host, on.store, given, _bundle)
        v = verify_on(
            on.host,
            on.store,
            data,
            ring,
            source=where,
            modules=list(module),
            machine=not no_machine,
        )
        return Outcome(False, v.reason(), {"file": where, "verdict": v}, 0 if v.ok else 4, not v.ok)

    def here(r) -> None:  # type: ignore[no-untyped-def]
        where, v = r.data["file"], r.data["verdict"]
        if as_json:
            output.print_json({"file": where, **v.to_dict()})
        else:
            print_verdict(where, v)
        if not v.ok:
            raise typer.Exit(LicenseError.exit_code)

    t = targets()

    def work(f):  # type: ignore[no-untyped-def]
        if path is None:  # each host's installed license: only the license servers have one
            _license_server_hosts(f)
        results = f.each_host(one)
        for r in results if not t.here else ():  # the hosts' JSON: the verdict as data
            if r.data is not None:
                r.data = {"file": r.data["file"], **r.data["verdict"].to_dict()}
        return results

    _guard(
        lambda: on_targets(t, None, work, here, title="license verify", as_json=as_json, quiet=True)
    )


@app.command(
    "install",
    help=_(
        "Verify against the host, keep the current license as last-good, swap, restart the "
        "license server (this machine, or each -H/--inventory host)."
    ),
)
@with_targets
def install_cmd(
    path: str = typer.Argument(..., help=_("The new license.cfg.")),
    as_json: bool = typer.Option(False, "--json", help=_("Pure JSON on stdout.")),
) -> None:
    from installer.license.onhost import replace_license

    data = _guard(lambda: _read(path, "license"))
    ring = _guard(lambda: _pinned(None, key_option=False))  # the bundle's pinned key only

    def one(dep, report) -> Outcome:  # type: ignore[no-untyped-def]
        done = replace_license(dep, data, ring, source=path)
        return Outcome(True, replaced_line(done), done.to_dict())

    def here(r) -> None:  # type: ignore[no-untyped-def]
        if as_json:
            output.print_json(r.data)
            return
        output.out.print(r.message, markup=False)
        if not r.data["restarted"]:
            output.err.print(
                _(
                    "the license server is not running here; it will use the new license when started"
                ),
                markup=False,
            )

    _guard(
        lambda: on_targets(
            targets(),
            CTX.verified(),
            _on_license_servers(lambda f: f.each_deployment(one)),
            here,
            title="license install",
            as_json=as_json,
        )
    )


def main() -> None:  # pragma: no cover - convenience entry point
    sys.exit(app())
