"""Module specs: loading, validation and dependency order."""

from installer.spec.address import address_variables
from installer.spec.load import load_module_file, load_modules, parse_module
from installer.spec.model import ModuleSpec, license_server
from installer.spec.order import dependency_closure, install_order

__all__ = [
    "ModuleSpec",
    "address_variables",
    "dependency_closure",
    "install_order",
    "license_server",
    "load_module_file",
    "load_modules",
    "parse_module",
]
