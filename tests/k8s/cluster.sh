#!/usr/bin/env bash
# A real single-node Kubernetes 1.20 for the end-to-end tests, on loopback and a private bridge.
#   cluster.sh up     build (cached) and start; prints the state dir (kubeconfig, registry, env)
#   cluster.sh down   stop everything and leave the machine as it was (chains, bridge, mounts)
# Pods 198.19.222.0/24 on bridge sbk8s0 (the node is 198.19.222.1), Services 198.19.223.0/24,
# etcd 12379, API 16443, registry 15000: ports below the ephemeral range, nothing on eth0.
# containerd and kubelet run in their own mount namespace so their mounts vanish with them.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
STATE=${SEALBOX_K8S_STATE:-/var/lib/sealbox-k8s-test}
RUN=/run/sealbox-k8s-test
BRIDGE=sbk8s0
NODE_IP=198.19.222.1
POD_CIDR=198.19.222.0/24
SVC_CIDR=198.19.223.0/24
API_PORT=16443
ETCD_PORT=12379
REGISTRY_PORT=${SEALBOX_K8S_REGISTRY_PORT:-15000}
NODE=sealbox-node
PAUSE_REF=sealbox.local/pause:1
log() { printf '[k8s-cluster] %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 3; }

[ "$(id -u)" = 0 ] || die "tests/k8s/cluster.sh needs root: run it with sudo"

start_bg() { # NAME CMD...: start in the background, log to $STATE/log/NAME.log, pid in $RUN/NAME.pid
  local name=$1; shift
  setsid "$@" >"$STATE/log/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
}

wait_for() { # SECONDS WHAT CMD...
  local t=$1 what=$2; shift 2
  for _ in $(seq 1 $((t * 2))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  die "$what did not come up in ${t}s; see $STATE/log/"
}

make_pki() {
  local p=$STATE/pki
  mkdir -p "$p"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3 -subj /CN=sealbox-test-ca \
    -keyout "$p/ca.key" -out "$p/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver -keyout "$p/apiserver.key" \
    -out "$p/apiserver.csr" 2>/dev/null
  printf 'subjectAltName=IP:%s,IP:127.0.0.1,IP:198.19.223.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n' \
    "$NODE_IP" >"$p/san.ext"
  openssl x509 -req -in "$p/apiserver.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial \
    -days 3 -extfile "$p/san.ext" -out "$p/apiserver.crt" 2>/dev/null
  openssl genrsa -out "$p/sa.key" 2048 2>/dev/null
  openssl rsa -in "$p/sa.key" -pubout -out "$p/sa.pub" 2>/dev/null
  local admin kubelet
  admin=$(openssl rand -hex 16)
  kubelet=$(openssl rand -hex 16)
  {
    echo "$admin,admin,uid-admin,system:masters"
    echo "$kubelet,system:node:$NODE,uid-node,\"system:nodes,system:masters\""
  } >"$p/tokens.csv"
  chmod 600 "$p"/*.key "$p/tokens.csv"
  kubeconfig "$STATE/kubeconfig" "$admin"
  kubeconfig "$STATE/kubelet.kubeconfig" "$kubelet"
}

kubeconfig() { # FILE TOKEN
  cat >"$1" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: sealbox-test
  cluster:
    server: https://$NODE_IP:$API_PORT
    certificate-authority: $STATE/pki/ca.crt
users:
- name: u
  user:
    token: $2
contexts:
- name: sealbox-test
  context: {cluster: sealbox-test, user: u}
current-context: sealbox-test
YAML
  chmod 600 "$1"
}

write_configs() {
  mkdir -p "$STATE/cni" "$STATE/registry"
  cat >"$STATE/cni/10-sealbox.conflist" <<JSON
{"cniVersion": "0.4.0", "name": "sealbox-test", "plugins": [
  {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$STATE/cni-ipam",
            "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$NODE_IP"}]],
            "routes": [{"dst": "$SVC_CIDR"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
JSON
  cat >"$STATE/containerd.toml" <<TOML
version = 2
root = "$STATE/containerd"
state = "$RUN/containerd"
[grpc]
  address = "$RUN/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_REF"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni"
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."127.0.0.1:$REGISTRY_PORT"]
    endpoint = ["http://127.0.0.1:$REGISTRY_PORT"]
TOML
  cat >"$STATE/registry.yml" <<YAML
version: 0.1
storage:
  filesystem: {rootdirectory: $STATE/registry}
  delete: {enabled: true}
http:
  addr: 127.0.0.1:$REGISTRY_PORT
YAML
}

# The node's half: containerd + kubelet in a private mount namespace. /var/lib/sealbox, where
# the Docker mode keeps its state, gets a private dir there so a hostPath never lands in it.
node_script() {
  cat <<SH
set -e
mkdir -p /var/lib/sealbox 2>/dev/null && mount --bind "$STATE/node-varlib-sealbox" /var/lib/sealbox || true
containerd --config "$STATE/containerd.toml" >"$STATE/log/containerd.log" 2>&1 &
echo \$! >"$RUN/containerd.pid"
for _ in \$(seq 1 60); do [ -S "$RUN/containerd.sock" ] && break; sleep 0.5; done
ctr --address "$RUN/containerd.sock" -n k8s.io images import "$STATE/pause.tar" >/dev/null
exec "$BIN/kubelet" --kubeconfig="$STATE/kubelet.kubeconfig" --container-runtime=remote \\
  --container-runtime-endpoint="unix://$RUN/containerd.sock" --runtime-request-timeout=5m \\
  --root-dir="$STATE/kubelet" --cert-dir="$STATE/kubelet-pki" --volume-plugin-dir="$STATE/kubelet-plugins" \\
  --cgroup-driver=cgroupfs --cgroups-per-qos=false --enforce-node-allocatable= --fail-swap-on=false \\
  --hostname-override=$NODE --node-ip=$NODE_IP --address=$NODE_IP --read-only-port=0 \\
  --healthz-bind-address=127.0.0.1 --cluster-dns=$NODE_IP --cluster-domain=cluster.local --resolv-conf= \\
  --pod-infra-container-image=$PAUSE_REF --image-gc-high-threshold=100 --image-gc-low-threshold=99 \\
  --eviction-hard=memory.available\<50Mi,nodefs.available\<1%,imagefs.available\<1% \\
  --serialize-image-pulls=false --max-pods=60 --v=1
SH
}

# Cluster DNS without CoreDNS: dnsmasq on the bridge answers <svc>.<ns>.svc.cluster.local from a
# hosts file a loop keeps in step with the Services (every 2 s; SIGHUP makes dnsmasq re-read).
dns_loop() {
  local hosts=$STATE/dns-hosts new=$STATE/dns-hosts.new
  while [ -f "$RUN/up" ]; do
    if kubectl --kubeconfig "$STATE/kubeconfig" get svc -A -o \
      jsonpath='{range .items[*]}{.spec.clusterIP} {.metadata.name}.{.metadata.namespace}.svc.cluster.local{"\n"}{end}' \
      2>/dev/null | grep -v '^None ' | grep -v '^ ' >"$new"; then
      if ! cmp -s "$new" "$hosts"; then
        mv "$new" "$hosts"
        kill -HUP "$(cat "$RUN/dnsmasq.pid")" 2>/dev/null || true
      fi
    fi
    sleep 2
  done
}

up() {
  [ -f "$RUN/up" ] && { log "already up"; echo "$STATE"; return 0; }
  local cache
  cache=$(bash "$HERE/build.sh")
  BIN=$cache/bin
  down_quiet
  mkdir -p "$STATE/log" "$RUN" "$STATE/node-varlib-sealbox" "$STATE/hostpath" "$STATE/pv"
  touch "$RUN/up"
  sysctl -n net.ipv4.conf.all.route_localnet >"$RUN/route_localnet" 2>/dev/null || true
  python3 "$HERE/pause_image.py" "$BIN/pause" "$PAUSE_REF" "$STATE/pause.tar"
  make_pki
  write_configs
  # The bridge and node address exist before anything binds to them.
  ip link add "$BRIDGE" type bridge 2>/dev/null || true
  ip addr add "$NODE_IP/24" dev "$BRIDGE" 2>/dev/null || true
  ip link set "$BRIDGE" up
  # Docker's FORWARD policy is DROP: pod traffic on our bridge is let through (removed by down).
  iptables -I FORWARD -i "$BRIDGE" -m comment --comment sealbox-k8s-test -j ACCEPT
  iptables -I FORWARD -o "$BRIDGE" -m comment --comment sealbox-k8s-test -j ACCEPT

  start_bg etcd etcd --name sealbox --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls http://127.0.0.1:12380 --initial-advertise-peer-urls http://127.0.0.1:12380 \
    --initial-cluster sealbox=http://127.0.0.1:12380 --listen-metrics-urls http://127.0.0.1:12381
  start_bg registry docker-registry serve "$STATE/registry.yml"
  start_bg dnsmasq dnsmasq --keep-in-foreground --no-resolv --no-hosts --bind-interfaces \
    --listen-address="$NODE_IP" --except-interface=lo --addn-hosts="$STATE/dns-hosts" \
    --pid-file= --local=/cluster.local/ --user=root
  touch "$STATE/dns-hosts"
  wait_for 30 etcd curl -fsS "http://127.0.0.1:$ETCD_PORT/health"

  start_bg apiserver "$BIN/kube-apiserver" --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=$NODE_IP --advertise-address=$NODE_IP --secure-port=$API_PORT --insecure-port=0 \
    --service-cluster-ip-range=$SVC_CIDR --service-node-port-range=30000-32767 \
    --tls-cert-file="$STATE/pki/apiserver.crt" --tls-private-key-file="$STATE/pki/apiserver.key" \
    --client-ca-file="$STATE/pki/ca.crt" --token-auth-file="$STATE/pki/tokens.csv" \
    --authorization-mode=Node,RBAC --allow-privileged=true \
    --service-account-key-file="$STATE/pki/sa.pub" --service-account-signing-key-file="$STATE/pki/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --kubelet-preferred-address-types=InternalIP --endpoint-reconciler-type=lease
  wait_for 90 kube-apiserver kubectl --kubeconfig "$STATE/kubeconfig" get --raw /readyz
  start_bg controller-manager "$BIN/kube-controller-manager" --kubeconfig="$STATE/kubeconfig" \
    --bind-address=127.0.0.1 --port=0 --leader-elect=false --service-account-private-key-file="$STATE/pki/sa.key" \
    --root-ca-file="$STATE/pki/ca.crt" --use-service-account-credentials=false \
    --service-cluster-ip-range=$SVC_CIDR
  start_bg scheduler "$BIN/kube-scheduler" --kubeconfig="$STATE/kubeconfig" --bind-address=127.0.0.1 \
    --port=0 --leader-elect=false
  start_bg kube-proxy "$BIN/kube-proxy" --kubeconfig="$STATE/kubeconfig" --proxy-mode=iptables \
    --masquerade-all=true --conntrack-max-per-core=0 --conntrack-tcp-timeout-established=0 \
    --conntrack-tcp-timeout-close-wait=0 --cluster-cidr=$POD_CIDR --hostname-override=$NODE \
    --healthz-bind-address=127.0.0.1:10256 --metrics-bind-address=127.0.0.1:10249 \
    --nodeport-addresses=127.0.0.0/8,$POD_CIDR
  BIN=$BIN node_script >"$STATE/node.sh"
  start_bg node unshare -m --propagation slave bash "$STATE/node.sh"
  (dns_loop >/dev/null 2>&1 &) 
  wait_for 30 registry curl -fsS "http://127.0.0.1:$REGISTRY_PORT/v2/"
  wait_for 120 "node $NODE" sh -c "kubectl --kubeconfig '$STATE/kubeconfig' get node $NODE -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
  wait_for 60 "service account default" kubectl --kubeconfig "$STATE/kubeconfig" -n default get sa default
  cat >"$STATE/env" <<ENV
KUBECONFIG=$STATE/kubeconfig
SEALBOX_K8S_REGISTRY=127.0.0.1:$REGISTRY_PORT
SEALBOX_K8S_NODE=$NODE
SEALBOX_K8S_NODE_IP=$NODE_IP
SEALBOX_K8S_STATE=$STATE
SEALBOX_K8S_BIN=$BIN
ENV
  log "up: KUBECONFIG=$STATE/kubeconfig, registry 127.0.0.1:$REGISTRY_PORT"
  echo "$STATE"
}

stop_pid() { # NAME: TERM, then KILL after 10 s
  local f=$RUN/$1.pid pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

down_quiet() {
  set +e  # best effort: every step runs even when an earlier one found nothing to do
  rm -f "$RUN/up"
  # kubelet first (it would restart containers), then the containers, then containerd.
  stop_pid node
  if [ -S "$RUN/containerd.sock" ]; then
    for t in $(ctr --address "$RUN/containerd.sock" -n k8s.io tasks ls -q 2>/dev/null); do
      ctr --address "$RUN/containerd.sock" -n k8s.io tasks kill -s KILL "$t" >/dev/null 2>&1 || true
    done
    sleep 1
  fi
  stop_pid containerd
  for n in kube-proxy scheduler controller-manager apiserver etcd registry dnsmasq; do stop_pid "$n"; done
  # Left-over shims (their parent containerd is gone) hold the pods' processes.
  for p in $(pgrep -f "containerd-shim-runc-v2 -namespace k8s.io -id .* -address $RUN/containerd.sock" 2>/dev/null); do
    kill -KILL "$p" 2>/dev/null || true
  done
  local bin
  bin=$(ls -d /var/cache/sealbox-k8s/*/bin 2>/dev/null | head -1 || true)
  [ -n "$bin" ] && [ -x "$bin/kube-proxy" ] && "$bin/kube-proxy" --cleanup >/dev/null 2>&1 || true
  for table in nat filter mangle; do
    for c in $(iptables -t $table -S 2>/dev/null | awk '/^-N KUBE-/{print $2}'); do
      iptables -t $table -F "$c" 2>/dev/null || true
    done
    iptables -t $table -S 2>/dev/null | grep -E -- '-j KUBE-' | sed 's/^-A/-D/' | while read -r rule; do
      eval "iptables -t $table $rule" 2>/dev/null || true
    done
    for c in $(iptables -t $table -S 2>/dev/null | awk '/^-N KUBE-/{print $2}'); do
      iptables -t $table -X "$c" 2>/dev/null || true
    done
  done
  while iptables -D FORWARD -i "$BRIDGE" -m comment --comment sealbox-k8s-test -j ACCEPT 2>/dev/null; do :; done
  while iptables -D FORWARD -o "$BRIDGE" -m comment --comment sealbox-k8s-test -j ACCEPT 2>/dev/null; do :; done
  ip link del "$BRIDGE" 2>/dev/null || true
  [ -f "$RUN/route_localnet" ] && sysctl -qw net.ipv4.conf.all.route_localnet="$(cat "$RUN/route_localnet")" || true
  # Mounts the kubelet made lived in its own namespace; any left in ours under STATE go now.
  grep -o " $STATE[^ ]*" /proc/mounts 2>/dev/null | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  ip netns list 2>/dev/null | awk '/^cni-/{print $1}' | while read -r ns; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$STATE" "$RUN"
  set -e
}

down() {
  down_quiet
  log "down: processes stopped, KUBE-* chains, bridge $BRIDGE and $STATE removed"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  build) bash "$HERE/build.sh" ;;
  *) echo "usage: $0 up|down|build" >&2; exit 2 ;;
esac
