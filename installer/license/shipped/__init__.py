"""The license code that runs inside images: the license server (8887) in the license-server
image, and the client library in every licensed service image.

Split from the controller by where it runs (Ansible keeps ``module_utils`` apart from its
``executor`` the same way): ``fileformat`` and ``verify`` (the signed license.cfg), ``model``,
``keys`` (the pinned vendor key), ``server`` / ``service`` / ``http`` / ``asks`` / ``leases`` /
``clock`` (the server), ``client`` (seat-bound grants for services), ``paths``.

The images are built from this package (``demo/images/*/stage.py`` copy it whole, plus the
modules in ``OUTSIDE``), with Debian's python3 and cryptography and nothing else. So this
package imports only itself, the standard library, ``cryptography`` and the modules below;
``tests/unit/license/test_shipped_imports.py`` imports every module of it with the rest of
``installer`` (and every other third-party package) blocked. This ``__init__`` imports nothing.
"""

# Modules outside this package that it needs (the whole of ``fingerprint`` but its CLI: the
# server collects the machine's fingerprint with ``fingerprint.collect`` on a LocalHost, which
# reads the machine through ``installer.facts``, the one home for host facts).
OUTSIDE_MODULES = (
    "installer",
    "installer.errors",
    "installer.signing",
    "installer.hosts",
    "installer.hosts.base",
    "installer.hosts.local",
    "installer.license",
    "installer.constants",
    "installer.i18n",  # stdlib gettext; no catalogue in images: texts stay English
)
OUTSIDE_PACKAGES = ("fingerprint", "installer.facts")
OUTSIDE_EXCLUDED = ("fingerprint.cli",)
THIRD_PARTY = ("cryptography",)
