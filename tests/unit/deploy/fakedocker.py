"""A Docker engine simulated behind a RecordedHost, for unit tests of the install engine.

It keeps containers and images in memory and answers the docker CLI the way the runtime reads
it (installer.runtime.docker), so a test can drive ``Deployment`` and then compare the commands
the engine ran -- the effect -- with what it should have run. Health probes (``timeout ... bash``)
pass for a running container unless the test says a container name must fail.
"""

from __future__ import annotations

import json
import shlex
from typing import Any, Optional

from installer.facts.catalog import STATIC_FACTS
from installer.hosts.base import Result
from installer.hosts.recorded import RecordedHost


class FakeDocker:
    def __init__(self, images: dict[str, str]) -> None:
        self.images = dict(images)  # ref or id -> id
        self.containers: dict[str, dict[str, Any]] = {}  # name -> inspect document
        self.exits_on_start: set[str] = set()  # names whose next start exits at once
        self._next = 0

    # the docker CLI ---------------------------------------------------------------------
    def __call__(self, text: str) -> Result:
        argv = shlex.split(text)
        sub = argv[1:]
        if sub[:1] == ["version"]:
            doc = {"Client": {"Version": "24.0.7"}, "Server": {"Version": "24.0.7"}}
            return Result(text, 0, json.dumps(doc))
        if sub[:1] == ["info"]:
            doc = {"Runtimes": {"runc": {}}, "Driver": "overlay2", "DockerRootDir": "/d"}
            doc["Architecture"] = "x86_64"
            return Result(text, 0, json.dumps(doc))
        if sub[:2] == ["image", "inspect"]:
            ref = sub[-1]
            return Result(text, 0, self.images[ref]) if ref in self.images else self._none(text)
        if sub[:1] == ["ps"]:
            return Result(text, 0, "".join(c["Id"] + "\n" for c in self.containers.values()))
        if sub[:2] == ["container", "inspect"]:
            return self._inspect(text, sub[2:])
        if sub[:1] == ["create"]:
            return self._create(text, sub[1:])
        name = sub[-1]
        if sub[:1] in (["start"], ["stop"], ["rm"], ["logs"]) and name not in self.containers:
            return self._none(text)
        if sub[:1] == ["start"]:
            state = self.containers[name]["State"]
            if name in self.exits_on_start:
                self.exits_on_start.discard(name)
                state.update(Status="exited", Running=False, ExitCode=1, Pid=0)
            else:
                state.update(Status="running", Running=True, Pid=1000 + len(self.containers))
            return Result(text, 0, name)
        if sub[:1] == ["stop"]:
            self.containers[name]["State"].update(Status="exited", Running=False, Pid=0)
            return Result(text, 0, name)
        if sub[:1] == ["rm"]:
            del self.containers[name]
            return Result(text, 0, name)
        if sub[:1] == ["rename"]:
            old, new = sub[1], sub[2]
            doc = self.containers.pop(old)
            doc["Name"] = "/" + new
            self.containers[new] = doc
            return Result(text, 0)
        if sub[:1] == ["logs"]:
            return Result(text, 0, "", "2024-01-01T00:00:00Z boom: cannot start\n")
        return Result(text, 1, "", f"fake docker: no answer for {text}")

    def _none(self, text: str) -> Result:
        return Result(text, 1, "", "Error: No such container or image")

    def _inspect(self, text: str, args: list[str]) -> Result:
        if args[:1] == ["--format"]:
            doc = self._find(args[2])
            return Result(text, 0, doc["Image"]) if doc else self._none(text)
        docs = [self._find(a) for a in args]
        if any(d is None for d in docs):
            return self._none(text)
        return Result(text, 0, json.dumps(docs))

    def _find(self, key: str) -> Optional[dict[str, Any]]:
        for name, doc in self.containers.items():
            if key in (name, doc["Id"]):
                return doc
        return None

    def _create(self, text: str, args: list[str]) -> Result:
        labels: dict[str, str] = {}
        name, i = "", 0
        while i < len(args) and args[i].startswith("-"):
            flag, value = args[i], args[i + 1]
            if flag == "--name":
                name = value
            elif flag == "--label":
                k, _, v = value.partition("=")
                labels[k] = v
            i += 2
        image = args[i]
        if name in self.containers:
            return Result(text, 1, "", f"Conflict. The container name /{name} is already in use")
        self._next += 1
        cid = f"{self._next:064x}"
        self.containers[name] = {
            "Id": cid,
            "Name": "/" + name,
            "Image": self.images.get(image, image),
            "Config": {"Labels": labels, "Image": image},
            "State": {"Status": "created", "Running": False, "Pid": 0},
            "RestartCount": 0,
        }
        return Result(text, 0, cid + "\n")

    # health probes ----------------------------------------------------------------------
    def probe(self, text: str) -> Result:
        """``timeout N bash -c <tcp or http script>``: open while one container runs."""
        running = any(c["State"]["Running"] for c in self.containers.values())
        return Result(text, 0 if running else 1)


def docker_host(docker: FakeDocker, name: str = "box") -> RecordedHost:
    """A root host with the fake engine; no listeners, no GPUs."""
    return RecordedHost(
        answers={
            "docker": docker,
            "timeout ": docker.probe,
            "id -u": "0\n",
            STATIC_FACTS["uid"].shell: "Uid:\t0\t0\t0\t0\n",  # root, as the facts read it
            "ss -ltnp": "",
            "uname -r -m": "6.1.0-18-amd64 x86_64\n",  # the images it picks (issue 22)
            "nvidia-smi": Result("nvidia-smi -L", 127, "", "nvidia-smi: not found"),
            "rmdir": "",
        },
        name=name,
    )
