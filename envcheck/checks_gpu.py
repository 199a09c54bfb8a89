"""Check kinds about GPUs: the NVIDIA driver, the GPUs themselves, nouveau, kernel headers,
the container runtime's GPU support."""

from __future__ import annotations

import re

from envcheck.kinds import Facts, Outcome, Params, _fail, _kind
from installer.facts.parse import version_at_least
from installer.i18n import _

# --- GPU ------------------------------------------------------------------------------------


def _no_gpu_reason(f: Facts) -> str:
    smi, pci = f["nvidia_smi"], f["pci_nvidia"]
    devices = [d for d in (pci.value or []) if d["class"].startswith("0x03")]
    where = (
        f"{len(devices)} NVIDIA PCI device(s) present ({devices[0]['slot']})"
        if devices
        else "no NVIDIA PCI device found"
    )
    return f"{smi.error or 'nvidia-smi lists no GPU'}; {where}"


@_kind(
    "nvidia-driver",
    _("NVIDIA driver loaded and not a known-bad version"),
    ["nvidia_smi", "pci_nvidia"],
    lambda p: _("nvidia-smi works; not {reject}").format(reject=", ".join(p["reject"])),
    fix=_("install the NVIDIA driver (384.66 or later recommended), then reboot"),
    reject=["375.26"],
)
def check_nvidia_driver(p: Params, f: Facts) -> Outcome:
    smi = f["nvidia_smi"]
    if not smi.ok or not smi.value:
        return _fail(_no_gpu_reason(f))
    driver = smi.value[0]["driver"]
    if driver in p["reject"]:
        return _fail(
            _("{driver} (known bad: leaks memory)").format(driver=driver),
            _("install driver 384.66 or later"),
        )
    return Outcome(True, _("driver {driver}").format(driver=driver))


@_kind(
    "nvidia-driver-recommended",
    _("NVIDIA driver at the recommended version"),
    ["nvidia_smi", "pci_nvidia"],
    lambda p: f">= {p['min']}",
    fix=_("upgrade the NVIDIA driver"),
    min="384.66",
)
def check_nvidia_recommended(p: Params, f: Facts) -> Outcome:
    smi = f["nvidia_smi"]
    if not smi.ok or not smi.value:
        return _fail(_no_gpu_reason(f))
    driver = smi.value[0]["driver"]
    return Outcome(
        version_at_least(driver, str(p["min"])), _("driver {driver}").format(driver=driver)
    )


VGPU_NAME = re.compile(r"\bGRID\b|-\d+[QABC]$")
"""vGPU profiles show as 'GRID P40-2Q' or 'Tesla V100-8Q'; the service needs a whole GPU."""

GPU_MIB_PER_GB = 1000
"""A '6 GB' card reports about 6078 MiB, so GB thresholds are compared as 1000 MiB each."""


@_kind(
    "gpu",
    _("GPUs for the face service (whole GPUs, enough memory)"),
    ["nvidia_smi", "pci_nvidia"],
    lambda p: _(">= {count} GPU(s), >= {gb} GB each, not virtual (vGPU)").format(
        count=p["min_count"], gb=p["min_memory_gb"]
    ),
    fix=_("install a supported GPU (e.g. Tesla P4) with its driver; use pass-through, not vGPU"),
    min_count=1,
    min_memory_gb=6,
)
def check_gpu(p: Params, f: Facts) -> Outcome:
    smi = f["nvidia_smi"]
    if not smi.ok or not smi.value:
        return _fail(_("no GPU visible: {f}").format(f=_no_gpu_reason(f)))
    gpus = smi.value
    shown = ", ".join(f"{g['index']}: {g['name']} {g['memory_mib']} MiB" for g in gpus)
    small = [g for g in gpus if g["memory_mib"] < float(p["min_memory_gb"]) * GPU_MIB_PER_GB]
    virtual = [g for g in gpus if VGPU_NAME.search(g["name"])]
    if len(gpus) < int(p["min_count"]):
        return _fail(_("{n_gpus} GPU(s): {shown}").format(n_gpus=len(gpus), shown=shown))
    if small:
        return _fail(_("too little GPU memory: {shown}").format(shown=shown))
    if virtual:
        return _fail(_("virtual GPU (vGPU): {shown}").format(shown=shown))
    return Outcome(True, shown)


