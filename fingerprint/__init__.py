"""Machine fingerprints: collect, hash, write, pack, check, inspect and match.

Library API (the license code calls these; nothing here prints):

- ``collect(host, *, root="", timeout=30.0) -> Fingerprint`` -- read a machine through any
  ``installer.hosts.Host`` in one shell round trip. ``Fingerprint`` keeps raw values in memory
  only; ``Fingerprint.to_record(name="", product=DEFAULT_PRODUCT, algorithm=DEFAULT_ALGORITHM)
  -> MachineRecord`` hashes them (keyed HMAC-SHA256, versioned algorithm id).
- ``load_secfile(data, *, name="secfile", private_key=None) -> MachineRecord`` and
  ``dump_secfile(record) -> bytes`` -- one machine's file (format version + checksum).
- ``read_archive(path_or_bytes, *, private_key=None) -> list[MachineRecord]`` -- every machine in
  a ``finger.tar.gz``; raises ``SecfileError`` on anything ``check_archive`` calls an error.
- ``check_archive(path_or_bytes, *, private_key=None) -> CheckReport`` and
  ``pack_dir(directory) -> PackResult`` / ``pack_files({name: bytes}) -> bytes``.
- ``match(licensed: MachineRecord, live: Fingerprint | MachineRecord, policy: MatchPolicy)
  -> MatchResult`` -- k of n over the components the license recorded. Pass the live
  ``Fingerprint`` so it is re-hashed with the license's algorithm (old licenses keep working).
  ``MatchResult.ok``, ``.differing_components``, ``.explain()``, ``.to_dict()``.
- ``MachineRecord.to_dict() / MachineRecord.from_dict(d)`` and ``MatchPolicy.to_dict() /
  from_dict(d)`` -- to embed machines and policy in a license payload.
- ``shared_components(records)``, ``clone_flags(records)``, ``pair_records(old, new)``,
  ``diff_records(old, new)`` -- vendor-side inspection.
- ``seal(secfile_bytes, public_pem) -> bytes`` and ``generate_keypair()`` -- optional HPKE
  encryption to the vendor key.

Errors: ``SecfileError`` (a ``UsageError``: bad, corrupted or altered input) and
``FingerprintError`` / ``AlgorithmError`` (``SealboxError``), each one line naming the fix.
"""

from __future__ import annotations

from fingerprint.archive import (
    CheckReport,
    PackResult,
    check_archive,
    pack_dir,
    pack_files,
    read_archive,
)
from fingerprint.collect import collect
from fingerprint.compare import (
    ComponentDiff,
    MatchPolicy,
    MatchResult,
    SharedComponent,
    clone_flags,
    diff_records,
    match,
    pair_records,
    shared_components,
)
from fingerprint.crypto import generate_keypair, seal
from fingerprint.errors import AlgorithmError, FingerprintError, SecfileError
from fingerprint.hashing import ALGORITHMS, DEFAULT_ALGORITHM, DEFAULT_PRODUCT
from fingerprint.model import COMPONENTS, Fingerprint, MachineRecord, secfile_name
from fingerprint.secfile import dump_secfile, load_secfile

__all__ = [
    "ALGORITHMS",
    "COMPONENTS",
    "DEFAULT_ALGORITHM",
    "DEFAULT_PRODUCT",
    "AlgorithmError",
    "CheckReport",
    "ComponentDiff",
    "Fingerprint",
    "FingerprintError",
    "MachineRecord",
    "MatchPolicy",
    "MatchResult",
    "PackResult",
    "SecfileError",
    "SharedComponent",
    "check_archive",
    "clone_flags",
    "collect",
    "diff_records",
    "dump_secfile",
    "generate_keypair",
    "load_secfile",
    "match",
    "pack_dir",
    "pack_files",
    "pair_records",
    "read_archive",
    "seal",
    "secfile_name",
    "shared_components",
]
