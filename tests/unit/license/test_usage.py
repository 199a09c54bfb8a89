"""The license server's usage record and its signed report: what is counted, and that the
vendor's offline check accepts the report and refuses any altered byte, another vendor key,
or a signer the license does not pin."""

from __future__ import annotations

import dataclasses
import json

import pytest

from installer.license.shipped import fileformat
from installer.license.shipped.model import ModuleGrant
from installer.license.shipped.server import Router
from installer.license.shipped.usage import ReportInvalid, make_report, verify_report

from .helpers import KEY, NOW, OTHER_KEY, RING, make_license
from .test_service import Clock, grant, make


@pytest.fixture
def env(tmp_path):
    lic_dir, state = tmp_path / "license", tmp_path / "state"
    lic_dir.mkdir()
    (lic_dir / "license.cfg").write_bytes(fileformat.render(make_license(), KEY))
    return lic_dir, state


def _report(svc, days: float = 30) -> bytes:
    status, ctype, body = Router(svc).handle("GET", f"/v1/usage?days={days:g}", b"", local=True)
    assert status == 200, body
    return body


def test_grants_peaks_refusals_and_clock_events_are_in_the_report(env) -> None:
    wall = Clock(NOW)
    svc, _ = make(env, wall=wall)
    assert grant(svc, "0").status == 200
    assert grant(svc, "1", holder="h2").status == 200
    assert grant(svc, "2", holder="h3").status == 429  # 2 seats licensed
    assert grant(svc, "0", module="other").status == 403  # not licensed
    wall.t = NOW - 3 * 86400  # the clock set back by three days
    svc.check()
    wall.t = NOW + 60  # and put right
    svc.check()
    v = verify_report(_report(svc), RING)
    usage = v.body["usage"]
    assert usage["modules"]["face-server"] == {"grants": 2, "peak_seats": 2}
    assert usage["refusals"] == {"module:other": 1, "seat_limit:face-server": 1}
    assert [c["event"] for c in usage["clock_events"]] == ["set_back", "right_again"]
    assert v.license_id == "LIC-TEST-1" and not v.signer_pinned and v.warnings


def test_refusals_hammering_are_counted_not_written_each(env) -> None:
    mono = Clock(1000.0)
    svc, _ = make(env, mono=mono)
    for _ in range(200):
        grant(svc, "0", module="other")
    lines = (env[1] / "usage.jsonl").read_text().splitlines()
    assert sum(1 for x in lines if '"refusal"' in x) == 1  # the first; the rest counted
    usage = verify_report(_report(svc), RING).body["usage"]
    assert usage["refusals"] == {"module:other": 200}


def test_every_flipped_byte_fails_verification(env) -> None:
    svc, _ = make(env)
    grant(svc, "0")
    data = _report(svc)
    verify_report(data, RING)
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x01
        with pytest.raises(ReportInvalid):
            verify_report(bytes(bad), RING)
    with pytest.raises(ReportInvalid):
        verify_report(data + b"\n", RING)


def test_another_vendor_key_fails(env) -> None:
    svc, _ = make(env)
    with pytest.raises(ReportInvalid, match="license in the report does not verify"):
        verify_report(_report(svc), fileformat.KeyRing([OTHER_KEY.public]))


def test_a_report_signed_by_another_server_key_fails_the_pin(env, tmp_path) -> None:
    svc, _ = make(env)
    kid = verify_report(_report(svc), RING).signer
    for pin, ok in ((kid, True), ("0" * 16, False)):
        lic = make_license(modules={"face-server": ModuleGrant(2)})
        lic = dataclasses.replace(lic, extra={"report_key": pin})
        (env[0] / "license.cfg").write_bytes(fileformat.render(lic, KEY))
        svc.reload()
        if ok:
            assert verify_report(_report(svc), RING).signer_pinned
        else:
            with pytest.raises(ReportInvalid, match="pins report key"):
                verify_report(_report(svc), RING)


def test_a_forged_report_with_its_own_key_and_the_real_license_is_caught_by_the_pin(env) -> None:
    """Anyone holding license.cfg can sign a report with a key of their own; a license that
    pins the server's key refuses it."""
    svc, _ = make(env)
    real = verify_report(_report(svc), RING).signer
    lic = dataclasses.replace(make_license(), extra={"report_key": real})
    text = fileformat.render(lic, KEY).decode()
    forger = make_report(
        type(svc.usage)(str(env[1] / "forger"), lambda: NOW),
        since=NOW - 86400,
        until=NOW,
        license_text=text,
        license_id=lic.license_id,
        server_version="x",
    )
    with pytest.raises(ReportInvalid, match="pins report key"):
        verify_report(forger, RING)


def test_usage_is_loopback_only(env) -> None:
    svc, _ = make(env)
    status, _, _ = Router(svc).handle("GET", "/v1/usage", b"", local=False)
    assert status == 403
    status, _, _ = Router(svc).handle("GET", "/v1/usage?days=x", b"", local=True)
    assert status == 400


def test_report_key_is_made_once_0600(env) -> None:
    svc, _ = make(env)
    a = verify_report(_report(svc), RING).signer
    b = verify_report(_report(svc), RING).signer
    assert a == b
    assert (env[1] / "usage.key").stat().st_mode & 0o777 == 0o600
    assert json.loads(_report(svc).split(b"\n")[0])["signer"]["key_id"] == a
