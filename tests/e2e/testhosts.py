"""Throw-away "remote hosts" on this machine, for end-to-end tests of SSH, transfer and multi-host.

Each sandbox host is:

* a network namespace joined to the root namespace by a veth pair (addresses taken from the
  benchmark range 198.18.0.0/15, so no test packet can leave the machine);
* a private, persistent mount namespace in which ``/run`` is a fresh tmpfs and ``/tmp``,
  ``/home``, ``/var/lib/sealbox``, ``/var/lib/docker``, ``/var/lib/containers`` (Podman's
  store), ``/etc/passwd|shadow|group|gshadow`` and
  ``/etc/sudoers.d`` are bind mounts of per-host directories -- one host's state can never satisfy
  another's, and the machine's real users, sudoers and Docker engine are not touched (the main
  engine's socket and the system containerd are hidden by the private ``/run``);
* its own machine identity where the facts read it (``fingerprint.collect``, the license
  server's host view): ``/etc/machine-id`` (and ``/var/lib/dbus/machine-id``) bind-mounted from
  a per-host file, a distinct root-disk serial in the host's own udev database
  (``/run/udev/data/b<maj:min>``, under its private ``/run``), one "physical" NIC -- the netns
  end of its veth, with a distinct MAC -- in a per-host ``/sys/class/net`` bind mount, and its
  own hostname (a UTS namespace, bound like the mount namespace); so ``fingerprint check`` and
  ``license issue`` see two sandbox hosts as two machines, as they would two servers;
* reachable from the root namespace and, when a run has several hosts, from each other: one
  FORWARD ACCEPT rule scoped to this run's veths (``-i sbh<run>+ -o sbh<run>+``; Docker sets the
  chain's policy to DROP), removed at teardown;
* its own sshd (own config and ed25519 host key, port 22 inside the netns) with users ``root``
  (key only), ``deploy`` (NOPASSWD sudo), ``secure`` (sudo asks for its password) and ``nosudo``
  (no sudo rights); all accept the run's client key, ``secure`` also its password;
* optionally its own dockerd (own data-root, exec-root, pidfile, socket at the default
  ``/var/run/docker.sock`` inside the host, ``--bridge=none --iptables=false``); ssh sessions
  also get ``DOCKER_HOST`` through sshd ``SetEnv``.

Startup: about 0.1 s per host without Docker, 1-2 s with dockerd (dockerds start in parallel).
Teardown kills every process living in the host's mount namespace (sshd, sessions, dockerd,
its containerd), unmounts the namespace, deletes netns and veth and removes the directories,
even when the test or the setup failed.

Usage::

    from tests.e2e.testhosts import sandbox_hosts, sandbox_hosts_fixture

    with sandbox_hosts(2, docker=True) as hosts:
        h = hosts[0]
        h.address, h.port, h.client_key, h.users["secure"].password, h.known_hosts_line()
        h.exec(["docker", "images"])          # inside the host, without SSH
        h.kill_sessions()                     # drop every SSH connection to it

    # in a conftest.py / test module:
    two_hosts = sandbox_hosts_fixture(2, docker=False, scope="module")
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional, Sequence

NS_DIR = "/run/sealbox-testhosts"
BASE_DIR = "/var/tmp/sealbox-testhosts"
NET = ipaddress.ip_network("198.18.0.0/15")
UID_BASE = 61000


@dataclass
class SandboxUser:
    name: str
    uid: int
    password: Optional[str]
    sudo: str  # "nopasswd", "password" or "none"; root is "root"


@dataclass
class SandboxHost:
    """One test host; ``address``:``port`` is reachable from the root namespace and from the
    other hosts of the same ``sandbox_hosts`` call."""

    name: str
    index: int
    address: str
    peer_address: str
    netns: str
    veth: str
    hostdir: str
    mntns_file: str
    utsns_file: str
    client_key: str
    wrong_key: str
    users: dict[str, SandboxUser]
    docker: bool
    machine_id: str = ""
    disk_serial: str = ""
    mac: str = ""
    port: int = 22
    sshd: Optional[subprocess.Popen] = None
    dockerd: Optional[subprocess.Popen] = None
    _host_pub: str = ""
    _extra: list = field(default_factory=list)

    # -- facts the tests need -------------------------------------------------------------
    def known_hosts_line(self) -> str:
        """The known_hosts line for this host (address only, port 22)."""
        return f"{self.address} {self._host_pub}\n"

    @property
    def host_key_type(self) -> str:
        return self._host_pub.split()[0]

    def path(self, inside: str) -> str:
        """A path inside the host, seen from the root namespace (through the sshd's root)."""
        assert self.sshd is not None
        return f"/proc/{self.sshd.pid}/root{inside}"

    def exec(
        self, argv: Sequence[str], *, input: Optional[bytes] = None, check: bool = True
    ) -> subprocess.CompletedProcess:
        """Run a command inside the host's namespaces, as root, without SSH."""
        return subprocess.run(
            [
                "nsenter",
                f"--mount={self.mntns_file}",
                f"--uts={self.utsns_file}",
                f"--net=/run/netns/{self.netns}",
                "--",
            ]
            + list(argv),
            input=input,
            capture_output=True,
            check=check,
            timeout=120,
        )

    # -- fault injection ------------------------------------------------------------------
    def session_pids(self) -> list[int]:
        """sshd processes serving a connection (children of the listening sshd)."""
        assert self.sshd is not None
        out = []
        for pid in _pids_in_mntns(self.mntns_file):
            if _ppid(pid) == self.sshd.pid:
                out.append(pid)
        return out

    def kill_sessions(self) -> int:
        """Drop every SSH connection to this host, as a crashed link or a killed sshd would."""
        pids = self.session_pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return len(pids)

    def link(self, up: bool) -> None:
        """Cut (or restore) the cable: the root side of the veth pair."""
        _sh(["ip", "link", "set", self.veth, "up" if up else "down"])


# -- helpers --------------------------------------------------------------------------------


def _sh(argv: Sequence[str], *, input: Optional[bytes] = None, check: bool = True) -> str:
    proc = subprocess.run(list(argv), input=input, capture_output=True, timeout=60)
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}"
        )
    return proc.stdout.decode(errors="replace")


