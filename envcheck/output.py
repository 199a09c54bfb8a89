"""Renderers: a Report (or the profile list) -> table / JSON / JUnit text.

Kept apart from the CLI so the installer can reuse them, and returning renderables or strings
rather than printing: only the CLI writes to the terminal.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any, Optional

from rich.table import Table

from envcheck.checks import KINDS, ItemSpec
from envcheck.engine import Report, build_plan
from envcheck.profiles import Catalog, default_catalog
from installer.i18n import _, english, english_tree, pick

EXIT_PASS = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_FAIL = 3
EXIT_WARN = 4


def exit_code(report: Report) -> int:
    """0 pass, 3 a required item failed, 4 only optional items failed, 1 a check crashed."""
    if report.errors():
        return EXIT_ERROR
    return {"pass": EXIT_PASS, "fail": EXIT_FAIL, "warn": EXIT_WARN}[report.verdict]


def failures_table(report: Report) -> Table:
    """The reference tool's table: failed items (required first), '*' marks optional ones."""
    table = Table(show_lines=True)
    for col in (
        _("Profile"),
        _("Item"),
        _("Meaning"),
        _("Requirement"),
        _("Actual"),
        _("How to fix"),
    ):
        table.add_column(col, overflow="fold")
    rows = sorted(
        (i for i in report.items if i.status in ("fail", "warn")), key=lambda i: i.status != "fail"
    )
    for i in rows:
        style = "red" if i.status == "fail" else "yellow"
        table.add_row(i.profile, i.name, i.meaning, i.requirement, i.actual, i.fix, style=style)
    return table


def item_lines(report: Report, statuses: tuple[str, ...]) -> list[str]:
    """One plain line per item, for the -v listing of passes and for skipped items."""
    return [
        f"{i.status.upper():4} {i.profile:15} {i.name:27} {i.actual}"
        for i in report.items
        if i.status in statuses
    ]


def report_json(report: Report, *, raw: bool = False) -> str:
    return json.dumps(english_tree(report.to_dict(raw=raw)), indent=2, sort_keys=False)


def report_junit(report: Report) -> str:
    """JUnit XML: a suite per profile, a case per item. Optional failures are 'skipped' with a
    warning message, so CI shows them without going red (the exit code 4 says the same)."""
    suites = ET.Element("testsuites", name="envcheck", time=f"{report.elapsed_s:.3f}")
    for prof in report.profiles:
        items = [i for i in report.items if i.profile == prof]
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=f"{report.host}.{prof}",
            tests=str(len(items)),
            failures=str(sum(i.status == "fail" for i in items)),
            errors=str(sum(bool(i.error) for i in items)),
            skipped=str(sum(i.status in ("warn", "skip") for i in items)),
        )
        for i in items:
            e = i.to_dict()  # English: JUnit is machine output
            case = ET.SubElement(suite, "testcase", classname=f"envcheck.{prof}", name=i.name)
            detail = f"requirement: {e['requirement']}\nactual: {e['actual']}\nfix: {e['fix']}"
            if i.error:
                ET.SubElement(case, "error", message=e["actual"]).text = detail
            elif i.status == "fail":
                ET.SubElement(case, "failure", message=e["actual"], type="required").text = detail
            elif i.status == "warn":
                ET.SubElement(case, "skipped", message=f"optional item failed: {e['actual']}")
            elif i.status == "skip":
                ET.SubElement(case, "skipped", message=f"skipped by request: {e['actual']}")
            ET.SubElement(case, "system-out").text = f"{e['meaning']}: {e['actual']}"
    ET.indent(suites) if hasattr(ET, "indent") else None
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode")


def profiles_data(
    catalog: Optional[Catalog] = None, *, shown: bool = False
) -> list[dict[str, Any]]:
    """What each profile checks, with the default thresholds worded as requirements: in
    English (machine output), or as ``shown`` to the user in their language."""
    lang = (lambda t: t) if shown else english
    cat = catalog or default_catalog()
    out = []
    for name, prof in cat.profiles.items():
        items = []
        for _unused, spec in build_plan([name], catalog=cat):
            items.append({k: lang(v) for k, v in _item_row(spec).items()})
        aliases = [a for a, target in cat.aliases.items() if target == name]
        out.append(
            {
                "profile": name,
                "aliases": aliases,
                "about": lang(pick(prof["about"])),
                "items": items,
            }
        )
    return out


def _item_row(spec: ItemSpec) -> dict[str, Any]:
    kind = KINDS[spec.id]
    return {
        "id": spec.id,
        "required": spec.required,
        "meaning": kind.meaning,
        "requirement": kind.requirement(spec.merged()),
    }


def profiles_table(verbose: bool = False, catalog: Optional[Catalog] = None) -> Table:
    table = Table()
    table.add_column(_("Profile"), no_wrap=True)
    table.add_column(_("Checks"), overflow="fold")
    for p in profiles_data(catalog, shown=True):
        name = p["profile"] + "".join(
            "\n" + _("(alias {alias})").format(alias=a) for a in p["aliases"]
        )
        if verbose:
            checks = "\n".join(
                f"{'' if i['required'] else '*'}{i['id']}: {i['requirement']}" for i in p["items"]
            )
        else:
            checks = ", ".join(("" if i["required"] else "*") + i["id"] for i in p["items"])
        table.add_row(name, f"{p['about']}\n{checks}")
    return table
