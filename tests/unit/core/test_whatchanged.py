"""A recreate says what changed: variable names, image, files -- never values (issue 13 item 8)."""

from __future__ import annotations

from installer.deploy.plan import RECREATE, Plan, module_plan
from installer.deploy.whatchanged import explain_recreates
from installer.events import Event
from installer.hosts.recorded import RecordedHost
from tests.unit.core.test_plan import SPECS, VALUES, container_for, desired


def _explain(new_values: dict, old_values: dict, image=None, files_on_host=None):
    old = desired(values=old_values)
    new = desired(values=new_values)
    (old_inst,) = old.instances
    have = container_for(old_inst, image=image)
    host = RecordedHost(
        files=files_on_host
        if files_on_host is not None
        else {f.path: f.content for f in old_inst.files}
    )
    plan = Plan(modules=[module_plan(new, {have.name: have}, True)])
    events: list[Event] = []
    explain_recreates(
        plan, new_values, old_values, {"face-server": {have.name: have}}, host, SPECS, events.append
    )
    (action,) = [a for a in plan.actions if a.kind == RECREATE]
    return action.reason, events


def test_a_variable_and_the_file_it_renders_into() -> None:
    reason, events = _explain({**VALUES, "license_check_interval": 7}, VALUES)
    assert reason.startswith("changed: license_check_interval, file ")
    assert "service.conf" in reason
    assert "7" not in reason.replace("license_check_interval", "")
    assert events and "will be recreated: changed: license_check_interval" in events[0].message


def test_a_secret_is_named_never_shown() -> None:
    reason, _ = _explain({**VALUES, "mysql_password": "n" * 32}, VALUES)
    assert "mysql_password" in reason
    assert "n" * 32 not in reason and "p" * 32 not in reason


def test_image_only() -> None:
    reason, _ = _explain(VALUES, VALUES, image="sha256:older")
    assert reason == "changed: image"