def _ppid(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def _pids_in_mntns(mntns_file: str) -> list[int]:
    """Every process whose mount namespace is the one bound at ``mntns_file``."""
    try:
        st = os.stat(mntns_file)
    except OSError:
        return []
    want = f"mnt:[{st.st_ino}]"
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/mnt") == want:
                pids.append(int(entry))
        except OSError:
            continue
    return pids


def _is_mountpoint(path: str) -> bool:
    with open("/proc/self/mountinfo") as fh:
        return any(line.split()[4] == path for line in fh)


def _ensure_ns_dir() -> None:
    """A private bind mount, so namespace files bound into it do not propagate anywhere."""
    os.makedirs(NS_DIR, exist_ok=True)
    if not _is_mountpoint(NS_DIR):
        _sh(["mount", "--bind", NS_DIR, NS_DIR])
    _sh(["mount", "--make-private", NS_DIR])


def _free_subnets(count: int) -> list[ipaddress.IPv4Network]:
    used = _sh(["ip", "-4", "-o", "addr", "show"])
    blocks = list(NET.subnets(new_prefix=30))
    start = random.randrange(len(blocks))
    out: list[ipaddress.IPv4Network] = []
    for i in range(len(blocks)):
        net = blocks[(start + i) % len(blocks)]
        if f" {net[1]}/" not in used and f" {net[2]}/" not in used:
            out.append(net)
            if len(out) == count:
                return out
    raise RuntimeError("no free /30 in 198.18.0.0/15")


def _keygen(path: str, comment: str) -> str:
    _sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path])
    with open(path + ".pub") as fh:
        return fh.read().strip()


def _hash_password(password: str) -> str:
    return _sh(["openssl", "passwd", "-6", "-stdin"], input=password.encode()).strip()


def _write(path: str, text: str, mode: int = 0o644, uid: int = 0, gid: int = 0) -> None:
    with open(path, "w") as fh:
        fh.write(text)
    os.chmod(path, mode)
    os.chown(path, uid, gid)


