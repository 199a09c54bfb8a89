"""`li`'s license line from the license server's /v1/status (issue 13 item 8)."""

from __future__ import annotations

from installer.license.probe import _summary, describe

STATUS = {
    "serving": True,
    "state": "valid",
    "reason": None,
    "days_left": 27,
    "license": {"license_id": "L-1", "customer": "bank"},
    "grants": {"face-server": {"in_use": 1, "limit": 4, "gpus_in_use": 0, "gpu_limit": None}},
    "server_key": "-----BEGIN PUBLIC KEY-----...",
}


def test_serving_line_has_days_and_seats() -> None:
    s = _summary(STATUS)
    assert s == {
        "serving": True,
        "reason": None,
        "days_left": 27,
        "license_id": "L-1",
        "seats": {"face-server": {"in_use": 1, "limit": 4}},
    }
    assert describe(s) == "serving L-1, 27 day(s) left; seats in use: face-server 1/4"


def test_not_serving_says_why() -> None:
    s = _summary({**STATUS, "serving": False, "reason": "license expired on 2026-01-01"})
    assert describe(s) == "NOT serving: license expired on 2026-01-01"
    assert describe(None) == "no license server here"
