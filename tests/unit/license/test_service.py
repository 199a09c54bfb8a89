"""License server logic: seats, leases, reload on replacement, last-good fallback, clock, VM."""

from __future__ import annotations

import os
from typing import List, Tuple

import pytest

from installer.license.client import GrantError, verify_grant
from installer.license.model import DAY, ModuleGrant
from installer.license.service import LicenseService
from installer.signing import load_public_pem

from .helpers import NOW, RING, expired_bytes, machine, signed


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


def make(env, *, facts=machine, wall=None, mono=None, ttl=30.0) -> Tuple[LicenseService, List]:
    lic_dir, state = env
    logs: List[Tuple[str, str]] = []
    svc = LicenseService(
        license_dir=str(lic_dir),
        state_dir=str(state),
        keys=RING,
        facts=facts,
        wall=wall or Clock(NOW),
        mono=mono or Clock(1000.0),
        lease_ttl=ttl,
        log=lambda lvl, msg: logs.append((lvl, msg)),
    )
    svc.reload()
    svc.set_facts(svc.collect_facts())
    return svc, logs


def grant(svc, instance: str, module: str = "face-server", **kw):
    return svc.grant({"module": module, "instance": instance, "nonce": "n-" + instance, **kw})


def test_grant_is_signed_and_verifies_with_the_published_key(env) -> None:
    svc, _ = make(env)
    reply = grant(svc, "0")
    assert reply.status == 200
    key = load_public_pem(svc.status()["server_key"].encode()).key
    g = verify_grant(reply.body, key, nonce="n-0", module="face-server", instance="0")
    assert g["ttl"] == 30.0 and g["license_id"] == "LIC-TEST-1"
    with pytest.raises(GrantError, match="nonce"):
        verify_grant(reply.body, key, nonce="other", module="face-server", instance="0")
    forged = dict(reply.body, grant=reply.body["grant"].replace('"gpus":0', '"gpus":1'))
    with pytest.raises(GrantError, match="signature invalid"):
        verify_grant(forged, key, nonce="n-0", module="face-server", instance="0")


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
    assert svc.renew({"lease_id": a["grant"].split('"lease_id":"')[1][:24]}).status == 200
    mono.t += 15  # b not renewed for 35 s > TTL: reclaimed; a renewed 15 s ago: alive
    assert grant(svc, "c").status == 200
    assert grant(svc, "d").status == 429
    assert svc.status()["grants"]["face-server"]["in_use"] == 2


def test_renew_of_unknown_lease_regrants_after_server_restart(env) -> None:
    svc, _ = make(env)
    r = svc.renew({"lease_id": "gone", "module": "face-server", "instance": "0", "nonce": "x"})
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
    r = svc.renew({"lease_id": "x", "module": "face-server", "instance": "0"})
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


def test_grant_key_is_private(env) -> None:
    _, state = env
    make(env)
    assert (os.stat(state / "grant.key").st_mode & 0o777) == 0o600
