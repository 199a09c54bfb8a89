"""License server logic: seats bound to instances, leases, reload on replacement, last-good
fallback, clock witnesses, VM, status redaction."""

from __future__ import annotations

import json
import os
from typing import Any, List, Tuple

import pytest

from installer.license.shipped.client import (
    GrantError,
    VendorLicense,
    instance_secret,
    request_proof,
    verify_grant,
)
from installer.license.shipped.clock import Witnesses
from installer.license.shipped.model import DAY, ModuleGrant, iso
from installer.license.shipped.service import LicenseService

from .helpers import KEY, NOW, OTHER_KEY, RING, expired_bytes, machine, signed

SEAT_KEY = b"k" * 48
VENDOR = {KEY.public.id: KEY.public.key}


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def env(tmp_path):
    lic_dir, state = tmp_path / "license", tmp_path / "state"
    lic_dir.mkdir()
    (lic_dir / "license.cfg").write_bytes(signed())
    return lic_dir, state


def make(
    env, *, facts=machine, wall=None, mono=None, ttl=30.0, seat_key=SEAT_KEY, witnesses=None
) -> Tuple[LicenseService, List]:
    lic_dir, state = env
    logs: List[Tuple[str, str]] = []
    svc = LicenseService(
        license_dir=str(lic_dir),
        state_dir=str(state),
        keys=RING,
        facts=facts,
        wall=wall or Clock(NOW),
        mono=mono or Clock(1000.0),
        seat_key=seat_key,
        lease_ttl=ttl,
        log=lambda lvl, msg: logs.append((lvl, msg)),
        witnesses=None if witnesses == "real" else witnesses or (lambda: Witnesses()),
    )
    svc.reload()
    svc.set_facts(svc.collect_facts())
    return svc, logs


def ask(
    op: str,
    instance: str,
    *,
    holder: str = "holder-1",
    lease_id: str = "",
    module: str = "face-server",
    seat_key: bytes = SEAT_KEY,
    **kw: Any,
) -> dict:
    nonce = "n-" + instance
    secret = instance_secret(seat_key, module, instance)
    proof = request_proof(secret, op, module, instance, holder, lease_id, nonce)
    return {
        "module": module,
        "instance": instance,
        "holder": holder,
        "lease_id": lease_id,
        "nonce": nonce,
        "proof": proof,
        **kw,
    }


def grant(svc, instance: str, **kw):
    return svc.grant(ask("grant", instance, **kw))


def lease_of(reply) -> str:
    return json.loads(reply.body["grant"])["lease_id"]


def test_grant_chains_to_the_vendor_license_and_is_bound_to_the_instance(env) -> None:
    svc, _ = make(env)
    reply = grant(svc, "0")
    assert reply.status == 200
    secret = instance_secret(SEAT_KEY, "face-server", "0")
    g = verify_grant(
        reply.body, secret, nonce="n-0", module="face-server", instance="0", holder="holder-1"
    )
    assert g["ttl"] == 30.0 and g["license_id"] == "LIC-TEST-1" and g["seat"] == 0
    lic = VendorLicense(reply.body["license"].encode(), VENDOR)
    assert lic.sha256 == g["license_sha256"]
    lic.check(g, NOW)
    with pytest.raises(GrantError, match="nonce"):
        verify_grant(
            reply.body, secret, nonce="x", module="face-server", instance="0", holder="holder-1"
        )
    forged = dict(reply.body, grant=reply.body["grant"].replace('"gpus":0', '"gpus":1'))
    with pytest.raises(GrantError, match="MAC mismatch"):
        verify_grant(
            forged, secret, nonce="n-0", module="face-server", instance="0", holder="holder-1"
        )
    # Another vendor's key: the license does not chain to the pinned key.
    with pytest.raises(GrantError, match="not a vendor key pinned"):
        VendorLicense(reply.body["license"].encode(), {OTHER_KEY.public.id: OTHER_KEY.public.key})
    # A client that already has the license gets only its sha256 in the grant.
    again = grant(svc, "0", have=lic.sha256)
    assert again.status == 200 and "license" not in again.body


