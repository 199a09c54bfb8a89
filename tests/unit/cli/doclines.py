"""Command lines as the READMEs show them, expanded from synopsis notation into real lines.

A README line like ``sealbox bundle verify [DIR] [--trust vendor.pub ...] [--json]`` is a
synopsis: ``[...]`` optional, ``a|b`` alternatives, ``...`` repetition. Each line expands into
the forms a reader may type: all optional parts left out, all put in, every alternative.
"""

from __future__ import annotations

import itertools
import re
import shlex
from pathlib import Path

from tests.unit.cli.clitree import PROGRAMS, program_of

ROOT = Path(__file__).resolve().parents[3]
READMES = [
    "README.md",
    *sorted(
        str(p.relative_to(ROOT))
        for d in ("installer", "envcheck", "fingerprint")
        for p in (ROOT / d).rglob("README.md")
    ),
]
FENCE = re.compile(r"^```")
INLINE = re.compile(r"`([^`]+)`")


def _is_command(text: str) -> bool:
    try:
        argv = shlex.split(text, comments=True)
    except ValueError:
        return False
    prog, _ = program_of(argv)
    if re.match(r"^\S+\s{4,}", text):  # a file listing ("install.py      shim: ..."), not a command
        return False
    return bool(prog) or bool(script_of(argv))


def script_of(argv: list[str]) -> str:
    """``sudo bash scripts/demo.sh`` -> "scripts/demo.sh"; "" when it runs no script of ours."""
    rest = [a for a in argv if a != "sudo"]
    if len(rest) > 1 and rest[0] == "bash" and rest[1].startswith("scripts/"):
        return rest[1]
    return ""


def _strip_comment(line: str) -> str:
    return re.split(r"\s+#\s", " " + line, maxsplit=1)[0].strip()


def readme_lines(rel: str) -> list[tuple[str, int, str]]:
    """(file, line number, command) for code-block lines and inline synopses (3+ words)."""
    found: list[tuple[str, int, str]] = []
    in_block = False
    last = None
    for n, raw in enumerate((ROOT / rel).read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(raw.strip()):
            in_block, last = not in_block, None
            continue
        if in_block:
            text = _strip_comment(raw).rstrip("\\").rstrip()  # a trailing \ continues the line
            if last is not None and raw[:1].isspace() and text[:1] in "[-":
                found[last] = (rel, found[last][1], found[last][2] + " " + text)
                continue
            last = None
            # `a | b`, `a && b`: two commands on one line
            for part in re.split(r"\s(?:\||&&)\s", text):
                if part and _is_command(part):
                    found.append((rel, n, part.strip()))
                    last = len(found) - 1
            continue
        for span in INLINE.findall(raw):
            if _is_command(span) and len(span.split()) >= 3 and not re.search(r"\s\|\s", span):
                found.append((rel, n, span.strip()))
    # a continued line may itself chain commands (`... \\n  --days 365 -o x && cp ...`)
    return [
        (rel, n, part.strip())
        for rel, n, line in found
        for part in re.split(r"\s(?:\||&&)\s", line)
        if _is_command(part)
    ]


def _drop_optional(text: str) -> str:
    while True:
        new = re.sub(r"\[[^\[\]]*\]", "", text)
        if new == text:
            return re.sub(r"\s+", " ", new).strip()
        text = new


def _ellipsis(tokens: list[str]) -> list[str]:
    """``MODULE ...`` / ``--trust K ...`` repeat what is before (drop); ``in ...`` or
    ``--registry ...`` elide a value (a stand-in word)."""
    out: list[str] = []
    for i, tok in enumerate(tokens):
        if tok != "...":
            out.append(tok)
            continue
        prev = tokens[i - 1] if i else ""
        before = tokens[i - 2] if i > 1 else ""
        if prev.isupper() or before.startswith("-"):
            continue
        out.append("X")
    return out


def expand(line: str) -> list[str]:
    """Every concrete command line a synopsis stands for."""
    variants = {_drop_optional(line), re.sub(r"[\[\]]", "", line)}
    variants = {re.sub(r"\(render options\)", "", v) for v in variants}
    lines: list[str] = []
    for v in sorted(variants):
        # N stands for a number; CMD for any command (`python3 install.py CMD`)
        stand_in = {"N": "2", "CMD": "se", "COMMAND": "se"}
        tokens = [stand_in.get(t, t) for t in _ellipsis(shlex.split(v))]
        choices = [t.split("|") if "|" in t and not t.startswith("|") else [t] for t in tokens]
        for combo in itertools.islice(itertools.product(*choices), 64):
            lines.append(shlex.join(combo))
    return lines


def all_documented() -> list[tuple[str, int, str]]:
    return [item for rel in READMES for item in readme_lines(rel)]


__all__ = ["PROGRAMS", "READMES", "all_documented", "expand", "script_of"]
