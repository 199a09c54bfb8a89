#!/usr/bin/env bash
# Build (once per source version) the binaries of a real single-node Kubernetes from Debian
# packages alone, into a cache outside the repository: $SEALBOX_K8S_CACHE/<version>/.
# Why build: Debian ships kubectl only; the server parts come from the `kubernetes` source
# package. A second run finds the cache and returns at once. Prints the cache directory.
set -euo pipefail
CACHE=${SEALBOX_K8S_CACHE:-/var/cache/sealbox-k8s}
log() { printf '[k8s-build] %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
  echo "error: tests/k8s/build.sh needs root (apt-get): run it with sudo" >&2
  exit 3
fi
export DEBIAN_FRONTEND=noninteractive

# Runtime and build packages. etcd-server's maintainer script starts a service where an init
# system exists: a policy-rc.d that refuses (101) keeps it from starting during the install.
PACKAGES=(etcd-server containerd runc containernetworking-plugins dnsmasq-base iptables conntrack
          golang-go make rsync dpkg-dev golang-github-modern-go-reflect2-dev)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  apt-get update -q >/dev/null
  had_policy=0
  [ -e /usr/sbin/policy-rc.d ] && had_policy=1
  if [ "$had_policy" = 0 ]; then printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; fi
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  if [ "$had_policy" = 0 ]; then rm -f /usr/sbin/policy-rc.d; fi
fi

# The cache key: the Debian version of the kubernetes source (= its binary packages' version).
VERSION=$(apt-cache show kubernetes-client 2>/dev/null | awk '/^Version:/{print $2; exit}')
[ -n "$VERSION" ] || { echo "error: apt knows no kubernetes-client package: run apt-get update" >&2; exit 3; }
OUT="$CACHE/$VERSION"
if [ -f "$OUT/.complete" ]; then
  echo "$OUT"
  exit 0
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sealbox-k8s-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
log "building Kubernetes $VERSION in $WORK (about 4 minutes on 2 cores)"

# deb-src for the machine's *configured* Debian source: copied from its own sources file at run
# time (no host name is written into this repository), in a file of ours removed afterwards.
SRC_LIST=/etc/apt/sources.list.d/sealbox-k8s-src.sources
if ! apt-cache showsrc kubernetes >/dev/null 2>&1 || [ -z "$(apt-cache showsrc kubernetes 2>/dev/null)" ]; then
  found=0
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    sed -n 's/^Types:.*/Types: deb-src/; /^Types:\|^URIs:\|^Suites:\|^Components:\|^Signed-By:\|^$/p' "$f" >>"$SRC_LIST"
    echo >>"$SRC_LIST"
    found=1
  done
  if [ -f /etc/apt/sources.list ]; then
    sed -n 's/^deb \(.*\)/deb-src \1/p' /etc/apt/sources.list >"${SRC_LIST%.sources}.list"
    [ -s "${SRC_LIST%.sources}.list" ] && found=1
  fi
  [ "$found" = 1 ] || { echo "error: no apt source configured to take deb-src from" >&2; exit 3; }
  apt-get update -q >/dev/null
fi
(cd "$WORK" && apt-get source -q --download-only kubernetes >/dev/null && dpkg-source -q -x ./*.dsc src >/dev/null)
rm -f "$SRC_LIST" "${SRC_LIST%.sources}.list"
apt-get update -q >/dev/null 2>&1 || true

SRC="$WORK/src"
# The vendored reflect2 1.0.1 crashes under Go >= 1.18; Debian's 1.0.2 is API-compatible.
R2=vendor/github.com/modern-go/reflect2
rm -f "$SRC/$R2"/*.go "$SRC/$R2"/*.s
for f in /usr/share/gocode/src/github.com/modern-go/reflect2/*.go /usr/share/gocode/src/github.com/modern-go/reflect2/*.s; do
  [ -e "$f" ] || continue
  case "$f" in *_test.go) continue ;; esac
  cp "$f" "$SRC/$R2/"
done

mkdir -p "$WORK/gopath/src/k8s.io" "$WORK/gocache"
ln -s "$SRC" "$WORK/gopath/src/k8s.io/kubernetes"
(
  cd "$WORK/gopath/src/k8s.io/kubernetes"
  export GOPATH="$WORK/gopath" GOCACHE="$WORK/gocache" CGO_ENABLED=0 GOFLAGS=-mod=vendor GO111MODULE=off
  make -s WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler cmd/kubelet cmd/kube-proxy" >&2
)

# The pause image: nobody can pull one here, so a static Go program FROM scratch.
mkdir -p "$WORK/pause"
cat >"$WORK/pause/pause.go" <<'GO'
// pause holds a pod's namespaces: it sleeps, reaps orphans, and exits on SIGINT/SIGTERM.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s == syscall.SIGCHLD {
			for {
				var ws syscall.WaitStatus
				pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
			continue
		}
		os.Exit(0)
	}
}
GO
(cd "$WORK/pause" && GOCACHE="$WORK/gocache" CGO_ENABLED=0 GO111MODULE=off go build -ldflags '-s -w' -o pause pause.go)

mkdir -p "$OUT.tmp/bin"
for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do
  cp "$SRC/_output/local/bin/linux/amd64/$b" "$OUT.tmp/bin/$b" 2>/dev/null \
    || cp "$SRC/_output/bin/$b" "$OUT.tmp/bin/$b"
done
cp "$WORK/pause/pause" "$OUT.tmp/bin/pause"
echo "$VERSION" >"$OUT.tmp/VERSION"
rm -rf "$OUT"
mv "$OUT.tmp" "$OUT"
touch "$OUT/.complete"
log "built into $OUT"
echo "$OUT"
