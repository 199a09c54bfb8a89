"""Multi-host inventories: hosts, connection settings, per-host variables, module placement."""

from installer.inventory.model import (
    Inventory,
    InventoryHost,
    Placement,
    from_targets,
    load_inventory,
    parse_inventory,
)
from installer.inventory.wiring import ADDRESS_VARIABLE, FleetPlan, HostPlan, plan_fleet

__all__ = [
    "ADDRESS_VARIABLE",
    "FleetPlan",
    "HostPlan",
    "Inventory",
    "InventoryHost",
    "Placement",
    "from_targets",
    "load_inventory",
    "parse_inventory",
    "plan_fleet",
]
