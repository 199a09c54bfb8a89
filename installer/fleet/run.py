"""Run one job per host: a bounded pool, cross-host order, failure isolation, per-host logs.

A job starts when every host it waits for finished ``ok`` or ``changed``; when one of those
failed, was unreachable or was skipped, the job is ``skipped`` and says why. Independent hosts
never notice another host failing. The scheduler never prints: events go to ``on_event`` and
to the host's log file, results to ``on_result`` as they arrive.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from installer.errors import SealboxError
from installer.events import Event, Reporter
from installer.hosts.ssh import (
    AuthFailedError,
    HostKeyChangedError,
    HostKeyUnknownError,
    HostUnreachableError,
    SudoRefusedError,
)
from installer.i18n import Text, english, english_tree

OK, CHANGED, FAILED, UNREACHABLE, SKIPPED = "ok", "changed", "failed", "unreachable", "skipped"
GOOD = (OK, CHANGED)
# Connection-level failures: the host was never (or no longer) ours to act on.
UNREACHABLE_ERRORS = (
    HostUnreachableError,
    AuthFailedError,
    HostKeyUnknownError,
    HostKeyChangedError,
    SudoRefusedError,
)


@dataclass
class Outcome:
    """What a job returns: whether it changed anything, a one-line message, data for --json."""

    changed: bool = False
    message: str = ""
    data: Any = None
    exit_code: int = 0  # non-zero with status ok: e.g. envcheck's "optional items failed"
    failed: bool = False  # a job that ran fine but whose verdict is a failure (envcheck fail)


@dataclass
class Job:
    host: str
    run: Callable[[Reporter], Outcome]
    after: list[str] = field(default_factory=list)


@dataclass
class HostResult:
    host: str
    status: str
    message: str = ""
    data: Any = None
    seconds: float = 0.0
    log: Optional[str] = None
    exit_code: int = 0
    error: Optional[BaseException] = None  # what stopped the job (not in the JSON)

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "status": self.status,
            "message": english(self.message),
            # a stable code for scripts: the error's kind, whatever the message's language
            "code": type(self.error).__name__ if self.error is not None else None,
            "seconds": round(self.seconds, 2),
            "exit_code": self.exit_code,
            "log": self.log,
            "data": self.data,
        }


class _HostLog:
    """Appends timestamped event lines to ``<log_dir>/<host>.log`` (one writer per host)."""

    def __init__(self, path: Optional[str]) -> None:
        self.path = path
        self._fh = open(path, "a", encoding="utf-8") if path else None

    def line(self, text: str) -> None:
        text = english(text)  # logs are machine output: English whatever the user's language
        if self._fh is not None:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            self._fh.write(f"{stamp} {text}\n")
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def safe_filename(host: str) -> str:
    return "".join(c if c.isalnum() or c in "._-@" else "_" for c in host) or "host"


def run_jobs(
    jobs: list[Job],
    *,
    parallel: int = 8,
    log_dir: Optional[str] = None,
    on_event: Optional[Callable[[str, Event], None]] = None,
    on_result: Optional[Callable[[HostResult], None]] = None,
) -> list[HostResult]:
    """Run the jobs; results come back in the jobs' order."""
    names = [j.host for j in jobs]
    if len(set(names)) != len(names):
        raise ValueError("one job per host")
    unknown = sorted({a for j in jobs for a in j.after} - set(names))
    if unknown:
        raise ValueError(f"jobs wait for unknown hosts: {', '.join(unknown)}")
    if log_dir:
        os.makedirs(log_dir, exist_ok=True)
    results: dict[str, HostResult] = {}
    lock = threading.Lock()

    def finish(res: HostResult) -> None:
        with lock:
            results[res.host] = res
        if on_result:
            on_result(res)

    def execute(job: Job) -> HostResult:
        log_path = os.path.join(log_dir, safe_filename(job.host) + ".log") if log_dir else None
        log = _HostLog(log_path)

        def report(event: Event) -> None:
            if event.kind != "progress":
                log.line(f"{event.kind:5} [{event.module}] {english(event.message)}")
            if on_event:
                on_event(job.host, event)

        started = time.monotonic()
        log.line(f"start on {job.host}")
        try:
            out = job.run(report)
            status = FAILED if out.failed else (CHANGED if out.changed else OK)
            res = HostResult(job.host, status, out.message, out.data, 0.0, log_path, out.exit_code)
        except UNREACHABLE_ERRORS as exc:
            res = HostResult(job.host, UNREACHABLE, _one_line(exc), None, 0.0, log_path, 3, exc)
        except SealboxError as exc:
            res = HostResult(
                job.host, FAILED, _one_line(exc), None, 0.0, log_path, exc.exit_code, exc
            )
            log.line(english_tree(exc))
        except Exception as exc:  # a bug must not take the other hosts down
            res = HostResult(
                job.host, FAILED, f"{type(exc).__name__}: {exc}", None, 0.0, log_path, 1, exc
            )
            log.line(traceback.format_exc())
        res.seconds = time.monotonic() - started
        log.line(f"{res.status}: {english(res.message)}" if res.message else res.status)
        log.close()
        return res

    if len(jobs) == 1 and not jobs[0].after:
        # One host (this machine, or one -H): run it here, in the caller's thread, so Ctrl-C
        # and prompts reach the job as they reach any command.
        finish(execute(jobs[0]))
        return [results[names[0]]]
    pending = {j.host: j for j in jobs}
    running: dict[Future, str] = {}
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        while pending or running:
            progressed = False
            for name in list(pending):
                job = pending[name]
                blockers = [a for a in job.after if a not in results]
                if blockers:
                    continue
                bad = [a for a in job.after if results[a].status not in GOOD]
                del pending[name]
                progressed = True
                if bad:
                    why = ", ".join(f"{a} {results[a].status}" for a in bad)
                    finish(HostResult(name, SKIPPED, f"not started: it needs {why}"))
                    continue
                running[pool.submit(execute, job)] = name
            if progressed and not running:
                continue
            if not running:
                break  # nothing runnable (cannot happen without a cycle; checked by the caller)
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in done:
                running.pop(fut)
                finish(fut.result())
    for name in pending:  # only reachable with a cycle
        finish(HostResult(name, SKIPPED, "not started: hosts wait for each other"))
    return [results[n] for n in names]


def _one_line(exc: BaseException) -> str:
    """The first line, in the user's language, keeping the English for --json and logs."""
    text = str(exc).strip() or type(exc).__name__
    first = text.splitlines()[0]
    arg = exc.args[0] if len(exc.args) == 1 else None
    if isinstance(arg, Text) and arg.english.strip():
        return Text(first, arg.english.strip().splitlines()[0])
    return first


def exit_code(results: list[HostResult]) -> int:
    """0 when every host is ok/changed; else the first failure's code (1 at least)."""
    worst = 0
    for r in results:
        if r.status in GOOD:
            if r.exit_code and not worst:
                worst = r.exit_code
            continue
        return r.exit_code or 1
    return worst
