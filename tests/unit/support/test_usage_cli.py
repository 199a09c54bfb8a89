"""``sealbox license usage verify`` and ``license issue --report-key`` through the real CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from installer.license.shipped.server import Router
from installer.license.shipped.service import LicenseService
from tests.unit.license.helpers import KEY, OTHER_KEY, RING, machine, signed

ROOT = Path(__file__).resolve().parents[3]


def sealbox(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "install.py"), *args], capture_output=True, text=True
    )


def test_verify_accepts_the_report_and_refuses_a_flipped_byte(tmp_path) -> None:
    (tmp_path / "lic").mkdir()
    (tmp_path / "lic" / "license.cfg").write_bytes(signed())
    svc = LicenseService(
        license_dir=str(tmp_path / "lic"),
        state_dir=str(tmp_path / "state"),
        keys=RING,
        facts=machine,
        wall=lambda: 1_800_000_000,
    )
    svc.reload()
    status, _, body = Router(svc).handle("GET", "/v1/usage", b"", local=True)
    assert status == 200
    report = tmp_path / "usage.report"
    report.write_bytes(body)
    (tmp_path / "vendor.pub").write_bytes(KEY.public.pem())
    (tmp_path / "other.pub").write_bytes(OTHER_KEY.public.pem())
    ok = sealbox(
        "license", "usage", "verify", str(report), "--vendor-pub", str(tmp_path / "vendor.pub")
    )
    assert ok.returncode == 0, ok.stderr
    assert "verified: license LIC-TEST-1" in ok.stdout and "pins no report key" in ok.stderr
    other = sealbox(
        "license", "usage", "verify", str(report), "--vendor-pub", str(tmp_path / "other.pub")
    )
    assert other.returncode != 0 and "does NOT verify" in other.stderr
    bad = bytearray(body)
    bad[10] ^= 0x20
    report.write_bytes(bytes(bad))
    flipped = sealbox(
        "license", "usage", "verify", str(report), "--vendor-pub", str(tmp_path / "vendor.pub")
    )
    assert flipped.returncode != 0 and "does NOT verify" in flipped.stderr
    assert len([x for x in flipped.stderr.splitlines() if x.strip()]) == 1


def test_issue_report_key_must_be_a_key_id(tmp_path) -> None:
    res = sealbox("license", "issue", "-r", "nothing.tar.gz", "-m", "a=1", "--key", "nothing.key",
                  "--report-key", "not-a-key-id")  # fmt: skip
    assert (
        res.returncode == 2
        and "--report-key not-a-key-id: expected a 16-hex-digit key id" in res.stderr
    )
