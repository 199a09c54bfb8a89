"""Read many facts from a host in ONE round trip: one POSIX sh script, sections back.

Over SSH every command costs a round trip and a shell on the target, so every fact a run needs
goes to the host as one script, and the host's CPU is spent on the facts, not on plumbing:

- files are read with the ``read`` builtin (no ``cat``), builtin-only snippets (loops over
  /sys and /proc) run inside the script's own shell: neither forks;
- a command runs once, its stdout straight to ours, its stderr captured (one fork + exec);
- commands that talk to a daemon (dockerd, the NVIDIA driver, chronyd) run in the background
  under ``timeout`` where present, so a hung daemon costs one timeout, not a hang;
- PATH gains only the sbin folders (ss, ip, dmidecode for a non-root user): a program the
  engine's own commands cannot find (docker outside the caller's PATH) must not be found here;
- ``ss`` is kept in a variable for the listener cgroup loop, and `docker info`'s data-root for
  the Docker disk fact, so neither runs twice.

Every section starts with a marker carrying a random nonce; the controller splits the output
back into one ``Result`` per fact. Hosts that cannot run the script (a ``RecordedHost`` in unit
tests, an odd shell) fall back to one command per fact, files read through ``Host.read``.
"""

from __future__ import annotations

import re
import secrets
import shlex
from concurrent.futures import ThreadPoolExecutor
from typing import Optional, Sequence

from installer.errors import SealboxError
from installer.facts.catalog import CAPTURED
from installer.facts.fact import Fact, FactResult
from installer.hosts.base import Host, Result
from installer.i18n import _

PER_FACT_TIMEOUT = 20
"""Seconds one daemon-talking fact may take on the target (a hung dockerd must not hang us)."""

SCRIPT_TIMEOUT = 60.0

ENV = {"LC_ALL": "C"}
"""Parsers expect English output (df, timedatectl)."""

AFTER = {"df_docker": "docker_info"}
"""Facts that read an earlier fact's output inside the script (so its command runs once)."""

_SIMPLE = re.compile(r"^[A-Za-z0-9_./'{}:=, -]+$")
_PROGRAM = re.compile(r"^([A-Za-z][A-Za-z0-9_.-]*)(?:\s|$)")
_SHELL_WORDS = {"command", "for", "while", "if", "case", "test", "echo", "printf", "read"}


def _program(fact: Fact) -> str:
    """The program a command fact runs first ('' for shell code): a missing one is answered
    with rc 127 by the script itself, without forking a shell to find out."""
    m = _PROGRAM.match(fact.command or "")
    return m.group(1) if m and m.group(1) not in _SHELL_WORDS else ""


def _if_installed(i: int, fact: Fact, line: str) -> str:
    prog = _program(fact)
    if not prog or fact.builtin or fact.path is not None:
        return line
    return (
        f"if command -v {prog} >/dev/null 2>&1; then {line}; else "
        f'm "{i} out"; m "{i} err"; echo "sh: 1: {prog}: not found"; m "{i} rc 127"; fi'
    )


_PRELUDE = r"""LC_ALL=C; export LC_ALL
PATH=$PATH:/usr/sbin:/sbin:/usr/local/sbin; export PATH
exec 3>&1
m() { printf '\n%s %s\n' "$M" "$1"; }
rf() {
  E=
  if [ ! -e "$1" ]; then E="cat: $2: No such file or directory"; return 1; fi
  if [ ! -r "$1" ]; then E="cat: $2: Permission denied"; return 1; fi
  n=0
  while IFS= read -r l || [ -n "$l" ]; do
    if [ -z "$l" ] && [ "$3" = -1 ]; then break; fi
    printf '%s\n' "$l"; n=$((n+1)); [ "$n" = "$3" ] && break
  done 2>/dev/null <"$1"
  return 0
}
T=; command -v timeout >/dev/null 2>&1 && T='timeout __TIMEOUT__'
"""


class GatherError(SealboxError):
    """The facts could not be read at all (host unreachable, sh missing): exit code 1."""

    exit_code = 1


def _daemon_cmd(fact: Fact) -> str:
    """`timeout N cmd` without an extra shell where the command is a simple one."""
    if fact.command and _SIMPLE.match(fact.command):
        return f"$T {fact.command}"
    return f"$T sh -c {shlex.quote(fact.shell)}"


