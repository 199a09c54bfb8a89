"""A minimal fake license server for the trust tests (issue 12 item 1, issue 18 item 1).

It speaks the grant protocol (old TOFU answer and the MACed one) and checks nothing: no machine,
no seat count. Either with its own fresh key (it grants everything), or with the vendor's key and
a GENUINE vendor-signed license for ANOTHER machine (the record of this machine with its hostname
and every component hash changed), MACed with the installation's seat key. Run as a separate
process so a test can point a real service (a container, a pod) at it.
"""

from __future__ import annotations

import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

REPO = Path(__file__).resolve().parents[2]

FAKE = r"""
import base64, hashlib, hmac, json, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
sys.path.insert(0, sys.argv[1])
from installer import signing
from installer.license.shipped import fileformat
from installer.license.shipped.client import grant_mac, instance_secret
from installer.license.issue import issue
from installer.license.shipped.model import ModuleGrant
from fingerprint.collect import collect
from installer.hosts.local import LocalHost
from dataclasses import replace
record = collect(LocalHost()).to_record()
if sys.argv[4]:  # the vendor's key and a genuine license for ANOTHER machine (issue 18)
    key = signing.load_private(sys.argv[4])
    record = replace(record, labels={**record.labels, "hostname": "elsewhere"},
        components={k: tuple("0" * 63 + "1" for _ in v) for k, v in record.components.items()})
else:
    key = signing.generate()  # the fake's own key: it grants everything
faked = issue([record], customer="fake", days=30,
    modules={"face-server": ModuleGrant(99)}, allow_vm=True)
lic = fileformat.render(faked, key).decode()
seat_key = sys.argv[3].encode()  # even knowing this installation's seat key
asked = []
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        ask = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        asked.append(ask["instance"])
        now = time.time()
        g = json.dumps({"format": "sealbox-grant", "version": 2, "lease_id": "x" * 24,
            "module": ask["module"], "instance": ask["instance"], "holder": ask["holder"],
            "seat": 0, "gpus": 0, "license_id": faked.license_id, "license_sha256": hashlib.sha256(lic.encode()).hexdigest(),
            "issued_at": now, "ttl": 30, "expires_at": now + 30, "nonce": ask["nonce"],
            "state": "valid", "warnings": []}, sort_keys=True)
        sec = instance_secret(seat_key, ask["module"], ask["instance"])
        old = {"ok": True, "grant": g, "key_id": key.id,
               "signature": base64.b64encode(key.sign(g.encode())).decode()}
        out = json.dumps(dict(old, mac=grant_mac(sec, g), license=lic)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    def do_GET(self):
        out = json.dumps({"serving": True, "server_key": key.public.pem().decode(),
            "asked": asked}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    def log_message(self, *a):
        pass
srv = ThreadingHTTPServer((sys.argv[5], int(sys.argv[2])), H)
print("ready", flush=True)
srv.serve_forever()
"""


@contextmanager
def fake_license_server(
    port: int, seat_key: str, vendor_key: Optional[Path] = None, bind: str = "127.0.0.1"
) -> Iterator[subprocess.Popen]:
    """The fake serving on bind:port until the block ends (with `vendor_key`: the genuine
    license for another machine; without: its own key)."""
    argv = [sys.executable, "-c", FAKE, str(REPO), str(port), seat_key, str(vendor_key or ""), bind]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", (
            f"the fake license server did not start on {bind}:{port}"
        )
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)
