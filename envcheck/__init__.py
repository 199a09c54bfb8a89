"""envcheck: is this host fit for a module? Facts read through a Host, checks as data.

Public API (used by ``install.py in MODULE`` and the ``envcheck`` CLI)::

    report = envcheck.run_checks(host, ["MODULE"],
                                 overrides={"memory.min_gb": "16"},
                                 skip=["time-sync"],
                                 extra_items=[{"id": "memory", "min_gb": 64}])
    report.verdict            # "pass" | "fail" (a required item failed) | "warn" (only optional)
    report.failed_required()  # [Item]; each Item has id, profile, meaning, requirement, actual,
                              # required, passed, skipped, fix, error, status, name ('*' = optional)
    report.to_dict()          # JSON-ready, with the raw facts (command, rc, stdout, stderr)
    report.facts              # {fact key: FactResult(value, error, raw Result)}

Profiles: the generic ``default``, plus one per module spec that declares a ``check_profile`` or
``envcheck`` items (the demo's are in ``modules/*.yaml``; ``envcheck list`` shows them). Several may be named; items are checked per profile. ``catalog``: the
profiles of a bundle's specs (``catalog_from_specs(specs)``); default: the specs of the bundle
install.py ran from, else of this checkout (``default_catalog``).

``overrides``: ``{"ITEM.THRESHOLD": "value"}`` applies to that item in every named profile,
``{"PROFILE/ITEM.THRESHOLD": "value"}`` to one profile; mapping thresholds take a sub-key
(``os.min.centos=7.4``); lists are comma-separated (``ports.ports=8300,8301``). Values are
coerced to the default's type. Examples: ``memory.min_gb=16``,
``disk-install.path=/data/sealbox``, ``physical.allow_virtual=true`` (a license that allows VMs).

``skip``: item ids (``time-sync``) or ``PROFILE/ITEM``. Skipped items are still checked and shown
(``skipped=True``) but do not count towards the verdict; the caller records the skip.

``extra_items``: what a module spec adds or tightens, as data. Each entry is a dict::

    {"id": "memory", "min_gb": 64}                 # tighten an item of the first profile
    {"id": "ports", "ports": [8300, 8301]}         # replace a threshold (lists are replaced)
    {"id": "os", "min": {"centos": "7.6"}}         # mapping thresholds merge
    {"id": "gpu", "profile": "MODULE", "required": False, "min_count": 2}

``id`` must be a known item (``envcheck.checks.KINDS``); ``profile`` (default: the first named
profile) must be among the named ones; ``required`` defaults to the profile's value (True for a
new item); every other key is a threshold of that item, unknown ones are a ``UsageError``.

Errors: bad profile/override/extra item -> ``installer.errors.UsageError`` (exit 2); facts
unreadable (host unreachable) -> ``installer.facts.gather.GatherError`` (exit 1).

Facts: declared and parsed in ``installer.facts`` (one table, one round trip per host and run);
``run_checks(..., facts=HostFacts)`` reads a snapshot the caller already gathered.
"""

from envcheck.checks import KINDS
from envcheck.engine import CONCLUSION, Item, Report, build_plan, resolve_profiles, run_checks
from envcheck.profiles import PROFILES, Catalog, catalog_from_specs, default_catalog
from installer.facts.gather import GatherError

__all__ = [
    "CONCLUSION",
    "Catalog",
    "GatherError",
    "Item",
    "KINDS",
    "PROFILES",
    "Report",
    "build_plan",
    "catalog_from_specs",
    "default_catalog",
    "resolve_profiles",
    "run_checks",
]
