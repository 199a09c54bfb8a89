"""Never generate a secret over existing data (issue 13 item 3)."""

from __future__ import annotations

import pytest

from installer.deploy.desired import desired_module
from installer.deploy.plan import Plan, module_plan
from installer.deploy.render import Renderer
from installer.deploy.secretguard import refuse_new_secrets_over_data
from installer.deploy.state import StateStore
from installer.deploy.variables import Resolved
from installer.errors import HostError
from installer.hosts.local import LocalHost
from tests.unit.core.test_plan import MANIFEST, SPECS, VALUES
from tests.unit.source_bundle import source_bundle


def _mysql(tmp_path) -> tuple[Plan, StateStore]:
    store = StateStore(LocalHost(), str(tmp_path))
    d = desired_module(
        SPECS["mysql"],
        SPECS,
        values=VALUES,
        manifest=MANIFEST,
        renderer=Renderer(source_bundle().templates),
        store=store,
        count=1,
        gpus=[],
    )
    return Plan(modules=[module_plan(d, {}, True)]), store


def _resolved(source: str) -> Resolved:
    names = ("mysql_password", "mysql_root_password")
    return Resolved(
        values={n: "x" * 32 for n in names},
        secrets=set(names),
        sources=dict.fromkeys(names, source),
    )


def test_generated_secret_over_existing_data_is_refused(tmp_path) -> None:
    plan, store = _mysql(tmp_path)
    (datadir,) = plan.modules[0].desired.instances[0].data_dirs
    (tmp_path / datadir[len(str(tmp_path)) + 1 :]).mkdir(parents=True)
    (tmp_path / datadir[len(str(tmp_path)) + 1 :] / "ibdata1").write_bytes(b"x")
    with pytest.raises(HostError) as err:
        refuse_new_secrets_over_data(
            plan, _resolved("generated"), store.host, store.secrets_file, {"mysql"}
        )
    msg = str(err.value)
    assert "mysql has data" in msg and datadir in msg
    assert "mysql_password" in msg and "x" * 32 not in msg  # names, never values
    assert f"restore {store.secrets_file}" in msg and "rm mysql --purge --yes" in msg
    assert err.value.exit_code == 3


def test_no_data_or_remembered_secrets_pass(tmp_path) -> None:
    plan, store = _mysql(tmp_path)
    # a fresh host: generating is right
    refuse_new_secrets_over_data(
        plan, _resolved("generated"), store.host, store.secrets_file, {"mysql"}
    )
    (datadir,) = plan.modules[0].desired.instances[0].data_dirs
    (tmp_path / datadir[len(str(tmp_path)) + 1 :]).mkdir(parents=True)
    # an empty data dir holds nothing to lock out
    refuse_new_secrets_over_data(
        plan, _resolved("generated"), store.host, store.secrets_file, {"mysql"}
    )
    (tmp_path / datadir[len(str(tmp_path)) + 1 :] / "ibdata1").write_bytes(b"x")
    # data with the secrets it was made with (from the state, or given with --set)
    for source in ("state", "--set"):
        refuse_new_secrets_over_data(
            plan, _resolved(source), store.host, store.secrets_file, {"mysql"}
        )


def test_data_before_the_first_install_is_not_guarded(tmp_path) -> None:
    """A data dir filled before the module was ever installed (e.g. a seeded license) was not
    made with any secret: generating one is right."""
    plan, store = _mysql(tmp_path)
    (datadir,) = plan.modules[0].desired.instances[0].data_dirs
    (tmp_path / datadir[len(str(tmp_path)) + 1 :]).mkdir(parents=True)
    (tmp_path / datadir[len(str(tmp_path)) + 1 :] / "ibdata1").write_bytes(b"x")
    refuse_new_secrets_over_data(
        plan, _resolved("generated"), store.host, store.secrets_file, set()
    )
