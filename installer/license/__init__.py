"""Licenses: the signed ``license.cfg`` format, verification, issuing, the license server on
8887 and the client library services use. See README.md in this folder.

Split by where it runs: ``shipped/`` is what runs inside the license-server image and the
licensed services (it imports nothing of the controller); the modules here run on the
controller. Library API (nothing here prints; errors are ``installer.errors.LicenseError``,
exit code 4):

- ``shipped.fileformat.render(License, PrivateKey) -> bytes`` / ``.load(bytes, KeyRing)``
- ``shipped.verify.evaluate(License, now=, live=, modules=, high_water=) -> Verdict`` and
  ``shipped.verify.verify_bytes(bytes, KeyRing, ...)`` (signature problems become a Verdict)
- ``shipped.keys``: where the vendor key is pinned (image ``/app/pinned``, bundle
  ``license/vendor.pub``)
- ``shipped.service`` / ``server`` / ``http`` / ``asks`` / ``leases`` / ``clock``: the license
  server (logic, routes, hardened HTTP, request shape, seats, clock witnesses)
- ``shipped.client.LicenseClient``: seat-bound grants for services, chained to the pinned key
- ``issue.issue(finger.tar.gz, modules=, days=, ...) -> License`` (vendor side)
- ``store.LicenseStore``: the installed license on a host (keep last good, atomic swap)
- ``gate.license_gate``: the ``installer.deploy.engine.Gate`` used by ``install.py in``
- ``onhost``: install / show the license on any Host; ``probe``: the server's state for ``li``
- ``pins``: which vendor key each licensed image pins (bundle create, install gate)

The images carry this package's ``__init__`` (``installer.license.shipped`` lives under it),
so it imports nothing.
"""
