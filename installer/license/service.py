"""The license server's logic, apart from HTTP: load and re-verify the license, hand out leases.

Everything time- or machine-dependent is injected (wall clock, monotonic clock, live
fingerprint source), so the unit tests drive expiry, grace, clock rollback, VM evidence and
lease reclaim without waiting or touching the machine. Methods are called from one thread
(the server's event loop); only ``collect_facts`` may run elsewhere.
"""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fingerprint.model import Fingerprint
from installer.license import verify as V
from installer.license.clock import HighWater
from installer.license.fileformat import KeyRing
from installer.license.leases import LeaseTable, SeatLimit
from installer.license.model import License, iso
from installer.license.store import LAST_GOOD_FILE, LICENSE_FILE
from installer.signing import PrivateKey

VERSION = "1.0"
GRANT_FORMAT = "sealbox-grant"

FactSource = Callable[[], Fingerprint]
Logger = Callable[[str, str], None]  # (level, message)


@dataclass
class Reply:
    status: int
    body: Dict[str, Any]


def load_or_create_key(path: str) -> PrivateKey:
    """The server's grant-signing key: made once per installation, kept 0600 in its state."""
    try:
        with open(path, "rb") as fh:
            key = serialization.load_pem_private_key(fh.read(), password=None)
        if isinstance(key, Ed25519PrivateKey):
            return PrivateKey(key)
    except (FileNotFoundError, ValueError):
        pass
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    os.replace(tmp, path)
    return PrivateKey(key)


class RateLimitedLog:
    """Refusals are logged, but a client hammering a refused grant must not flood the log:
    one line per distinct reason per ``every`` seconds, with the count suppressed meanwhile."""

    def __init__(self, sink: Logger, clock: Callable[[], float], every: float = 10.0) -> None:
        self.sink, self.clock, self.every = sink, clock, every
        self._last: Dict[str, Tuple[float, int]] = {}

    def __call__(self, key: str, message: str) -> None:
        now = self.clock()
        last, suppressed = self._last.get(key, (-1e18, 0))
        if now - last >= self.every:
            more = f" (+{suppressed} more like it)" if suppressed else ""
            self.sink("REFUSED", message + more)
            self._last[key] = (now, 0)
        else:
            self._last[key] = (last, suppressed + 1)