def _foreground(i: int, fact: Fact, cmd: Optional[str] = None) -> str:
    body = cmd or f"{{ {fact.shell}\n}}"
    return (
        f'm "{i} out"; E=$({body} 2>&1 >&3 </dev/null); SBX_R=$?; m "{i} err"; '
        f'[ -n "$E" ] && printf \'%s\\n\' "$E"; m "{i} rc $SBX_R"'
    )


def build_script(facts: Sequence[Fact], nonce: str, root: str = "") -> str:
    """The sh script that reads every fact and prints delimited results (see the module doc).

    ``root`` prefixes every file path (``$R``): unit tests point it at a fixture tree.
    """
    lines = [
        f"R={shlex.quote(root.rstrip('/'))}; M='@@SBX-{nonce}@@'",
        _PRELUDE.replace("__TIMEOUT__", str(PER_FACT_TIMEOUT)),
    ]
    index = {f.key: i for i, f in enumerate(facts)}
    background = [i for i, f in enumerate(facts) if f.may_hang and f.key not in AFTER]
    if background:
        lines.append("SBX_D=$(mktemp -d 2>/dev/null) || SBX_D=")
        for i in background:
            run = (
                f'if [ -n "$SBX_D" ]; then ( {_daemon_cmd(facts[i])} >"$SBX_D/{i}.o" '
                f'2>"$SBX_D/{i}.e" </dev/null; echo $? >"$SBX_D/{i}.r" ) & '
                f"else {_foreground(i, facts[i], _daemon_cmd(facts[i]))}; fi"
            )
            prog = _program(facts[i])
            if prog:  # a missing daemon tool: its rc file is written without a fork
                run = (
                    f"if command -v {prog} >/dev/null 2>&1; then {run}; "
                    f'elif [ -n "$SBX_D" ]; then echo "sh: 1: {prog}: not found" '
                    f'>"$SBX_D/{i}.e"; : >"$SBX_D/{i}.o"; echo 127 >"$SBX_D/{i}.r"; '
                    f"else {_if_installed(i, facts[i], ':')}; fi"
                )
            lines.append(run)
    order = sorted(
        (i for i, f in enumerate(facts) if i not in background and f.key not in AFTER),
        key=lambda i: facts[i].key not in CAPTURED,
    )
    for i in order:
        f = facts[i]
        if f.path is not None:
            path = shlex.quote(f.path)
            lines.append(
                f'm "{i} out"; rf "$R"{path} {path} {f.lines}; SBX_R=$?; m "{i} err"; '
                f'[ -n "$E" ] && printf \'%s\\n\' "$E"; m "{i} rc $SBX_R"'
            )
        elif f.key in CAPTURED:
            var = CAPTURED[f.key]
            lines.append(
                f'm "{i} out"; {var}=$({{ {f.shell}\n}} 2>/dev/null </dev/null); SBX_R=$?; '
                f'[ -n "${var}" ] && printf \'%s\\n\' "${var}"; '
                f'm "{i} err"; m "{i} rc $SBX_R"'
            )
        elif f.builtin:
            lines.append(
                f'm "{i} out"; {{ s=; {f.shell}\n}} 2>/dev/null </dev/null; SBX_R=$?; '
                f'm "{i} err"; m "{i} rc $SBX_R"'
            )
        else:
            lines.append(_if_installed(i, f, _foreground(i, f)))
    if background:
        lines.append('wait; if [ -n "$SBX_D" ]; then')
        for i in background:
            lines.append(
                f'm "{i} out"; rf "$SBX_D/{i}.o" out 0; m "{i} err"; rf "$SBX_D/{i}.e" err 0; '
                f'SBX_R=255; read -r SBX_R 2>/dev/null <"$SBX_D/{i}.r"; m "{i} rc $SBX_R"'
            )
        lines.append("fi")
    for key, needs in AFTER.items():
        if key not in index:
            continue
        j = index.get(needs)
        if j is not None and j in background:
            lines.append(
                f'SBX_DOCKER_ROOT=; if [ -n "$SBX_D" ] && [ -s "$SBX_D/{j}.o" ]; then '
                f'IFS= read -r SBX_J <"$SBX_D/{j}.o"; case $SBX_J in *\'"DockerRootDir":"\'*) '
                'SBX_DOCKER_ROOT=${SBX_J#*\\"DockerRootDir\\":\\"}; '
                'SBX_DOCKER_ROOT=${SBX_DOCKER_ROOT%%\\"*};; esac; fi; export SBX_DOCKER_ROOT'
            )
        k = index[key]
        lines.append(_if_installed(k, facts[k], _foreground(k, facts[k], _daemon_cmd(facts[k]))))
    if background:
        lines.append('[ -n "$SBX_D" ] && rm -rf "$SBX_D"')
    lines.append(f"m 'end {len(facts)}'")
    return "\n".join(lines) + "\n"


