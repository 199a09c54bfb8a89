#!/usr/bin/env python3
"""Grants per second and p50/p99 latency of the license server on loopback.

Usage: .venv/bin/python benchmarks/license_grants.py [--seconds 5] [--stack asyncio|threading|both]

The server runs in its own process under Debian's /usr/bin/python3 (3.11 + cryptography 38:
the license-server image's stack) with a license issued here for THIS machine (real
fingerprint collect, temporary vendor key). Each client holds one keep-alive connection and
asks for a grant (new signed lease for its own instance, renewed on every request) in a closed
loop; 1, 8 and 32 concurrent clients. ``--stack threading`` runs the same service behind
``http.server.ThreadingHTTPServer`` as the baseline the chosen asyncio stack is compared to.
Targets: >= 2,000 grants/s and p99 < 10 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import List, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

TARGET_RATE = 2000.0
TARGET_P99_MS = 10.0

SERVER = r"""
import asyncio, json, sys, threading
sys.path.insert(0, sys.argv[1])
from installer.license.keys import keyring_from_dir
from installer.license.server import Router, serve, live_facts
from installer.license.service import LicenseService
tmp, stack = sys.argv[2], sys.argv[3]
svc = LicenseService(license_dir=tmp + "/lic", state_dir=tmp + "/state",
                     keys=keyring_from_dir(tmp + "/pinned"), facts=live_facts(), lease_ttl=30)
if stack == "asyncio":
    def ready(port, stop):
        svc.set_facts(svc.collect_facts())
        print(port, flush=True)
    asyncio.run(serve(svc, bind="127.0.0.1", port=0, ready=ready))
else:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    svc.reload(); svc.set_facts(svc.collect_facts())
    router, lock = Router(svc), threading.Lock()
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else delayed ACKs add ~40 ms per request
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                status, ctype, out = router.handle("POST", self.path, body)
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
        def log_message(self, *a):
            pass
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
    httpd.daemon_threads = True
    print(httpd.server_address[1], flush=True)
    httpd.serve_forever()
"""


def prepare(tmp: str) -> None:
    """Temporary vendor key, license for this machine (VMs allowed: CI runs in one)."""
    from fingerprint.collect import collect
    from installer import signing
    from installer.hosts.local import LocalHost
    from installer.license import fileformat
    from installer.license.issue import issue
    from installer.license.model import ModuleGrant

    key = signing.generate()
    os.makedirs(os.path.join(tmp, "pinned"))
    os.makedirs(os.path.join(tmp, "lic"))
    with open(os.path.join(tmp, "pinned", "vendor.pub"), "wb") as fh:
        fh.write(key.public.pem())
    record = collect(LocalHost()).to_record()
    lic = issue(
        [record],
        modules={"face-server": ModuleGrant(100000)},
        days=30,
        customer="benchmark",
        allow_vm=True,
    )
    with open(os.path.join(tmp, "lic", "license.cfg"), "wb") as fh:
        fh.write(fileformat.render(lic, key))


async def client(port: int, ident: int, until: float, lat: List[float]) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = json.dumps({"module": "face-server", "instance": f"bench-{ident}", "nonce": "n"})
    req = (
        f"POST /v1/grant HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()
    errors = 0
    loop = asyncio.get_running_loop()
    while loop.time() < until:
        t0 = time.perf_counter()
        writer.write(req)
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        payload = await reader.readexactly(length)
        lat.append(time.perf_counter() - t0)
        if not head.startswith(b"HTTP/1.1 200") or b'"ok": true' not in payload:
            errors += 1
    writer.close()
    return errors


async def run_level(port: int, clients: int, seconds: float) -> Tuple[float, float, float, int]:
    loop = asyncio.get_running_loop()
    await asyncio.gather(*(client(port, i, loop.time() + 0.3, []) for i in range(clients)))
    lat: List[float] = []
    t0 = time.perf_counter()
    errors = await asyncio.gather(
        *(client(port, i, loop.time() + seconds, lat) for i in range(clients))
    )
    took = time.perf_counter() - t0
    lat.sort()
    p50 = statistics.median(lat) * 1000
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
    return len(lat) / took, p50, p99, sum(errors)


def bench(stack: str, python: str, seconds: float, tmp: str) -> List[tuple]:
    proc = subprocess.Popen(
        [python, "-c", SERVER, ROOT, tmp, stack], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        rows = []
        for n in (1, 8, 32):
            rate, p50, p99, errors = asyncio.run(run_level(port, n, seconds))
            rows.append((stack, n, rate, p50, p99, errors))
        return rows
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="per concurrency level")
    ap.add_argument("--stack", choices=("asyncio", "threading", "both"), default="both")
    ap.add_argument("--python", default="/usr/bin/python3", help="interpreter for the server")
    args = ap.parse_args()
    python = args.python if shutil.which(args.python) else sys.executable
    ver = subprocess.run(
        [
            python,
            "-c",
            "import sys,cryptography;print(sys.version.split()[0],cryptography.__version__)",
        ],
        capture_output=True,
        text=True,
    ).stdout.split()
    tmp = tempfile.mkdtemp(prefix="sealbox-bench-")
    try:
        prepare(tmp)
        stacks = ("asyncio", "threading") if args.stack == "both" else (args.stack,)
        rows = [r for s in stacks for r in bench(s, python, args.seconds, tmp)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"license server grants on loopback, {os.cpu_count()} CPUs, server python {ver[0]} "
        f"cryptography {ver[1]}, {args.seconds:g}s per level, keep-alive clients"
    )
    print(
        f"{'stack':<10}{'clients':>8}{'grants/s':>11}{'vs 2000':>9}{'p50 ms':>9}"
        f"{'p99 ms':>9}{'vs 10ms':>9}{'errors':>8}  verdict"
    )
    ok_all = True
    for stack, n, rate, p50, p99, errors in rows:
        ok = rate >= TARGET_RATE and p99 < TARGET_P99_MS and errors == 0
        ok_all &= ok or stack != "asyncio"
        print(
            f"{stack:<10}{n:>8}{rate:>11.0f}{rate / TARGET_RATE:>8.2f}x{p50:>9.2f}{p99:>9.2f}"
            f"{p99 / TARGET_P99_MS:>8.2f}x{errors:>8}  {'meets' if ok else 'MISSES'}"
        )
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
