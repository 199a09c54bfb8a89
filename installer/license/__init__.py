"""Licenses: the signed ``license.cfg`` format, verification, issuing, the license server on
8887 and the client library services use. See README.md in this folder.

Library API (nothing here prints; errors are ``installer.errors.LicenseError``, exit code 4):

- ``fileformat.render(License, PrivateKey) -> bytes`` / ``fileformat.load(bytes, KeyRing)``
- ``verify.evaluate(License, now=, live=, modules=, high_water=) -> Verdict`` and
  ``verify.verify_bytes(bytes, KeyRing, ...)`` (signature problems become a Verdict too)
- ``issue.issue(finger.tar.gz, modules=, days=, ...) -> License``
- ``keys``: where the vendor key is pinned (image ``/app/pinned``, bundle ``license/vendor.pub``)
- ``store.LicenseStore``: the installed license (keep last good, atomic swap)
- ``gate.license_gate``: the ``installer.deploy.engine.Gate`` used by ``install.py in``
- ``service`` / ``server`` / ``http`` / ``asks`` / ``leases`` / ``clock``: the license server
  (logic, routes, hardened HTTP, request shape, seats, clock witnesses)
- ``client.LicenseClient``: seat-bound grants for services, chained to the pinned vendor key
- ``pins``: which vendor key each licensed image pins (bundle create, install gate)

Kept importable by the license-server image (python3 3.11, cryptography 38, no pip):
this ``__init__`` imports nothing.
"""
