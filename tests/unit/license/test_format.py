"""license.cfg: only the exact signed bytes verify; every failure has its own sentence."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from installer.errors import LicenseError
from installer.license.shipped import fileformat
from installer.license.shipped.verify import MALFORMED, SIGNATURE, UNKNOWN_KEY, verify_bytes

from .helpers import KEY, NOW, OTHER_KEY, RING, machine, signed

VALID = signed()


def test_roundtrip_keeps_every_field() -> None:
    lic = fileformat.load(VALID, RING)
    assert lic.license_id == "LIC-TEST-1" and lic.customer == "ACME Bank"
    assert lic.modules["face-server"].instances == 2
    assert (
        lic.machines[0].components and lic.match.required == 5
    )  # 6 identity components, all but one
    assert fileformat.split(VALID).key_id == KEY.id
    assert VALID.count(b"\n-----END SEALBOX LICENSE-----\nsignature: ed25519 ") == 1


def test_tampered_payload_byte_is_signature_invalid() -> None:
    data = VALID.replace(b'"instances": 2', b'"instances": 9')
    assert data != VALID
    v = verify_bytes(data, RING, now=NOW)
    assert v.codes == [SIGNATURE]
    assert "signature invalid (file altered or wrong vendor key" in v.reason()
    with pytest.raises(fileformat.SignatureError):
        fileformat.load(data, RING)


def test_tampered_comment_line_is_signature_invalid() -> None:
    data = VALID.replace(b"# Check it with", b"# check it with", 1)
    assert verify_bytes(data, RING, now=NOW).codes == [SIGNATURE]


def test_wrong_key_same_id_cannot_exist_so_other_key_is_unknown() -> None:
    other = signed(OTHER_KEY)
    v = verify_bytes(other, RING, now=NOW)
    assert v.codes == [UNKNOWN_KEY]
    assert OTHER_KEY.id in v.reason() and KEY.id in v.reason()


def test_wrong_key_under_the_pinned_id_is_signature_invalid() -> None:
    forged = signed(OTHER_KEY).replace(OTHER_KEY.id.encode(), KEY.id.encode())
    assert verify_bytes(forged, RING, now=NOW).codes == [SIGNATURE]


def test_unknown_key_id() -> None:
    data = VALID.replace(KEY.id.encode(), b"0" * 16)
    v = verify_bytes(data, RING, now=NOW)
    assert v.codes == [UNKNOWN_KEY] and "0000000000000000" in v.reason()


def test_crlf_named_as_such() -> None:
    v = verify_bytes(VALID.replace(b"\n", b"\r\n"), RING, now=NOW)
    assert v.codes == [MALFORMED] and "CRLF" in v.reason()


def test_non_canonical_base64_rejected() -> None:
    head, _, tail = VALID.rpartition(b" ")
    sig = base64.b64decode(tail.strip())
    text = base64.b64encode(sig).decode()
    # The last data character carries 4 unused bits: flipping them decodes to the same bytes.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = text[-3]
    twin = alphabet[alphabet.index(last) ^ 1]
    mutated = head + b" " + (text[:-3] + twin + "==").encode() + b"\n"
    assert base64.b64decode(mutated.rpartition(b" ")[2].strip()) == sig
    assert verify_bytes(mutated, RING, now=NOW).codes == [MALFORMED]


def test_not_a_license() -> None:
    with pytest.raises(LicenseError, match="not a Sealbox license"):
        fileformat.load(b"hello\n", RING)


def test_valid_file_verifies_here() -> None:
    v = verify_bytes(VALID, RING, now=NOW, live=machine(), modules=["face-server"])
    assert v.ok and v.state == "valid" and v.license is not None


@settings(max_examples=300, deadline=None)
@given(
    pos=st.integers(min_value=0, max_value=len(VALID) - 1),
    op=st.sampled_from(["flip", "replace", "insert", "delete"]),
    value=st.integers(min_value=0, max_value=255),
    bit=st.integers(min_value=0, max_value=7),
)
def test_no_mutation_of_a_valid_license_verifies(pos: int, op: str, value: int, bit: int) -> None:
    data = bytearray(VALID)
    if op == "flip":
        data[pos] ^= 1 << bit
    elif op == "replace":
        if data[pos] == value:
            value = (value + 1) % 256
        data[pos] = value
    elif op == "insert":
        data.insert(pos, value)
    else:
        del data[pos]
    v = verify_bytes(bytes(data), RING, now=NOW, live=machine(), modules=["face-server"])
    assert not v.ok
    assert v.license is None  # refused at the signature/layout stage, never parsed as trusted
