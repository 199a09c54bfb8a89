"""Many hosts at once: a bounded pool with cross-host order, per-host results and logs."""

from installer.fleet.connect import ConnectOptions, open_host
from installer.fleet.fleet import Fleet
from installer.fleet.run import (
    CHANGED,
    FAILED,
    OK,
    SKIPPED,
    UNREACHABLE,
    HostResult,
    Job,
    Outcome,
    exit_code,
    run_jobs,
)

__all__ = [
    "CHANGED",
    "FAILED",
    "OK",
    "SKIPPED",
    "UNREACHABLE",
    "ConnectOptions",
    "Fleet",
    "HostResult",
    "Job",
    "Outcome",
    "exit_code",
    "open_host",
    "run_jobs",
]
