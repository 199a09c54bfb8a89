#!/usr/bin/env python3
"""Issue a demo license for THIS machine into a folder that becomes the bundle's license/.

Usage: python scripts/demo_license.py [--out build/demo-license] [--days 90]
                                      [--modules face-server=4] [--product NAME] [--no-vm]

1. the demo vendor key build/demo-vendor/vendor.key (0600, gitignored; created on first use,
   the same one demo/images/license-server/stage.py pins into the license-server image);
2. a real `fingerprint collect` of this machine, packed like a customer's finger.tar.gz;
3. `license issue` from it -> <out>/license.cfg and <out>/vendor.pub, which
``scripts/build_demo_bundle.py`` passes to bundle create: the manifest lists and signs both
(the install gate refuses a license/vendor.pub that the bundle manifest does not list).
The machine is allowed to be a VM when it shows VM evidence (CI machines do), unless --no-vm.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from fingerprint.archive import pack_files  # noqa: E402
from fingerprint.collect import collect  # noqa: E402
from fingerprint.secfile import dump_secfile  # noqa: E402
from installer import signing  # noqa: E402
from installer.hosts.local import LocalHost  # noqa: E402
from installer.license.issue import issue, parse_modules  # noqa: E402
from installer.license.shipped import fileformat  # noqa: E402
from installer.license.shipped.keys import BUNDLE_LICENSE, BUNDLE_PUBKEY  # noqa: E402
from installer.license.shipped.model import day  # noqa: E402

KEY = os.path.join(ROOT, "build", "demo-vendor", "vendor.key")
IMAGE = "sealbox-demo/license-server:0.1"


def say(msg: str) -> None:
    print(f"[license] {msg}", file=sys.stderr)


def demo_key() -> signing.PrivateKey:
    if not os.path.exists(KEY):
        os.makedirs(os.path.dirname(KEY), mode=0o700, exist_ok=True)
        signing.write_keypair(signing.generate(), KEY)
        say(f"made demo vendor key {KEY} (0600)")
    return signing.load_private(KEY)


def image_key_matches(pub_pem: bytes) -> bool:
    """The license-server image must pin this same key, or it would refuse the license."""
    res = subprocess.run(
        ["docker", "run", "--rm", "--network=none", IMAGE, "cat", "/app/pinned/vendor.pub"],
        capture_output=True,
    )
    return res.returncode == 0 and res.stdout == pub_pem


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "demo-license"))
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--modules", default="face-server=4")
    ap.add_argument("--product", default="sealbox-demo", help="product name in the license")
    ap.add_argument("--no-vm", action="store_true", help="refuse VMs even if this is one")
    args = ap.parse_args()
    key = demo_key()
    pub = key.public.pem()
    if not image_key_matches(pub):
        print(
            f"error: {IMAGE} does not pin {KEY[:-4]}.pub; rebuild the images "
            "(python demo/build_images.py) so the server trusts this key",
            file=sys.stderr,
        )
        return 1
    fp = collect(LocalHost())
    record = fp.to_record()
    request = pack_files({record.name: dump_secfile(record)})
    req_path = os.path.join(os.path.dirname(KEY), "finger.tar.gz")
    with open(req_path, "wb") as fh:
        fh.write(request)
    allow_vm = bool(fp.labels.get("vm")) and not args.no_vm
    lic = issue(
        request,
        modules=parse_modules([args.modules]),
        days=args.days,
        customer="Sealbox demo",
        product=args.product,
        allow_vm=allow_vm,
    )
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, os.path.basename(BUNDLE_LICENSE)), "wb") as fh:
        fh.write(fileformat.render(lic, key))
    with open(os.path.join(args.out, os.path.basename(BUNDLE_PUBKEY)), "wb") as fh:
        fh.write(pub)
    say(
        f"{BUNDLE_LICENSE}: {lic.license_id} for {record.name} ({record.host}), modules "
        f"{', '.join(sorted(lic.modules))}, expires {day(lic.expires_at)}, key {key.id}"
        + (", VM allowed (this machine is one)" if allow_vm else "")
    )
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
