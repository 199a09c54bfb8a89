"""``fingerprint`` command line: parses arguments and prints; all logic lives in the library.

Exit codes: 0 ok, 1 operation failed, 2 bad input (usage, unreadable/corrupted/altered file),
3 ``check``/``inspect`` found problems in the archive.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable, List, Optional, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from fingerprint.archive import check_archive, pack_dir
from fingerprint.compare import clone_flags, diff_records, pair_records
from fingerprint.crypto import generate_keypair
from fingerprint.hashing import DEFAULT_PRODUCT
from fingerprint.jobs import collect_job
from fingerprint.model import COMPONENT_TITLES, COMPONENTS, MachineRecord
from installer.cli.remote import on_targets, targets, with_targets
from installer.errors import SealboxError
from installer.hosts import LocalHost
from installer.i18n import _, english_tree

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PROBLEMS = 0, 1, 2, 3

app = typer.Typer(
    help=_("Collect machine fingerprints, pack them for the vendor, check and inspect them."),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)  # errors stay one line

T = TypeVar("T")


def _guard(fn: Callable[[], T]) -> T:
    """Turn a SealboxError into one red line on stderr and its exit code."""
    try:
        return fn()
    except SealboxError as exc:
        err.print(_("[red]error:[/] {exc}").format(exc=exc), soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        err.print(
            _("[red]error:[/] {path}: cannot read {what} ({strerror}); check the path").format(
                path=path, what=what, strerror=exc.strerror
            )
        )
        raise typer.Exit(EXIT_USAGE) from None


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(english_tree(data), indent=2, sort_keys=True) + "\n")


def _gib(n: Optional[int]) -> str:
    return f"{n / (1 << 30):.1f} GiB" if n else "?"


@app.command(
    help=_("Fingerprint this machine (run as root) and write OUTPUT/secfile_<primary IPv4>.")
)
@with_targets
def collect(
    output: Path = typer.Option(Path("/tmp"), "-o", "--output", help=_("Folder for secfile_<ip>.")),
    encrypt_to: Optional[Path] = typer.Option(
        None, "--encrypt-to", help=_("Vendor public key (.pub): encrypt the secfile to it.")
    ),
    product: str = typer.Option(DEFAULT_PRODUCT, "--product", help=_("Product salt for hashing.")),
    fact_root: str = typer.Option(
        "", "--fact-root", hidden=True, help=_("Read facts under this root.")
    ),
    as_json: bool = typer.Option(False, "--json", help=_("Print the hashed record as JSON.")),
) -> None:
    """Fingerprint this machine (run as root) and write OUTPUT/secfile_<primary IPv4>."""
    pub = _read(encrypt_to, "public key") if encrypt_to else None
    job = collect_job(str(output), product=product, seal_to=pub, root=fact_root)
    # this machine and -H / --inventory hosts alike: the files land here, one per host
    _guard(
        lambda: on_targets(
            targets(),
            None,
            lambda f: f.each_host(job),
            lambda r: _collected(r.data, as_json),
            title="fingerprint collect",
            as_json=as_json,
            quiet=True,
            local_host=LocalHost,
        )
    )


def _collected(data: dict, as_json: bool) -> None:
    """This machine's collect: the record's table (or JSON) and a warning when not root."""
    pub = data["encrypted"]
    path = data["path"]
    record = MachineRecord.from_dict(data["record"])
    not_root = record.labels.get("collected_as_root") is False
    if as_json:
        _print_json(data)
    else:
        table = Table(title=f"{record.host} ({record.primary_ip or _('no IPv4')})")
        table.add_column(_("component"))
        table.add_column(_("status"))
        for kind in COMPONENTS:
            if kind in record.components:
                n = len(record.components[kind])
                table.add_row(
                    COMPONENT_TITLES[kind],
                    _("[green]hashed[/] ({n})").format(n=n) if n > 1 else _("[green]hashed[/]"),
                )
            else:
                table.add_row(
                    COMPONENT_TITLES[kind],
                    _("[yellow]missing[/]: {why}").format(why=record.missing.get(kind, "?")),
                )
        out.print(table)
        labels = record.labels
        if labels.get("vm"):
            out.print(
                _("virtual machine: {labels} ({labels2})").format(
                    labels=labels["vm"], labels2="; ".join(labels.get("vm_evidence") or [])
                )
            )
        if labels.get("container"):
            out.print(_("container: {labels}").format(labels=labels["container"]))
        out.print(
            (_("wrote {path} (encrypted to vendor key)") if pub else _("wrote {path}")).format(
                path=path
            )
        )
    if not_root:
        denied = [COMPONENT_TITLES[k] for k, v in record.missing.items() if "root" in v]
        if denied:
            err.print(
                _(
                    "[yellow]warning:[/] not root: could not read {denied}; run 'sudo fingerprint collect' for a complete fingerprint"
                ).format(denied=", ".join(denied))
            )


@app.command(help=_("Pack secfile_* files into a flat tar.gz with a SHA256SUMS manifest."))
def pack(
    directory: Path = typer.Argument(..., help=_("Folder holding the collected secfile_* files.")),
    output: Path = typer.Option(..., "-o", "--output", help=_("Archive to write (finger.tar.gz).")),
) -> None:
    """Pack secfile_* files into a flat tar.gz with a SHA256SUMS manifest."""
    result = _guard(lambda: pack_dir(str(directory)))
    try:
        LocalHost().write(str(output), result.archive, mode=0o644)
    except OSError as exc:
        err.print(
            _("[red]error:[/] {output}: cannot write ({strerror}); choose another -o path").format(
                output=output, strerror=exc.strerror
            )
        )
        raise typer.Exit(EXIT_FAILED) from None
    for name in result.skipped:
        err.print(_("[yellow]skipped[/] {name} (not a secfile_*)").format(name=name))
    out.print(
        _("packed {n_names} machine(s) into {output}: {names}").format(
            n_names=len(result.names), output=output, names=", ".join(result.names)
        )
    )


def _key(key: Optional[Path]) -> Optional[bytes]:
    return _read(key, "private key") if key else None


@app.command(
    help=_("Check an archive: flat, only secfiles, each verifies, manifest matches, no duplicates.")
)
def check(
    archive: Path = typer.Argument(..., help=_("finger.tar.gz")),
    key: Optional[Path] = typer.Option(
        None, "--key", help=_("Vendor private key for encrypted files.")
    ),
    as_json: bool = typer.Option(False, "--json", help=_("Print the report as JSON.")),
) -> None:
    """Check an archive: flat, only secfiles, each verifies, manifest matches, no duplicates."""
    report = _guard(lambda: check_archive(str(archive), private_key=_key(key)))
    if as_json:
        _print_json(report.to_dict())
    else:
        for e in report.errors:
            out.print(_("[red]error[/]   {e}").format(e=e), soft_wrap=True)
        for w in report.warnings:
            out.print(_("[yellow]warning[/] {w}").format(w=w), soft_wrap=True)
        machines = len(report.records) + len(report.sealed)
        verdict = "[green]ok[/]" if report.ok else "[red]FAILED[/]"
        out.print(
            _(
                "{archive}: {verdict} - {machines} machine(s), {n_errors} error(s), {n_warnings} warning(s)"
            ).format(
                archive=archive,
                verdict=verdict,
                machines=machines,
                n_errors=len(report.errors),
                n_warnings=len(report.warnings),
            )
        )
    raise typer.Exit(EXIT_OK if report.ok else EXIT_PROBLEMS)


def _row(r: MachineRecord, flags: List[str]) -> List[str]:
    labels = r.labels
    vm = labels.get("vm")
    virt = f"VM: {vm}" if vm else "physical"
    if labels.get("container"):
        virt += f", container: {labels['container']}"
    gpus = (labels.get("gpus") or []) + (labels.get("npus") or [])
    return [
        r.name,
        r.host,
        r.primary_ip or "-",
        f"{labels.get('cpu_model') or '?'} x{labels.get('cpu_count') or '?'}",
        _gib(labels.get("memory_bytes")),
        ", ".join(gpus) if gpus else "-",
        virt,
        f"{len(r.components)}/{len(COMPONENTS)}",
        "; ".join(flags) if flags else "-",
    ]


@app.command(
    help=_("One row per machine; flags machines sharing components; --previous shows what changed.")
)
def inspect(
    archive: Path = typer.Argument(..., help=_("finger.tar.gz")),
    previous: Optional[Path] = typer.Option(
        None, "--previous", help=_("Older archive to diff against.")
    ),
    key: Optional[Path] = typer.Option(
        None, "--key", help=_("Vendor private key for encrypted files.")
    ),
    as_json: bool = typer.Option(False, "--json", help=_("Print machines (and changes) as JSON.")),
) -> None:
    """One row per machine; flags machines sharing components; --previous shows what changed."""
    private = _key(key)
    report = _guard(lambda: check_archive(str(archive), private_key=private))
    old = _guard(lambda: check_archive(str(previous), private_key=private)) if previous else None
    flags = clone_flags(report.records)
    changes: list[dict[str, Any]] = []
    if old is not None:
        for a, b in pair_records(old.records, report.records):
            machine = b or a
            assert machine is not None  # pair_records: every pair holds at least one record
            changes.append(
                {
                    "machine": machine.name,
                    "previous": a.name if a else None,
                    "changes": diff_records(a, b),
                }
            )
    problems = report.errors + ([f"previous: {e}" for e in old.errors] if old else [])
    if as_json:
        data = {
            "archive": str(archive),
            "machines": [{**r.to_dict(), "shares": flags.get(r.name, [])} for r in report.records],
            "encrypted": report.sealed,
            "errors": problems,
        }
        if old is not None:
            data["changes"] = changes
        _print_json(data)
    else:
        table = Table(title=str(archive))
        for col in (
            "file",
            "host",
            "IP",
            "CPU",
            "memory",
            "GPUs",
            "VM evidence",
            "components",
            "shares",
        ):
            table.add_column(col, overflow="fold")
        for r in report.records:
            table.add_row(
                *_row(r, flags.get(r.name, [])), style="red" if flags.get(r.name) else None
            )
        out.print(table)
        for name in report.sealed:
            out.print(
                _("[yellow]{name}[/]: encrypted; pass --key vendor.key to read it").format(
                    name=name
                )
            )
        if old is not None:
            ctable = Table(title=_("changes since {previous}").format(previous=previous))
            ctable.add_column(_("machine"))
            ctable.add_column(_("what changed"), overflow="fold")
            for c in changes:
                ctable.add_row(c["machine"], "\n".join(c["changes"]) or _("[green]no change[/]"))
            out.print(ctable)
        for e in problems:
            err.print(_("[red]error:[/] {e}").format(e=e), soft_wrap=True)
    raise typer.Exit(EXIT_PROBLEMS if problems else EXIT_OK)


@app.command(
    help=_("Vendor side: create the key pair that customers encrypt secfiles to (--encrypt-to).")
)
def keygen(
    prefix: Path = typer.Argument(..., help=_("Writes PREFIX.key (0600) and PREFIX.pub.")),
) -> None:
    """Vendor side: create the key pair that customers encrypt secfiles to (--encrypt-to)."""
    private, public = generate_keypair()
    key_path, pub_path = Path(f"{prefix}.key"), Path(f"{prefix}.pub")
    if key_path.exists():
        err.print(
            _("[red]error:[/] {key_path}: exists; choose another prefix or remove it first").format(
                key_path=key_path
            )
        )
        raise typer.Exit(EXIT_USAGE)
    host = LocalHost()
    host.write(str(key_path), private, mode=0o600)
    host.write(str(pub_path), public, mode=0o644)
    out.print(
        _("wrote {key_path} (keep secret) and {pub_path} (give to customers)").format(
            key_path=key_path, pub_path=pub_path
        )
    )


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
