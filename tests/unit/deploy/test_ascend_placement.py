"""Accelerators as data: a face-server-like module that declares ``accelerator: {kind: ascend,
count: 1}`` gets one Huawei Ascend NPU chip per instance on a host with two NPUs (recorded
`npu-smi info`, tests/fixtures/ascend), and each container is created with that chip: the
Ascend Docker Runtime's ASCEND_VISIBLE_DEVICES where it is registered, else /dev/davinciN, the
manager nodes and the driver mounts. Read from the `docker create` the engine ran."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from installer.bundle.opened import VerifiedBundle
from installer.deploy.engine import Deployment, InstallOptions
from installer.deploy.state import StateStore
from installer.errors import HostError
from installer.hosts.base import Result
from tests.unit.core.test_plan import MANIFEST
from tests.unit.deploy.fakedocker import FakeDocker, docker_host

REPO = Path(__file__).resolve().parents[3]
ASCEND = REPO / "tests" / "fixtures" / "ascend"
NVIDIA_LINE = "accelerator: {kind: nvidia, count: 1, required: false, memory_gb: 6}"
FACE = "sealbox-face-server-"


def ascend_bundle() -> VerifiedBundle:
    """The source tree's modules, with face-server asking for an Ascend NPU instead."""
    files = {
        str(p.relative_to(REPO)): p.read_bytes()
        for sub in ("modules", "templates")
        for p in sorted((REPO / sub).rglob("*"))
        if p.is_file()
    }
    face = files["modules/face-server.yaml"].decode()
    assert NVIDIA_LINE in face
    files["modules/face-server.yaml"] = face.replace(
        NVIDIA_LINE, "accelerator: {kind: ascend, count: 1}"
    ).encode()
    return VerifiedBundle(str(REPO), MANIFEST, b"", None, files)


class AscendDocker(FakeDocker):
    """The fake engine, with the Ascend Docker Runtime registered (or not)."""

    def __init__(self, images: dict[str, str], runtime: bool) -> None:
        super().__init__(images)
        self.runtime = runtime

    def __call__(self, text: str) -> Result:
        if text.split()[1:2] == ["info"]:
            info = json.loads((ASCEND / "docker-info-24.0-ascend.json").read_text())
            if not self.runtime:
                info["Runtimes"].pop("ascend")
                info["DefaultRuntime"] = "runc"
            return Result(text, 0, json.dumps(info))
        return super().__call__(text)

    def probe(self, text: str) -> Result:
        """tcp and http health probes both answered while a container runs."""
        running = any(c["State"]["Running"] for c in self.containers.values())
        return Result(text, 0 if running else 1, "HTTP/1.1 200 OK\r\n\r\n{}" if running else "")


def install(instances: int, *, runtime: bool, npu_smi: str = "npu-smi-info-910b4-2npu.txt"):  # type: ignore[no-untyped-def]
    docker = AscendDocker({e.id: e.id for e in MANIFEST.images}, runtime)
    host = docker_host(docker)
    host.answers["timeout "] = docker.probe
    host.answers["npu-smi info"] = (
        (ASCEND / npu_smi).read_text()
        if npu_smi
        else Result("npu-smi info", 127, "", "sh: 1: npu-smi: not found")
    )
    deploy = Deployment(ascend_bundle(), host, store=StateStore(host, "/var/lib/sealbox"), gates=[])
    deploy.install(["face-server"], InstallOptions(instances=instances))
    return host


def created(host, index: int) -> list[str]:  # type: ignore[no-untyped-def]
    name = f"{FACE}{index}"
    return next(
        shlex.split(c) for c in host.commands if c.startswith("docker create") and name in c.split()
    )


def test_one_npu_per_instance_through_the_ascend_runtime() -> None:
    host = install(2, runtime=True)
    for index in (0, 1):
        argv = created(host, index)
        i = argv.index("ASCEND_VISIBLE_DEVICES=" + str(index))
        assert argv[i - 1] == "-e" and argv[argv.index("--runtime") + 1] == "ascend"
        assert "--gpus" not in argv and not any(a.startswith("/dev/davinci") for a in argv)
    assert not any(
        "ASCEND" in c or "davinci" in c
        for c in host.commands
        if c.startswith("docker create") and FACE not in c
    ), "only the module that asks for an NPU gets one"


def test_without_the_runtime_the_chip_and_manager_nodes_are_passed() -> None:
    host = install(2, runtime=False)
    for index in (0, 1):
        argv = created(host, index)
        devices = [argv[i + 1] for i, a in enumerate(argv) if a == "--device"]
        assert devices == [
            f"/dev/davinci{index}",
            "/dev/davinci_manager",
            "/dev/devmm_svm",
            "/dev/hisi_hdc",
        ]
        mounts = [argv[i + 1] for i, a in enumerate(argv) if a == "-v"]
        assert "/usr/local/Ascend/driver:/usr/local/Ascend/driver:ro" in mounts
        assert "--runtime" not in argv


def test_more_instances_than_npus_go_round_robin_and_state_records_them() -> None:
    host = install(3, runtime=True)
    seen = [created(host, i) for i in range(3)]
    assert [next(a for a in s if a.startswith("ASCEND_VISIBLE")) for s in seen] == [
        "ASCEND_VISIBLE_DEVICES=0",
        "ASCEND_VISIBLE_DEVICES=1",
        "ASCEND_VISIBLE_DEVICES=0",
    ]
    state = json.loads(host.files["/var/lib/sealbox/state.json"])
    assert state["modules"]["face-server"]["gpus"] == ["0", "1", "0"]


def test_the_310_card_gives_its_chips_device_numbers_not_the_card_number() -> None:
    host = install(2, runtime=False, npu_smi="npu-smi-info-310-4chip.txt")
    assert created(host, 0)[created(host, 0).index("--device") + 1] == "/dev/davinci3"
    assert created(host, 1)[created(host, 1).index("--device") + 1] == "/dev/davinci4"


def test_a_required_npu_missing_stops_before_anything_is_created() -> None:
    with pytest.raises(
        HostError, match=r"needs an accelerator \(Ascend NPU\) and none was found.*npu-smi"
    ):
        install(1, runtime=True, npu_smi="")
