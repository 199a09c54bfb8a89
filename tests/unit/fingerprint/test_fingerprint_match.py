"""match(licensed, live, policy): k of n over the components the license recorded."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac

import pytest

from fingerprint import ALGORITHMS, AlgorithmError, Fingerprint, MachineRecord, MatchPolicy, match
from fingerprint.hashing import HashAlgorithm

RAW = {
    "machine_id": ("8f3c2a9e1b7d4c6f9a0e2d4b6c8e0f12",),
    "product_uuid": ("4c4c4544-0042-3610-8057-b4c04f4b4e32",),
    "board_serial": ("CN7475163F0123",),
    "system_serial": ("B6WKN42",),
    "macs": ("b4:96:91:2a:10:01", "b4:96:91:2a:10:02"),
}


def fp(**changes) -> Fingerprint:
    raw = {k: v for k, v in {**RAW, **changes}.items() if v}
    return Fingerprint(raw=raw, labels={"hostname": "face-01"}, missing={})


LICENSED = fp().to_record(name="secfile_10.20.30.41")  # n = 5


def test_identical_machine_matches_all():
    result = match(LICENSED, fp(), MatchPolicy(required=5))
    assert result.ok
    assert result.total == 5 and len(result.matched) == 5 and result.differing == ()


@pytest.mark.parametrize(
    "changed,required,ok", [(1, 4, True), (2, 4, False), (2, 3, True), (0, 5, True), (1, 5, False)]
)
def test_k_of_n_boundaries(changed, required, ok):
    kinds = ["system_serial", "board_serial", "product_uuid"][:changed]
    live = fp(**{k: ("REPLACED-" + k,) for k in kinds})
    result = match(LICENSED, live, MatchPolicy(required=required))
    assert result.ok is ok
    assert len(result.matched) == 5 - changed
    assert sorted(result.differing_components) == sorted(kinds)
    assert all(d.reason == "changed" for d in result.differing)


def test_missing_on_both_sides_does_not_count():
    licensed = fp(board_serial=None).to_record()  # license never recorded a board serial
    result = match(licensed, fp(board_serial=None), MatchPolicy(required=4))
    assert result.total == 4 and result.ok
    assert "board_serial" not in result.differing_components


def test_extra_component_on_live_machine_does_not_count():
    licensed = fp(board_serial=None).to_record()
    result = match(licensed, fp(), MatchPolicy(required=4))
    assert result.total == 4 and len(result.matched) == 4


def test_recorded_but_unreadable_here_counts_as_differing():
    live = fp(product_uuid=None, board_serial=None, system_serial=None)  # e.g. run without root
    result = match(LICENSED, live, MatchPolicy(required=3))
    assert not result.ok
    assert {d.kind: d.reason for d in result.differing} == {
        "product_uuid": "missing here",
        "board_serial": "missing here",
        "system_serial": "missing here",
    }
    assert "2 of 5 components match (3 required)" in result.explain()


def test_nic_reorder_and_one_replaced_nic_still_match_macs():
    live = fp(macs=("b4:96:91:2a:10:02", "b4:96:91:2a:10:01"))
    assert "macs" in match(LICENSED, live, MatchPolicy(required=5)).matched
    replaced = fp(macs=("b4:96:91:2a:10:01", "00:1b:21:aa:bb:cc"))
    assert "macs" in match(LICENSED, replaced, MatchPolicy(required=5)).matched
    all_new = fp(macs=("00:1b:21:aa:bb:cc",))
    assert match(LICENSED, all_new, MatchPolicy(required=5)).differing_components == ["macs"]


def test_case_and_whitespace_do_not_change_hashes():
    live = fp(product_uuid=(" 4C4C4544-0042-3610-8057-B4C04F4B4E32\n",), system_serial=("b6wkn42",))
    assert match(LICENSED, live, MatchPolicy(required=5)).ok


def test_must_match_overrides_the_count():
    live = fp(product_uuid=("other",))
    policy = MatchPolicy(required=3, must_match=frozenset({"product_uuid"}))
    result = match(LICENSED, live, policy)
    assert not result.ok and result.failed_must_match == ("product_uuid",)
    assert match(LICENSED, fp(), policy).ok


def test_policy_validation_and_round_trip():
    with pytest.raises(ValueError):
        MatchPolicy(required=0)
    with pytest.raises(ValueError):
        MatchPolicy(required=1, must_match=frozenset({"serial_number"}))
    p = MatchPolicy(required=3, must_match=frozenset({"machine_id"}))
    assert MatchPolicy.from_dict(p.to_dict()) == p
    assert MatchPolicy.suggested(LICENSED).required == 4


def test_record_against_record_and_dict_round_trip():
    live = MachineRecord.from_dict(fp(system_serial=("X1",)).to_record().to_dict())
    result = match(MachineRecord.from_dict(LICENSED.to_dict()), live, MatchPolicy(required=4))
    assert result.ok and result.differing_components == ["system_serial"]
    assert result.to_dict()["differing"] == [{"component": "system_serial", "reason": "changed"}]


def test_product_salt_separates_products():
    other = fp().to_record(product="other-product")
    assert set(other.components["machine_id"]).isdisjoint(LICENSED.components["machine_id"])
    with pytest.raises(AlgorithmError):
        match(LICENSED, other, MatchPolicy(required=1))
    # a live Fingerprint is re-hashed with the license's product, so it still matches
    assert match(fp().to_record(product="other-product"), fp(), MatchPolicy(required=5)).ok


def test_old_algorithm_keeps_verifying_after_a_new_default(monkeypatch):
    v2 = HashAlgorithm("test-sha256-v2", lambda kind, value: value.strip().upper())
    monkeypatch.setitem(ALGORITHMS, v2.id, v2)
    old_license = LICENSED  # issued with hmac-sha256-v1
    new_record = fp().to_record(algorithm=v2.id)
    assert new_record.components["machine_id"] != old_license.components["machine_id"]
    result = match(old_license, fp(), MatchPolicy(required=5))
    assert result.ok and result.algorithm == "hmac-sha256-v1"
    assert match(new_record, fp(), MatchPolicy(required=5)).ok
    with pytest.raises(AlgorithmError, match="cannot compare"):
        match(old_license, new_record, MatchPolicy(required=1))


def test_unknown_algorithm_is_an_upgrade_message():
    data = dataclasses.replace(LICENSED, algorithm="hmac-sha3-v9").to_dict()
    with pytest.raises(AlgorithmError, match="upgrade sealbox"):
        MachineRecord.from_dict(data)


def test_v1_hash_is_frozen():
    """Changing v1 would silently void every license issued with it: this value must not move."""
    digest = ALGORITHMS["hmac-sha256-v1"].hash(
        "machine_id", "8F3C2A9E1B7D4C6F9A0E2D4B6C8E0F12", "sealbox"
    )
    assert digest == "81f843a0029438f3e423d3873a34e47bd25321c5e7e0202ed7dcfc4a145f4c11"
    # and it is exactly the documented construction: HMAC-SHA256(key, kind NUL normalised value)
    key = b"sealbox-fingerprint\x00hmac-sha256-v1\x00sealbox"
    msg = b"machine_id\x00" + b"8f3c2a9e1b7d4c6f9a0e2d4b6c8e0f12"
    assert digest == hmac.new(key, msg, hashlib.sha256).hexdigest()
