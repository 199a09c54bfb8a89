"""The vendor key in licensed images vs the license's key: bundle create and the gate refuse a
mismatch naming both key ids (issue 12, the vendor flow)."""

from __future__ import annotations

import pytest

from installer.bundle.create import check_bundle_license
from installer.errors import LicenseError
from installer.license.pins import check_license_key, licensed_refs, pins_of

from .helpers import KEY, OTHER_KEY, signed


def test_license_signed_by_another_key_is_refused_naming_both(tmp_path) -> None:
    (tmp_path / "license.cfg").write_bytes(signed(key=KEY))
    (tmp_path / "vendor.pub").write_bytes(KEY.public.pem())
    pins = {"sealbox-demo/license-server:0.1": [OTHER_KEY.public.id]}
    with pytest.raises(LicenseError) as exc:
        check_bundle_license(str(tmp_path), pins)
    text = str(exc.value)
    assert KEY.public.id in text and OTHER_KEY.public.id in text
    assert "sealbox-demo/license-server:0.1" in text and exc.value.exit_code == 4
    check_bundle_license(str(tmp_path), {"sealbox-demo/license-server:0.1": [KEY.public.id]})


def test_vendor_pub_must_hold_the_signing_key(tmp_path) -> None:
    (tmp_path / "license.cfg").write_bytes(signed(key=KEY))
    (tmp_path / "vendor.pub").write_bytes(OTHER_KEY.public.pem())
    with pytest.raises(LicenseError, match=f"signed with vendor key {KEY.public.id}"):
        check_bundle_license(str(tmp_path), {})


def test_manifest_record_and_licensed_refs() -> None:
    from types import SimpleNamespace as NS

    specs = {
        "license-server": NS(image=NS(ref="lic:1"), licensed=False, license=NS(role="server")),
        "face-server": NS(image=NS(ref="face:1"), licensed=True),
        "mysql": NS(image=NS(ref="db:1"), licensed=False),
    }
    assert licensed_refs(specs, ["mysql", "face-server", "license-server"]) == ["face:1", "lic:1"]
    pins = pins_of({"license_pins": {"face:1": [KEY.public.id]}})
    check_license_key(KEY.public.id, pins, "license.cfg")
    with pytest.raises(LicenseError, match="image face:1 pins"):
        check_license_key(OTHER_KEY.public.id, pins, "license.cfg")
