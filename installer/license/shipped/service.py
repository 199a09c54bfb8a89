"""The license server's logic, apart from HTTP: load and re-verify the license, hand out leases.

Everything time- or machine-dependent is injected (wall clock, monotonic clock, live
fingerprint source), so the unit tests drive expiry, grace, clock rollback, VM evidence and
lease reclaim without waiting or touching the machine. Methods are called from one thread
(the server's event loop); only ``collect_facts`` may run elsewhere.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

from fingerprint.model import Fingerprint
from installer.license.shipped import verify as V
from installer.license.shipped.asks import ASK_SHAPE, Ask
from installer.license.shipped.client import (
    GRANT_FORMAT,
    GRANT_VERSION,
    grant_mac,
    instance_secret,
    request_proof,
)
from installer.license.shipped.clock import MARK_FILE, HighWater, Witnesses, read_witnesses
from installer.license.shipped.fileformat import KeyRing
from installer.license.shipped.leases import Lease, LeaseTable, SeatLimit, SeatTaken
from installer.license.shipped.model import License, iso
from installer.license.shipped.paths import LAST_GOOD_FILE, LICENSE_FILE
from installer.license.shipped.usage import UsageLog

VERSION = "1.0"

FactSource = Callable[[], Fingerprint]
Logger = Callable[[str, str], None]  # (level, message)


@dataclass
class Reply:
    status: int
    body: Dict[str, Any]


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
        seat_key: bytes = b"",
        lease_ttl: float = 30.0,
        clock_tolerance: float = V.DEFAULT_CLOCK_TOLERANCE,
        log: Optional[Logger] = None,
        witnesses: Optional[Callable[[], Witnesses]] = None,
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
        self.usage = UsageLog(state_dir, wall)  # grants, peaks, refusals, clock: the report
        self.seat_key = seat_key
        self.read_witnesses = witnesses or (lambda: read_witnesses(state_dir, license_dir))
        self.witnesses = self.read_witnesses()  # before this start writes anything
        # the heartbeat: a log line each time the mark is written, so the log witness is never
        # older than the mark (an edited, older mark is then caught by the log)
        self.hwm = HighWater(os.path.join(state_dir, MARK_FILE), on_write=self._heartbeat)
        self.hwm.load()
        self.license: Optional[License] = None
        self.license_bytes: Optional[bytes] = None
        self.license_text = ""
        self.license_sha256 = ""
        self.source = ""
        self.source_note = ""
        self.live: Optional[Fingerprint] = None
        self.verdict = V.Verdict(None, int(wall()), [V.Problem("starting", "not loaded yet")])
        self._stat: Optional[Tuple[int, int, int]] = None

    def _heartbeat(self, value: int) -> None:
        self.log("INFO", f"clock mark {V.iso(value)}")

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
            self.license_text = data.decode("ascii")
            self.license_sha256 = hashlib.sha256(data).hexdigest()
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
        self.usage.record("license", license_id=self.license.license_id)
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
        w = self.witnesses
        if w.mark_missing_with_history and os.path.exists(self.hwm.path):
            w = self.witnesses = self.read_witnesses()  # the mark was restored
        seen, witness = w.floor()
        if self.hwm.value is not None and (seen is None or self.hwm.value >= seen):
            seen, witness = self.hwm.value, "high-water mark"
        v = V.evaluate(
            self.license,
            now=now,
            live=self.live,
            high_water=seen,
            witness=witness,
            clock_tolerance=self.clock_tolerance,
        )
        if w.mark_missing_with_history:
            v.problems.append(V.Problem(V.CLOCK, V.missing_mark_text(self.hwm.path, w)))
            v.state = "invalid"
        if self.facts is not None and self.live is None:
            v.problems.append(V.Problem("machine_unknown", "machine not read yet"))
            v.state = "invalid"
        if self.source_note:
            v.warnings.append(self.source_note)
        if V.CLOCK not in v.codes:
            self.hwm.advance(now)
        self.verdict = v
        if (V.CLOCK in v.codes) != (V.CLOCK in before.codes):
            event = "set_back" if V.CLOCK in v.codes else "right_again"
            self.usage.record("clock", event=event, reason=v.reason())
        if v.ok != before.ok or v.reason() != before.reason():
            self.log("INFO" if v.ok else "ERROR", f"license state: {v.reason()}")
        return v

    # requests ---------------------------------------------------------------------------
    def _refuse(self, status: int, code: str, reason: str, key: str) -> Reply:
        self.refused(key, f"{reason}")
        self.usage.refusal(code, key.partition(":")[2] or key)
        return Reply(status, {"ok": False, "error": code, "reason": reason})

    def _request(self, op: str, body: Any) -> Tuple[Optional[Ask], Optional[Reply]]:
        """The checked request, or the answer refusing it (shape, then the seat proof)."""
        ask = Ask.parse(body)
        if ask is None:
            return None, Reply(400, {"ok": False, "error": "bad_request", "reason": ASK_SHAPE})
        if not self.seat_key:
            reason = f"{op} {ask.who}: no seat key configured on this license server; reinstall it"
            return None, self._refuse(503, "no_seat_key", reason, "no_seat_key")
        secret = instance_secret(self.seat_key, ask.module, ask.instance)
        want = request_proof(
            secret, op, ask.module, ask.instance, ask.holder, ask.lease_id, ask.nonce
        )
        if not hmac.compare_digest(want, ask.proof):
            reason = f"{op} {ask.who}: seat proof invalid (not a service of this installation)"
            return None, self._refuse(403, "bad_proof", reason, f"proof:{ask.module}")
        ask.secret = secret
        return ask, None

    def grant(self, body: Any) -> Reply:
        ask, refusal = self._request("grant", body)
        if refusal is not None or ask is None:
            return refusal or Reply(400, {"ok": False})
        return self._grant(ask)

    def _grant(self, ask: Ask) -> Reply:
        v = self.verdict
        if not v.ok or self.license is None:
            return self._refuse(
                403, "not_serving", f"grant {ask.who}: not serving: {v.reason()}", "not_serving"
            )
        limit = self.license.modules.get(ask.module)
        if limit is None:
            return self._refuse(
                403,
                V.MODULE,
                f"grant {ask.who}: module {ask.module} not licensed (license grants: "
                f"{', '.join(sorted(self.license.modules))})",
                f"module:{ask.module}",
            )
        try:
            lease = self.leases.acquire(
                ask.module, ask.instance, ask.holder, ask.gpus, limit.instances, limit.gpus
            )
        except SeatTaken as exc:
            return self._refuse(409, "seat_taken", f"grant {ask.who}: {exc}", f"taken:{ask.who}")
        except SeatLimit as exc:
            return self._refuse(429, "seat_limit", f"grant {ask.who}: {exc}", f"seats:{ask.module}")
        self.usage.record(
            "grant",
            module=ask.module,
            instance=ask.instance,
            in_use=self.leases.in_use(ask.module)[0],
        )
        return Reply(200, self._granted(lease, ask))

    def renew(self, body: Any) -> Reply:
        """Extend a lease; an unknown one (server restarted, lease reclaimed) is granted anew
        if a seat is free, so a server restart does not take services down."""
        ask, refusal = self._request("renew", body)
        if refusal is not None or ask is None:
            return refusal or Reply(400, {"ok": False})
        if not self.verdict.ok:
            return self._refuse(
                403,
                "not_serving",
                f"renew {ask.who}: not serving: {self.verdict.reason()}",
                "not_serving",
            )
        try:
            lease = self.leases.renew(ask.lease_id, ask.holder)
        except SeatTaken as exc:
            return self._refuse(403, "not_yours", f"renew {ask.who}: {exc}", f"foreign:{ask.who}")
        if lease is None:
            return self._grant(ask)
        if (lease.module, lease.instance) != (ask.module, ask.instance):
            return self._refuse(
                403,
                "not_yours",
                f"renew {ask.who}: lease is for another instance",
                f"foreign:{ask.who}",
            )
        return Reply(200, self._granted(lease, ask))

    def release(self, body: Any) -> Reply:
        ask, refusal = self._request("release", body)
        if refusal is not None or ask is None:
            return refusal or Reply(400, {"ok": False})
        try:
            ok = self.leases.release(ask.lease_id, ask.holder)
        except SeatTaken as exc:
            return self._refuse(403, "not_yours", f"release {ask.who}: {exc}", f"foreign:{ask.who}")
        return Reply(200, {"ok": True, "released": ok})

    def _granted(self, lease: Lease, ask: Ask) -> Dict[str, Any]:
        now = self.wall()
        grant = {
            "format": GRANT_FORMAT,
            "version": GRANT_VERSION,
            "lease_id": lease.lease_id,
            "module": lease.module,
            "instance": lease.instance,
            "holder": lease.holder,
            "seat": lease.seat,
            "gpus": lease.gpus,
            "license_id": self.license.license_id if self.license else "",
            "license_sha256": self.license_sha256,
            "issued_at": round(now, 3),
            "ttl": self.ttl,
            "expires_at": round(now + self.ttl, 3),
            "nonce": ask.nonce,
            "state": self.verdict.state,
            "warnings": self.verdict.warnings,
        }
        text = json.dumps(grant, sort_keys=True, separators=(",", ":"))
        out: Dict[str, Any] = {"ok": True, "grant": text, "mac": grant_mac(ask.secret, text)}
        if ask.have != self.license_sha256:
            out["license"] = self.license_text
        return out

    # views ------------------------------------------------------------------------------
    def status(self, *, local: bool = True) -> Dict[str, Any]:
        """Everything on loopback; from the network only whether it serves (no customer,
        license id, machines, policy or seat usage)."""
        v = self.verdict
        if not local:
            return {"serving": v.ok, "state": v.state, "version": VERSION}
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
            "license_sha256": self.license_sha256,
            "source": self.source,
            "machine": v.machine,
            "grants": grants,
            "lease_ttl": self.ttl,
            "seat_key": "configured" if self.seat_key else "missing",
            "checked_at": iso(self.wall()),
            "version": VERSION,
        }

    def health(self) -> Tuple[int, Dict[str, Any]]:
        """(HTTP status, body): 200 only while serving a valid license; else 503 with the
        reason in one line and whether waiting can change it (the installer's health
        contract: ``fatal`` ends its wait at once, ``retry`` says the server is still starting)."""
        v = self.verdict
        if v.ok:
            return 200, {"serving": True, "reason": "serving"}
        starting = set(v.codes) <= {"starting", "machine_unknown"}
        return 503, {
            "serving": False,
            "reason": f"NOT serving: {v.reason()}",
            "fatal": not starting,
            "retry": starting,
        }

    def banner(self, *, local: bool = True) -> str:
        v = self.verdict
        lic = self.license
        if not local:
            return f"Sealbox license server {VERSION}: {'serving' if v.ok else 'NOT serving'}\n"
        if v.ok and lic is not None:
            state = f"serving license {lic.license_id} for {lic.customer}, {v.days_left} days left"
            if v.warnings:
                state += " (" + "; ".join(v.warnings) + ")"
        else:
            state = f"NOT serving: {v.reason()}"
        return f"Sealbox license server {VERSION}: {state}\n"
