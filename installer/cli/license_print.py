"""What ``sealbox license`` prints for people: a license's summary table, a verdict's lines
(``show``, ``verify``) and the one line for a license installed (``install``)."""

from __future__ import annotations

from typing import Optional

from installer.cli import output
from installer.i18n import _
from installer.license.shipped.model import day
from installer.license.shipped.verify import Verdict


def print_summary(title: Optional[str], s: dict) -> None:
    rows = [(k, s[k]) for k in ("file", "license_id", "customer", "product", "type")]
    rows += [(k, s[k]) for k in ("issued_at", "not_before", "expires_at", "grace_days")]
    rows.append(
        (
            "modules",  # field names: the license file's own keys, the same in any language
            ", ".join(
                f"{m}={g['instances']}" + (f":{g['gpus']}gpu" if g.get("gpus") is not None else "")
                for m, g in sorted(s["modules"].items())
            ),
        )
    )
    rows.append(("machines", ", ".join(s["machines"])))
    rows.append(
        (
            "match",
            _("{required} of the recorded components").format(required=s["match"]["required"]),
        )
    )
    rows.append((_("virtual machines"), _("allowed") if s["allow_vm"] else _("refused")))
    rows.append(("signature", s["signature"]))
    output.table(title, [_("field"), _("value")], rows)


def print_verdict(path: str, v: Verdict) -> None:
    color = "green" if v.ok and not v.warnings else ("yellow" if v.ok else "red")
    word = "VALID" if v.ok else "INVALID"
    output.out.print(
        _("[bold {color}]{word}[/] {path}").format(color=color, word=word, path=path),
        markup=True,
        highlight=False,
    )
    if v.license is not None:
        lic = v.license
        output.out.print(
            _(
                "  {license_id} for {customer} ({type_}), modules {modules}, expires {expires_at}"
            ).format(
                license_id=lic.license_id,
                customer=lic.customer,
                type_=lic.type,
                modules=", ".join(sorted(lic.modules)),
                expires_at=day(lic.expires_at),
            ),
            markup=False,
        )
    if v.machine:
        output.out.print(
            _("  machine: {machine}: {machine2}").format(
                machine=v.machine["licensed_machine"], machine2=v.machine["explanation"]
            ),
            markup=False,
        )
    for p in v.problems:
        output.out.print(
            _("  [red]x[/] {message}").format(message=p.message), markup=True, highlight=False
        )
    for w in v.warnings:
        output.out.print(_("  [yellow]![/] {w}").format(w=w), markup=True, highlight=False)


def replaced_line(done) -> str:  # type: ignore[no-untyped-def]
    lic = done.installed.verdict.license
    text: str = _("installed {license_id} ({customer}, expires {expires}) at {path}").format(
        license_id=lic.license_id,
        customer=lic.customer,
        expires=day(lic.expires_at),
        path=done.installed.path,
    )
    if done.installed.previous_kept:
        text += _("; previous kept as {path}").format(path=done.installed.previous_kept)
    if done.restarted:
        text += _("; restarted {names}").format(names=", ".join(done.restarted))
    return text
