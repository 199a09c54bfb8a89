"""`npu-smi` outputs recorded on real Ascend hosts (tests/fixtures/ascend) parsed into chips,
device numbers and board serials."""

from __future__ import annotations

from pathlib import Path

import pytest

from installer.facts.accel import ascend_device_indexes, npu_boards, npu_smi_info, npu_smi_map
from installer.facts.catalog import fact
from installer.facts.fact import Unavailable
from installer.facts.gather import gather
from installer.facts.snapshot import HostFacts
from installer.hosts.base import Result
from installer.hosts.local import LocalHost
from installer.hosts.recorded import RecordedHost

ASCEND = Path(__file__).resolve().parents[2] / "fixtures" / "ascend"


def out(name: str, cmd: str = "npu-smi info") -> Result:
    return Result(cmd, 0, (ASCEND / name).read_text())


def test_two_910b4_cards() -> None:
    info = npu_smi_info(out("npu-smi-info-910b4-2npu.txt"))
    assert info["version"] == "24.1.1"
    assert [(c["npu"], c["chip"], c["name"], c["health"]) for c in info["npus"]] == [
        ("0", "0", "910B4", "OK"),
        ("1", "0", "910B4", "OK"),
    ]
    assert [c["memory_mb"] for c in info["npus"]] == [32768, 32768]  # HBM total
    assert [c["bus_id"] for c in info["npus"]] == ["0000:C1:00.0", "0000:C2:00.0"]
    assert ascend_device_indexes(info) == ["0", "1"]  # one chip per card: the NPU ID


def test_eight_910a_cards_and_the_process_table_is_not_read_as_chips() -> None:
    info = npu_smi_info(out("npu-smi-info-910a-8npu.txt"))
    assert len(info["npus"]) == 8  # 32 process rows follow, shaped like chip rows
    assert [c["npu"] for c in info["npus"] if c["health"] == "Warning"] == ["3", "7"]
    mapping = npu_smi_map(out("npu-smi-info-m-910a-8npu.txt", "npu-smi info -m"))
    assert [m["logic"] for m in mapping] == [str(i) for i in range(8)]
    assert mapping[0]["name"] == "Ascend 910A"
    assert ascend_device_indexes(info, mapping) == [str(i) for i in range(8)]


def test_a_310_card_with_four_chips_uses_the_device_column() -> None:
    info = npu_smi_info(out("npu-smi-info-310-4chip.txt"))
    assert info["version"] == "21.0.4.B030"
    assert {c["npu"] for c in info["npus"]} == {"6"} and len(info["npus"]) == 4
    assert [c["name"] for c in info["npus"]] == ["310"] * 4
    assert [c["memory_mb"] for c in info["npus"]] == [8192] * 4  # DDR: no HBM column
    mapping = npu_smi_map(out("npu-smi-info-m-310-4chip.txt", "npu-smi info -m"))
    assert len(mapping) == 4 and "Mcu" not in {m["name"] for m in mapping}
    assert ascend_device_indexes(info, mapping) == ["3", "4", "5", "6"]  # not card 6


def test_board_records_give_the_serials() -> None:
    b910 = npu_boards(out("npu-smi-board-910b.txt", "loop"))
    assert [(b["npu"], b["Serial Number"]) for b in b910] == [("0", "1025C9048791")]
    assert b910[0]["Software Version"] == "25.5.1"
    b310 = npu_boards(out("npu-smi-board-310.txt", "loop"))
    assert b310[0]["Serial Number"] == "033GWL10LB000840"


def test_no_driver_is_unavailable_with_the_reason() -> None:
    missing = Result("npu-smi info", 127, "", "sh: 1: npu-smi: not found")
    for parser in (npu_smi_info, npu_smi_map, npu_boards):
        with pytest.raises(Unavailable, match="npu-smi: command not found"):
            parser(missing)
    assert HostFacts(RecordedHost({})).accelerator_indexes("ascend") == []


def test_host_facts_read_ascend_indexes_in_the_engines_one_gathering() -> None:
    host = RecordedHost(
        {
            "npu-smi info -m": (ASCEND / "npu-smi-info-m-310-4chip.txt").read_text(),
            "npu-smi info": (ASCEND / "npu-smi-info-310-4chip.txt").read_text(),
        }
    )
    facts = HostFacts(host)
    from installer.facts.snapshot import ENGINE_FACTS

    facts.gather(ENGINE_FACTS)
    assert facts.accelerator_indexes("ascend") == ["3", "4", "5", "6"]
    assert facts.accelerator_indexes("nvidia") == []
    assert facts.gatherings == 1


def test_the_device_nodes_loop_reads_a_fixture_tree(tmp_path: Path) -> None:
    for name in ("davinci0", "davinci1", "davinci_manager", "devmm_svm", "hisi_hdc", "null"):
        (tmp_path / "dev").mkdir(exist_ok=True)
        (tmp_path / "dev" / name).write_text("")
    got = gather(LocalHost(), [fact("ascend_devices")], mode="script", root=str(tmp_path))
    assert sorted(got["ascend_devices"].value) == [
        "/dev/davinci0",
        "/dev/davinci1",
        "/dev/davinci_manager",
        "/dev/devmm_svm",
        "/dev/hisi_hdc",
    ]


def test_the_board_loop_asks_each_card_once(tmp_path: Path) -> None:
    """The facts loop over `npu-smi info -m` (a stand-in npu-smi that replays the recorded
    310 host): card 6 carries four chips and an Mcu, its board is read once."""
    import subprocess

    fake = tmp_path / "npu-smi"
    calls = tmp_path / "calls"
    mapping = ASCEND / "npu-smi-info-m-310-4chip.txt"
    board = ASCEND / "npu-smi-board-310.txt"
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {calls}\n'
        f'case "$*" in "info -m") cat {mapping};; "info -t board -i 6") sed 1d {board};; '
        "*) exit 2;; esac\n"
    )
    fake.chmod(0o755)
    from installer.facts.accel import NPU_BOARDS

    res = subprocess.run(
        ["sh", "-c", NPU_BOARDS],
        capture_output=True,
        text=True,
        env={"PATH": f"{tmp_path}:/usr/bin:/bin"},
        check=True,
    )
    boards = npu_boards(Result(NPU_BOARDS, 0, res.stdout))
    assert [(b["npu"], b["Serial Number"]) for b in boards] == [("6", "033GWL10LB000840")]
    assert calls.read_text().splitlines() == ["info -m", "info -t board -i 6"]
