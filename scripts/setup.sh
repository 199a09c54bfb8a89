#!/usr/bin/env bash
# Set up this machine for Sealbox (Debian/Ubuntu, as root): system packages, a running Docker
# engine, and the project's virtual environment in .venv. Safe to run again: it skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

log() { printf '[setup] %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
  echo "error: scripts/setup.sh needs root (it installs packages and starts dockerd): run it from a root shell, or with sudo" >&2
  exit 3
fi

PACKAGES=(docker.io debootstrap zstd xz-utils pixz openssh-server openssh-client iproute2
          util-linux procps psmisc ca-certificates python3-venv python3-pip iptables sudo openssl docker-registry)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# kubectl (for `sealbox k8s`): the machine's own if it has one, else Debian's client.
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# Podman, the second container runtime (issue 22), beside Docker: Debian's podman 4.3. Without
# recommends (no slirp4netns/CNI plugins: Sealbox runs host-networked containers and creates no
# podman network, so it adds no iptables rules and leaves dockerd's alone); its OCI runtime is
# the runc docker.io brought.
if ! dpkg-query -W -f='${Status}' podman 2>/dev/null | grep -q "install ok installed"; then
  log "installing podman"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends podman >/dev/null
fi

# arm64 under emulation (issue 22: demo/build_arm64.py, tests/e2e/test_multiarch_e2e.py): qemu's
# static aarch64 interpreter registered with binfmt_misc, fix-binary flag (F) so that it also
# runs inside chroots and containers that do not hold a copy of qemu.
arm=()
for p in qemu-user-static binfmt-support; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || arm+=("$p")
done
if [ ${#arm[@]} -gt 0 ]; then
  log "installing ${arm[*]} (arm64 images under emulation)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${arm[@]}" >/dev/null
fi
bfm=/proc/sys/fs/binfmt_misc
[ -e $bfm/register ] || mount -t binfmt_misc binfmt_misc $bfm 2>/dev/null || log "warning: cannot mount binfmt_misc: arm64 tests will fail"
if [ -e $bfm/register ] && [ ! -e $bfm/qemu-aarch64 ]; then
  printf '%s' ':qemu-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:FP' >$bfm/register
fi

# A Docker engine: systemd where it runs, a plain dockerd in the background elsewhere.
if ! docker info >/dev/null 2>&1; then
  if [ "$(ps -p 1 -o comm= 2>/dev/null)" = systemd ]; then
    log "starting docker with systemctl"
    systemctl start docker
  else
    log "starting dockerd in the background (log: /var/log/sealbox-dockerd.log)"
    nohup dockerd >/var/log/sealbox-dockerd.log 2>&1 &
  fi
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { echo "error: dockerd did not start; see /var/log/sealbox-dockerd.log" >&2; exit 3; }
fi

# The project's own environment. Its `installer` package is Sealbox's: pypa's unrelated
# `installer` distribution is never installed here (checked below).
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  log "creating .venv with $($PY --version 2>&1)"
  "$PY" -m venv .venv
fi
stamp=.venv/.sealbox-deps
want=$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  log "installing Python dependencies"
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e ".[test]"
  echo "$want" > "$stamp"
fi
.venv/bin/python - <<'PY'
import installer, sys
if not getattr(installer, "__sealbox__", False):
    sys.exit(f"error: 'installer' resolves to {installer.__file__}, not Sealbox's package; "
             "remove the other distribution: .venv/bin/pip uninstall installer")
PY
log "ready: docker $(docker version --format '{{.Server.Version}}'), $(.venv/bin/python --version)"
