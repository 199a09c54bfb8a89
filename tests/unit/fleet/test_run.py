"""The scheduler: bounded pool, cross-host order, failure isolation, skips, logs, exit codes."""

from __future__ import annotations

import threading
import time

from installer.errors import HostError, UsageError
from installer.events import Event
from installer.fleet.run import Job, Outcome, exit_code, run_jobs
from installer.hosts.ssh import AuthFailedError, HostUnreachableError


def test_dependents_start_only_after_their_providers_finished(tmp_path) -> None:
    finished: dict[str, float] = {}
    started: dict[str, float] = {}

    def job(name: str, delay: float):
        def run(report):
            started[name] = time.monotonic()
            report(Event("step", "m", f"working on {name}"))
            time.sleep(delay)
            finished[name] = time.monotonic()
            return Outcome(changed=name != "b", message="done")

        return run

    jobs = [
        Job("c", job("c", 0.01), after=["a", "b"]),
        Job("a", job("a", 0.2)),
        Job("b", job("b", 0.1)),
        Job("d", job("d", 0.01)),
    ]
    results = run_jobs(jobs, parallel=4, log_dir=str(tmp_path))
    assert [r.host for r in results] == ["c", "a", "b", "d"]  # the jobs' order
    assert {r.host: r.status for r in results} == {
        "a": "changed",
        "b": "ok",
        "c": "changed",
        "d": "changed",
    }
    assert started["c"] >= max(finished["a"], finished["b"])
    assert started["d"] < finished["a"]  # independent hosts do not wait
    log = (tmp_path / "c.log").read_text()
    assert "working on c" in log and "changed: done" in log
    assert exit_code(results) == 0


def test_failure_isolation_and_skipped_dependents() -> None:
    def fail(report):
        raise HostError("port 8887 is already in use")

    def unreachable(report):
        raise HostUnreachableError("cannot reach b: timed out after 1s (2 attempts)")

    def bug(report):
        raise KeyError("boom")

    ok = lambda report: Outcome()  # noqa: E731
    results = run_jobs(
        [
            Job("a", fail),
            Job("b", unreachable),
            Job("c", ok, after=["a"]),
            Job("d", ok, after=["c"]),
            Job("e", ok),
            Job("f", bug),
            Job("g", lambda r: (_ for _ in ()).throw(AuthFailedError("auth failed for g"))),
        ],
        parallel=2,
    )
    by = {r.host: r for r in results}
    assert by["a"].status == "failed" and by["a"].exit_code == 3
    assert "8887" in by["a"].message
    assert by["b"].status == "unreachable" and "timed out" in by["b"].message
    assert by["c"].status == "skipped" and "a failed" in by["c"].message
    assert by["d"].status == "skipped" and "c skipped" in by["d"].message
    assert by["e"].status == "ok"
    assert by["f"].status == "failed" and "KeyError" in by["f"].message
    assert by["g"].status == "unreachable"
    assert exit_code(results) == 3


def test_pool_is_bounded() -> None:
    lock = threading.Lock()
    now = {"n": 0, "max": 0}

    def run(report):
        with lock:
            now["n"] += 1
            now["max"] = max(now["max"], now["n"])
        time.sleep(0.05)
        with lock:
            now["n"] -= 1
        return Outcome()

    run_jobs([Job(f"h{i}", run) for i in range(8)], parallel=3)
    assert now["max"] == 3


def test_verdict_failures_and_exit_codes() -> None:
    res = run_jobs(
        [
            Job("a", lambda r: Outcome(exit_code=4)),
            Job("b", lambda r: Outcome(failed=True, exit_code=3, message="fail")),
        ]
    )
    assert [r.status for r in res] == ["ok", "failed"]
    assert exit_code(res) == 3
    assert exit_code(res[:1]) == 4


def test_usage_errors_keep_their_code() -> None:
    def bad(report):
        raise UsageError("unknown module x")

    (res,) = run_jobs([Job("a", bad)])
    assert res.status == "failed" and res.exit_code == 2