@_kind(
    "nouveau",
    _("open-source nouveau driver not loaded (it blocks the NVIDIA driver)"),
    ["modules"],
    lambda p: _("nouveau not in /proc/modules"),
    fix=_("blacklist nouveau (modprobe.d), rebuild the initramfs, reboot"),
)
def check_nouveau(p: Params, f: Facts) -> Outcome:
    m = f["modules"]
    if not m.ok:
        return _fail(_("cannot read /proc/modules: {error}").format(error=m.error))
    if "nouveau" in m.value:
        return _fail(_("nouveau is loaded"))
    if not m.value:
        return Outcome(True, _("no loadable modules (kernel without /proc/modules)"))
    return Outcome(True, _("not loaded ({n_value} modules loaded)").format(n_value=len(m.value)))


@_kind(
    "kernel-headers",
    _("kernel headers for the running kernel (to build the NVIDIA driver)"),
    ["kernel_headers", "uname"],
    lambda p: _("/lib/modules/$(uname -r)/build present"),
    fix=_("install the headers of the running kernel: {install:kernel-headers}"),
)
def check_kernel_headers(p: Params, f: Facts) -> Outcome:
    h = f["kernel_headers"]
    release = f["uname"].value.get("release", "?") if f["uname"].ok else "?"
    if not h.ok:
        return _fail(_("cannot tell: {error}").format(error=h.error))
    if h.value:
        return Outcome(True, _("present for {release}").format(release=release))
    return _fail(
        _("missing for {release}: {raw}").format(release=release, raw=h.raw.first_error_line())
    )


@_kind(
    "nvidia-runtime",
    _("NVIDIA container runtime registered with Docker (nvidia-docker2 / toolkit)"),
    ["docker_info", "nvidia_container_cli"],
    lambda p: (
        _("docker runtime 'nvidia', or nvidia-container-toolkit with Docker >= 19.03")
        + (_("; nvidia-container-cli >= {min}").format(min=p["min"]) if p["min"] else "")
    ),
    fix=_(
        "install nvidia-container-toolkit ({install:nvidia-container-toolkit}) or nvidia-docker2 "
        "(>= 2.0.2), restart docker"
    ),
    min="",
)
def check_nvidia_runtime(p: Params, f: Facts) -> Outcome:
    i, cli = f["docker_info"], f["nvidia_container_cli"]
    if p["min"] and not (cli.ok and version_at_least(cli.value, str(p["min"]))):
        seen = f"nvidia-container-cli {cli.value}" if cli.ok else (cli.error or "not found")
        return _fail(f"{seen}; the module needs {p['min']}+", "upgrade nvidia-container-toolkit")
    if i.ok and "nvidia" in (i.value.get("Runtimes") or {}):
        return Outcome(
            True,
            _("runtime 'nvidia' registered (default: {value})").format(
                value=i.value.get("DefaultRuntime")
            ),
        )
    server = i.value.get("ServerVersion", "") if i.ok else ""
    if cli.ok and server and version_at_least(server, "19.03"):
        return Outcome(
            True,
            _("nvidia-container-cli {value}, Docker {server} (--gpus)").format(
                value=cli.value, server=server
            ),
        )
    runtimes = ", ".join(sorted(i.value.get("Runtimes") or {})) if i.ok else f"unknown ({i.error})"
    return _fail(
        _("docker runtimes: {runtimes}; {error}").format(
            runtimes=runtimes, error=cli.error or "nvidia-container-cli " + cli.value
        )
    )