class LicenseService:
    def __init__(
        self,
        *,
        license_dir: str,
        state_dir: str,
        keys: KeyRing,
        facts: Optional[FactSource],
        wall: Callable[[], float] = time.time,
        mono: Callable[[], float] = time.monotonic,
        lease_ttl: float = 30.0,
        clock_tolerance: float = V.DEFAULT_CLOCK_TOLERANCE,
        log: Optional[Logger] = None,
    ) -> None:
        self.license_dir = license_dir
        self.state_dir = state_dir
        self.keys = keys
        self.facts = facts
        self.wall, self.mono = wall, mono
        self.ttl = lease_ttl
        self.clock_tolerance = clock_tolerance
        self.log: Logger = log or (lambda _lvl, _msg: None)
        self.refused = RateLimitedLog(self.log, mono)
        self.leases = LeaseTable(lease_ttl, mono)
        self.hwm = HighWater(os.path.join(state_dir, "clock.hwm"))
        self.hwm.load()
        self.key = load_or_create_key(os.path.join(state_dir, "grant.key"))
        self.key_pem = self.key.public.pem().decode()
        self.license: Optional[License] = None
        self.license_bytes: Optional[bytes] = None
        self.source = ""
        self.source_note = ""
        self.live: Optional[Fingerprint] = None
        self.verdict = V.Verdict(None, int(wall()), [V.Problem("starting", "not loaded yet")])
        self._stat: Optional[Tuple[int, int, int]] = None

    # loading ---------------------------------------------------------------------------
    @property
    def current_path(self) -> str:
        return os.path.join(self.license_dir, LICENSE_FILE)

    def _file_stat(self) -> Optional[Tuple[int, int, int]]:
        try:
            st = os.stat(self.current_path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def changed(self) -> bool:
        """Whether license.cfg was replaced since the last load (polled: mounts miss inotify)."""
        return self._file_stat() != self._stat

    def collect_facts(self) -> Optional[Fingerprint]:
        """Read the live machine (slow: a shell round trip); may run outside the loop thread."""
        return self.facts() if self.facts is not None else None

    def set_facts(self, live: Optional[Fingerprint]) -> None:
        self.live = live
        self.check()

    def reload(self) -> V.Verdict:
        """Read license.cfg (falling back to the last good copy when it does not verify)."""
        self._stat = self._file_stat()
        candidates = [(LICENSE_FILE, self.current_path)]
        candidates.append((LAST_GOOD_FILE, os.path.join(self.license_dir, LAST_GOOD_FILE)))
        first_problem = ""
        self.license, self.license_bytes, self.source = None, None, ""
        for name, path in candidates:
            try:
                with open(path, "rb") as fh:
                    data = fh.read()
            except FileNotFoundError:
                first_problem = first_problem or f"no {name} in {self.license_dir}"
                continue
            v = V.verify_bytes(data, self.keys, source=name, now=self.wall())
            if v.license is None:  # signature or layout: try the last good copy
                first_problem = first_problem or v.reason()
                self.log("ERROR", f"{name}: {v.reason()}")
                continue
            self.license, self.license_bytes, self.source = v.license, data, name
            break
        self.source_note = (
            f"license.cfg unusable ({first_problem}); using {self.source}"
            if self.source == LAST_GOOD_FILE
            else ""
        )
        if self.license is None:
            self.verdict = V.Verdict(
                None,
                int(self.wall()),
                [V.Problem(V.MALFORMED, first_problem or "no license")],
                state="invalid",
            )
            self.log("ERROR", f"not serving: {self.verdict.reason()}")
            return self.verdict
        if self._license_id_changed():
            self.leases.clear()  # another license: its seats start empty
        v = self.check()
        self.log(
            "INFO" if v.ok else "ERROR",
            f"loaded {self.source} {self.license.license_id} ({self.license.customer}): "
            f"{'serving' if v.ok else 'NOT serving'} - {v.reason()}",
        )
        return v

    _last_id: Optional[str] = None

    def _license_id_changed(self) -> bool:
        lid = self.license.license_id if self.license else None
        changed = self._last_id is not None and lid != self._last_id
        self._last_id = lid
        return changed

    def check(self) -> V.Verdict:
        """Re-evaluate dates, clock, machine and VM (cheap: uses the last collected facts)."""
        now = self.wall()
        if self.license is None:
            return self.verdict
        before = self.verdict
        v = V.evaluate(
            self.license,
            now=now,
            live=self.live,
            high_water=self.hwm.value,
            clock_tolerance=self.clock_tolerance,
        )
        if self.facts is not None and self.live is None:
            v.problems.append(V.Problem("machine_unknown", "machine not read yet"))
            v.state = "invalid"
        if self.source_note:
            v.warnings.append(self.source_note)
        if V.CLOCK not in v.codes:
            self.hwm.advance(now)
        self.verdict = v
        if v.ok != before.ok or v.reason() != before.reason():
            self.log("INFO" if v.ok else "ERROR", f"license state: {v.reason()}")
        return v

    # requests ---------------------------------------------------------------------------
    def _refuse(self, status: int, code: str, reason: str, key: str) -> Reply:
        self.refused(key, f"{reason}")
        return Reply(status, {"ok": False, "error": code, "reason": reason})

    def grant(self, body: Any) -> Reply:
        if not isinstance(body, dict):
            return Reply(400, {"ok": False, "error": "bad_request", "reason": "expected JSON"})
        module, instance = body.get("module"), body.get("instance", "0")
        gpus = body.get("gpus", 0)
        nonce = body.get("nonce", "")
        if (
            not isinstance(module, str)
            or not module
            or not isinstance(instance, (str, int))
            or not isinstance(gpus, int)
            or gpus < 0
            or not isinstance(nonce, str)
            or len(nonce) > 128
        ):
            return Reply(
                400,
                {
                    "ok": False,
                    "error": "bad_request",
                    "reason": 'expected {"module": str, "instance": str, "gpus": int, '
                    '"nonce": str}',
                },
            )
        instance = str(instance)
        who = f"{module}/{instance}"
        v = self.verdict
        if not v.ok or self.license is None:
            return self._refuse(
                403, "not_serving", f"grant {who}: not serving: {v.reason()}", "not_serving"
            )
        limit = self.license.modules.get(module)
        if limit is None:
            return self._refuse(
                403,
                V.MODULE,
                f"grant {who}: module {module} not licensed (license grants: "
                f"{', '.join(sorted(self.license.modules))})",
                f"module:{module}",
            )
        try:
            lease = self.leases.acquire(module, instance, gpus, limit.instances, limit.gpus)
        except SeatLimit as exc:
            return self._refuse(429, "seat_limit", f"grant {who}: {exc}", f"seats:{module}")
        return Reply(200, self._signed(lease, nonce))

    def renew(self, body: Any) -> Reply:
        """Extend a lease; an unknown one (server restarted, lease reclaimed) is granted anew
        if a seat is free, so a server restart does not take services down."""
        if not isinstance(body, dict) or not isinstance(body.get("lease_id"), str):
            return Reply(400, {"ok": False, "error": "bad_request", "reason": "need lease_id"})
        if not self.verdict.ok:
            return self._refuse(
                403,
                "not_serving",
                f"renew {body.get('module')}/{body.get('instance')}: not serving: "
                f"{self.verdict.reason()}",
                "not_serving",
            )
        lease = self.leases.renew(body["lease_id"])
        if lease is None:
            return self.grant(body)
        return Reply(200, self._signed(lease, str(body.get("nonce", ""))[:128]))

    def release(self, body: Any) -> Reply:
        ok = isinstance(body, dict) and self.leases.release(str(body.get("lease_id", "")))
        return Reply(200, {"ok": True, "released": bool(ok)})

    def _signed(self, lease, nonce: str) -> Dict[str, Any]:
        now = self.wall()
        grant = {
            "format": GRANT_FORMAT,
            "lease_id": lease.lease_id,
            "module": lease.module,
            "instance": lease.instance,
            "gpus": lease.gpus,
            "license_id": self.license.license_id if self.license else "",
            "issued_at": round(now, 3),
            "ttl": self.ttl,
            "expires_at": round(now + self.ttl, 3),
            "nonce": nonce,
            "state": self.verdict.state,
            "warnings": self.verdict.warnings,
        }
        text = json.dumps(grant, sort_keys=True, separators=(",", ":"))
        sig = base64.b64encode(self.key.sign(text.encode())).decode()
        return {"ok": True, "grant": text, "signature": sig, "key_id": self.key.id}

    # views ------------------------------------------------------------------------------
    def status(self) -> Dict[str, Any]:
        v = self.verdict
        lic = self.license
        counts = self.leases.counts()
        grants = {}
        if lic is not None:
            for name, lim in sorted(lic.modules.items()):
                used, gpus = self.leases.in_use(name)
                grants[name] = {
                    "in_use": used,
                    "limit": lim.instances,
                    "gpus_in_use": gpus,
                    "gpu_limit": lim.gpus,
                }
        for name, n in counts.items():
            grants.setdefault(name, {"in_use": n, "limit": 0})
        return {
            "serving": v.ok,
            "state": v.state,
            "reason": None if v.ok else v.reason(),
            "warnings": v.warnings,
            "problems": [{"code": p.code, "message": p.message} for p in v.problems],
            "days_left": v.days_left,
            "license": lic.summary() if lic else None,
            "source": self.source,
            "machine": v.machine,
            "grants": grants,
            "lease_ttl": self.ttl,
            "server_key_id": self.key.id,
            "server_key": self.key_pem,
            "checked_at": iso(self.wall()),
            "version": VERSION,
        }

    def banner(self) -> str:
        v = self.verdict
        lic = self.license
        if v.ok and lic is not None:
            state = f"serving license {lic.license_id} for {lic.customer}, {v.days_left} days left"
            if v.warnings:
                state += " (" + "; ".join(v.warnings) + ")"
        else:
            state = f"NOT serving: {v.reason()}"
        return f"Sealbox license server {VERSION}: {state}\n"
