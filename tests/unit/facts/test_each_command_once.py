"""A whole gathering runs each command once: `docker info` (main ran it twice: envcheck's
fact and the Docker disk fact), `ss` (main: the ss fact and the listener cgroup loop),
nvidia-smi (main: envcheck's query, the engine's and fingerprint's `nvidia-smi -L`)."""

from __future__ import annotations

from pathlib import Path

from installer.facts.catalog import STATIC_FACTS
from installer.facts.gather import gather
from installer.hosts.local import LocalHost

STUB = """#!/bin/sh
echo "$0 $*" >>{log}
case "$*" in
  "info --format {{{{json .}}}}") echo '{{"ServerVersion":"20.10.24","DockerRootDir":"/srv/docker","Driver":"overlay2"}}';;
  "version --format {{{{json .}}}}") echo '{{"Client":{{"Version":"20.10.24"}},"Server":{{"Version":"20.10.24"}}}}';;
  -ltnp) echo 'LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=1,fd=3))';;
  --query-gpu=*) printf 'index, name, memory.total [MiB], driver_version, pci.bus_id, uuid\\n0, Tesla P4, 7611 MiB, 470.82.01, 00000000:3B:00.0, GPU-1\\n';;
esac
exit 0
"""


def test_each_command_runs_once_per_gathering(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for prog in ("docker", "ss", "nvidia-smi", "netstat"):
        (bin_dir / prog).write_text(STUB.format(log=log))
        (bin_dir / prog).chmod(0o755)

    class Stubbed(LocalHost):
        def run(self, cmd, **kw):  # type: ignore[no-untyped-def]
            script = f"PATH={bin_dir}:/usr/bin:/bin; export PATH\n{cmd}"
            return super().run(["/bin/sh", "-c", script], **kw)

    got = gather(Stubbed(), list(STATIC_FACTS.values()), mode="script")
    calls = [line.split(" ", 1)[1] for line in log.read_text().splitlines()]
    for args in ("info --format {{json .}}", "version --format {{json .}}", "-ltnp"):
        assert calls.count(args) == 1, (args, calls)
    assert sum(1 for c in calls if c.startswith("--query-gpu")) == 1
    assert not any(c.startswith("-L") for c in calls)
    assert all("netstat" not in c for c in calls)  # ss is there: netstat is not run
    assert got["df_docker"].value["path"] == "/srv/docker"  # from the one `docker info`
    assert got["ss"].value[0]["port"] == 22
    assert got["nvidia_smi"].value[0]["uuid"] == "GPU-1"
