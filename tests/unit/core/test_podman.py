"""Podman as the runtime: facts, create arguments, image names and IDs, from recorded outputs
(tests/fixtures/podman, captured from Debian's podman 4.3.1)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import pytest

from installer.errors import HostError, UsageError
from installer.facts.podman import build_podman_facts, podman_facts
from installer.facts.runtime import build_facts
from installer.facts.snapshot import HostFacts, engine_facts, runtime_facts
from installer.hosts.base import Result
from installer.hosts.recorded import RecordedHost
from installer.runtime.container import Container
from installer.runtime.docker import ContainerRuntime
from installer.runtime.images import Snapshot, parse_loaded, parse_snapshot, settle
from installer.runtime.load import load_command
from installer.runtime.runspec import RunSpec, parse_ulimit

FIX = Path(__file__).resolve().parents[2] / "fixtures"
VERSION = (FIX / "podman" / "version-4.3.1.json").read_text()
INFO = (FIX / "podman" / "info-4.3.1-rootful.json").read_text()
SIGNED = "sha256:7c9cfb4ec63167a0d28487e62510d2a3f925520807fc8933a1c9bb92ff946c4e"


def podman():
    return build_podman_facts(VERSION, INFO)


def docker():
    d = FIX / "docker"
    return build_facts(
        (d / "version-24.0.json").read_text(), (d / "info-24.0-nvidia.json").read_text()
    )


def spec(**kw) -> RunSpec:
    base = dict(
        name="sealbox-license-server-0",
        module="license-server",
        instance=0,
        image_ref="sealbox-demo/license-server:0.1",
        image_id=SIGNED,
    )
    return RunSpec(**{**base, **kw})


# --- facts -----------------------------------------------------------------------------------


def test_podman_facts_from_recorded_version_and_info():
    f = podman()
    assert (f.engine, f.server_version, f.client_version) == ("podman", "4.3.1", "4.3.1")
    assert f.data_root == "/var/lib/containers/storage"  # the bundle gate's disk check reads it
    assert f.storage_driver == "overlay"
    assert f.default_runtime == "runc" and f.runtimes == ("runc",)
    assert f.rootless is False


def test_missing_podman_is_one_line_with_the_install_hint():
    with pytest.raises(
        HostError, match=r"Podman is not installed on h1: install it .*apt-get install podman"
    ):
        podman_facts(
            Result("podman version", 127, "", "podman: not found"), Result("", 0, "", ""), "h1"
        )


def test_broken_podman_info_names_the_storage_config():
    bad = Result("podman info", 125, "", "Error: database configuration mismatch")
    with pytest.raises(HostError, match="podman info failed on h1 .*storage.conf"):
        podman_facts(Result("podman version", 0, VERSION, ""), bad, "h1")


def _host(docker_ok: bool, podman_ok: bool) -> RecordedHost:
    answers: dict[str, object] = {}
    if docker_ok:
        d = FIX / "docker"
        answers["docker version"] = (d / "version-24.0.json").read_text()
        answers["docker info"] = (d / "info-24.0-nvidia.json").read_text()
    if podman_ok:
        answers["podman version"] = VERSION
        answers["podman info"] = INFO
    return RecordedHost(answers)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "docker_ok, podman_ok, kind",
    [
        (True, True, "docker"),
        (False, True, "podman"),
        (True, False, "docker"),
        (False, False, "docker"),
    ],
)
def test_auto_picks_docker_where_installed_else_podman(docker_ok, podman_ok, kind):
    facts = HostFacts(_host(docker_ok, podman_ok), runtime="auto")
    assert facts.runtime_kind == kind
    if docker_ok or podman_ok:
        assert facts.docker.engine == kind
    else:  # neither: Docker's own "not installed" with its hint, as before Podman
        with pytest.raises(HostError, match="Docker is not installed"):
            _ = facts.docker


def test_explicit_runtime_reads_only_its_own_facts_in_one_gathering():
    host = _host(True, True)
    facts = HostFacts(host, runtime="podman")
    facts.gather(engine_facts("podman"))
    assert facts.docker.engine == "podman"
    assert facts.gatherings == 1
    ran = " ".join(host.commands)
    assert "podman version" in ran and "docker version" not in ran
    assert set(runtime_facts("auto")) == set(runtime_facts("docker")) | set(runtime_facts("podman"))


# --- create arguments ------------------------------------------------------------------------


def test_podman_create_args_restart_logs_ulimits():
    argv = spec(ulimits=("nofile=1024:1024", "nproc=1024:1024")).create_argv(podman())
    assert argv[:2] == ["podman", "create"]
    # podman-restart.service starts only `always` containers at boot
    assert argv[argv.index("--restart") + 1] == "always"
    assert ["--log-driver", "k8s-file"] == argv[
        argv.index("--log-driver") : argv.index("--log-driver") + 2
    ]
    assert "max-file=3" not in argv
    ulimits = [argv[i + 1] for i, a in enumerate(argv) if a == "--ulimit"]
    assert ulimits == ["nofile=1024:1024", "nproc=1024:1024"]
    assert argv[argv.index("--network") + 1] == "host"
    assert argv[-1] == SIGNED  # the signed ID, never the tag


def test_docker_create_args_take_the_same_ulimit_setting_and_keep_unless_stopped():
    argv = spec(ulimits=("nofile=4096:8192",)).create_argv(docker())
    assert argv[:2] == ["docker", "create"]
    assert argv[argv.index("--restart") + 1] == "unless-stopped"
    assert argv[argv.index("--ulimit") + 1] == "nofile=4096:8192"
    assert "--log-driver" not in argv
    assert "--ulimit" not in spec().create_argv(docker())  # no setting: the engine's defaults


def test_gpu_is_a_cdi_device_on_podman_and_gpus_on_docker():
    p = spec(gpu="1").create_argv(podman())
    assert p[p.index("--device") + 1] == "nvidia.com/gpu=1"
    assert "--gpus" not in p
    d = spec(gpu="1").create_argv(docker())
    assert d[d.index("--gpus") + 1] == "device=1"


def test_no_ulimits_keeps_the_config_hash_existing_containers_carry():
    s = spec()
    data = asdict(s)
    data.pop("bundle_version")
    data.pop("ulimits")
    data.pop("accelerator")  # the other field main had not (issue 22's Ascend): empty, left out
    before = hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode())
    assert s.config_hash() == before.hexdigest()  # no recreate of every container on upgrade
    assert spec(ulimits=("nofile=1024:1024",)).config_hash() != s.config_hash()


@pytest.mark.parametrize("bad", ["nofile", "nofile=x", "NOFILE=1", "nofile=1:y", "=1"])
def test_bad_ulimit_is_a_usage_error_naming_it(bad):
    with pytest.raises(UsageError, match="expected NAME=SOFT"):
        parse_ulimit(bad)


def test_good_ulimits():
    assert parse_ulimit(" nofile=1024:2048 ") == "nofile=1024:2048"
    assert parse_ulimit("nproc=-1") == "nproc=-1"


# --- images and containers -------------------------------------------------------------------


def test_podman_inspect_image_id_is_normalised_to_dockers_form():
    raw = json.loads((FIX / "podman" / "inspect-created.json").read_text())[0]
    c = Container(raw)
    assert raw["Image"] == SIGNED.split(":", 1)[1]  # what podman writes
    assert c.image_id == SIGNED
    assert c.name == "sbx-fixture" and c.status == "created" and c.managed


def test_podman_names_local_images_under_localhost_and_sealbox_sees_the_bundle_name():
    out = f"localhost/sealbox-demo/license-server:0.1 {SIGNED}\n<none>:<none> sha256:{'a' * 64}\n"
    snap = parse_snapshot(out, "podman")
    assert snap.tags == {"sealbox-demo/license-server:0.1": SIGNED}
    assert f"sha256:{'a' * 64}" in snap.ids
    # Docker keeps a registry called localhost as it is
    assert "localhost/x:1" in parse_snapshot(f"localhost/x:1 {SIGNED}\n").tags


def test_podman_load_output():
    out = (
        "Getting image source signatures\nLoaded image: localhost/sealbox-demo/license-server:0.1\n"
        f"Loaded image: sha256:{'b' * 64}\n"
    )
    loaded = parse_loaded(out, "podman")
    assert loaded.refs == ("sealbox-demo/license-server:0.1",)
    assert loaded.ids == (f"sha256:{'b' * 64}",)


def test_podman_drops_a_foreign_tag_with_untag_never_rmi_force():
    """`podman rmi -f` removes the containers using the image: a tag the archive moved onto an
    image a container runs is dropped with `podman untag` instead."""
    other = f"sha256:{'c' * 64}"
    host = RecordedHost(
        {
            "podman rmi evil/x:1": Result("", 2, "", "Error: image used by container abc"),
            "podman untag": "",
        }
    )
    before = Snapshot({}, frozenset())
    after = Snapshot({"evil/x:1": other}, frozenset({other}))
    changed = settle(
        host,
        {},
        before,
        after,
        parse_loaded("Loaded image: evil/x:1\n"),
        succeeded=True,
        cli="podman",
    )
    assert "podman untag evil/x:1 evil/x:1" in host.commands
    assert not any("rmi -f" in c for c in host.commands)
    assert "removed tag evil/x:1" in changed


def test_load_command_pipes_into_podman_load():
    host = RecordedHost({})
    cmd = load_command(host, "/var/lib/sealbox/images/a.tar.zst", {"zstd", "podman"}, "podman")
    assert "| { podman load >&4" in cmd and "docker" not in cmd
    assert load_command(host, "/x/a.tar", {"podman"}, "podman") == "podman load -i /x/a.tar"


def test_runtime_drives_podman_and_compares_the_signed_id_podman_reports_bare():
    host = RecordedHost(
        {
            "podman create": "0123abcd\n",
            "podman container inspect": SIGNED.split(":", 1)[1] + "\n",
        }
    )
    rt = ContainerRuntime(host, facts=podman)
    assert rt.cli == "podman"
    assert rt.create(spec()) == "0123abcd"  # bare hex == the signed sha256:<hex>: no removal
    assert not any(c.startswith(("podman rm", "docker")) for c in host.commands)


def test_rlimit_failure_names_the_ulimit_setting():
    err = "Error: runc: ... error setting rlimit type 7: operation not permitted: OCI permission denied"
    host = RecordedHost({"podman start": Result("", 126, "", err)})
    rt = ContainerRuntime(host, facts=podman)
    with pytest.raises(Exception, match=r"--ulimit nofile=1024:1024 .*inventory: ulimits"):
        rt.start("c")


# --- the host setting: inventory and command line ---------------------------------------------


def test_inventory_runtime_and_ulimits_per_host_and_in_defaults():
    from installer.errors import SpecError
    from installer.fleet.inventory import parse_inventory

    inv = parse_inventory(
        {
            "defaults": {"runtime": "podman", "ulimits": ["nofile=1024:1024"]},
            "hosts": {
                "kylin1": {"address": "10.0.0.31"},
                "old": {"address": "10.0.0.32", "runtime": "docker", "ulimits": []},
                "plain": {"address": "10.0.0.33", "runtime": "auto"},
            },
        }
    )
    h = inv.hosts
    assert (h["kylin1"].runtime, h["kylin1"].ulimits) == ("podman", ("nofile=1024:1024",))
    assert (h["old"].runtime, h["old"].ulimits) == ("docker", ())
    assert parse_inventory({"hosts": {"x": {"address": "a"}}}).hosts["x"].runtime == "auto"
    with pytest.raises(SpecError) as exc:
        parse_inventory({"hosts": {"x": {"address": "a", "runtime": "lxc", "ulimits": ["nofile"]}}})
    assert "hosts.x.runtime: must be one of docker, podman, auto, got 'lxc'" in str(exc.value)
    assert "hosts.x.ulimits[0]: ulimit 'nofile': expected NAME=SOFT" in str(exc.value)


def test_command_line_runtime_and_ulimits_override_every_host():
    from installer.cli.context import CliContext
    from installer.fleet.inventory import parse_inventory

    ctx = CliContext()
    ctx.set_runtime("podman", ["nproc=512"])
    inv = parse_inventory(
        {"hosts": {"a": {"address": "a", "runtime": "docker", "ulimits": ["nofile=1:1"]}}}
    )
    assert ctx.host_settings(inv).hosts["a"].runtime == "podman"
    assert inv.hosts["a"].ulimits == ("nproc=512",)
    ctx.set_runtime(None, [])  # nothing given: the inventory's own settings stay
    inv2 = parse_inventory({"hosts": {"a": {"address": "a", "runtime": "docker"}}})
    assert ctx.host_settings(inv2).hosts["a"].runtime == "docker"
    with pytest.raises(UsageError, match="--runtime lxc: expected one of docker, podman, auto"):
        ctx.set_runtime("lxc", [])
