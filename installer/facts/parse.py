"""Pure parsers: raw command output (a ``Result``) -> plain Python values.

They live apart from the commands so unit tests can feed recorded output from real hosts
(CentOS 7, Ubuntu, RHEL, Debian) without any machine. A parser raises ``Unavailable`` when the
output says the thing is not there or not readable; the caller turns that into the fact's
default plus a reason the user can read.
"""

from __future__ import annotations

import re
from typing import Any

from installer.facts.fact import Unavailable
from installer.hosts.base import Result

__all__ = ["Unavailable"]


def version_tuple(text: str) -> tuple[int, ...]:
    """'17.12.0-ce' -> (17, 12, 0); '3.10.0-1160.el7.x86_64' -> (3, 10, 0); '' -> ()."""
    m = re.search(r"\d+(?:\.\d+)*", text or "")
    if not m:
        return ()
    return tuple(int(p) for p in m.group(0).split("."))


def version_at_least(actual: str, minimum: str) -> bool:
    """Compare dotted versions numerically, padding the shorter one with zeros."""
    a, b = list(version_tuple(actual)), list(version_tuple(minimum))
    width = max(len(a), len(b))
    a += [0] * (width - len(a))
    b += [0] * (width - len(b))
    return a >= b


def _require_ok(r: Result, what: str = "") -> str:
    if r.rc == 0:
        return r.stdout
    if r.not_found:
        raise Unavailable(f"{what or r.cmd.split()[0]}: command not found (not installed)")
    raise Unavailable(r.first_error_line())


def _key_values(text: str, sep: str = "=") -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or sep not in line:
            continue
        key, _, value = line.partition(sep)
        out[key.strip()] = value.strip().strip('"').strip("'")
    return out


# --- OS, kernel, CPU, memory, disk -----------------------------------------------------------


def os_release(r: Result) -> dict[str, str]:
    """/etc/os-release as a dict (ID, VERSION_ID, PRETTY_NAME, ID_LIKE ...)."""
    return _key_values(_require_ok(r, "/etc/os-release"))


def redhat_release(r: Result) -> str:
    """'CentOS Linux release 7.9.2009 (Core)' -> '7.9.2009': os-release only says '7'."""
    text = _require_ok(r, "/etc/redhat-release")
    m = re.search(r"release\s+(\d+(?:\.\d+)*)", text)
    if not m:
        raise Unavailable(f"no release number in {text.strip()!r}")
    return m.group(1)


def uname(r: Result) -> dict[str, str]:
    """`uname -r -m` -> {'release': ..., 'machine': ...}."""
    parts = _require_ok(r, "uname").split()
    if len(parts) < 2:
        raise Unavailable(f"unexpected uname output {r.stdout.strip()!r}")
    return {"release": parts[0], "machine": parts[-1]}


def status_uid(r: Result) -> int:
    """The 'Uid:' line of /proc/self/status -> the real UID of the shell that read the facts."""
    for line in r.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "Uid:" and fields[1].isdigit():
            return int(fields[1])
    raise Unavailable("no Uid line in /proc/self/status")


def count(r: Result) -> int:
    """A number printed alone (`grep -c`)."""
    text = r.stdout.strip()
    if not text.isdigit():
        raise Unavailable(r.first_error_line())
    return int(text)


def cpu_flags(r: Result) -> list[str]:
    """The first `flags : ...` line of /proc/cpuinfo -> sorted flag names."""
    for line in r.stdout.splitlines():
        if line.startswith("flags"):
            return sorted(set(line.partition(":")[2].split()))
    raise Unavailable("no flags line in /proc/cpuinfo")


def meminfo(r: Result) -> dict[str, int]:
    """/proc/meminfo -> {'MemTotal': kB, ...}."""
    out: dict[str, int] = {}
    for line in _require_ok(r, "/proc/meminfo").splitlines():
        key, _, rest = line.partition(":")
        fields = rest.split()
        if fields and fields[0].isdigit():
            out[key.strip()] = int(fields[0])
    if "MemTotal" not in out:
        raise Unavailable("no MemTotal in /proc/meminfo")
    return out


def df(r: Result) -> dict[str, Any]:
    """Our df snippet: 'path: P' and 'checked: Q' lines, then `df -Pk Q` (POSIX, 1K blocks)."""
    meta = {}
    rows = []
    for line in r.stdout.splitlines():
        if line.startswith(("path: ", "checked: ")):
            key, _, value = line.partition(": ")
            meta[key] = value
        elif line.strip() and not line.startswith("Filesystem"):
            rows.append(line)
    if not rows:
        raise Unavailable(r.first_error_line())
    fields = rows[-1].split()
    if len(fields) < 6 or not fields[3].isdigit():
        raise Unavailable(f"unexpected df output {rows[-1]!r}")
    return {
        "path": meta.get("path", ""),
        "checked": meta.get("checked", meta.get("path", "")),
        "filesystem": fields[0],
        "size_kb": int(fields[1]),
        "avail_kb": int(fields[3]),
        "mount": " ".join(fields[5:]),
    }


