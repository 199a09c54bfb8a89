"""Docker facts and GPU flags from recorded `docker version` / `docker info` outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from installer.errors import HostError
from installer.facts.runtime import build_facts, gpu_run_args, parse_version
from installer.facts.snapshot import read_docker_facts
from installer.hosts.base import Result
from installer.hosts.recorded import RecordedHost
from installer.runtime.runspec import RunSpec

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "docker"


def facts(version: str, info: str):
    return build_facts((FIX / version).read_text(), (FIX / info).read_text())


def test_version_parsing():
    assert parse_version("17.12.1-ce") == (17, 12, 1)
    assert parse_version("20.10.24+dfsg1") == (20, 10, 24)
    assert parse_version("19.03") == (19, 3, 0)
    assert parse_version("garbage") == (0, 0, 0)


def test_docker_1712_with_nvidia_runtime_uses_runtime_flag():
    f = facts("version-17.12.json", "info-17.12-nvidia.json")
    assert f.server_version == "17.12.1-ce"
    assert f.data_root == "/data/docker"
    assert not f.supports_gpus_flag
    assert f.has_nvidia_runtime
    assert gpu_run_args(f, "1") == ["--runtime=nvidia", "-e", "NVIDIA_VISIBLE_DEVICES=1"]


def test_docker_1712_without_nvidia_runtime_refuses_gpu_with_fix():
    f = facts("version-17.12.json", "info-17.12-plain.json")
    assert f.storage_driver == "devicemapper"
    with pytest.raises(HostError, match="nvidia-docker2"):
        gpu_run_args(f, "0")
    assert gpu_run_args(f, None) == []


def test_docker_1903_uses_gpus_flag_even_without_runtime():
    f = facts("version-19.03.json", "info-19.03.json")
    assert f.supports_gpus_flag
    assert gpu_run_args(f, "0") == ["--gpus", "device=0"]


def test_docker_24_with_nvidia_runtime_prefers_gpus_flag():
    f = facts("version-24.0.json", "info-24.0-nvidia.json")
    assert f.has_nvidia_runtime and f.supports_gpus_flag
    assert gpu_run_args(f, "3") == ["--gpus", "device=3"]


def test_create_argv_has_labels_network_gpu_and_no_secrets():
    f = facts("version-17.12.json", "info-17.12-nvidia.json")
    spec = RunSpec(
        name="sealbox-face-server-1",
        module="face-server",
        instance=1,
        image_ref="vendor/face:1",
        image_id="sha256:abc",
        env_file="/var/lib/sealbox/config/sealbox-face-server-1/env",
        gpu="1",
    )
    argv = spec.create_argv(f)
    assert argv[:2] == ["docker", "create"]
    assert "--label" in argv and f"io.sealbox.config-hash={spec.config_hash()}" in argv
    assert "io.sealbox.module=face-server" in argv and "io.sealbox.instance=1" in argv
    assert argv[argv.index("--network") + 1] == "host"
    assert "--runtime=nvidia" in argv
    assert argv[argv.index("--env-file") + 1].endswith("/env")
    assert argv[-1] == "sha256:abc"  # created from the signed ID, never from the tag
    assert "vendor/face:1" not in argv
    assert not any("--gpus" in a for a in argv)  # 17.12 has no --gpus


def test_bridge_mode_publishes_ports():
    from installer.runtime.runspec import PortBinding

    f = facts("version-24.0.json", "info-24.0-nvidia.json")
    spec = RunSpec("c", "m", 0, "img", "sha256:1", network="bridge", ports=(PortBinding(8300, 80),))
    argv = spec.create_argv(f)
    assert argv[argv.index("-p") + 1] == "0.0.0.0:8300:80/tcp"
    assert argv[argv.index("--network") + 1] == "bridge"


def test_daemon_down_and_not_installed_messages_say_the_fix():
    down = RecordedHost(
        {"docker version": Result("", 1, (FIX / "version-daemon-down.txt").read_text(), "")}
    )
    with pytest.raises(HostError, match="daemon is not running.*systemctl start docker"):
        read_docker_facts(down)
    missing = RecordedHost({})  # no release file either: both families are named
    with pytest.raises(HostError, match="not installed.*apt-get install -y docker.io.*yum"):
        read_docker_facts(missing)
    kylin = RecordedHost(
        {}, files={"/etc/os-release": b'NAME="Kylin Linux Advanced Server"\nID="kylin"\n'}
    )
    with pytest.raises(HostError, match=r"not installed.*\(yum install -y docker-engine\)"):
        read_docker_facts(kylin)  # Kylin's Docker package, and no apt-get hint (issue 22)


def test_gpu_indexes_come_from_the_one_nvidia_smi_query():
    """The engine's GPU indexes, envcheck's GPU items and fingerprint's GPU UUIDs read one
    `nvidia-smi --query-gpu=...` (nvidia-smi once); `nvidia-smi -L` is no longer run."""
    from installer.facts.catalog import NVIDIA_QUERY
    from installer.facts.snapshot import HostFacts

    lines = (FIX / "nvidia-smi-L.txt").read_text().splitlines()
    rows = [ln.split(": ", 1)[1].rsplit(" (UUID: ", 1) for ln in lines if ln.startswith("GPU ")]
    csv = "index, name, memory.total [MiB], driver_version, pci.bus_id, uuid\n" + "".join(
        f"{i}, {name}, [N/A], [N/A], [N/A], {uuid.rstrip(')')}\n"
        for i, (name, uuid) in enumerate(rows)
    )
    host = RecordedHost({NVIDIA_QUERY: csv})
    assert HostFacts(host).gpu_indexes == ["0", "1"]
    assert not any("nvidia-smi -L" in c for c in host.commands)
    assert HostFacts(RecordedHost({})).gpu_indexes == []


def _created(image_seen: str) -> tuple[RecordedHost, RunSpec]:

    spec = RunSpec("sealbox-x-0", "x", 0, "vendor/x:1", "sha256:" + "a" * 64)
    host = RecordedHost(
        {
            "docker create": "c0ffee\n",
            "docker container inspect --format '{{.Image}}' c0ffee": image_seen + "\n",
            "docker rm -f -v c0ffee": "",
        }
    )
    return host, spec


def test_create_checks_the_container_runs_the_signed_id():
    from installer.errors import RuntimeFailure
    from installer.runtime.docker import DockerRuntime

    host, spec = _created("sha256:" + "a" * 64)
    runtime = DockerRuntime(host)
    runtime._facts = facts("version-24.0.json", "info-24.0-nvidia.json")
    assert runtime.create(spec) == "c0ffee"
    assert "docker rm -f -v c0ffee" not in host.commands

    host, spec = _created("sha256:" + "e" * 64)  # the engine gave it another image
    runtime = DockerRuntime(host)
    runtime._facts = facts("version-24.0.json", "info-24.0-nvidia.json")
    with pytest.raises(RuntimeFailure) as err:
        runtime.create(spec)
    assert "sealbox-x-0" in str(err.value) and "sha256:eeee" in str(err.value)
    assert "vendor/x:1" in str(err.value)
    assert "docker rm -f -v c0ffee" in host.commands  # refused containers do not stay


def test_remove_stops_first_so_the_exit_handler_runs():
    """Issue 19, item 3: `docker rm -f` alone kills at once; the service's SIGTERM handler,
    which gives its license seat back, must run before the container goes."""
    from installer.runtime.docker import DockerRuntime

    host = RecordedHost({"docker stop": "", "docker rm -f -v": ""})
    DockerRuntime(host).remove("sealbox-face-server-0")
    assert host.commands == [
        "docker stop -t 10 sealbox-face-server-0",
        "docker rm -f -v sealbox-face-server-0",
    ]


def test_existing_containers_keep_their_config_hash_and_an_npu_changes_it():
    """Accelerator kinds must not recreate every container made before them: an NVIDIA or
    accelerator-less run spec hashes as it did (values computed on main at 6e3819b)."""
    base = RunSpec("sealbox-x-0", "x", 0, "vendor/x:1", "sha256:" + "a" * 64)
    assert base.config_hash() == "48599c11f72dc49f3f42e2884c3e0f2f3dc470139dc95aa723ee47768d9dad1f"
    gpu = RunSpec("sealbox-x-0", "x", 0, "vendor/x:1", "sha256:" + "a" * 64, gpu="1")
    assert gpu.config_hash() == "f73704b53a547493b73be4b849adf2ffafc60235fc4e0346590c597f8ab5c931"
    npu = RunSpec(
        "sealbox-x-0", "x", 0, "vendor/x:1", "sha256:" + "a" * 64, gpu="1", accelerator="ascend"
    )
    assert npu.config_hash() != gpu.config_hash()  # GPU 1 and NPU chip 1 are different devices


def test_ascend_run_args_with_and_without_the_ascend_runtime():
    ascend = build_facts(
        (FIX / "version-24.0.json").read_text(),
        (FIX.parent / "ascend" / "docker-info-24.0-ascend.json").read_text(),
    )
    assert gpu_run_args(ascend, "3", "ascend") == [
        "--runtime", "ascend", "-e", "ASCEND_VISIBLE_DEVICES=3",
    ]  # fmt: skip
    plain = facts("version-24.0.json", "info-24.0-nvidia.json")
    argv = gpu_run_args(plain, "3", "ascend")
    assert argv[:2] == ["--device", "/dev/davinci3"] and "--gpus" not in argv
    assert gpu_run_args(plain, "3") == ["--gpus", "device=3"]  # NVIDIA as before
    assert gpu_run_args(ascend, None, "ascend") == []
