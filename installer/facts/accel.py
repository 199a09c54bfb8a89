"""Accelerator facts other than NVIDIA's: Huawei Ascend NPUs through ``npu-smi``.

``npu-smi info`` is a box table: per card a row 'NPU Name | Health | ...' and per chip a row
'Chip [Device/Phy-ID] | Bus-Id | AICore Memory HBM', then (newer drivers) a process table whose
rows look like chip rows and must not become phantom chips. The device a container is given
(``/dev/davinciN``, ``ASCEND_VISIBLE_DEVICES=N``) is the chip's physical number: the Device /
Phy-ID column where the table has one, else the 'Chip Logic ID' of ``npu-smi info -m`` (equal
on one-chip cards), else the NPU ID of a one-chip card. Serials are per board
(``npu-smi info -t board -i NPU``). Recorded outputs: tests/fixtures/ascend.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Optional

from installer.facts.fact import Unavailable
from installer.hosts.base import Result

NPU_BOARDS = (
    "command -v npu-smi >/dev/null 2>&1 || { echo 'npu-smi: command not found' >&2; exit 127; }; "
    "npu-smi info -m 2>/dev/null | while read -r n c rest; do "
    "case $n$c in *[!0-9]*|'') continue;; esac; [ \"$c\" = 0 ] || continue; "
    'echo "@npu $n"; npu-smi info -t board -i "$n"; done'
)
"""Each card's board record once (its chip 0 row of the mapping), behind an '@npu N' line."""

ASCEND_DEVICES = r"""for p in "$R"/dev/davinci_manager "$R"/dev/devmm_svm "$R"/dev/hisi_hdc "$R"/dev/davinci[0-9]*; do [ -e "$p" ] && echo "${p#"$R"}"; done; true"""
"""The device nodes a container needs without the Ascend Docker Runtime (builtin only)."""

_PAIR = re.compile(r"(\d+)\s*/\s*(\d+)")


def _require(r: Result) -> str:
    if r.not_found:
        raise Unavailable("npu-smi: command not found (Ascend NPU driver not installed)")
    if not r.ok:
        raise Unavailable(f"npu-smi failed: {r.first_error_line()}")
    return r.stdout


def npu_smi_info(r: Result) -> dict[str, Any]:
    """`npu-smi info` -> {'version': driver version, 'npus': [one entry per chip]}."""
    text = _require(r)
    version = ""
    chips: list[dict[str, Any]] = []
    card: Optional[dict[str, str]] = None
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        if "Process id" in line:
            break  # the process table: its rows look like chip rows
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3:
            m = re.search(r"Version:\s*(\S+)", line)
            version = m.group(1) if m else version
            continue
        first = cells[0].split()
        if not first or not first[0].isdigit():
            continue  # the header rows ('NPU Name', 'Chip Device')
        if ":" not in cells[1] and cells[1] != "NA":  # a Health word, not a Bus-Id: a card
            card = {"npu": first[0], "name": " ".join(first[1:]), "health": cells[1]}
        elif card is not None:
            pairs = [(int(a), int(b)) for a, b in _PAIR.findall(cells[2])]
            hbm = pairs[1][1] if len(pairs) > 1 and pairs[1][1] else 0
            chips.append(
                {
                    **card,
                    "chip": first[0],
                    "device": first[1] if len(first) > 1 else "",
                    "bus_id": cells[1],
                    "memory_mb": hbm or (pairs[0][1] if pairs else 0),
                }
            )
    if not chips and "NPU" not in text:
        raise Unavailable(f"npu-smi printed no device table: {r.first_error_line()}")
    return {"version": version, "npus": chips}


def npu_smi_map(r: Result) -> list[dict[str, str]]:
    """`npu-smi info -m` -> compute chips {'npu', 'chip', 'logic', 'name'} (Mcu rows dropped)."""
    out = []
    for line in _require(r).splitlines():
        f = line.split()
        if len(f) >= 4 and f[0].isdigit() and f[1].isdigit() and f[2].isdigit():
            out.append({"npu": f[0], "chip": f[1], "logic": f[2], "name": " ".join(f[3:])})
    return out


def npu_boards(r: Result) -> list[dict[str, str]]:
    """Our board loop: '@npu N' then `npu-smi info -t board -i N` ('Key : value' lines)."""
    _require(r)
    boards: list[dict[str, str]] = []
    for line in r.stdout.splitlines():
        if line.startswith("@npu "):
            boards.append({"npu": line.split()[1]})
        elif boards and ":" in line:
            key, _, value = line.partition(":")
            boards[-1][key.strip()] = value.strip()
    return boards


def ascend_device_indexes(
    info: Mapping[str, Any], mapping: Optional[list[dict[str, str]]] = None
) -> list[str]:
    """The device number of each chip, in the table's order (see the module docstring)."""
    logic = {(m["npu"], m["chip"]): m["logic"] for m in mapping or []}
    out = []
    for chip in info.get("npus") or []:
        key = (chip["npu"], chip["chip"])
        if chip.get("device", "").isdigit():
            out.append(chip["device"])
        elif key in logic:
            out.append(logic[key])
        elif chip["chip"] == "0":
            out.append(chip["npu"])
    return list(dict.fromkeys(out))