SSHD_CONFIG = """\
Port 22
ListenAddress 0.0.0.0
HostKey {hostdir}/ssh/ssh_host_ed25519_key
PidFile /run/sshd.pid
AuthorizedKeysFile {hostdir}/keys/%u
StrictModes no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
MaxStartups 100
MaxSessions 100
LogLevel VERBOSE
Subsystem sftp internal-sftp
SetEnv DOCKER_HOST=unix:///var/run/docker.sock
"""

SETUP_SCRIPT = """\
set -e
H="$1"
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/sshd /run/sudo
chmod 755 /run/sshd
mount --bind "$H/tmp" /tmp
mount --bind "$H/home" /home
mount --bind "$H/var-lib-sealbox" /var/lib/sealbox
for f in passwd shadow group gshadow; do mount --bind "$H/etc/$f" "/etc/$f"; done
mount --bind "$H/etc/sudoers.d" /etc/sudoers.d
if [ -d "$H/docker-data" ]; then mount --bind "$H/docker-data" /var/lib/docker; fi
# Its own Podman store (images, containers, libpod's database); runroot is under the fresh /run.
mkdir -p /var/lib/containers
mount --bind "$H/containers-data" /var/lib/containers
for f in /etc/machine-id /var/lib/dbus/machine-id; do
  if [ -f "$f" ]; then mount --bind "$H/machine-id" "$f"; fi
done
mkdir -p /run/udev
mount --bind "$H/udev" /run/udev
mount --bind "$H/sys-class-net" /sys/class/net
# Its own name resolves, as on any installed machine (sudo looks the host name up each time).
{ cat /etc/hosts; printf '127.0.1.1\t%s\n' "$2"; } > "$H/etc/hosts"
mount --bind "$H/etc/hosts" /etc/hosts
hostname "$2"
ip link set lo up
"""


def _block_devices() -> list[tuple[str, str]]:
    """(name, maj:min) of this machine's disks, as the fingerprint walks them."""
    out = []
    for name in sorted(os.listdir("/sys/block")):
        if name.startswith(("loop", "ram", "zram", "fd", "sr", "nbd")):
            continue
        try:
            with open(f"/sys/block/{name}/dev") as fh:
                out.append((name, fh.read().strip()))
        except OSError:
            continue
    return out


def _identity(hostdir: str, peer: str) -> tuple[str, str, str]:
    """Per-host machine-id, root-disk serial (udev database) and NIC (sysfs view): the files
    SETUP_SCRIPT binds over the machine's own inside the host's mount namespace."""
    machine_id = f"{random.getrandbits(128):032x}"
    _write(os.path.join(hostdir, "machine-id"), machine_id + "\n", 0o444)
    serial = f"SBX{random.getrandbits(48):012X}"
    data = os.path.join(hostdir, "udev", "data")
    os.makedirs(data)
    for disk, dev in _block_devices():
        _write(
            os.path.join(data, f"b{dev}"),
            f"E:ID_SERIAL={serial}-{disk}\nE:ID_SERIAL_SHORT={serial}\n",
        )
    mac = "02:" + ":".join(f"{random.randrange(256):02x}" for _ in range(5))
    nic = os.path.join(hostdir, "sys-class-net", peer)
    os.makedirs(os.path.join(nic, "device"))
    for fname, value in (
        ("address", mac),
        ("type", "1"),
        ("addr_assign_type", "0"),
        ("operstate", "up"),
        ("carrier", "1"),
        ("speed", "1000"),
    ):
        _write(os.path.join(nic, fname), value + "\n")
    return machine_id, serial, mac


