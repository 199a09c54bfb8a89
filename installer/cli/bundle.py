"""`sealbox bundle create|verify|trust`: build, check and pin trust for offline bundles."""

from __future__ import annotations

import time
from typing import List, Optional

import typer

from installer import signing
from installer.bundle.create import LAYOUTS, create_bundle, load_definition, parse_platforms
from installer.bundle.trust import BundleRefused, pin_key, trusted_keys
from installer.bundle.verify import verify_bundle
from installer.cli import output
from installer.cli.context import CTX
from installer.facts.arch import platform
from installer.i18n import _

app = typer.Typer(
    no_args_is_help=True,
    help="Build (vendor side), verify and trust offline bundles.",
)

TRUST_OPT = typer.Option(
    [], "--trust", help="Vendor public key (or folder of *.pub) to trust; repeatable."
)


@app.command("create", help="Build a bundle from bundle.yaml and the local Docker images.")
def create(
    definition: str = typer.Argument(..., help="bundle.yaml: product, version, modules."),
    out: str = typer.Option(..., "--out", "-o", help="Bundle folder to write (new or a bundle)."),
    key: Optional[str] = typer.Option(None, "--key", help="Vendor private key to sign with."),
    compression: str = typer.Option("zstd", "--compression", help="zstd (default) or xz."),
    level: Optional[int] = typer.Option(None, "--level", help="Compression level (zstd 6)."),
    layout: str = typer.Option(
        "shared",
        "--layout",
        help=f"{' or '.join(LAYOUTS)}: one archive for all images or one each.",
    ),
    no_wheels: bool = typer.Option(
        False, "--no-wheels", help="Do not carry Sealbox (install.py + wheels/)."
    ),
    python: List[str] = typer.Option(
        [], "--python", help="Target Python version for the wheels, e.g. 3.9; repeatable."
    ),
    wheels_from: Optional[str] = typer.Option(
        None, "--wheels-from", help="Take dependency wheels from this folder only (no index)."
    ),
    license_dir: Optional[str] = typer.Option(
        None,
        "--license",
        help="Folder with license.cfg + vendor.pub to ship as license/ (checked against the "
        "key the licensed images pin).",
    ),
    platforms: List[str] = typer.Option(
        [],
        "--platform",
        help="linux/amd64 or linux/arm64; repeatable: the image of each module per architecture "
        "(REF-ARCH or REF, whichever is that architecture). Default: bundle.yaml's platforms, "
        "else the images as built.",
    ),
) -> None:
    started = time.monotonic()
    private = signing.load_private(key) if key else None
    chosen = parse_platforms(list(platforms), "--platform") or None
    manifest = create_bundle(
        load_definition(definition),
        out,
        compression=compression,
        level=level,
        layout=layout,
        key=private,
        carry=not no_wheels,
        python_versions=list(python) or None,
        wheels_from=wheels_from,
        license_dir=license_dir,
        platforms=chosen,
        progress=lambda m: output.err.print(f"[bundle] {m}", markup=False, highlight=False),
    )
    archives = manifest.archives()
    output.table(
        f"{manifest.product} {manifest.version} in {out} ({time.monotonic() - started:.1f}s)",
        ["archive", "platform", "images", "uncompressed MB", "compressed MB"],
        [
            (
                rel,
                platform(entries[0].architecture),
                ", ".join(e.ref for e in entries),
                f"{entries[0].uncompressed_size / 1e6:.0f}",
                f"{entries[0].size / 1e6:.0f}",
            )
            for rel, entries in archives.items()
        ],
    )
    if private is None:
        output.err.print("[yellow]warning:[/] bundle not signed (no --key); installs refuse it")
    else:
        output.out.print(f"Signed with vendor key {private.id}")


@app.command("verify", help="Check signature, checksums, unlisted files and image IDs.")
def verify(
    bundle: Optional[str] = typer.Argument(None, help="Bundle folder (default: this bundle)."),
    trust: List[str] = TRUST_OPT,
    quick: bool = typer.Option(
        False, "--quick", help="Do not read image archives (what install checks up front)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
) -> None:
    bundle_dir = bundle or CTX.bundle_dir()
    report = verify_bundle(bundle_dir, trusted_keys(trust), deep=not quick)
    if as_json:
        output.print_json(
            {
                "bundle": report.bundle,
                "ok": report.ok,
                "key_id": report.key_id,
                "deep": report.deep,
                "files_checked": report.files_checked,
                "archives_checked": report.archives_checked,
                "architectures": report.manifest.architectures() if report.manifest else [],
                "problems": [{"path": p.path, "reason": p.reason} for p in report.problems],
            }
        )
    else:
        for p in report.problems:
            output.error(p.line())
        if report.ok:
            who = f"signed by key {report.key_id}" if report.key_id else "UNSIGNED"
            output.out.print(
                f"OK: {report.bundle} ({who}; {report.files_checked} files, "
                f"{report.archives_checked} image archive(s) checked)"
            )
            if report.manifest is not None:
                output.out.print(
                    _("Architectures: {platforms}").format(
                        platforms=", ".join(platform(a) for a in report.manifest.architectures())
                        or "-"
                    )
                )
    if not report.ok:
        raise typer.Exit(code=BundleRefused.exit_code)


@app.command("trust", help="Pin a vendor public key on this host (/etc/sealbox/trusted-keys).")
def trust_key(
    pub: str = typer.Argument(..., help="The vendor's public key, received out of band."),
) -> None:
    key_id, dest = pin_key(pub)
    output.out.print(f"Pinned vendor key {key_id} at {dest}; compare the id with your vendor's")
