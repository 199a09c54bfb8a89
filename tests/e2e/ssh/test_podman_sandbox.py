"""The demo on Podman on a sandbox host over SSH (issue 22): a host where Podman runs and no
Docker engine does, reached with -H. Install, `li`, re-run no-op, `rmall`.

The sandbox host (tests/e2e/testhosts.py) has its own network namespace, its own Podman store
(``/var/lib/containers`` bound to a per-host folder) and a private ``/run``: its containers and
images are not this machine's. No Docker engine runs inside it (and the machine's is hidden by
the private ``/run``): Podman is the only runtime there. The sandbox shares this machine's
files, so its ``docker`` command exists and ``auto`` would pick Docker: the test says
``--runtime podman``, as an inventory would for such a host.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Iterator

import pytest

from tests.e2e.conftest import run_cli
from tests.e2e.multihost.conftest import licensed_copy, ssh
from tests.e2e.testhosts import SandboxHost, can_run, sandbox_hosts

pytestmark = pytest.mark.e2e

ULIMITS = ["--runtime", "podman", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
MODULES = {"license-server", "mysql", "face-server"}


@pytest.fixture(scope="module")
def podman_host() -> Iterator[SandboxHost]:
    why = can_run()
    if why:
        pytest.skip(f"sandbox hosts: {why}")
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: run 'bash scripts/setup.sh' (installs podman)")
    with sandbox_hosts(1, docker=False) as hosts:
        yield hosts[0]


def host_skips(h: SandboxHost, known_hosts: str) -> list[str]:
    """`--skip-check` for the required items the sandbox host fails (cores, VM, GPU...), from
    envcheck over SSH with its runtime Podman; ports and Podman's own items are never skipped."""
    import envcheck

    with ssh(h, known_hosts) as host:
        report = envcheck.run_checks(
            host, sorted(MODULES), overrides={"disk-install.path": "/var/lib"}, runtime="podman"
        )
    keep = {"ports", "podman-installed", "podman-running"}
    failed = [f"{i.profile}/{i.id}" for i in report.failed_required() if i.id not in keep]
    return [a for item in failed for a in ("--skip-check", item)]


def test_demo_on_podman_over_ssh(podman_host, demo_bundle, tmp_path: Path):
    h = podman_host
    kh = tmp_path / "known_hosts"
    kh.write_text(h.known_hosts_line())
    bundle = licensed_copy(demo_bundle, [h], str(kh), tmp_path / "bundle", {"face-server": 1})
    target = [
        "-H",
        f"root@{h.address}",
        "--identity",
        h.client_key,
        "--known-hosts",
        str(kh),
        "--log-dir",
        str(tmp_path / "logs"),
    ]
    env = {"SEALBOX_ALLOW_UNSIGNED": "1"}
    skips = host_skips(h, str(kh))

    def sealbox(*args: str):
        return run_cli(*ULIMITS, *args, *target, bundle=bundle, env=env)

    def podman_ps() -> dict[str, str]:
        out = h.exec(["podman", "ps", "-a", "--format", "{{.Names}} {{.State}}"]).stdout
        return dict(line.split(" ", 1) for line in out.decode().splitlines() if line.strip())

    try:
        res = sealbox("inall", "-y", "--json", *skips)
        assert res.rc == 0, res.stdout[-3000:] + res.stderr[-3000:]
        states = podman_ps()
        assert len(states) == 3 and all(v.startswith("Up") for v in states.values()), states
        assert h.exec(["docker", "ps"], check=False).returncode != 0  # no engine there
        assert res.json()["hosts"][0]["status"] == "changed", res.stdout

        li = sealbox("li", "--json")
        assert li.rc == 0, li.stderr
        text = json.dumps(li.json())
        assert all(m in text for m in MODULES) and "unhealthy" not in text, text
        assert text.count('"healthy"') == 3, text

        again = sealbox("inall", "-y", "--json", *skips)
        assert again.rc == 0, again.stderr[-3000:]
        assert again.json()["hosts"][0]["status"] == "ok", again.stdout  # nothing changed
    finally:
        gone = sealbox("rmall", "--purge", "--yes")
        assert gone.rc == 0, gone.stderr[-2000:]
        assert podman_ps() == {}
