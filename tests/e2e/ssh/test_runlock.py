"""The run lock over SSH: two controllers on one sandbox host, the second is refused.

On main before this change a remote host was never locked (``Deployment.locked`` skipped any
host that was not this machine), so two runs could change one host at once.
"""

from __future__ import annotations

import time

import pytest

from installer.hosts.base import LockHeld

pytestmark = pytest.mark.e2e

LOCK = "/var/lib/sealbox/.lock"


def test_a_second_run_on_the_host_is_refused_until_the_first_ends(ssh_hosts, connect) -> None:
    h = ssh_hosts[0]
    first, second = connect(h), connect(h)  # two controllers: two SSH connections
    with first.lock(LOCK):
        with pytest.raises(LockHeld) as err:
            with second.lock(LOCK):
                pytest.fail("the second run got the lock the first one holds")
        msg = str(err.value)
        assert msg == f"another Sealbox run holds {LOCK} on root@{h.address}; wait for it to finish"
        assert err.value.exit_code == 3 and "\n" not in msg
    with second.lock(LOCK):  # the first run is over: the lock is free again
        assert second.run(["true"]).ok


def test_the_lock_goes_with_a_controller_that_vanishes(ssh_hosts, connect) -> None:
    h = ssh_hosts[0]
    first, second = connect(h), connect(h)
    held = first.lock(LOCK)
    held.__enter__()
    first.close()  # the controller's connection drops mid-run (killed, link lost)
    deadline = time.monotonic() + 15
    while True:
        try:
            with second.lock(LOCK):
                break
        except LockHeld:
            assert time.monotonic() < deadline, "the lock outlived its controller"
            time.sleep(0.2)


def test_sudo_users_lock_as_root(ssh_hosts, connect) -> None:
    """The lock file is root's, like the state it guards: sudo users (without and with a
    password, which goes before the holder's input) take the same lock."""
    h = ssh_hosts[0]
    root, deploy = connect(h), connect(h, "deploy")
    secure = connect(h, "secure", sudo_password=h.users["secure"].password)
    for user in (deploy, secure):
        with user.lock(LOCK):
            with pytest.raises(LockHeld):
                with root.lock(LOCK):
                    pass
        with root.lock(LOCK):  # let go when the block ended
            pass
    assert root.run(["stat", "-c", "%U", LOCK]).stdout == "root\n"
