#!/usr/bin/env python3
"""Print `--skip-check PROFILE/ITEM` for each required check this machine fails (ports aside).

The demo and the tests deploy on build machines that are below the production requirements
(no GPU, 2 cores, a VM). Rather than loosen the checks, they skip the failing items by name,
visibly: the list goes to stderr and every skip is recorded in the installed state.
"""

from __future__ import annotations

import os
import sys
from typing import Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PROFILES = ["license-server", "mysql", "face-server"]
NEVER_SKIPPED = {"ports", "docker-installed", "docker-running"}


def failing_items(
    state_root: str = "/var/lib", profiles: Optional[list[str]] = None, bundle: str = ""
) -> list[str]:
    """The failing required items of `profiles` (default: the demo's three; with `bundle`, a
    bundle or product folder, every module profile its specs declare)."""
    import envcheck
    from installer.hosts.local import LocalHost

    catalog = envcheck.default_catalog(bundle) if bundle else None
    if profiles is None and catalog is not None:
        profiles = [p for p in catalog.sources]  # the profiles that come from module specs
    report = envcheck.run_checks(
        LocalHost(),
        profiles or PROFILES,
        overrides={"disk-install.path": state_root},
        catalog=catalog,
    )
    return [f"{i.profile}/{i.id}" for i in report.failed_required() if i.id not in NEVER_SKIPPED]


def main() -> int:
    # --bundle DIR: the profiles of that bundle's (or product folder's) module specs
    args = sys.argv[1:]
    bundle = args[1] if len(args) == 2 and args[0] == "--bundle" else ""
    items = failing_items(bundle=bundle)
    if items:
        print(
            "note: this machine is below the production requirements for: "
            + ", ".join(items)
            + "; the demo skips these checks by name (recorded in the state)",
            file=sys.stderr,
        )
    print(" ".join(f"--skip-check {i}" for i in items))
    return 0


if __name__ == "__main__":
    sys.exit(main())