def parse_script_output(facts: Sequence[Fact], nonce: str, text: str) -> Optional[list[Result]]:
    """Split the script's stdout back into results; None when it is not our script's output."""
    mark = re.escape(f"@@SBX-{nonce}@@")
    pattern = re.compile(rf"^{mark} (\d+|end) (out|err|rc|\d+)(?: (\d+))?\n?", re.M)
    outs: dict[int, str] = {}
    errs: dict[int, str] = {}
    rcs: dict[int, int] = {}
    matches = list(pattern.finditer(text))
    for m, nxt in zip(matches, matches[1:] + [None]):
        if m.group(1) == "end":
            continue
        idx, kind = int(m.group(1)), m.group(2)
        body = text[m.end() : nxt.start() if nxt else len(text)]
        if kind == "rc":
            rcs[idx] = int(m.group(3) or 255)
            continue
        body = body[:-1] if body.endswith("\n") else body  # the newline our marker added
        (outs if kind == "out" else errs)[idx] = body
    if len(rcs) != len(facts) or not any(m.group(1) == "end" for m in matches):
        return None
    return [Result(f.shell, rcs[i], outs.get(i, ""), errs.get(i, "")) for i, f in enumerate(facts)]


def _run_script(host: Host, facts: Sequence[Fact], root: str) -> Optional[list[Result]]:
    nonce = secrets.token_hex(8)
    script = build_script(facts, nonce, root)
    # The script as text: the Host runs it with one `sh -c` (over SSH the only shell besides
    # the login shell); it sets LC_ALL itself, so no `env` in front either.
    res = host.run(script, timeout=SCRIPT_TIMEOUT)
    return parse_script_output(facts, nonce, res.stdout)


def _head(text: str, lines: int) -> str:
    if lines == 0:
        return text
    out = []
    for line in text.splitlines():
        if lines < 0 and not line:
            break
        out.append(line + "\n")
        if len(out) == lines:
            break
    return "".join(out)


def _run_one(host: Host, fact: Fact, root: str) -> Result:
    if fact.path is not None:
        try:
            data = host.read(root.rstrip("/") + fact.path).decode("utf-8", "replace")
            return Result(fact.shell, 0, _head(data, fact.lines), "")
        except FileNotFoundError:
            return Result(fact.shell, 1, "", f"cat: {fact.path}: No such file or directory")
        except PermissionError:
            return Result(fact.shell, 1, "", f"cat: {fact.path}: Permission denied")
    return host.run(fact.shell, timeout=PER_FACT_TIMEOUT + 5, env=ENV)


def _run_each(host: Host, facts: Sequence[Fact], root: str) -> list[Result]:
    with ThreadPoolExecutor(max_workers=min(16, max(1, len(facts)))) as pool:
        return list(pool.map(lambda f: _run_one(host, f, root), facts))


def gather(
    host: Host, facts: Sequence[Fact], *, mode: str = "auto", root: str = ""
) -> dict[str, FactResult]:
    """Read ``facts`` from ``host``; ``mode`` is 'auto' (script, else each), 'script' or 'each'.

    Raises ``GatherError`` when the host cannot be reached or the script output is unusable.
    """
    unique = list({f.key: f for f in facts}.values())
    if not unique:
        return {}
    raw: Optional[list[Result]] = None
    try:
        if mode in ("auto", "script"):
            raw = _run_script(host, unique, root)
            if raw is None and mode == "script":
                raise GatherError(
                    _(
                        "{name}: the fact script printed no usable output; check that sh works"
                    ).format(name=host.name)
                )
        if raw is None:
            raw = _run_each(host, unique, root)
    except SealboxError:
        raise
    except Exception as exc:  # connection dropped, sh missing: the check could not run
        raise GatherError(
            _("{name}: could not read facts ({exc}); check the host").format(
                name=host.name, exc=exc
            )
        ) from exc
    return {f.key: f.evaluate(r) for f, r in zip(unique, raw)}
