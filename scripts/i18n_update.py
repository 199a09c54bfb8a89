#!/usr/bin/env python3
"""Extract Sealbox's texts into the Chinese catalogue and compile it (Babel).

    python scripts/i18n_update.py            # extract, merge into sealbox.po, compile sealbox.mo
    python scripts/i18n_update.py --check    # change nothing; exit 1 listing what is out of date

Every ``_("...")`` / ``ngettext("...", "...", n)`` in installer/, envcheck/, fingerprint/ is a
message id (installer/license/shipped/ runs inside images without Sealbox's i18n: left out).
New ids land in installer/i18n/locale/zh_CN/LC_MESSAGES/sealbox.po with an empty msgstr: fill
them in and run this again; ids no longer in the code are dropped. Entries are sorted and carry
no source locations, so two branches' catalogues merge line by line. The .mo is committed (CI
and bundles need no build step) and the catalogue test checks it matches the .po.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
from typing import Iterator

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = ("installer", "envcheck", "fingerprint")
EXCLUDE = ("installer/license/shipped/",)
LOCALE = "zh_CN"
PO = os.path.join(ROOT, "installer", "i18n", "locale", LOCALE, "LC_MESSAGES", "sealbox.po")
MO = PO[:-3] + ".mo"
KEYWORDS = {"_": None, "ngettext": (1, 2)}
PLACEHOLDER = re.compile(r"(?<!\{)\{([^{}]*)\}(?!\})")


def extracted() -> Iterator[tuple[str, tuple[str, ...] | str, int]]:
    """(file, msgid or (singular, plural), line) for every marked text in the sources."""
    for top in SOURCES:
        base = os.path.join(ROOT, top)
        for name, lineno, message, _comments, _ctx in extract_from_dir(
            base, method_map=[("**.py", "python")], keywords=KEYWORDS
        ):
            rel = f"{top}/{name}".replace(os.sep, "/")
            if any(rel.startswith(ex) for ex in EXCLUDE):
                continue
            yield rel, message, lineno


def template() -> Catalog:
    cat = Catalog(project="sealbox", domain="sealbox", locale=LOCALE)
    for _rel, message, _line in extracted():
        if message and (message if isinstance(message, str) else message[0]):
            cat.add(message)
    return cat


def load_po(path: str = PO) -> Catalog:
    if not os.path.exists(path):
        return Catalog(project="sealbox", domain="sealbox", locale=LOCALE)
    with open(path, "rb") as fh:
        return read_po(fh, locale=LOCALE, domain="sealbox")


def po_bytes(cat: Catalog) -> bytes:
    buf = io.BytesIO()
    write_po(buf, cat, width=0, no_location=True, sort_output=True, omit_header=False)
    return buf.getvalue()


def mo_bytes(cat: Catalog) -> bytes:
    buf = io.BytesIO()
    write_mo(buf, cat, use_fuzzy=False)
    return buf.getvalue()


def merged() -> Catalog:
    """The .po brought up to the code: new ids added empty, gone ids dropped."""
    cat = load_po()
    cat.update(template(), no_fuzzy_matching=True)
    cat.obsolete.clear()
    cat.revision_date = cat.creation_date = cat.creation_date  # no churn from dates
    return cat


def placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


def problems(cat: Catalog) -> list[str]:
    """Untranslated ids and translations whose {placeholders} differ from the id's."""
    out = []
    for msg in cat:
        if not msg.id:
            continue
        ids = (msg.id,) if isinstance(msg.id, str) else tuple(msg.id)
        strs = (msg.string,) if isinstance(msg.string, str) else tuple(msg.string)
        if not all(strs) or msg.fuzzy:
            out.append(f"no zh translation: {ids[0]!r}")
            continue
        for s in strs:
            if placeholders(s) != placeholders(ids[-1]) and placeholders(s) != placeholders(ids[0]):
                out.append(f"placeholders differ: {ids[0]!r} -> {s!r}")
    return out


def check() -> list[str]:
    """Everything that keeps the catalogue from being complete and current."""
    issues = []
    cat = load_po()
    known = {m.id for m in cat if m.id}
    code = {m.id for m in template() if m.id}
    for msgid in sorted(code - known, key=str):
        issues.append(f"not in sealbox.po (run scripts/i18n_update.py): {msgid!r}")
    for msgid in sorted(known - code, key=str):
        issues.append(f"in sealbox.po but no longer in the code: {msgid!r}")
    issues += problems(cat)
    if not os.path.exists(MO):
        issues.append("sealbox.mo missing: run scripts/i18n_update.py")
    else:
        with open(MO, "rb") as fh:
            if fh.read() != mo_bytes(cat):
                issues.append("sealbox.mo is older than sealbox.po: run scripts/i18n_update.py")
    return issues


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="report, change nothing")
    args = ap.parse_args()
    if args.check:
        issues = check()
        for line in issues:
            print(line)
        print(f"{len(issues)} problem(s)" if issues else "catalogue complete and compiled")
        return 1 if issues else 0
    cat = merged()
    os.makedirs(os.path.dirname(PO), exist_ok=True)
    with open(PO, "wb") as fh:
        fh.write(po_bytes(cat))
    with open(MO, "wb") as fh:
        fh.write(mo_bytes(load_po()))
    missing = [p for p in problems(load_po()) if p.startswith("no zh")]
    print(f"{len(cat)} messages, {len(missing)} without a zh translation -> {PO}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