class _Run:
    """Owns everything one ``sandbox_hosts`` call creates, so teardown can undo it all."""

    def __init__(self) -> None:
        self.token = f"{random.randrange(1 << 16):04x}"
        self.base = os.path.join(BASE_DIR, self.token)
        self.hosts: list[SandboxHost] = []
        self.created_sealbox_dir = False
        self.pending_ns: list[tuple[str, str, str]] = []  # (netns, veth, mntns_file)
        self.forward_rule: Optional[list[str]] = None
        self.pending_uts: list[str] = []

    # -- build ----------------------------------------------------------------------------
    def build(self, n: int, docker: bool) -> list[SandboxHost]:
        self._docker_wanted = docker
        _ensure_ns_dir()
        os.makedirs(self.base, mode=0o755)
        if not os.path.isdir("/var/lib/sealbox"):
            os.makedirs("/var/lib/sealbox", mode=0o755)
            self.created_sealbox_dir = True
        if docker and not os.path.isdir("/var/lib/docker"):
            os.makedirs("/var/lib/docker", mode=0o710)
        client_dir = os.path.join(self.base, "client")
        os.makedirs(client_dir, mode=0o700)
        client_key = os.path.join(client_dir, "id_ed25519")
        wrong_key = os.path.join(client_dir, "wrong_ed25519")
        client_pub = _keygen(client_key, "sealbox-test-client")
        _keygen(wrong_key, "sealbox-test-wrong")
        nets = _free_subnets(n)
        for i in range(n):
            self.hosts.append(self._build_host(i, nets[i], client_key, wrong_key, client_pub))
        if n > 1:  # hosts reach each other through the root namespace
            veths = f"sbh{self.token}+"
            self.forward_rule = ["FORWARD", "-i", veths, "-o", veths, "-j", "ACCEPT"]
            _sh(["iptables", "-I", *self.forward_rule[:1], "1", *self.forward_rule[1:]])
        for h in self.hosts:
            self._start_sshd(h)
            if docker:
                self._start_dockerd(h)
        for h in self.hosts:
            _wait_tcp(h.address, 22, h.sshd)
        if docker:
            for h in self.hosts:
                _wait_docker(h)
        return self.hosts

    def _build_host(
        self,
        i: int,
        net: ipaddress.IPv4Network,
        client_key: str,
        wrong_key: str,
        client_pub: str,
    ) -> SandboxHost:
        name = f"sbx{self.token}-{i}"
        netns = f"sealbox-th-{self.token}-{i}"
        veth, peer = f"sbh{self.token}{i}", f"sbn{self.token}{i}"
        hostdir = os.path.join(self.base, f"host{i}")
        mntns_file = os.path.join(NS_DIR, f"{self.token}-{i}.mnt")
        utsns_file = os.path.join(NS_DIR, f"{self.token}-{i}.uts")
        self.pending_ns.append((netns, veth, mntns_file))
        self.pending_uts.append(utsns_file)
        root_addr, addr = str(net[1]), str(net[2])

        for sub in ("ssh", "keys", "home", "var-lib-sealbox", "etc/sudoers.d", "containers-data"):
            os.makedirs(os.path.join(hostdir, sub), mode=0o755)
        os.makedirs(os.path.join(hostdir, "tmp"))
        os.chmod(os.path.join(hostdir, "tmp"), 0o1777)
        os.chmod(os.path.join(hostdir, "etc", "sudoers.d"), 0o750)

        users = {
            "root": SandboxUser("root", 0, None, "root"),
            "deploy": SandboxUser("deploy", UID_BASE + 1, None, "nopasswd"),
            "secure": SandboxUser(
                "secure", UID_BASE + 2, f"pw-{random.getrandbits(64):x}", "password"
            ),
            "nosudo": SandboxUser("nosudo", UID_BASE + 3, f"pw-{random.getrandbits(64):x}", "none"),
        }
        self._write_accounts(hostdir, users, client_pub)
        host_pub = _keygen(os.path.join(hostdir, "ssh", "ssh_host_ed25519_key"), name)
        host_pub = " ".join(host_pub.split()[:2])
        _write(os.path.join(hostdir, "ssh", "sshd_config"), SSHD_CONFIG.format(hostdir=hostdir))
        machine_id, serial, mac = _identity(hostdir, peer)
        if self._docker_wanted:
            os.makedirs(os.path.join(hostdir, "docker-data"), mode=0o710)
            _write(os.path.join(hostdir, "daemon.json"), "{}\n")

        _sh(["ip", "netns", "add", netns])
        _sh(["ip", "link", "add", veth, "type", "veth", "peer", "name", peer])
        _sh(["ip", "link", "set", peer, "address", mac])
        _sh(["ip", "link", "set", peer, "netns", netns])
        _sh(["ip", "addr", "add", f"{root_addr}/30", "dev", veth])
        _sh(["ip", "link", "set", veth, "up"])
        _sh(["ip", "-n", netns, "addr", "add", f"{addr}/30", "dev", peer])
        _sh(["ip", "-n", netns, "link", "set", peer, "up"])
        _sh(["ip", "-n", netns, "route", "add", "default", "via", root_addr])
        open(mntns_file, "w").close()
        open(utsns_file, "w").close()
        _sh(
            [
                "unshare",
                f"--mount={mntns_file}",
                f"--uts={utsns_file}",
                "--propagation",
                "private",
                "--",
                "nsenter",
                f"--net=/run/netns/{netns}",
                "--",
                "sh",
                "-c",
                SETUP_SCRIPT,
                "setup",
                hostdir,
                name,
            ]
        )
        return SandboxHost(
            name=name,
            index=i,
            address=addr,
            peer_address=root_addr,
            netns=netns,
            veth=veth,
            hostdir=hostdir,
            mntns_file=mntns_file,
            utsns_file=utsns_file,
            client_key=client_key,
            wrong_key=wrong_key,
            users=users,
            docker=self._docker_wanted,
            machine_id=machine_id,
            disk_serial=serial,
            mac=mac,
            _host_pub=host_pub,
        )

    _docker_wanted = False

    def _write_accounts(self, hostdir: str, users: dict[str, SandboxUser], client_pub: str) -> None:
        etc = os.path.join(hostdir, "etc")
        for fname in ("passwd", "shadow", "group", "gshadow"):
            shutil.copy2(os.path.join("/etc", fname), os.path.join(etc, fname))
        for u in users.values():
            _write(os.path.join(hostdir, "keys", u.name), client_pub + "\n", 0o644)
            if u.uid == 0:
                continue
            home = os.path.join(hostdir, "home", u.name)
            os.makedirs(home, mode=0o755)
            os.chown(home, u.uid, u.uid)
            pw_hash = _hash_password(u.password) if u.password else "*"
            with open(os.path.join(etc, "passwd"), "a") as fh:
                fh.write(f"{u.name}:x:{u.uid}:{u.uid}::/home/{u.name}:/bin/bash\n")
            with open(os.path.join(etc, "shadow"), "a") as fh:
                fh.write(f"{u.name}:{pw_hash}:19000:0:99999:7:::\n")
            with open(os.path.join(etc, "group"), "a") as fh:
                fh.write(f"{u.name}:x:{u.uid}:\n")
            with open(os.path.join(etc, "gshadow"), "a") as fh:
                fh.write(f"{u.name}:!::\n")
        rules = "Defaults lecture=never\n"
        rules += "deploy ALL=(ALL:ALL) NOPASSWD: ALL\nsecure ALL=(ALL:ALL) ALL\n"
        _write(os.path.join(etc, "sudoers.d", "sealbox-test"), rules, 0o440)

    def _nsenter(self, h: SandboxHost) -> list[str]:
        return [
            "nsenter",
            f"--mount={h.mntns_file}",
            f"--uts={h.utsns_file}",
            f"--net=/run/netns/{h.netns}",
            "--",
        ]

    def _start_sshd(self, h: SandboxHost) -> None:
        log = open(os.path.join(h.hostdir, "sshd.log"), "ab")
        h._extra.append(log)
        cfg = os.path.join(h.hostdir, "ssh", "sshd_config")
        # nsenter execs sshd in place (no fork without --fork), so the Popen pid is sshd's pid
        h.sshd = subprocess.Popen(
            self._nsenter(h) + ["/usr/sbin/sshd", "-D", "-e", "-f", cfg],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )

    def _start_dockerd(self, h: SandboxHost) -> None:
        log = open(os.path.join(h.hostdir, "dockerd.log"), "ab")
        h._extra.append(log)
        h.dockerd = subprocess.Popen(
            self._nsenter(h)
            + [
                "dockerd",
                "--config-file",
                os.path.join(h.hostdir, "daemon.json"),
                "--data-root",
                "/var/lib/docker",
                "--exec-root",
                "/run/docker",
                "--pidfile",
                "/run/docker.pid",
                "--host",
                "unix:///var/run/docker.sock",
                "--bridge=none",
                "--iptables=false",
                "--ip-masq=false",
                "--cgroup-parent",
                f"/sealbox-testhost-{h.name}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )

    # -- teardown -------------------------------------------------------------------------
    def teardown(self) -> None:
        for h in self.hosts:
            for proc in (h.dockerd,):
                if proc is not None and proc.poll() is None:
                    proc.terminate()
        for h in self.hosts:
            if h.dockerd is not None:
                try:
                    h.dockerd.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    h.dockerd.kill()
                    h.dockerd.wait()
        for netns, veth, mntns_file in self.pending_ns:
            for _ in range(50):
                pids = _pids_in_mntns(mntns_file)
                if not pids:
                    break
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                time.sleep(0.05)
            for h in self.hosts:
                if h.mntns_file == mntns_file and h.sshd is not None:
                    with contextlib.suppress(Exception):
                        h.sshd.wait(timeout=5)
            if os.path.exists(mntns_file):
                _sh(["umount", mntns_file], check=False)
                with contextlib.suppress(OSError):
                    os.unlink(mntns_file)
            _sh(["ip", "netns", "del", netns], check=False)
            _sh(["ip", "link", "del", veth], check=False)
        for uts in self.pending_uts:
            if os.path.exists(uts):
                _sh(["umount", uts], check=False)
                with contextlib.suppress(OSError):
                    os.unlink(uts)
        if self.forward_rule is not None:
            _sh(["iptables", "-D", *self.forward_rule], check=False)
        for h in self.hosts:
            for fh in h._extra:
                with contextlib.suppress(Exception):
                    fh.close()
        shutil.rmtree(self.base, ignore_errors=True)
        if self.created_sealbox_dir:
            with contextlib.suppress(OSError):
                os.rmdir("/var/lib/sealbox")


def _wait_tcp(addr: str, port: int, proc: Optional[subprocess.Popen], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((addr, port), timeout=0.5) as s:
                if s.recv(4).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"sshd for {addr} exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"sshd on {addr}:{port} not ready after {timeout}s")
        time.sleep(0.02)


def _wait_docker(h: SandboxHost, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    sock = f"/proc/{h.dockerd.pid if h.dockerd else 0}/root/run/docker.sock"
    while True:
        if os.path.exists(sock) and h.exec(["docker", "version"], check=False).returncode == 0:
            return
        if h.dockerd is not None and h.dockerd.poll() is not None:
            raise RuntimeError(f"dockerd for {h.name} exited; see {h.hostdir}/dockerd.log")
        if time.monotonic() > deadline:
            raise RuntimeError(f"dockerd for {h.name} not ready after {timeout}s")
        time.sleep(0.1)


def can_run() -> Optional[str]:
    """Why sandbox hosts cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "needs root"
    for tool in ("ip", "unshare", "nsenter", "/usr/sbin/sshd", "ssh-keygen", "openssl", "sudo"):
        if shutil.which(tool) is None:
            return f"{tool} not installed"
    return None


def can_run_docker() -> Optional[str]:
    why = can_run()
    if why is None and shutil.which("dockerd") is None:
        return "dockerd not installed"
    return why


_lock = threading.Lock()


@contextlib.contextmanager
def sandbox_hosts(n: int = 1, *, docker: bool = False) -> Iterator[list[SandboxHost]]:
    """Create ``n`` sandbox hosts; everything is torn down on exit, also after a failure."""
    run = _Run()
    try:
        with _lock:
            hosts = run.build(n, docker)
        yield hosts
    finally:
        run.teardown()


def sandbox_hosts_fixture(
    n: int = 1, *, docker: bool = False, scope: str = "module"
) -> Callable[..., Iterator[list[SandboxHost]]]:
    """A pytest fixture yielding ``n`` sandbox hosts; skips the test when this machine can't."""
    import pytest

    @pytest.fixture(scope=scope)
    def _fixture() -> Iterator[list[SandboxHost]]:
        why = can_run_docker() if docker else can_run()
        if why:
            pytest.skip(f"sandbox hosts: {why}")
        with sandbox_hosts(n, docker=docker) as hosts:
            yield hosts

    return _fixture