def test_license_checks_dates_module_and_seat_count(env) -> None:
    svc, _ = make(env)
    reply = grant(svc, "0")
    g = json.loads(reply.body["grant"])
    lic = VendorLicense(reply.body["license"].encode(), VENDOR)
    with pytest.raises(GrantError, match="expired"):
        lic.check(g, NOW + 200 * DAY)
    with pytest.raises(GrantError, match="not valid yet"):
        lic.check(g, NOW - 5 * DAY)
    with pytest.raises(GrantError, match="does not grant body-server"):
        lic.check(dict(g, module="body-server"), NOW)
    with pytest.raises(GrantError, match="outside the 2 licensed instances"):
        lic.check(dict(g, seat=2), NOW)


def test_request_without_the_seat_key_is_refused(env) -> None:
    svc, _ = make(env)
    r = grant(svc, "0", seat_key=b"guessed" * 8)
    assert r.status == 403 and "seat proof invalid" in r.body["reason"]
    bare = {"module": "face-server", "instance": "0", "nonce": "n"}
    assert svc.grant(bare).status == 400
    nokey, _ = make(env, seat_key=b"")
    r = grant(nokey, "0")
    assert r.status == 503 and "no seat key" in r.body["reason"]


def test_shared_instance_id_gets_no_second_seat(env) -> None:
    svc, _ = make(env)
    first = grant(svc, "0", holder="pod-a")
    assert first.status == 200
    for holder in ("pod-b", "pod-c", "pod-d", "pod-e"):
        r = grant(svc, "0", holder=holder)
        assert r.status == 409 and "held by another process" in r.body["reason"]
    assert svc.status()["grants"]["face-server"]["in_use"] == 1
    assert grant(svc, "0", holder="pod-a").status == 200  # the holder gets its seat back


def test_foreign_renew_and_release_are_refused(env) -> None:
    svc, _ = make(env)
    lease = lease_of(grant(svc, "0", holder="victim"))
    thief = svc.release(ask("release", "0", holder="thief", lease_id=lease))
    assert thief.status == 403 and "belongs to another process" in thief.body["reason"]
    renew = svc.renew(ask("renew", "0", holder="thief", lease_id=lease))
    assert renew.status == 403
    # Proving another instance does not let anyone release this lease either.
    other = svc.release(ask("release", "1", holder="thief", lease_id=lease))
    assert other.status == 403
    assert svc.renew(ask("renew", "0", holder="victim", lease_id=lease)).status == 200
    ok = svc.release(ask("release", "0", holder="victim", lease_id=lease))
    assert ok.status == 200 and ok.body["released"] is True
    assert svc.status()["grants"]["face-server"]["in_use"] == 0


def test_seat_limit_and_same_instance_gets_its_seat_back(env) -> None:
    svc, logs = make(env)  # face-server: 2 instances
    assert grant(svc, "0").status == 200 and grant(svc, "1").status == 200
    third = grant(svc, "2")
    assert third.status == 429 and "2 of 2 licensed instances in use" in third.body["reason"]
    assert grant(svc, "0").status == 200  # a restarted instance is not a new seat
    assert svc.status()["grants"]["face-server"]["in_use"] == 2
    assert any(lvl == "REFUSED" and "seat limit" in msg for lvl, msg in logs)


def test_unlicensed_module_refused(env) -> None:
    svc, _ = make(env)
    r = grant(svc, "0", module="body-server")
    assert r.status == 403 and "module body-server not licensed" in r.body["reason"]


def test_lease_expiry_reclaims_the_seat(env) -> None:
    mono = Clock(1000.0)
    svc, _ = make(env, mono=mono, ttl=30)
    a = grant(svc, "a").body
    assert grant(svc, "b").status == 200
    assert grant(svc, "c").status == 429
    mono.t += 20
    lease = json.loads(a["grant"])["lease_id"]
    assert svc.renew(ask("renew", "a", lease_id=lease)).status == 200
    mono.t += 15  # b not renewed for 35 s > TTL: reclaimed; a renewed 15 s ago: alive
    assert grant(svc, "c").status == 200
    assert grant(svc, "d").status == 429
    assert svc.status()["grants"]["face-server"]["in_use"] == 2


def test_renew_of_unknown_lease_regrants_after_server_restart(env) -> None:
    svc, _ = make(env)
    r = svc.renew(ask("renew", "0", lease_id="gone"))
    assert r.status == 200 and '"instance":"0"' in r.body["grant"]