def glibc(r: Result) -> str:
    """`getconf GNU_LIBC_VERSION` ('glibc 2.17') or `ldd --version` first line -> '2.17'."""
    text = _require_ok(r, r.cmd.split()[0] if r.cmd else "ldd")
    first = text.strip().splitlines()[0] if text.strip() else ""
    if "musl" in text.lower():
        raise Unavailable("C library is musl, not glibc")
    found = re.findall(r"\d+\.\d+", first)
    if not found:
        raise Unavailable(f"no glibc version in {first!r}")
    return found[-1]


def first_version(r: Result) -> str:
    """'gcc (GCC) 4.8.5 20150623 (Red Hat 4.8.5-44)' -> '4.8.5' (skip the parenthesised parts).

    Also `nvidia-container-cli --version` ('cli-version: 1.14.3' / 'version: 1.0.0').
    """
    text = _require_ok(r).strip()
    first = text.splitlines()[0] if text else ""
    m = re.search(r"\b\d+\.\d+(?:\.\d+)?\b", re.sub(r"\([^)]*\)", " ", first))
    if not m:
        raise Unavailable(f"no version in {first!r}")
    return m.group(0)


# --- security, modules ----------------------------------------------------------------


def word(r: Result) -> str:
    """The single word a command prints (`getenforce`, `firewall-cmd --state`), lower-cased."""
    if r.not_found:
        raise Unavailable(f"{r.cmd.split()[0]}: command not found (not installed)")
    text = r.stdout.strip() or r.stderr.strip()
    if not text:
        raise Unavailable(f"{r.cmd} printed nothing (exit code {r.rc})")
    return text.splitlines()[0].strip().lower()


def file_text(r: Result) -> str:
    """A small file's content, stripped (/sys/fs/selinux/enforce)."""
    return _require_ok(r).strip()


def iptables_chain(r: Result) -> dict[str, Any]:
    """`iptables -S INPUT` -> {'policy': 'DROP', 'rules': ['-A INPUT ...', ...]}."""
    text = _require_ok(r, "iptables")
    policy = ""
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("-P "):
            policy = line.split()[-1]
        elif line.startswith("-A "):
            rules.append(line)
    return {"policy": policy, "rules": rules}


def modules(r: Result) -> list[str]:
    """/proc/modules -> loaded module names. No file = kernel without loadable modules."""
    if not r.ok and "No such file" in (r.stderr + r.stdout):
        return []
    return sorted({line.split()[0] for line in _require_ok(r).splitlines() if line.strip()})


def path_exists(r: Result) -> bool:
    """`ls -dL PATH`: rc 0 = there (symlinks followed, so a dangling `build` link is absent)."""
    if r.not_found:
        raise Unavailable("ls: command not found")
    return r.ok


def existing_paths(r: Result) -> list[str]:
    """`ls -d A B ...` prints the ones that exist (rc 2 when some are missing)."""
    return [line.strip() for line in r.stdout.splitlines() if line.strip()]


# --- time ----------------------------------------------------------------------------------


def timedatectl_synced(r: Result) -> bool:
    """'NTP synchronized: yes' (systemd 219, CentOS 7) or 'System clock synchronized: yes'."""
    text = _require_ok(r, "timedatectl")
    m = re.search(r"(?:NTP|System clock) synchronized:\s*(yes|no)", text)
    if not m:
        raise Unavailable("timedatectl printed no synchronisation status")
    return m.group(1) == "yes"


def chronyc_synced(r: Result) -> bool:
    """`chronyc tracking`: 'Leap status : Normal' means synchronised."""
    text = _require_ok(r, "chronyc")
    m = re.search(r"Leap status\s*:\s*(.+)", text)
    if not m:
        raise Unavailable("chronyc printed no leap status")
    return m.group(1).strip().lower() == "normal"


def ntpstat_synced(r: Result) -> bool:
    """`ntpstat`: rc 0 synchronised, 1 not, 2 ntpd unreachable."""
    if r.not_found:
        raise Unavailable("ntpstat: command not found (not installed)")
    if r.rc == 2:
        raise Unavailable(r.first_error_line())
    return r.rc == 0
