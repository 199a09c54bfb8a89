"""Accelerators as data in envcheck: a module's ``accelerator:`` brings its kind's items (driver,
devices, container runtime) with the spec's count, memory and versions, judged on recorded
`npu-smi` / `docker info` outputs (tests/fixtures/ascend)."""

from __future__ import annotations

from pathlib import Path

from envcheck.engine import run_checks
from envcheck.profiles import catalog_from_specs
from installer.spec.load import load_modules

from .conftest import os_host

ASCEND = Path(__file__).resolve().parents[2] / "fixtures" / "ascend"
NOT_FOUND = {"rc": 127, "stderr": "sh: 1: npu-smi: not found\n"}


def text(name: str) -> dict:
    return {"rc": 0, "stdout": (ASCEND / name).read_text()}


def catalog(tmp_path: Path, accelerator: str):  # type: ignore[no-untyped-def]
    (tmp_path / "npu-app.yaml").write_text(
        "name: npu-app\nversion: '1'\ndescription: a model service on an accelerator\n"
        "image: {ref: vendor/npu-app:1, archive: images/npu-app.tar}\n"
        f"accelerator: {accelerator}\n"
    )
    return catalog_from_specs(load_modules(str(tmp_path)))


def ascend_host(**swap):  # type: ignore[no-untyped-def]
    facts = {
        "npu_smi": text("npu-smi-info-910b4-2npu.txt"),
        "npu_map": NOT_FOUND,  # not published for this host: the NPU IDs are the devices
        "docker_info": text("docker-info-24.0-ascend.json"),
        "ascend_devices": {"rc": 0, "stdout": ""},
    }
    return os_host("kylin-v10-sp3-arm64", **{**facts, **swap})


def items(host, cat, extra=None):  # type: ignore[no-untyped-def]
    report = run_checks(host, ["npu-app"], catalog=cat, extra_items=extra or [])
    return {i.id: i for i in report.items}


def test_the_spec_brings_the_ascend_items_with_its_numbers(tmp_path: Path) -> None:
    cat = catalog(tmp_path, "{kind: ascend, count: 2, memory_gb: 32, driver: '24.1'}")
    got = {i["id"]: i for i in cat.profiles["npu-app"]["items"]}
    assert got["npu-driver"] == {"id": "npu-driver", "min": "24.1", "required": True}
    assert got["npu"] == {"id": "npu", "min_count": 2, "min_memory_gb": 32, "required": True}
    assert got["ascend-runtime"]["required"] is True
    assert not {"nvidia-driver", "gpu", "nvidia-runtime"} & set(got)
    it = items(ascend_host(), cat)
    assert it["npu-driver"].passed and it["npu-driver"].actual == "driver 24.1.1"
    assert it["npu"].passed, it["npu"].actual
    assert it["npu"].actual == "0: 910B4 OK 32768 MB, 1: 910B4 OK 32768 MB"
    assert it["ascend-runtime"].passed and "runtime 'ascend'" in it["ascend-runtime"].actual
    assert it["os"].passed and "Kylin" in it["os"].actual


def test_no_driver_fails_with_the_driver_fix(tmp_path: Path) -> None:
    cat = catalog(tmp_path, "{kind: ascend, count: 1}")
    it = items(ascend_host(npu_smi=NOT_FOUND), cat)
    assert not it["npu-driver"].passed and it["npu-driver"].status == "fail"
    assert "npu-smi: command not found" in it["npu-driver"].actual
    assert "Ascend-hdk" in it["npu-driver"].fix
    assert not it["npu"].passed and it["npu"].actual.startswith("no NPU visible")


def test_too_few_npus_an_old_driver_and_too_little_memory_fail(tmp_path: Path) -> None:
    cat = catalog(tmp_path, "{kind: ascend, count: 3, driver: '25.0'}")
    it = items(ascend_host(), cat)
    assert it["npu"].actual.startswith("2 usable NPU chip(s) of 2")
    assert it["npu-driver"].actual == "driver 24.1.1"
    assert it["npu-driver"].fix == "upgrade the Ascend NPU driver to 25.0+"
    small = items(ascend_host(), catalog(tmp_path, "{kind: ascend, count: 1, memory_gb: 64}"))
    assert not small["npu"].passed and small["npu"].actual.startswith("too little NPU memory")


def test_warning_chips_still_count(tmp_path: Path) -> None:
    cat = catalog(tmp_path, "{kind: ascend, count: 8}")
    host = ascend_host(
        npu_smi=text("npu-smi-info-910a-8npu.txt"), npu_map=text("npu-smi-info-m-910a-8npu.txt")
    )
    it = items(host, cat)
    assert it["npu"].passed and "3: xxx Warning" in it["npu"].actual


def test_without_the_runtime_the_device_nodes_must_be_there(tmp_path: Path) -> None:
    cat = catalog(tmp_path, "{kind: ascend, count: 1}")
    plain = (ASCEND / "docker-info-24.0-ascend.json").read_text().replace('"ascend":', '"x":')
    nodes = "/dev/davinci_manager\n/dev/devmm_svm\n/dev/hisi_hdc\n/dev/davinci0\n/dev/davinci1\n"
    ok = items(ascend_host(docker_info={"rc": 0, "stdout": plain},
                           ascend_devices={"rc": 0, "stdout": nodes}), cat)  # fmt: skip
    assert ok["ascend-runtime"].passed
    assert ok["ascend-runtime"].actual.startswith("no 'ascend' runtime: --device /dev/davinci0")
    bad = items(ascend_host(docker_info={"rc": 0, "stdout": plain}), cat)
    assert not bad["ascend-runtime"].passed
    assert "missing /dev/davinci_manager" in bad["ascend-runtime"].actual
    assert "Ascend Docker Runtime" in bad["ascend-runtime"].fix


def test_an_optional_accelerator_only_warns(tmp_path: Path) -> None:
    cat = catalog(tmp_path, "{kind: ascend, count: 1, required: false}")
    report = run_checks(ascend_host(npu_smi=NOT_FOUND), ["npu-app"], catalog=cat)
    assert {i.id: i.status for i in report.items}["npu-driver"] == "warn"
    assert report.verdict != "fail" or any(
        i.status == "fail" and i.id not in ("npu-driver", "npu") for i in report.items
    )


def test_an_nvidia_spec_brings_the_nvidia_items(tmp_path: Path) -> None:
    cat = catalog(
        tmp_path, "{kind: nvidia, count: 1, memory_gb: 6, driver: '450', runtime: '1.14'}"
    )
    got = {i["id"]: i for i in cat.profiles["npu-app"]["items"]}
    assert got["gpu"] == {"id": "gpu", "min_count": 1, "min_memory_gb": 6, "required": True}
    assert got["nvidia-driver-recommended"]["min"] == "450"
    assert got["nvidia-runtime"]["min"] == "1.14"
    assert not {"npu", "npu-driver", "ascend-runtime"} & set(got)
