"""Dates, grace, clock rollback, k-of-n machine match, VM evidence, modules: in words."""

from __future__ import annotations

from fingerprint.compare import MatchPolicy
from installer.license.shipped import verify as V
from installer.license.shipped.model import DAY, ModuleGrant

from .helpers import NOW, machine, make_license


def test_expired_names_the_date() -> None:
    lic = make_license(now=NOW - 100 * DAY, days=30, grace_days=7)
    v = V.evaluate(lic, now=NOW)
    assert v.codes == [V.EXPIRED] and not v.ok
    assert "expired on 2026-11-06" in v.reason()  # NOW-100d+30d = 2026-11-06T08:00Z
    assert "grace period ended 2026-11-13" in v.reason()


def test_not_yet_valid() -> None:
    lic = make_license(not_before=NOW + 2 * DAY)
    v = V.evaluate(lic, now=NOW)
    assert v.codes == [V.NOT_YET_VALID] and "starts on 2027-01-17" in v.reason()


def test_grace_period_serves_with_warning_then_stops() -> None:
    lic = make_license(now=NOW, days=30, grace_days=7)
    during = V.evaluate(lic, now=lic.expires_at + 3 * DAY)
    assert during.ok and during.state == "grace"
    assert "grace period: serving until" in during.warnings[0]
    after = V.evaluate(lic, now=lic.grace_until)
    assert not after.ok and after.codes == [V.EXPIRED]


def test_warns_in_the_last_days() -> None:
    lic = make_license(now=NOW, days=30, warn_days=14)
    assert V.evaluate(lic, now=NOW + DAY).state == "valid"
    v = V.evaluate(lic, now=lic.expires_at - 5 * DAY)
    assert v.ok and v.state == "expiring" and "(5 days left)" in v.warnings[0]


def test_clock_rollback_detected_small_ntp_step_tolerated() -> None:
    lic = make_license(now=NOW - 10 * DAY)
    assert V.evaluate(lic, now=NOW - 300, high_water=NOW, clock_tolerance=600).ok
    v = V.evaluate(lic, now=NOW - 3 * DAY, high_water=NOW, clock_tolerance=600)
    assert v.codes == [V.CLOCK] and "clock was set back" in v.reason()


def test_machine_match_at_the_k_of_n_boundary() -> None:
    lic = make_license(required=4)  # 7 recorded, 6 identity (the CPU model never counts)
    ok = V.evaluate(lic, now=NOW, live=machine(changed=("board_serial", "macs", "cpu_model")))
    assert ok.ok and ok.machine and ok.machine["matched"] and len(ok.machine["matched"]) == 4
    bad = V.evaluate(lic, now=NOW, live=machine(changed=("board_serial", "macs", "machine_id")))
    assert bad.codes == [V.MACHINE]
    assert "not for this machine (components /etc/machine-id, board serial, physical NIC MACs" in (
        bad.reason()
    )


def test_clone_with_a_new_mac_and_the_same_cpu_model_is_refused() -> None:
    """The reported clone: license records CPU model, disk serial, machine-id and MACs with
    3 of 4 required; a disk-image copy with a new MAC kept CPU model, disk and machine-id."""
    from dataclasses import replace

    from fingerprint.model import Fingerprint

    kinds = ("cpu_model", "disk_serials", "machine_id", "macs")

    def four(fp: Fingerprint) -> Fingerprint:
        return replace(fp, raw={k: v for k, v in fp.raw.items() if k in kinds})

    record = four(machine()).to_record(name="secfile_10.0.0.5")
    lic = replace(make_license(), machines=(record,), match=MatchPolicy(3))
    assert V.evaluate(lic, now=NOW, live=four(machine())).ok
    clone = V.evaluate(lic, now=NOW, live=four(machine(changed=("macs",))))
    assert clone.codes == [V.MACHINE] and "2 of 3 components match (3 required)" in clone.reason()
    # Issued today, the default policy for those 3 identity components is all 3.
    assert MatchPolicy.suggested(record).required == 3


def test_on_a_vm_the_product_uuid_must_match() -> None:
    lic = make_license(allow_vm=True, required=3)
    assert V.evaluate(lic, now=NOW, live=machine(vm="kvm", changed=("macs",))).ok
    cloned_vm = V.evaluate(lic, now=NOW, live=machine(vm="kvm", changed=("product_uuid",)))
    assert cloned_vm.codes == [V.MACHINE] and "must match: product_uuid" in cloned_vm.reason()
    # On bare metal the same change is one replaced part among six.
    assert V.evaluate(make_license(required=3), now=NOW, live=machine(changed=("product_uuid",))).ok


def test_vm_refused_unless_allowed() -> None:
    refused = V.evaluate(make_license(), now=NOW, live=machine(vm="kvm"))
    assert refused.codes == [V.VM] and "systemd-detect-virt --vm: kvm" in refused.reason()
    allowed = V.evaluate(make_license(allow_vm=True), now=NOW, live=machine(vm="kvm"))
    assert allowed.ok
    assert V.evaluate(make_license(), now=NOW, live=machine()).ok


def test_module_not_licensed() -> None:
    lic = make_license(modules={"face-server": ModuleGrant(2)})
    v = V.evaluate(lic, now=NOW, modules=["face-server", "body-server"])
    assert v.codes == [V.MODULE]
    assert "module body-server not licensed (license grants: face-server)" in v.reason()


def test_json_shape() -> None:
    d = V.evaluate(make_license(), now=NOW, live=machine()).to_dict()
    assert d["ok"] is True and d["days_left"] == 90 and d["license"]["customer"] == "ACME Bank"
    assert d["machine"]["required"] == 5 and d["problems"] == []
