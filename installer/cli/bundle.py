"""`sealbox bundle create|verify|trust`: build, check and pin trust for offline bundles."""

from __future__ import annotations

import time
from typing import List, Optional

import typer

from installer import signing
from installer.bundle.create import LAYOUTS, create_bundle, load_definition
from installer.bundle.delta import read_base_manifest
from installer.bundle.platforms import parse_platforms
from installer.bundle.trust import BundleRefused, pin_key, trusted_keys
from installer.bundle.verify import VerifyReport, verify_bundle
from installer.cli import output
from installer.cli.context import CTX
from installer.facts.arch import platform
from installer.i18n import _

app = typer.Typer(
    no_args_is_help=True,
    help=_("Build (vendor side), verify and trust offline bundles."),
)

TRUST_OPT = typer.Option(
    [], "--trust", help=_("Vendor public key (or folder of *.pub) to trust; repeatable.")
)


@app.command("create", help=_("Build a bundle from bundle.yaml and the local Docker images."))
def create(
    definition: str = typer.Argument(..., help=_("bundle.yaml: product, version, modules.")),
    out: str = typer.Option(
        ..., "--out", "-o", help=_("Bundle folder to write (new or a bundle).")
    ),
    key: Optional[str] = typer.Option(None, "--key", help=_("Vendor private key to sign with.")),
    compression: str = typer.Option("zstd", "--compression", help=_("zstd (default) or xz.")),
    level: Optional[int] = typer.Option(None, "--level", help=_("Compression level (zstd 6).")),
    layout: str = typer.Option(
        "shared",
        "--layout",
        help=_("{layouts}: one archive for all images or one each.").format(
            layouts=" or ".join(LAYOUTS)
        ),
    ),
    no_wheels: bool = typer.Option(
        False, "--no-wheels", help=_("Do not carry Sealbox (install.py + wheels/).")
    ),
    python: List[str] = typer.Option(
        [], "--python", help=_("Target Python version for the wheels, e.g. 3.9; repeatable.")
    ),
    wheels_from: Optional[str] = typer.Option(
        None, "--wheels-from", help=_("Take dependency wheels from this folder only (no index).")
    ),
    since: Optional[str] = typer.Option(
        None,
        "--since",
        help=_(
            "The previous bundle's manifest.yaml (or folder), signed: write an upgrade (delta) "
            "bundle holding only the image layers that version lacks."
        ),
    ),
    trust: List[str] = TRUST_OPT,
    license_dir: Optional[str] = typer.Option(
        None,
        "--license",
        help=_(
            "Folder with license.cfg + vendor.pub to ship as license/ (checked against the "
            "key the licensed images pin)."
        ),
    ),
    platforms: List[str] = typer.Option(
        [],
        "--platform",
        help=_(
            "linux/amd64 or linux/arm64; repeatable: the image of each module per architecture "
            "(REF-ARCH or REF, whichever is that architecture). Default: bundle.yaml's "
            "platforms, else the images as built."
        ),
    ),
) -> None:
    started = time.monotonic()
    private = signing.load_private(key) if key else None
    base = None
    if since is not None:  # its signature: the vendor's own key, or a pinned/--trust one
        keys = trusted_keys(trust)
        if private is not None:
            keys[private.public.id] = private.public
        base = read_base_manifest(since, keys)
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
        since=base,
        platforms=chosen,
        progress=lambda m: output.err.print(
            _("[bundle] {m}").format(m=m), markup=False, highlight=False
        ),
    )
    archives = manifest.archives()
    output.table(
        _("{product} {version} in {out} ({time:.1f}s)").format(
            product=manifest.product,
            version=manifest.version,
            out=out,
            time=time.monotonic() - started,
        ),
        [_("archive"), _("platform"), _("images"), _("uncompressed MB"), _("compressed MB")],
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
    if manifest.base is not None:
        left = {d for e in manifest.images for d in e.omits}
        output.out.print(
            _(
                "Upgrade (delta) bundle of {product} {base}: {n} layer(s) left out, which hosts "
                "must hold (install {base} first)"
            ).format(product=manifest.product, base=manifest.base.get("version"), n=len(left))
        )
    if private is None:
        output.err.print(_("[yellow]warning:[/] bundle not signed (no --key); installs refuse it"))
    else:
        output.out.print(_("Signed with vendor key {id_}").format(id_=private.id))


@app.command("verify", help=_("Check signature, checksums, unlisted files and image IDs."))
def verify(
    bundle: Optional[str] = typer.Argument(None, help=_("Bundle folder (default: this bundle).")),
    trust: List[str] = TRUST_OPT,
    quick: bool = typer.Option(
        False, "--quick", help=_("Do not read image archives (what install checks up front).")
    ),
    as_json: bool = typer.Option(False, "--json", help=_("Print JSON on stdout.")),
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
                "delta_of": _delta_of(report),
                "architectures": report.manifest.architectures() if report.manifest else [],
                "problems": [{"path": p.path, "reason": p.reason} for p in report.problems],
            }
        )
    else:
        for p in report.problems:
            output.error(p.line())
        if report.ok:
            who = (
                _("signed by key {key_id}").format(key_id=report.key_id)
                if report.key_id
                else _("UNSIGNED")
            )
            output.out.print(
                _(
                    "OK: {bundle} ({who}; {files_checked} files, {archives_checked} image archive(s) checked)"
                ).format(
                    bundle=report.bundle,
                    who=who,
                    files_checked=report.files_checked,
                    archives_checked=report.archives_checked,
                )
            )
            delta = _delta_of(report)
            if delta:
                output.out.print(
                    _(
                        "Upgrade (delta) bundle of {product} {version}: installs only on hosts "
                        "that hold that version's images"
                    ).format(**delta)
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


def _delta_of(report: VerifyReport) -> Optional[dict]:
    """{product, version} of a delta bundle's base (from the verified manifest), else None."""
    base = report.manifest.base if report.manifest is not None else None
    return {"product": base.get("product"), "version": base.get("version")} if base else None


@app.command("trust", help=_("Pin a vendor public key on this host (/etc/sealbox/trusted-keys)."))
def trust_key(
    pub: str = typer.Argument(..., help=_("The vendor's public key, received out of band.")),
) -> None:
    key_id, dest = pin_key(pub)
    output.out.print(
        _("Pinned vendor key {key_id} at {dest}; compare the id with your vendor's").format(
            key_id=key_id, dest=dest
        )
    )
