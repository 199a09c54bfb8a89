"""Issue 11 item 9: @revoked, @cert-authority, another key type = changed (known_hosts text only).

Keys and certificates are real ones made by ssh-keygen (tests/fixtures/hostkeys/make.sh).
"""

from __future__ import annotations

import base64
from pathlib import Path

import paramiko
import pytest

from installer.hosts import hostcert, knownhosts

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "hostkeys"
NOW = 1_800_000_000.0  # 2027: inside "always:forever", after the expired certificate's window


def pub(name: str) -> tuple[str, str]:
    keytype, b64 = (FIX / f"{name}.pub").read_text().split()[:2]
    return keytype, b64


HOST = pub("host")
HOST_ECDSA = pub("host-ecdsa")
CA, OTHER_CA, RSA_CA = pub("ca"), pub("other-ca"), pub("rsa-ca")
OTHER_KEY = ("ssh-ed25519", "AAAAC3NzaC1lZDI1NTE5AAAAIBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB")


def cert(name: str) -> bytes:
    return base64.b64decode(pub(f"host-{name}-cert")[1])


def known(tmp_path: Path, *lines: str, name: str = "gpu1.example") -> list[knownhosts.KnownKey]:
    path = tmp_path / "known_hosts"
    path.write_text("".join(line + "\n" for line in lines))
    return knownhosts.lookup(str(path), name)


def line(hosts: str, key: tuple[str, str], marker: str = "") -> str:
    return f"{marker + ' ' if marker else ''}{hosts} {key[0]} {key[1]}"


def decide(entries, key=HOST, with_cert=None, principal="gpu1.example"):
    offered = knownhosts.Offered(key[0], key[1], cert(with_cert) if with_cert else None)
    return knownhosts.decide(entries, offered, principal, NOW)


# -- @revoked ---------------------------------------------------------------------------------


def test_revoked_key_refused_even_when_also_listed_on_a_plain_line(tmp_path):
    entries = known(tmp_path, line("gpu1.example", HOST), line("*", HOST, "@revoked"))
    d = decide(entries)
    assert d.verdict == "revoked" and d.line is not None and d.line.lineno == 2


def test_revoked_line_for_other_hosts_or_other_keys_does_not_apply(tmp_path):
    entries = known(
        tmp_path,
        line("gpu1.example", HOST),
        line("gpu2.example", HOST, "@revoked"),
        line("*", OTHER_KEY, "@revoked"),
    )
    assert decide(entries).verdict == "ok"


def test_revoked_hashed_host_line(tmp_path):
    hashed = paramiko.HostKeys.hash_host("gpu1.example")
    entries = known(tmp_path, line("gpu1.example", HOST), line(hashed, HOST, "@revoked"))
    assert decide(entries).verdict == "revoked"


def test_unknown_marker_lines_are_ignored(tmp_path):
    entries = known(tmp_path, line("gpu1.example", HOST, "@future-marker"))
    assert entries == [] and decide(entries).verdict == "unknown"


# -- another key type is a change -----------------------------------------------------------


def test_another_key_type_than_the_known_one_is_a_change(tmp_path):
    entries = known(tmp_path, line("gpu1.example", HOST_ECDSA))  # we know its ecdsa key
    d = decide(entries, key=HOST)  # it shows an ed25519 key
    assert d.verdict == "changed" and d.line is not None and d.line.lineno == 1
    entries = known(tmp_path, line("gpu1.example", HOST))  # and the other way round
    assert decide(entries, key=HOST_ECDSA).verdict == "changed"


def test_port_entries_and_plain_entries_are_separate_hosts(tmp_path):
    entries = known(tmp_path, line("[gpu1.example]:2222", HOST_ECDSA), name="gpu1.example")
    assert entries == [] and decide(entries).verdict == "unknown"
    entries = known(tmp_path, line("[gpu1.example]:2222", HOST_ECDSA), name="[gpu1.example]:2222")
    assert decide(entries, key=HOST).verdict == "changed"
    assert decide(entries, key=HOST_ECDSA).verdict == "ok"


def test_any_listed_key_of_a_host_with_several_is_accepted(tmp_path):
    entries = known(tmp_path, line("gpu1.example", HOST_ECDSA), line("gpu1.example", HOST))
    assert decide(entries, key=HOST).verdict == "ok"
    assert decide(entries, key=HOST_ECDSA).verdict == "ok"
    assert decide(entries, key=OTHER_KEY).verdict == "changed"