def test_replaced_by_expired_license_stops_granting(env) -> None:
    svc, logs = make(env)
    assert grant(svc, "0").status == 200
    lic_dir, _ = env
    tmp = lic_dir / ".new"
    tmp.write_bytes(expired_bytes())
    os.replace(tmp, lic_dir / "license.cfg")
    assert svc.changed()
    svc.reload()
    r = svc.renew(ask("renew", "0", lease_id="x"))
    assert r.status == 403 and "expired on" in r.body["reason"]
    assert "NOT serving: expired on" in svc.banner()
    assert any("REFUSED" == lvl and "expired on" in msg for lvl, msg in logs)


def test_bad_replacement_falls_back_to_last_good(env) -> None:
    lic_dir, _ = env
    (lic_dir / "license.cfg.last-good").write_bytes(signed(license_id="LIC-PREV"))
    (lic_dir / "license.cfg").write_bytes(signed().replace(b'"instances": 2', b'"instances": 99'))
    svc, _ = make(env)
    assert svc.verdict.ok and svc.license and svc.license.license_id == "LIC-PREV"
    assert "license.cfg unusable (license.cfg: signature invalid" in svc.status()["warnings"][0]


def test_clock_rollback_persists_across_restarts(env) -> None:
    wall = Clock(NOW)
    svc, _ = make(env, wall=wall)
    svc.hwm.every = 0  # persist every tick
    wall.t = NOW + 2 * DAY
    svc.check()
    assert svc.verdict.ok
    wall.t = NOW + DAY  # someone set the clock back a day, then restarted the server
    again, _ = make(env, wall=wall)
    assert not again.verdict.ok and "clock was set back" in again.verdict.reason()
    assert grant(again, "0").status == 403
    wall.t = NOW + 2 * DAY - 60  # a small NTP step back is fine
    assert again.check().ok


def test_hardware_change_and_vm_stop_granting(env) -> None:
    svc, _ = make(env)
    svc.set_facts(machine(changed=("board_serial", "macs")))
    r = grant(svc, "0")
    assert r.status == 403 and "not for this machine (components board serial" in r.body["reason"]
    svc.set_facts(machine(vm="vmware"))
    assert "virtual machine detected" in grant(svc, "0").body["reason"]
    svc.set_facts(machine())
    assert grant(svc, "0").status == 200


def test_refusals_are_rate_limited_in_the_log(env) -> None:
    lic_dir, _ = env
    (lic_dir / "license.cfg").write_bytes(
        signed(modules={"face-server": ModuleGrant(1)}, now=NOW - 5 * DAY)
    )
    svc, logs = make(env)
    grant(svc, "0")
    for i in range(50):
        grant(svc, f"x{i}")
    refused = [m for lvl, m in logs if lvl == "REFUSED"]
    assert len(refused) == 1 and "seat limit" in refused[0]


def test_grace_period_grants_with_warning(env) -> None:
    lic_dir, _ = env
    (lic_dir / "license.cfg").write_bytes(signed(now=NOW - 32 * DAY, days=30, grace_days=7))
    svc, _ = make(env)
    r = grant(svc, "0")
    assert r.status == 200 and '"state":"grace"' in r.body["grant"]
    assert "grace period" in svc.banner()


def test_no_license_file_says_so(tmp_path) -> None:
    (tmp_path / "license").mkdir()
    svc, _ = make((tmp_path / "license", tmp_path / "state"))
    assert not svc.verdict.ok and "no license.cfg in" in svc.banner()
    assert grant(svc, "0").status == 403


def test_status_details_on_loopback_only(env) -> None:
    svc, _ = make(env)
    grant(svc, "0")
    full = json.dumps(svc.status(local=True))
    assert "ACME Bank" in full and "LIC-TEST-1" in full
    remote = svc.status(local=False)
    assert remote == {"serving": True, "state": "valid", "version": "1.0"}
    assert "ACME" not in svc.banner(local=False)


def test_health_is_503_with_the_reason_when_not_serving(env) -> None:
    svc, _ = make(env)
    assert svc.health() == (200, {"serving": True, "reason": "serving"})
    svc.set_facts(machine(changed=("machine_id", "macs", "disk_serials")))
    code, doc = svc.health()
    assert code == 503 and doc["reason"].startswith("NOT serving: not for this machine")
    assert doc["fatal"] is True and doc["retry"] is False
    starting, _ = make(env, facts=lambda: None)
    code, doc = starting.health()
    assert code == 503 and doc["retry"] is True and "machine not read yet" in doc["reason"]


