"""Module specs: loading, validation and dependency order."""

from installer.spec.load import load_module_file, load_modules, parse_module
from installer.spec.model import ModuleSpec
from installer.spec.order import dependency_closure, install_order

__all__ = [
    "ModuleSpec",
    "dependency_closure",
    "install_order",
    "load_module_file",
    "load_modules",
    "parse_module",
]