def test_we_ask_for_certificates_only_where_a_ca_is_known():
    supported = ("ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512")
    plain = [knownhosts.KnownKey(1, "ecdsa-sha2-nistp256", "x")]
    algos = knownhosts.host_key_algorithms(plain, supported)
    assert algos == ("ecdsa-sha2-nistp256", "ssh-ed25519", "rsa-sha2-512")
    ca = [knownhosts.KnownKey(1, "ssh-ed25519", "x", "@cert-authority")]
    algos = knownhosts.host_key_algorithms(ca, supported)
    assert algos[:3] == tuple(a + "-cert-v01@openssh.com" for a in supported)
    assert algos[3:] == supported
    revoked_only = [knownhosts.KnownKey(1, "ssh-ed25519", "x", "@revoked")]
    assert knownhosts.host_key_algorithms(revoked_only, supported) == supported


# -- @cert-authority --------------------------------------------------------------------------


def test_certificate_from_the_listed_ca_is_accepted(tmp_path):
    entries = known(tmp_path, line("*.example", CA, "@cert-authority"))
    d = decide(entries, with_cert="good")
    assert d.verdict == "ok" and d.line is not None and d.line.marker == "@cert-authority"
    # a principal is the name without the port, as ssh checks it
    entries = known(
        tmp_path, line("[10.0.0.*]:2222", CA, "@cert-authority"), name="[10.0.0.1]:2222"
    )
    assert decide(entries, with_cert="good", principal="10.0.0.1").verdict == "ok"


def test_rsa_ca_with_sha512_signature_is_accepted(tmp_path):
    entries = known(tmp_path, line("gpu1.example", RSA_CA, "@cert-authority"))
    assert decide(entries, with_cert="rsa-ca").verdict == "ok"


@pytest.mark.parametrize(
    "which,principal,reason",
    [
        ("other-ca", "gpu1.example", "signed by a CA that known_hosts does not list"),
        ("expired", "gpu1.example", "outside its validity period"),
        ("no-principals", "gpu1.example", "names no principals"),
        ("user-cert", "gpu1.example", "user certificate"),
        ("good", "gpu9.example", "not valid for gpu9.example"),
    ],
)
def test_bad_certificates_are_refused_with_the_reason(tmp_path, which, principal, reason):
    entries = known(tmp_path, line("*", CA, "@cert-authority"), name=principal)
    d = decide(entries, with_cert=which, principal=principal)
    assert d.verdict == "untrusted" and reason in d.reason


def test_certificate_for_another_key_than_the_one_used_is_refused(tmp_path):
    entries = known(tmp_path, line("*", CA, "@cert-authority"))
    d = decide(entries, key=HOST_ECDSA, with_cert="good")
    assert d.verdict == "untrusted" and "certifies another key" in d.reason


def test_tampered_certificate_fails_the_ca_signature(tmp_path):
    blob = bytearray(cert("good"))
    at = bytes(blob).index(b"gpu1.example")
    blob[at : at + 4] = b"gpu9"  # same length: still parses, the signature no longer matches
    entries = known(tmp_path, line("*", CA, "@cert-authority"), name="gpu9.example")
    offered = knownhosts.Offered(HOST[0], HOST[1], bytes(blob))
    d = knownhosts.decide(entries, offered, "gpu9.example", NOW)
    assert d.verdict == "untrusted" and "signature on it does not verify" in d.reason


def test_garbled_certificate_is_refused(tmp_path):
    entries = known(tmp_path, line("*", CA, "@cert-authority"))
    offered = knownhosts.Offered(HOST[0], HOST[1], cert("good")[:60])
    d = knownhosts.decide(entries, offered, "gpu1.example", NOW)
    assert d.verdict == "untrusted" and "malformed certificate" in d.reason


def test_revoked_ca_or_revoked_certified_key_is_refused(tmp_path):
    ca_line = line("*", CA, "@cert-authority")
    assert decide(
        known(tmp_path, ca_line, line("*", CA, "@revoked")), with_cert="good"
    ).verdict == ("revoked")
    assert decide(
        known(tmp_path, ca_line, line("*", HOST, "@revoked")), with_cert="good"
    ).verdict == ("revoked")


def test_plain_key_under_a_ca_is_refused_unless_listed(tmp_path):
    entries = known(tmp_path, line("*.example", CA, "@cert-authority"))
    d = decide(entries)  # the host (or a man in the middle) shows a plain key
    assert d.verdict == "untrusted" and "plain key" in d.reason
    entries = known(tmp_path, line("*.example", CA, "@cert-authority"), line("gpu1.example", HOST))
    assert decide(entries).verdict == "ok"


def test_parse_reads_the_fields_ssh_keygen_wrote():
    c = hostcert.parse(cert("good"))
    assert c.kind == hostcert.HOST_CERT and c.key_id == "host-good"
    assert c.principals == ("gpu1.example", "10.0.0.1")
    assert base64.b64encode(c.key_blob).decode() == HOST[1]
    assert base64.b64encode(c.ca_blob).decode() == CA[1]
    assert c.valid_after == 0 and c.valid_before == 2**64 - 1
    with pytest.raises(hostcert.CertError, match="not a certificate type"):
        hostcert.parse(base64.b64decode(HOST[1]))
