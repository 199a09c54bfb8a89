"""The client against a real server on loopback, and replacing the installed license."""

from __future__ import annotations

import asyncio
import threading
from typing import Callable, Iterator, List, Optional

import pytest

from installer.errors import LicenseError
from installer.hosts.local import LocalHost
from installer.license.shipped.client import HostMachine, LicenseClient
from installer.license.shipped.clock import Witnesses
from installer.license.shipped.http import Limits
from installer.license.shipped.server import serve
from installer.license.shipped.service import LicenseService
from installer.license.shipped.verify import verify_bytes
from installer.license.store import LicenseStore

from .helpers import KEY, NOW, OTHER_KEY, RAW, RING, expired_bytes, machine, signed

SEAT_KEY = b"s" * 48
VENDOR = {KEY.public.id: KEY.public.key}


class Running:
    def __init__(self, service: LicenseService, limits: Limits = Limits()) -> None:
        self.service = service
        self.port = 0
        self._stop: Optional[Callable[[], None]] = None
        started = threading.Event()

        def ready(port: int, stop: Callable[[], None]) -> None:
            self.port, self._stop = port, stop
            started.set()

        self.thread = threading.Thread(
            target=lambda: asyncio.run(
                serve(service, bind="127.0.0.1", port=0, ready=ready, limits=limits)
            ),
            daemon=True,
        )
        self.thread.start()
        assert started.wait(10)

    def stop(self) -> None:
        assert self._stop is not None
        self._stop()
        self.thread.join(10)


def start(tmp_path, license: bytes, keys=RING, seat_key=SEAT_KEY, **limits) -> Running:
    (tmp_path / "lic").mkdir(exist_ok=True)
    (tmp_path / "lic" / "license.cfg").write_bytes(license)
    svc = LicenseService(
        license_dir=str(tmp_path / "lic"),
        state_dir=str(tmp_path / "state"),
        keys=keys,
        facts=machine,
        wall=lambda: NOW,
        seat_key=seat_key,
        lease_ttl=5,
        witnesses=lambda: Witnesses(),
    )
    run = Running(svc, Limits(**limits))
    svc.set_facts(machine())
    return run


@pytest.fixture
def server(tmp_path) -> Iterator[Running]:
    run = start(tmp_path, signed(now=NOW - 1000))
    yield run
    if run.thread.is_alive():
        run.stop()


HERE = HostMachine(facts=machine, keys=RING)  # the machine the licenses below are issued for


def client(port: int, instance: str = "0", **kw) -> LicenseClient:
    kw.setdefault("seat_key", SEAT_KEY)
    kw.setdefault("vendor_keys", VENDOR)
    kw.setdefault("machine_check", HERE)
    return LicenseClient("127.0.0.1", port, "face-server", instance, wall=lambda: NOW, **kw)


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_grant_renew_and_offline_grace(server: Running) -> None:
    clock = Clock()
    c = client(server.port, offline_grace=10, clock=clock)
    ok, why = c.check()
    assert ok and why.startswith("granted (LIC-TEST-1, seat 1, lease 5s)")
    first = c.grant and c.grant["lease_id"]
    clock.t += 3
    assert c.check()[0] and c.grant and c.grant["lease_id"] == first  # renewed, same seat
    server.stop()
    clock.t += 4  # server gone, lease (5 s) + grace (10 s) not used up
    ok, why = c.check()
    assert ok and "unreachable" in why and "offline grace" in why
    clock.t += 20
    ok, why = c.check()
    assert not ok and why.startswith("authenticate failed: couldn't connect to license server")


def test_refusal_stops_at_once(server: Running) -> None:
    c = client(server.port)
    assert c.check()[0]
    server.service.set_facts(machine(vm="kvm"))
    ok, why = c.check()
    assert not ok and "refused" in why and "virtual machine detected" in why


def test_a_fake_server_with_its_own_key_never_licenses(tmp_path) -> None:
    """The reported attack: a server with a fresh key that grants everything. Its license is
    signed by its own key (not the pinned vendor key): refused, even with the seat key."""
    fake = start(tmp_path, signed(key=OTHER_KEY), keys=fakering())
    try:
        ok, why = client(fake.port).check()
        assert not ok and "bad grant" in why and "not a vendor key pinned in this service" in why
    finally:
        fake.stop()


def test_a_server_without_this_installations_seat_key_never_licenses(tmp_path) -> None:
    """The genuine license, but a server that is not this installation's: no valid MAC."""
    other = start(tmp_path, signed(now=NOW - 1000), seat_key=b"x" * 48)
    try:
        ok, why = client(other.port).check()
        assert not ok and "seat proof invalid" in why
    finally:
        other.stop()