def test_deleting_the_mark_after_a_rollback_is_still_caught(env) -> None:
    """Witnesses: the server log's latest line outlives the mark; a missing mark beside
    existing history is itself a rollback."""
    _, state = env
    wall = Clock(NOW + 2 * DAY)
    svc, _ = make(env, wall=wall, witnesses="real")
    svc.hwm.every = 0
    svc.check()
    assert svc.verdict.ok and (state / "clock.hwm").exists()
    (state / "license_service.log").write_text(f"{iso(NOW + 2 * DAY)} INFO serving\n")
    wall.t = NOW + DAY  # clock set back a day, the mark deleted, the server restarted
    os.unlink(state / "clock.hwm")
    again, _ = make(env, wall=wall, witnesses="real")
    reason = again.verdict.reason()
    assert not again.verdict.ok and "clock was set back" in reason and "server log" in reason
    assert "clock high-water mark" in reason and "missing while this server has history" in reason
    assert grant(again, "0").status == 403


def test_missing_mark_with_history_is_a_rollback_until_restored(env) -> None:
    _, state = env
    state.mkdir()
    (state / "license_service.log").write_text("2026-01-01T00:00:00Z INFO old\n")
    wall = Clock(NOW)
    svc, _ = make(env, wall=wall, witnesses="real")
    assert not svc.verdict.ok and "missing while this server has history" in svc.verdict.reason()
    (state / "clock.hwm").write_text(f"{NOW - 60}\n")  # restored from a backup
    assert svc.check().ok


def test_log_witness_catches_a_rollback_behind_an_old_mark(env) -> None:
    _, state = env
    state.mkdir()
    (state / "clock.hwm").write_text(f"{NOW - 30 * DAY}\n")
    (state / "license_service.log").write_text(f"{iso(NOW + 3 * DAY)} INFO serving\n")
    svc, _ = make(env, wall=Clock(NOW), witnesses="real")
    assert not svc.verdict.ok and "(server log;" in svc.verdict.reason()


def test_clock_before_the_license_was_issued_is_a_rollback(env) -> None:
    svc, _ = make(env, wall=Clock(NOW - 3 * DAY))
    assert not svc.verdict.ok and "license issued_at" in svc.verdict.reason()


def test_an_edited_older_mark_is_caught_by_the_heartbeat(env) -> None:
    """Issue 18: the mark rewritten with an OLDER value (not deleted) while the log was quiet
    (a serving server wrote only its start line) used to be accepted. Each write of the mark
    now logs a heartbeat line, so the log witness is as new as the mark."""
    from installer.license.shipped.server import FileLog

    lic_dir, state = env
    wall = Clock(NOW)

    def start() -> LicenseService:
        svc = LicenseService(
            license_dir=str(lic_dir),
            state_dir=str(state),
            keys=RING,
            facts=machine,
            wall=wall,
            seat_key=SEAT_KEY,
            log=FileLog(str(state / "license_service.log"), wall),
        )
        svc.reload()
        svc.set_facts(svc.collect_facts())
        return svc

    state.mkdir()
    svc = start()  # logs its start line at NOW
    assert svc.verdict.ok
    for day_ in range(1, 3):  # serving quietly for two days, the mark moving
        wall.t = NOW + day_ * DAY
        svc.check()
    assert int((state / "clock.hwm").read_text()) == NOW + 2 * DAY
    log = (state / "license_service.log").read_text()
    assert f"{iso(NOW + 2 * DAY)} INFO clock mark {iso(NOW + 2 * DAY)}" in log
    # the attack: the clock set back a day, the mark EDITED to an older time, a restart
    wall.t = NOW + DAY
    (state / "clock.hwm").write_text(f"{NOW + 3600}\n")
    again = start()
    reason = again.verdict.reason()
    assert not again.verdict.ok and "clock was set back" in reason, reason
    assert "(server log;" in reason
    assert grant(again, "0").status == 403
    # the controllers read the same witnesses through the one reader
    from installer.license.shipped.clock import high_water

    def read(path: str) -> bytes:
        with open(path, "rb") as fh:
            return fh.read()

    assert high_water(read, str(state)) == NOW + 2 * DAY
