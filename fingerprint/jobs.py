"""fingerprint collect as a per-host job: the host's secfile, written here on the controller.

The same job serves this machine and -H/--inventory hosts (installer.fleet); the CLI prints.
"""

from __future__ import annotations

import os
import threading
from typing import Optional

from fingerprint.collect import collect
from fingerprint.crypto import seal
from fingerprint.errors import FingerprintError
from fingerprint.secfile import dump_secfile
from installer.events import Reporter
from installer.fleet.fleet import HostJob, OnHost
from installer.fleet.run import Outcome


def collect_job(
    out_dir: str, *, product: str, seal_to: Optional[bytes] = None, root: str = ""
) -> HostJob:
    """Each host's secfile lands in ``out_dir`` as ``secfile_<primary IP>``; two hosts of one
    run with the same primary IP keep apart (``_<host>`` appended to the second)."""
    written: set[str] = set()
    lock = threading.Lock()

    def run(on: OnHost, report: Reporter) -> Outcome:
        record = collect(on.host, root=root).to_record(product=product)
        data = dump_secfile(record)
        if seal_to is not None:
            data = seal(data, seal_to)
        with lock:
            path = os.path.join(out_dir, record.name)
            if path in written:
                path = os.path.join(out_dir, f"{record.name}_{on.name}")
            written.add(path)
        try:
            os.makedirs(out_dir, exist_ok=True)
            tmp = path + ".tmp"
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except OSError as exc:
            raise FingerprintError(
                f"{path}: cannot write ({exc.strerror}); choose another -o folder"
            ) from None
        missing = ", ".join(sorted(record.missing)) if record.missing else ""
        msg = f"wrote {path}" + (f" (missing: {missing})" if missing else "")
        # the host was only read (the file is written here, on the controller): "ok"
        return Outcome(
            False,
            msg,
            {"path": path, "encrypted": seal_to is not None, "record": record.to_dict()},
        )

    return run
