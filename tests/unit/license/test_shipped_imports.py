"""The in-image license package really imports: every module of ``installer.license.shipped``
(and everything its functions import later) in a fresh interpreter where the rest of
``installer`` -- deploy, bundle, cli, fleet, k8s, runtime, transfer, the controller's license
modules -- and every third-party package but cryptography are refused by a meta-path finder;
then the same from the files the license-server image is built from (its stage.py's copy).

The static rule (what the source says it imports) is ``tests/unit/test_import_graph.py``; this
one catches what ast cannot see (an import by name, a package ``__init__`` that pulls more).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import List

from installer.license import shipped
from scripts import import_graph as G

REPO = Path(__file__).resolve().parents[3]

# Third-party packages Sealbox's controller uses and the images lack (pyproject dependencies).
NOT_IN_IMAGES = (
    "typer",
    "click",
    "rich",
    "jinja2",
    "markupsafe",
    "paramiko",
    "psutil",
    "yaml",
    "zstandard",
    "kubernetes_validate",
)

BLOCKER = r"""
import importlib, json, sys

cfg = json.loads(sys.argv[1])
OURS = ("installer", "envcheck", "fingerprint")


def allowed(name):
    if name == cfg["package"] or name.startswith(cfg["package"] + "."):
        return True
    if name in cfg["modules"]:
        return True
    if name in cfg["excluded"]:
        return False
    return any(name == p or name.startswith(p + ".") for p in cfg["packages"])


class Refuse:
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if (top in OURS and not allowed(name)) or top in cfg["blocked"]:
            raise ImportError("refused in the image: " + name)
        return None


sys.meta_path.insert(0, Refuse())
if cfg["root"]:
    sys.path.insert(0, cfg["root"])
for name in cfg["imports"]:
    importlib.import_module(name)
loaded = sorted(n for n in sys.modules if n.split(".")[0] in OURS)
files = {n: getattr(sys.modules[n], "__file__", None) for n in loaded}
print(json.dumps({"loaded": loaded, "files": files}))
"""


def _to_import() -> List[str]:
    """Every module of the package, and every module its functions import when they run."""
    graph = G.build(REPO)
    mine = sorted(m for m in graph.modules if m.startswith(shipped.__name__))
    later = sorted({i.target for i in graph.imports if i.source in mine})
    return mine + [m for m in later if m not in mine]


def _run(root: str, python_flags: List[str]) -> dict:
    cfg = {
        "package": shipped.__name__,
        "modules": list(shipped.OUTSIDE_MODULES),
        "packages": list(shipped.OUTSIDE_PACKAGES),
        "excluded": list(shipped.OUTSIDE_EXCLUDED),
        "blocked": list(NOT_IN_IMAGES),
        "root": root,
        "imports": _to_import(),
    }
    proc = subprocess.run(
        [sys.executable, *python_flags, "-c", BLOCKER, json.dumps(cfg)],
        cwd=root or str(REPO),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_every_module_imports_with_the_controller_refused() -> None:
    out = _run("", [])
    assert "installer.license.shipped.server" in out["loaded"]
    assert "installer.license.shipped.client" in out["loaded"]
    assert "fingerprint.collect" in out["loaded"]  # the server's live facts, imported late
    controller = [n for n in out["loaded"] if n.startswith(("installer.deploy", "installer.cli"))]
    assert controller == []


def test_refusal_is_real() -> None:
    """The finder refuses a controller module (else the test above could not fail)."""
    cfg = {
        "package": shipped.__name__,
        "modules": ["installer", "installer.license"],
        "packages": [],
        "excluded": [],
        "blocked": [],
        "root": "",
        "imports": ["installer.license.store"],
    }
    proc = subprocess.run(
        [sys.executable, "-c", BLOCKER, json.dumps(cfg)],
        cwd=str(REPO),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "refused in the image: installer.license.store" in proc.stderr


def _stage() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "license_server_stage", REPO / "demo/images/license-server/stage.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_image_copy_is_the_package_and_enough(tmp_path: Path) -> None:
    """The files the license-server image gets hold the whole package and nothing of the
    controller, and every module imports from them alone (``-I``: no PYTHONPATH, no cwd)."""
    copied = _stage().copy_code(tmp_path)
    package_files = sorted(
        p.relative_to(REPO).as_posix() for p in (REPO / "installer/license/shipped").rglob("*.py")
    )
    assert set(package_files) <= set(copied)
    assert not [f for f in copied if f.startswith(("installer/deploy", "installer/cli"))]
    assert "installer/license/store.py" not in copied and "fingerprint/cli.py" not in copied

    out = _run(str(tmp_path), ["-I"])
    elsewhere = {n: f for n, f in out["files"].items() if f and not f.startswith(str(tmp_path))}
    assert elsewhere == {}, "imported from outside the image's copy"
    assert "installer.license.shipped.server" in out["loaded"]
