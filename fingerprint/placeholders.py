"""Placeholder rejection: firmware fills unset serials with stock strings that thousands of
machines share. Hashing those would make unrelated machines look identical (and a license
for one valid on all), so they count as *missing*, never as a value."""

from __future__ import annotations

import re
from typing import Optional, Tuple

PLACEHOLDERS = frozenset(
    s.lower()
    for s in (
        "To be filled by O.E.M.",
        "To Be Filled By O.E.M.",
        "To be filled by OEM",
        "Default string",
        "Default",
        "Not Specified",
        "Not Applicable",
        "Not Available",
        "Not Present",
        "None",
        "N/A",
        "NA",
        "Unknown",
        "Invalid",
        "Empty",
        "OEM",
        "O.E.M.",
        "System Serial Number",
        "System Product Name",
        "Chassis Serial Number",
        "Base Board Serial Number",
        "Baseboard Serial Number",
        "SerialNumber",
        "Serial",
        "Type1ProductConfigId",
        "0123456789",
        "123456789",
        "1234567890",
        "0123456789ABCDEF",
        "uninitialized",
        # The well-known AMI/Supermicro placeholder UUID.
        "03000200-0400-0500-0006-000700080009",
    )
)

_FILLER = re.compile(r"^[\s0\-:.]*$|^[\sfF\-:.]*$|^[\sxX\-:.*]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_value(kind: str, value: Optional[str]) -> Tuple[Optional[str], str]:
    """``(value, "")`` when usable, else ``(None, reason)`` with a reason fit for a report."""
    if value is None:
        return None, "not present"
    text = _CONTROL.sub("", value).strip()
    if not text:
        return None, "empty"
    if kind == "gpu_uuids" and text[:4].upper() in ("GPU-", "MIG-"):
        body, _ = clean_value("", text[4:])
        if body is None:
            return None, "placeholder value (all zeros/F)"
    if text.lower() in PLACEHOLDERS:
        return None, f"placeholder value ({text!r})"
    if _FILLER.match(text):
        return None, "placeholder value (all zeros/F/X)"
    if len(set(text.replace("-", "").replace(":", "").lower())) == 1 and len(text) >= 4:
        return None, "placeholder value (one repeated character)"
    if kind == "macs" and not re.match(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$", text):
        return None, f"not a MAC address ({len(text)} chars)"
    return text, ""
