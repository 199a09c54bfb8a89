"""Gates belong to the engine: one ordered list, the default for every caller, loud when broken."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from installer.bundle.gate import bundle_gate
from installer.deploy.engine import Deployment
from installer.deploy.gates import DRY_RUN_GATES, ENGINE_GATES
from installer.deploy.portclash import unique_ports_gate
from installer.deploy.portfree import free_ports_gate
from installer.deploy.preflight import envcheck_gate
from installer.deploy.secretguard import secrets_gate
from installer.deploy.state import StateStore
from installer.hosts.local import LocalHost
from installer.license.gate import license_gate
from tests.unit.source_bundle import source_bundle

ROOT = Path(__file__).resolve().parents[3]


ALL = (
    unique_ports_gate,
    secrets_gate,
    bundle_gate,
    envcheck_gate,
    license_gate,
    free_ports_gate,
)


def test_the_engine_gates_are_one_ordered_list():
    """Port uniqueness, the secret guard and the port check are gates like the others."""
    assert ENGINE_GATES == ALL
    assert DRY_RUN_GATES == {unique_ports_gate, secrets_gate}


def test_a_library_caller_gets_the_engine_gates_by_default(tmp_path):
    host = LocalHost()
    dep = Deployment(source_bundle(), host, store=StateStore(host, str(tmp_path / "state")))
    assert dep.gates == list(ENGINE_GATES)
    only = Deployment(source_bundle(), host, store=StateStore(host, str(tmp_path)), gates=[])
    assert only.gates == []  # only on purpose (tests of one gate), never by accident


def test_importing_the_cli_registers_nothing():
    import installer.cli.bundle  # noqa: F401  (imported for its side effects, if any)
    import installer.cli.license  # noqa: F401
    from installer.cli.context import CTX

    assert not hasattr(CTX, "gates")
    assert ENGINE_GATES == ALL


POISON = "import sys; sys.modules[{mod!r}] = None; {code}"


@pytest.mark.parametrize(
    "module",
    [
        "installer.license.gate",
        "installer.deploy.preflight",
        "installer.bundle.gate",
        "installer.deploy.gates",
        "installer.deploy.portclash",
        "installer.deploy.portfree",
        "installer.deploy.secretguard",
    ],
)
@pytest.mark.parametrize(
    "code",
    [
        "from installer.cli.app import main; main(['se'])",  # the command line
        "import installer.deploy.engine",  # a library caller
    ],
    ids=["cli", "library"],
)
def test_a_gate_that_cannot_be_imported_is_a_loud_failure(module, code):
    res = subprocess.run(
        [sys.executable, "-c", POISON.format(mod=module, code=code)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert res.returncode != 0
    assert f"ModuleNotFoundError: import of {module} halted" in res.stderr, res.stderr[-2000:]


@pytest.mark.parametrize("module", ["installer.cli.license", "envcheck.cli", "installer.cli.k8s"])
def test_a_sub_app_that_cannot_be_imported_stops_the_cli(module):
    """No silently missing `license` command (and no silently missing checks with it)."""
    res = subprocess.run(
        [
            sys.executable,
            "-c",
            POISON.format(mod=module, code="from installer.cli.app import main; main(['--help'])"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert res.returncode != 0 and module in res.stderr, res.stderr[-2000:]
