"""The fingerprint (and so the license's machine facts) records Ascend NPU board serials beside
GPU UUIDs; licenses issued before NPUs were recorded keep matching."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from fingerprint.collect import from_facts
from fingerprint.compare import MatchPolicy, match
from fingerprint.model import MachineRecord
from installer.facts.snapshot import HostFacts
from tests.unit.envcheck.conftest import recorded_host

ASCEND = Path(__file__).resolve().parents[2] / "fixtures" / "ascend"


def npu_host(board: str = "npu-smi-board-910b.txt", serial: str = ""):  # type: ignore[no-untyped-def]
    text = (ASCEND / board).read_text()
    if serial:
        text = text.replace("1025C9048791", serial)
    return recorded_host(
        "debian12-kvm",
        npu_smi={"rc": 0, "stdout": (ASCEND / "npu-smi-info-910b4-2npu.txt").read_text()},
        npu_boards={"rc": 0, "stdout": text},
    )


def test_npu_serials_are_a_component_and_the_models_a_label() -> None:
    fp = from_facts(HostFacts(npu_host()))
    assert fp.raw["npu_serials"] == ("1025C9048791",)
    assert fp.labels["npus"] == ["910B4", "910B4"]
    rec = fp.to_record(name="ascend-box")
    assert len(rec.components["npu_serials"]) == 1
    assert "1025C9048791" not in str(rec.to_dict())  # hashed, never the raw serial
    again = MachineRecord.from_dict(rec.to_dict())
    assert again.components["npu_serials"] == rec.components["npu_serials"]


def test_a_machine_without_ascend_records_no_npu_component_and_no_complaint() -> None:
    fp = from_facts(HostFacts(recorded_host("debian12-kvm")))
    assert "npu_serials" not in fp.raw and "npu_serials" not in fp.missing
    assert fp.labels["npus"] == []


def test_a_310_board_serial_is_read_too() -> None:
    fp = from_facts(HostFacts(npu_host("npu-smi-board-310.txt")))
    assert fp.raw["npu_serials"] == ("033GWL10LB000840",)


def test_licenses_issued_before_npu_serials_still_match() -> None:
    live = from_facts(HostFacts(npu_host()))
    issued = live.to_record(name="box")
    old = replace(
        issued, components={k: v for k, v in issued.components.items() if k != "npu_serials"}
    )
    res = match(old, live, MatchPolicy.suggested(old))
    assert res.ok and "npu_serials" not in res.matched + tuple(res.differing_components)
    assert res.total == len(old.components) - ("cpu_model" in old.components)


def test_a_swapped_npu_board_is_a_changed_component() -> None:
    issued = from_facts(HostFacts(npu_host())).to_record(name="box")
    swapped = from_facts(HostFacts(npu_host(serial="1025C9999999")))
    res = match(issued, swapped, MatchPolicy(required=len(issued.components) - 1))
    assert "npu_serials" in res.differing_components and "npu_serials" not in res.matched
    same = match(issued, from_facts(HostFacts(npu_host())), MatchPolicy.suggested(issued))
    assert "npu_serials" in same.matched
