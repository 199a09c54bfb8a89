"""Check kinds about Huawei Ascend NPUs: the driver (npu-smi), the NPUs themselves, and how a
container gets one (the Ascend Docker Runtime, or the /dev/davinci* device nodes)."""

from __future__ import annotations

from envcheck.kinds import Facts, Outcome, Params, _fail, _kind
from installer.facts.accel import ascend_device_indexes
from installer.facts.parse import version_at_least

USABLE_HEALTH = ("OK", "Warning")
"""npu-smi's health words are OK, Warning, Alarm, Critical, UNKNOWN: a Warning chip still runs."""

MANAGEMENT_NODES = ("/dev/davinci_manager", "/dev/devmm_svm", "/dev/hisi_hdc")


@_kind(
    "npu-driver",
    "Ascend NPU driver loaded (npu-smi answers)",
    ["npu_smi"],
    lambda p: "npu-smi info works" + (f", driver >= {p['min']}" if p["min"] else ""),
    fix="install the Ascend NPU driver and firmware (Ascend-hdk-*-npu-driver_*.run, then "
    "*-npu-firmware_*.run) and reboot",
    min="",
)
def check_npu_driver(p: Params, f: Facts) -> Outcome:
    smi = f["npu_smi"]
    if not smi.ok:
        return _fail(smi.error or "npu-smi failed")
    version = smi.value.get("version", "")
    if p["min"] and not version_at_least(version, str(p["min"])):
        return _fail(f"driver {version or '?'}", f"upgrade the Ascend NPU driver to {p['min']}+")
    return Outcome(True, f"driver {version or '?'}")


@_kind(
    "npu",
    "Ascend NPUs for the module (enough of them, healthy, enough memory)",
    ["npu_smi", "npu_map"],
    lambda p: (
        f">= {p['min_count']} NPU chip(s)"
        + (f", >= {p['min_memory_gb']} GB each" if p["min_memory_gb"] else "")
        + ", health OK or Warning"
    ),
    fix="install the Ascend cards with their driver; replace or reset chips npu-smi reports "
    "as Alarm/Critical",
    min_count=1,
    min_memory_gb=0,
)
def check_npu(p: Params, f: Facts) -> Outcome:
    smi = f["npu_smi"]
    if not smi.ok:
        return _fail(f"no NPU visible: {smi.error}")
    chips = smi.value.get("npus") or []
    devices = ascend_device_indexes(smi.value, f["npu_map"].value if f["npu_map"].ok else None)
    shown = ", ".join(
        f"{d}: {c['name']} {c['health']} {c['memory_mb']} MB" for d, c in zip(devices, chips)
    )
    usable = [c for c in chips if c["health"] in USABLE_HEALTH]
    if len(usable) < int(p["min_count"]):
        return _fail(f"{len(usable)} usable NPU chip(s) of {len(chips)}: {shown or 'none'}")
    small = [c for c in usable if c["memory_mb"] < float(p["min_memory_gb"]) * 1024]
    if small:
        return _fail(f"too little NPU memory: {shown}")
    return Outcome(True, shown)


@_kind(
    "ascend-runtime",
    "containers can be given an NPU (Ascend Docker Runtime, or the davinci device nodes)",
    ["docker_info", "ascend_devices"],
    lambda p: "docker runtime 'ascend', or /dev/davinci_manager, /dev/devmm_svm, /dev/hisi_hdc",
    fix="install the Ascend Docker Runtime (Ascend-docker-runtime_*.run --install) and restart "
    "docker, or load the NPU driver so /dev/davinci* exist",
)
def check_ascend_runtime(p: Params, f: Facts) -> Outcome:
    i, nodes = f["docker_info"], f["ascend_devices"]
    if i.ok and "ascend" in (i.value.get("Runtimes") or {}):
        return Outcome(
            True,
            f"runtime 'ascend' registered (default: {i.value.get('DefaultRuntime')}): "
            "ASCEND_VISIBLE_DEVICES",
        )
    present = nodes.value or [] if nodes.ok else []
    missing = [n for n in MANAGEMENT_NODES if n not in present]
    chips = [n for n in present if n.startswith("/dev/davinci") and n[12:].isdigit()]
    if not missing and chips:
        return Outcome(
            True, f"no 'ascend' runtime: --device {', '.join(chips)} and the manager nodes"
        )
    runtimes = ", ".join(sorted(i.value.get("Runtimes") or {})) if i.ok else f"unknown ({i.error})"
    return _fail(
        f"docker runtimes: {runtimes}; missing {', '.join(missing) or 'any /dev/davinciN'}"
    )