def test_a_server_that_skips_the_machine_check_never_licenses_another_machine(tmp_path) -> None:
    """Issue 18: the seat key (root reads it) and a genuine vendor license for ANOTHER machine,
    served by a server that does not judge the machine (facts=None): the client judges it."""
    (tmp_path / "lic").mkdir()
    (tmp_path / "lic" / "license.cfg").write_bytes(signed(now=NOW - 1000))
    svc = LicenseService(
        license_dir=str(tmp_path / "lic"),
        state_dir=str(tmp_path / "state"),
        keys=RING,
        facts=None,  # no machine check on the server side
        wall=lambda: NOW,
        seat_key=SEAT_KEY,
        lease_ttl=5,
        witnesses=lambda: Witnesses(),
    )
    run = Running(svc)
    try:
        elsewhere = HostMachine(facts=lambda: machine(changed=tuple(RAW)), keys=RING)
        ok, why = client(run.port, machine_check=elsewhere).check()
        assert not ok and "is not for this machine" in why, why
        assert "bad grant" in why
        ok, why = client(run.port, "1").check()  # the same server, on the licensed machine
        assert ok, why
    finally:
        run.stop()


def test_the_machine_check_fails_closed(tmp_path, server: Running) -> None:
    """No host view (the spec's read-only mounts missing): unlicensed, with the reason."""
    blind = HostMachine(fact_root=str(tmp_path / "no-host-view"), keys=RING)
    ok, why = client(server.port, machine_check=blind).check()
    assert not ok and "no read-only host view" in why, why
    assert client(server.port, "1").check()[0]


def test_second_process_with_the_same_instance_is_refused(server: Running) -> None:
    first, second = client(server.port), client(server.port)
    assert first.check()[0]
    ok, why = second.check()
    assert not ok and "held by another process" in why
    first.release()
    assert second.check()[0]  # released on a clean stop: the next one gets the seat at once


def fakering():
    from installer.license.shipped.fileformat import KeyRing

    return KeyRing([OTHER_KEY.public])


def test_status_and_banner_over_http(server: Running) -> None:
    import http.client
    import json

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", "/")
    resp = conn.getresponse()
    assert resp.status == 200 and resp.read().startswith(b"Sealbox license server 1.0: serving")
    conn.request("GET", "/v1/status")
    st = json.loads(conn.getresponse().read())
    assert st["license"]["customer"] == "ACME Bank"  # loopback: details
    assert st["serving"] and st["days_left"] == 89 and st["grants"]["face-server"]["limit"] == 2
    conn.request("POST", "/v1/grant", body=b"not json")
    resp = conn.getresponse()
    assert resp.status == 400 and b"expected" in resp.read()
    conn.request("DELETE", "/v1/grant")
    resp = conn.getresponse()
    assert resp.status == 405 and resp.read() == b"method not allowed\n"


def _verifier(data: bytes):
    return verify_bytes(data, RING, now=NOW, live=machine())


def test_install_keeps_last_good_and_refuses_bad(tmp_path) -> None:
    st = LicenseStore(LocalHost(), str(tmp_path / "lic"))
    first = signed(license_id="LIC-A", now=NOW - 10)
    st.install(first, _verifier)
    assert st.read() == first and st.read(st.last_good) is None
    second = signed(license_id="LIC-B", now=NOW - 5)
    res = st.install(second, _verifier)
    assert st.read() == second and st.read(st.last_good) == first
    assert res.previous_kept == st.last_good
    for bad, why in (
        (second.replace(b"LIC-B", b"LIC-C"), "signature invalid"),
        (expired_bytes(), "expired on"),
        (first[:-10] + b"\n", "damaged license file"),
    ):
        with pytest.raises(LicenseError, match=why) as exc:
            st.install(bad, _verifier)
        assert "nothing changed, the installed license stays in force" in str(exc.value)
        assert st.read() == second and st.read(st.last_good) == first
    names: List[str] = sorted(p.name for p in (tmp_path / "lic").iterdir())
    assert names == ["license.cfg", "license.cfg.last-good"]


def test_wrong_key_message_names_the_file_once(tmp_path) -> None:
    """Issue 19, item 8: '<path>: <path>: signed with vendor key ...' said the path twice."""
    st = LicenseStore(LocalHost(), str(tmp_path / "lic"))
    path = "/tmp/other-vendor/license.cfg"
    with pytest.raises(LicenseError, match="signed with vendor key") as exc:
        st.install(
            signed(key=OTHER_KEY),
            lambda d: verify_bytes(d, RING, source=path, now=NOW, live=machine()),
            source=path,
        )
    assert str(exc.value).count(path) == 1, str(exc.value)
    assert str(exc.value).startswith(f"{path}: signed with vendor key {OTHER_KEY.id}")
