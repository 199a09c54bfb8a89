"""Read many facts from a host in ONE round trip.

Over SSH every command costs a round trip, so all fact commands go to the host as one POSIX sh
script: each runs in the background (in parallel on the target, under `timeout` where present),
writes its stdout/stderr/rc to a temp dir, and the script prints them between delimiters that
carry a random nonce. The controller splits that back into one ``Result`` per fact.

Hosts that cannot run the script (a ``RecordedHost`` in unit tests, an odd shell) fall back to
one command per fact on a thread pool, with file facts read through ``Host.read``.
"""

from __future__ import annotations

import re
import secrets
import shlex
from concurrent.futures import ThreadPoolExecutor
from typing import Optional, Sequence

from envcheck.facts import Fact, FactResult
from installer.errors import SealboxError
from installer.hosts.base import Host, Result

PER_FACT_TIMEOUT = 20
"""Seconds one fact command may take on the target (a hung dockerd must not hang us)."""

SCRIPT_TIMEOUT = 60.0

ENV = {"LC_ALL": "C"}
"""Parsers expect English output (df, timedatectl)."""


class GatherError(SealboxError):
    """The facts could not be read at all (host unreachable, sh missing): exit code 1."""

    exit_code = 1


def build_script(facts: Sequence[Fact], nonce: str) -> str:
    """The sh script that runs every fact command in parallel and prints delimited results.

    Cheap on purpose (the target may be small and it runs before every install): each fact is
    a forked subshell (no extra `sh` exec), `timeout` only wraps commands that talk to a daemon,
    delimiters are written with the `printf` builtin and ONE `cat` prints everything in order.
    """
    mark = f"@@SBX-{nonce}@@"
    lines = [
        "LC_ALL=C; export LC_ALL",
        "PATH=$PATH:/usr/sbin:/sbin:/usr/local/sbin:/usr/local/bin; export PATH",
        'd=$(mktemp -d 2>/dev/null) || { d=/tmp/sealbox-envcheck.$$; mkdir -p "$d"; }',
        "trap 'rm -rf \"$d\"' EXIT",
        f"T=; command -v timeout >/dev/null 2>&1 && T='timeout {PER_FACT_TIMEOUT}'",
    ]
    for i, fact in enumerate(facts):
        body = f"$T sh -c {shlex.quote(fact.shell)}" if fact.may_hang else f"( {fact.shell}\n)"
        lines.append(
            f"( printf '%s {i} out\\n' '{mark}' >\"$d/{i}a\"; "
            f"printf '\\n%s {i} err\\n' '{mark}' >\"$d/{i}c\"; "
            f'{body} >"$d/{i}b" 2>"$d/{i}d" </dev/null; '
            f"printf '\\n%s {i} rc %s\\n' '{mark}' $? >\"$d/{i}e\" ) &"
        )
    lines.append("wait")
    files = " ".join(f'"$d/{i}{part}"' for i in range(len(facts)) for part in "abcde")
    lines.append(f"cat {files}")
    return "\n".join(lines) + "\n"


def parse_script_output(facts: Sequence[Fact], nonce: str, text: str) -> Optional[list[Result]]:
    """Split the script's stdout back into results; None when it is not our script's output."""
    mark = re.escape(f"@@SBX-{nonce}@@")
    pattern = re.compile(rf"^{mark} (\d+) (out|err|rc)(?: (\d+))?\n", re.M)
    outs: dict[int, str] = {}
    errs: dict[int, str] = {}
    rcs: dict[int, int] = {}
    matches = list(pattern.finditer(text))
    for m, nxt in zip(matches, matches[1:] + [None]):
        idx, kind = int(m.group(1)), m.group(2)
        body = text[m.end() : nxt.start() if nxt else len(text)]
        if kind == "rc":
            rcs[idx] = int(m.group(3) or 255)
            continue
        body = body[:-1] if body.endswith("\n") else body  # the newline our `echo` added
        (outs if kind == "out" else errs)[idx] = body
    if len(rcs) != len(facts):
        return None
    return [Result(f.shell, rcs[i], outs.get(i, ""), errs.get(i, "")) for i, f in enumerate(facts)]


def _run_script(host: Host, facts: Sequence[Fact]) -> Optional[list[Result]]:
    nonce = secrets.token_hex(8)
    res = host.run(["sh", "-c", build_script(facts, nonce)], timeout=SCRIPT_TIMEOUT, env=ENV)
    return parse_script_output(facts, nonce, res.stdout)


def _run_one(host: Host, fact: Fact) -> Result:
    if fact.path is not None:
        try:
            return Result(fact.shell, 0, host.read(fact.path).decode("utf-8", "replace"), "")
        except FileNotFoundError:
            return Result(fact.shell, 1, "", f"cat: {fact.path}: No such file or directory")
        except PermissionError:
            return Result(fact.shell, 1, "", f"cat: {fact.path}: Permission denied")
    return host.run(fact.shell, timeout=PER_FACT_TIMEOUT + 5, env=ENV)


def _run_each(host: Host, facts: Sequence[Fact]) -> list[Result]:
    with ThreadPoolExecutor(max_workers=min(16, max(1, len(facts)))) as pool:
        return list(pool.map(lambda f: _run_one(host, f), facts))


def gather(host: Host, facts: Sequence[Fact], *, mode: str = "auto") -> dict[str, FactResult]:
    """Read ``facts`` from ``host``; ``mode`` is 'auto' (script, else each), 'script' or 'each'.

    Raises ``GatherError`` when the host cannot be reached or the script output is unusable.
    """
    unique = list({f.key: f for f in facts}.values())
    if not unique:
        return {}
    raw: Optional[list[Result]] = None
    try:
        if mode in ("auto", "script"):
            raw = _run_script(host, unique)
            if raw is None and mode == "script":
                raise GatherError(
                    f"{host.name}: the fact script printed no usable output; check that sh works"
                )
        if raw is None:
            raw = _run_each(host, unique)
    except SealboxError:
        raise
    except Exception as exc:  # connection dropped, sh missing: the check could not run
        raise GatherError(f"{host.name}: could not read facts ({exc}); check the host") from exc
    return {f.key: f.evaluate(r) for f, r in zip(unique, raw)}
