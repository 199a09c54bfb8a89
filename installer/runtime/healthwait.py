"""Wait for a new container to be healthy, and stop waiting as soon as the outcome is known.

Known outcomes end the wait at once or after ``same_reason_for`` seconds (README, "Health
contract"): the container exited; the service's health answer carries a reason that is fatal
or stays unchanged; an address it is wired to does not accept a connection from its host; the
dependency serving that address answers its own health with a reason. Only a service that says
nothing keeps the installer waiting until ``health.timeout``.

The failure is one line: what happened, the fix, and (added by the caller) the file that
keeps the container's log.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from installer.errors import RuntimeFailure
from installer.hosts.base import Host
from installer.i18n import _
from installer.runtime import health
from installer.runtime.container import Container
from installer.runtime.reach import Endpoint, connect
from installer.spec.model import HealthCheck

RESTARTS_MEAN_EXITED = 3
TAIL_FOR_EXIT = 5


class HealthFailed(RuntimeFailure):
    """The wait ended with a known reason (or the timeout); the message is one line."""


@dataclass(frozen=True)
class Problem:
    """Why the service is not healthy yet, as far as the installer can tell."""

    text: str
    fix: str
    fatal: bool = False  # end the wait now
    patient: bool = False  # the service says it is progressing (``retry: true``): keep waiting


class SameReason:
    """Decides when a problem is the outcome: fatal at once, else unchanged for ``hold`` s.

    The hold is counted from the start of the check that first saw the reason, so the time
    the checks themselves take (a connect to a dropping firewall waits 3 s) is part of it:
    the wait ends ``hold`` s after the reason appeared, not ``hold`` s plus the probes."""

    def __init__(self, hold: float) -> None:
        self.hold = hold
        self.text: Optional[str] = None
        self.since = 0.0

    def settled(
        self, now: float, problem: Optional[Problem], first_seen: Optional[float] = None
    ) -> bool:
        if problem is None or problem.patient:
            self.text = None
            return False
        if problem.fatal:
            return True
        if problem.text != self.text:
            self.text = problem.text
            self.since = now if first_seen is None else first_seen
            return False
        return now - self.since >= self.hold

    def expired(self, now: float) -> bool:
        """The reason seen last has been held for ``hold`` s by now."""
        return self.text is not None and now - self.since >= self.hold

    def pause(self, now: float, interval: float) -> float:
        """Sleep until the next check, but not past the moment the hold runs out."""
        if self.text is None:
            return interval
        return max(0.0, min(interval, self.since + self.hold - now))


def exited_message(container: str, cont: Container, last_line: str) -> str:
    if last_line:
        return _(
            '{container} exited (exit code {code}) while starting: its last log line: "{line}"; '
            "fix what the log says, then run the install again"
        ).format(container=container, code=cont.exit_code, line=last_line)
    return _(
        "{container} exited (exit code {code}) while starting; fix what the log says, then run "
        "the install again"
    ).format(container=container, code=cont.exit_code)


def own_problem(container: str, ans: health.HealthAnswer) -> Optional[Problem]:
    if ans.reason is None:
        return None
    return Problem(
        _('{container} is not healthy: it says "{reason}" ({probe})').format(
            container=container, reason=ans.reason, probe=ans.seen.split(":", 1)[0]
        ),
        _("fix what it says, then run the install again"),
        fatal=ans.fatal,
        patient=ans.retry,
    )


def unreachable_problem(container: str, host: str, ep: Endpoint, why: str) -> Problem:
    return Problem(
        _(
            "{container} cannot reach {what} at {where} ({host_var}, {port_var}) from {host}: {why}"
        ).format(
            container=container,
            what=ep.what,
            where=ep.where,
            host_var=ep.host_var,
            port_var=ep.port_var,
            host=host,
            why=why,
        ),
        _(
            "start {what} there, or open TCP port {port} from {host} to {address}, or correct "
            "--set {host_var}=/{port_var}="
        ).format(
            what=ep.what,
            port=ep.port,
            host=host,
            address=ep.address,
            host_var=ep.host_var,
            port_var=ep.port_var,
        ),
    )


def dependency_problem(container: str, ep: Endpoint, ans: health.HealthAnswer) -> Problem:
    return Problem(
        _('{container} cannot start: {what} at {where} is not serving: "{reason}"').format(
            container=container, what=ep.what, where=ep.where, reason=ans.reason
        ),
        _("fix {what} first ('li' shows its state), then run the install again").format(
            what=ep.what
        ),
        fatal=ans.fatal,
        patient=ans.retry,
    )


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return " ".join(lines[-1].split())[:300] if lines else ""


class HealthWait:
    """One container's wait; ``clock`` and ``sleep`` are injectable for unit tests."""

    def __init__(
        self,
        host: Host,
        inspect: Callable[[str], Optional[Container]],
        logs: Callable[[str, int], str],
        check: HealthCheck,
        container: str,
        port: Optional[int],
        endpoints: Sequence[Endpoint] = (),
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        note: Callable[[str], None] = lambda _msg: None,
        cli: str = "docker",
    ) -> None:
        self.host, self.inspect, self.logs = host, inspect, logs
        self.cli = cli  # the engine's program, for command probes
        self.note = note  # progress: a new reason seen, and how long it may stay
        self.check, self.container, self.port = check, container, port
        self.endpoints = list(endpoints)
        self.clock, self.sleep = clock, sleep

    def dependency(self) -> Optional[Problem]:
        """The first wired address that is unreachable, or whose server says it is not serving."""
        for ep in self.endpoints:
            why = connect(self.host, ep.address, ep.port)
            if why is not None:
                return unreachable_problem(self.container, self.host.name, ep, why)
            if ep.health_path:
                ans = health.check(
                    self.host, "http", port=ep.port, path=ep.health_path, address=ep.address
                )
                if not ans.ok and ans.reason is not None:
                    return dependency_problem(self.container, ep, ans)
        return None

    def probe(self) -> health.HealthAnswer:
        c = self.check
        return health.check(
            self.host,
            c.type,
            port=self.port,
            path=c.path,
            container=self.container,
            command=c.command,
            cli=self.cli,
        )

    def run(self) -> str:
        """Return what the healthy probe saw; raise HealthFailed with one line otherwise."""
        deadline = self.clock() + self.check.timeout
        tracker = SameReason(self.check.same_reason_for)
        seen = "no answer yet"
        noted: Optional[str] = None
        last: Optional[Problem] = None
        took = 0.0  # how long the last round of checks took
        while True:
            started = self.clock()
            if last is not None and tracker.expired(started + took):
                # the hold runs out before another round of checks could finish: the last
                # round saw the reason, so end when the hold does
                self.sleep(tracker.pause(started, took))
                raise HealthFailed(_("{text}; {fix}").format(text=last.text, fix=last.fix))
            cont = self.inspect(self.container)
            if cont is None:
                raise HealthFailed(
                    _(
                        "{container} disappeared while starting (removed by someone else?); run the install again"
                    ).format(container=self.container)
                )
            if cont.status in ("exited", "dead") or (
                cont.status == "restarting" and cont.restart_count >= RESTARTS_MEAN_EXITED
            ):
                line = last_line(self.logs(self.container, TAIL_FOR_EXIT))
                raise HealthFailed(exited_message(self.container, cont, line))
            ans = self.probe()
            seen = ans.seen
            if ans.ok and cont.running:
                return seen
            problem = self.dependency() or own_problem(self.container, ans)
            if problem is not None and problem.text != noted and not problem.fatal:
                noted = problem.text
                hold = (
                    _("until the timeout")
                    if problem.patient
                    else _("{seconds:g}s").format(seconds=tracker.hold)
                )
                self.note(
                    _("{text} (waiting {hold} for a change)").format(text=problem.text, hold=hold)
                )
            if tracker.settled(self.clock(), problem, first_seen=started):
                assert problem is not None
                raise HealthFailed(_("{text}; {fix}").format(text=problem.text, fix=problem.fix))
            last, took = problem, self.clock() - started
            if self.clock() > deadline:
                raise HealthFailed(
                    _(
                        "{container} not healthy after {timeout:.0f}s ({seen}) and it gave no reason; read its log, then run the install again"
                    ).format(container=self.container, timeout=self.check.timeout, seen=seen)
                )
            # `interval` is the period of the checks, not the gap after them: a round that
            # took most of it (a loaded engine answering `inspect`) is not followed by a
            # whole interval more before a service that came up is seen.
            now = self.clock()
            self.sleep(tracker.pause(now, max(0.0, self.check.interval - (now - started))))


KEPT_LOG_LINES = 20000


def _stamp_key(line: str) -> str:
    """Docker's RFC 3339 stamp with the fraction padded to 9 digits, so text order is time
    order (``.1Z`` would sort after ``.12Z``)."""
    stamp = line.split(" ", 1)[0].rstrip("Z")
    whole, _, frac = stamp.partition(".")
    return f"{whole}.{frac:0<9}"


def keep_logs(host: Host, container: str, log_dir: str, cli: str = "docker") -> Optional[str]:
    """Save the container's log (stdout and stderr, in time order) to a 0600 file on its host
    before the container is removed; the path, or None when there was nothing to save."""
    res = host.run(
        [cli, "logs", "--timestamps", "--tail", str(KEPT_LOG_LINES), container], timeout=60
    )
    if not res.ok:
        return None
    lines = res.stdout.splitlines() + res.stderr.splitlines()
    lines.sort(key=_stamp_key)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = f"{log_dir}/{container}-{stamp}.log"
    host.makedirs(log_dir, 0o700)
    host.write(path, ("\n".join(lines) + "\n").encode("utf-8", "replace"), 0o600)
    return path
