"""Upload throughput: our resumable transfer (paramiko, exec channel) vs OpenSSH scp.

Same sandbox host (netns + own sshd), same >= 150 MB incompressible archive, runs interleaved
so both see the same machine load. Needs root. Usage:

    .venv/bin/python benchmarks/transfer_upload.py [--mb 200] [--runs 3] [--sftp]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from installer.hosts.ssh import SSHHost  # noqa: E402
from installer.transfer import sha256_file, upload  # noqa: E402
from installer.transfer.upload import CHUNK, _chunks  # noqa: E402
from tests.e2e.testhosts import can_run, sandbox_hosts  # noqa: E402


def make_archive(path: str, mb: int) -> None:
    with open(path, "wb") as fh:
        for _ in range(mb):
            fh.write(os.urandom(1 << 20))


def timed(fn) -> float:
    start = time.monotonic()
    fn()
    return time.monotonic() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sftp", action="store_true", help="also measure paramiko SFTP (pipelined)")
    args = ap.parse_args()
    why = can_run()
    if why:
        print(f"cannot run: {why}", file=sys.stderr)
        return 2
    work = tempfile.mkdtemp(prefix="sealbox-bench-", dir="/var/tmp")
    src = os.path.join(work, "images.tar.zst")
    make_archive(src, args.mb)
    sha = sha256_file(src)
    size = os.path.getsize(src)
    results: dict[str, list[float]] = {
        "sealbox upload": [],
        "sealbox stream only": [],
        "scp": [],
        "scp -c aes128-gcm": [],
    }
    cpu: list[float] = []
    if args.sftp:
        results["paramiko sftp"] = []
    try:
        with sandbox_hosts(1) as (h,):
            kh = os.path.join(work, "known_hosts")
            with open(kh, "w") as fh:
                fh.write(h.known_hosts_line())
            host = SSHHost(
                f"root@{h.address}",
                key_filename=h.client_key,
                known_hosts=kh,
                use_agent=False,
                look_for_keys=False,
            )
            host.connect()
            scp = ["scp", "-q", "-i", h.client_key, "-o", f"UserKnownHostsFile={kh}"]
            scp += ["-o", "BatchMode=yes"]
            for _ in range(args.runs):
                h.exec(["rm", "-f", "/tmp/ours.bin", "/tmp/scp.bin", "/tmp/sftp.bin"])
                cpu0 = time.process_time()
                results["sealbox upload"].append(
                    timed(lambda: upload(host, src, "/tmp/ours.bin", sha256=sha))
                )
                cpu.append(time.process_time() - cpu0)
                # the same stream without the .part bookkeeping and the sha256 on the host
                results["sealbox stream only"].append(
                    timed(
                        lambda: host.run_streaming_input(
                            "cat > /tmp/raw.bin", _chunks(src, 0, size, None, CHUNK)
                        )
                    )
                )
                results["scp"].append(
                    timed(
                        lambda: subprocess.run(
                            scp + [src, f"root@{h.address}:/tmp/scp.bin"], check=True
                        )
                    )
                )
                results["scp -c aes128-gcm"].append(
                    timed(
                        lambda: subprocess.run(
                            scp
                            + [
                                "-c",
                                "aes128-gcm@openssh.com",
                                src,
                                f"root@{h.address}:/tmp/scp.bin",
                            ],
                            check=True,
                        )
                    )
                )
                if args.sftp:
                    sftp = host.transport.open_sftp_client()
                    results["paramiko sftp"].append(
                        timed(lambda: sftp.put(src, "/tmp/sftp.bin"))  # noqa: B023
                    )
                    sftp.close()
            cipher = host.transport.local_cipher
            host.close()
    finally:
        subprocess.run(["rm", "-rf", work], check=False)
    print(
        f"upload of {size / 1e6:.0f} MB (random data) to a sandbox host over veth, "
        f"{args.runs} runs, median; our cipher {cipher}"
    )
    mbps = {k: size / statistics.median(v) / 1e6 for k, v in results.items()}
    for name, value in mbps.items():
        runs = ", ".join(f"{size / t / 1e6:.0f}" for t in results[name])
        print(f"  {name:22s} {value:7.1f} MB/s   (runs: {runs})")
    print(f"  ratio sealbox/scp            {mbps['sealbox upload'] / mbps['scp']:.2f}x")
    print(
        f"  ratio sealbox/scp-aes128-gcm {mbps['sealbox upload'] / mbps['scp -c aes128-gcm']:.2f}x"
    )
    raw = mbps["sealbox stream only"]
    print(
        f"  without the host-side verify: {raw / mbps['scp']:.2f}x scp, "
        f"{raw / mbps['scp -c aes128-gcm']:.2f}x scp-aes128-gcm"
    )
    print(
        f"  python CPU (all threads) of sealbox upload: "
        f"{statistics.median(cpu) * 1e3 / (size / 1e6):.2f} ms/MB"
    )
    print("  (sealbox upload includes the sha256 verification on the host and the rename)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
