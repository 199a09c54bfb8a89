"""Config-hash decisions: create / recreate / start / noop / remove, and the rendered inputs."""

from __future__ import annotations

from pathlib import Path

from installer import constants as L
from installer.bundle.manifest import ImageEntry, Manifest
from installer.deploy.desired import desired_module
from installer.deploy.plan import (
    CREATE,
    LOAD,
    NOOP,
    RECREATE,
    REMOVE,
    START,
    instance_action,
    module_plan,
)
from installer.deploy.render import Renderer
from installer.deploy.state import StateStore
from installer.hosts.recorded import RecordedHost
from installer.runtime.container import Container
from installer.spec import load_modules
from tests.unit.source_bundle import source_bundle

ROOT = Path(__file__).resolve().parents[3]
SPECS = load_modules(str(ROOT / "modules"))
MANIFEST = Manifest(
    "demo",
    "1",
    images=[
        ImageEntry(s.image.ref, f"sha256:{s.name}", s.image.archive, "0" * 64)
        for s in SPECS.values()
    ],
)
VALUES = {
    "license_port": 8887,
    "mysql_port": 5535,
    "http_port": 8300,
    "mysql_host": "127.0.0.1",
    "license_server_host": "127.0.0.1",
    "mysql_database": "face",
    "mysql_user": "face",
    "mysql_password": "p" * 32,
    "mysql_root_password": "r" * 32,
    "mysql_bind_address": "0.0.0.0",
    "license_check_interval": 10,
    "license_seat_key": "k" * 48,
}


def desired(count=1, gpus=(), values=None, image_id=None):
    return desired_module(
        SPECS["face-server"],
        SPECS,
        values=values or VALUES,
        manifest=MANIFEST,
        renderer=Renderer(source_bundle().templates),
        store=StateStore(RecordedHost(), "/var/lib/sealbox"),
        count=count,
        gpus=list(gpus),
        image_id=image_id,
    )


def container_for(inst, running=True, hash_=None, image=None, managed=True):
    labels = {
        L.MODULE: inst.module,
        L.INSTANCE: str(inst.index),
        L.CONFIG_HASH: hash_ or inst.runspec.config_hash(),
    }
    if managed:
        labels[L.MANAGED] = "true"
    return Container(
        {
            "Name": "/" + inst.container,
            "Image": image or inst.runspec.image_id,
            "Config": {"Labels": labels, "Image": inst.runspec.image_ref},
            "State": {"Status": "running" if running else "exited", "Running": running, "Pid": 42},
        }
    )


def test_two_instances_get_own_ports_gpus_and_configs():
    d = desired(count=2, gpus=["0", "1"])
    a, b = d.instances
    assert (a.container, b.container) == ("sealbox-face-server-0", "sealbox-face-server-1")
    assert (a.ports["http"], b.ports["http"]) == (8300, 8301)
    assert (a.runspec.gpu, b.runspec.gpu) == ("0", "1")
    conf_b = b.files[0].content.decode()
    assert "HTTP_PORT=8301" in conf_b and "GPU_ID=1" in conf_b
    assert b.files[0].mode == 0o600  # service.conf holds the DB password
    assert a.runspec.config_hash() != b.runspec.config_hash()


def test_decisions():
    inst = desired().instances[0]
    assert instance_action(inst, None).kind == CREATE
    assert instance_action(inst, container_for(inst)).kind == NOOP
    assert instance_action(inst, container_for(inst, running=False)).kind == START
    assert instance_action(inst, container_for(inst, hash_="old")).kind == RECREATE
    assert instance_action(inst, container_for(inst, image="sha256:other")).kind == RECREATE
    assert instance_action(inst, container_for(inst, managed=False)).kind == RECREATE


def test_changing_a_variable_changes_the_hash_and_same_inputs_keep_it():
    h1 = desired().instances[0].runspec.config_hash()
    assert desired().instances[0].runspec.config_hash() == h1
    changed = dict(VALUES, license_check_interval=30)
    assert desired(values=changed).instances[0].runspec.config_hash() != h1
    new_secret = dict(VALUES, mysql_password="q" * 32)
    assert desired(values=new_secret).instances[0].runspec.config_hash() != h1
    assert desired(image_id="sha256:new").instances[0].runspec.config_hash() != h1


def test_module_plan_loads_missing_image_and_removes_extra_instances():
    one = desired(count=1)
    two = desired(count=2)
    existing = {i.container: container_for(i) for i in two.instances}
    plan = module_plan(one, existing, image_present=False)
    kinds = [(a.kind, a.container) for a in plan.actions]
    assert kinds == [(LOAD, ""), (NOOP, "sealbox-face-server-0"), (REMOVE, "sealbox-face-server-1")]
    assert plan.load_image
    plan2 = module_plan(two, existing, image_present=True)
    assert [a.kind for a in plan2.actions] == [NOOP, NOOP] and not plan2.changes
