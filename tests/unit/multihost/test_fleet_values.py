"""What crosses hosts: only the provider variables the dependent's templates really use."""

from __future__ import annotations

import os

from installer.multihost.fleet import referenced_variables
from installer.spec.load import load_modules

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))


def test_face_server_uses_the_mysql_credentials_but_not_the_root_password() -> None:
    specs = load_modules(os.path.join(ROOT, "modules"))
    used = referenced_variables(ROOT, specs["face-server"])
    assert {"mysql_host", "mysql_port", "mysql_user", "mysql_password", "license_port"} <= used
    assert "mysql_root_password" not in used
    lic = referenced_variables(ROOT, specs["license-server"])
    assert {"license_port", "license_lease_ttl"} <= lic
