#!/usr/bin/env bash
# Start a real Kubernetes control plane on 127.0.0.1, with kwok simulating fake GPU nodes.
#
#   etcd -> kube-apiserver (+ Gateway API, Istio, KServe CRDs) -> kube-controller-manager + kube-scheduler
#     -> kwok -> fake nodes
#
# Binaries come from the cache filled by build.sh (run it first; up.sh runs it if anything is missing).
# State (certs, etcd data, logs, kubeconfig) goes to a fresh temp dir; its path is recorded in
# $VOICECTL_CLUSTER_RUN/current (default ${XDG_RUNTIME_DIR:-/tmp}/voicectl-cluster/current), and
# $VOICECTL_CLUSTER_RUN/env holds KUBECONFIG=... and friends for `source`.
# Prints the admin kubeconfig path as the last line of stdout.
#
# Env: H100_NODES (4), L4_NODES (8), UP_TIMEOUT seconds (120), GATEWAY_API (1; 0 skips its CRDs),
#      GATEWAY_API_KINDS (plurals of the Gateway API CRDs to install, default the ones voicectl uses; "all"),
#      ISTIO (1; 0 skips), ISTIO_KINDS (default virtualservices; "all"),
#      KSERVE (1; 0 skips), KSERVE_KINDS (default inferenceservices; "all").
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.sh
. "$HERE/versions.sh"

RUN_DIR="${VOICECTL_CLUSTER_RUN:-${XDG_RUNTIME_DIR:-/tmp}/voicectl-cluster}"
H100_NODES="${H100_NODES:-4}"
L4_NODES="${L4_NODES:-8}"
UP_TIMEOUT="${UP_TIMEOUT:-120}"
GATEWAY_API="${GATEWAY_API:-1}"
# HTTPRoute and what it attaches to. The other standard kinds (GRPCRoute, TLSRoute, ...) carry hundreds of
# CEL rules the API server compiles at install: several seconds on 2 busy cores that voicectl does not need.
GATEWAY_API_KINDS="${GATEWAY_API_KINDS:-gatewayclasses gateways httproutes referencegrants}"
# Only the kinds voicectl routes through: the other Istio and KServe CRDs are large schemas nothing here uses.
ISTIO="${ISTIO:-1}"
ISTIO_KINDS="${ISTIO_KINDS:-virtualservices}"
KSERVE="${KSERVE:-1}"
KSERVE_KINDS="${KSERVE_KINDS:-inferenceservices}"

log() { printf '[up %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { FAILURE="$*"; log "ERROR: $*"; exit 1; }

if [ -f "$RUN_DIR/current" ] && [ -d "$(cat "$RUN_DIR/current")" ]; then
  die "a cluster is already recorded in $RUN_DIR/current ($(cat "$RUN_DIR/current")); run test/cluster/down.sh first"
fi

for b in "$ETCD_BIN/etcd" "$K8S_BIN/kube-apiserver" "$K8S_BIN/kube-controller-manager" "$K8S_BIN/kube-scheduler" "$KWOK_BIN/kwok"; do
  if [ ! -x "$b" ]; then
    log "missing $b: running build.sh"
    "$HERE/build.sh" etcd kube-apiserver kube-controller-manager kube-scheduler kwok >&2
    break
  fi
done
if [ "$GATEWAY_API" != 0 ] && [ ! -d "$GATEWAY_API_CRDS" ]; then
  log "missing $GATEWAY_API_CRDS: running build.sh gateway-api"
  "$HERE/build.sh" gateway-api >&2
fi
if [ "$ISTIO" != 0 ] && [ ! -d "$ISTIO_CRDS" ]; then
  log "missing $ISTIO_CRDS: running build.sh istio"
  "$HERE/build.sh" istio >&2
fi
if [ "$KSERVE" != 0 ] && [ ! -d "$KSERVE_CRDS" ]; then
  log "missing $KSERVE_CRDS: running build.sh kserve"
  "$HERE/build.sh" kserve >&2
fi
command -v openssl >/dev/null || die "openssl is required"
command -v curl >/dev/null || die "curl is required"

STATE="$(mktemp -d "${TMPDIR:-/tmp}/voicectl-cluster.XXXXXX")"
mkdir -p "$RUN_DIR" "$STATE/pki" "$STATE/logs" "$STATE/pids"
echo "$STATE" >"$RUN_DIR/current"
log "state dir: $STATE"

# On failure, tear down whatever was started.
ok=0
# The cause is repeated last, after the log tails, so a caller that keeps only the end of stderr still sees it.
FAILURE=""
cleanup_on_fail() {
  [ "$ok" = 1 ] && return
  log "up failed; logs in $STATE/logs (tails below)"
  tail -n 15 "$STATE"/logs/*.log >&2 2>/dev/null || true
  "$HERE/down.sh" --keep-state >&2 || true
  log "up failed: ${FAILURE:-see the logs above}"
}
trap cleanup_on_fail EXIT

# ---- free loopback ports ---------------------------------------------------------
free_port() {
  if command -v python3 >/dev/null; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
  else
    local p
    while :; do p=$((20000 + RANDOM % 30000)); (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }; done
  fi
}
ETCD_PORT=$(free_port); ETCD_PEER_PORT=$(free_port); API_PORT=$(free_port)
KCM_PORT=$(free_port); SCHED_PORT=$(free_port); KWOK_PORT=$(free_port)

# ---- PKI ---------------------------------------------------------------------------
P="$STATE/pki"
(
  cd "$P"
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 7 -subj "/CN=voicectl-test-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -keyout ca.key -out ca.crt 2>/dev/null
  sign() { # name subject extensions
    openssl req -newkey rsa:2048 -nodes -sha256 -subj "$2" -keyout "$1.key" -out "$1.csr" 2>/dev/null
    printf '%s\n' "$3" >"$1.ext"
    openssl x509 -req -sha256 -days 7 -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
      -extfile "$1.ext" -out "$1.crt" 2>/dev/null
  }
  sign apiserver "/CN=kube-apiserver" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  sign admin "/O=system:masters/CN=voicectl-admin" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  chmod 600 ./*.key
)
log "certificates generated"

KUBECONFIG_FILE="$STATE/admin.kubeconfig"
SERVER="https://127.0.0.1:$API_PORT"
cat >"$KUBECONFIG_FILE" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: voicectl-test
  cluster:
    server: $SERVER
    certificate-authority: $P/ca.crt
users:
- name: voicectl-admin
  user:
    client-certificate: $P/admin.crt
    client-key: $P/admin.key
contexts:
- name: voicectl-test
  context: {cluster: voicectl-test, user: voicectl-admin}
current-context: voicectl-test
EOF

# start NAME CMD... : run in background, own process group, log + pid under $STATE.
start() {
  local name=$1; shift
  setsid "$@" >"$STATE/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$STATE/pids/$name.pid"
  log "$name started (pid $!)"
}
# supervised NAME CMD... : like start, but CMD is restarted (up to 3 times) if it exits. The
# controller-manager exits by design when the API server is not healthy for 10 s while it builds its
# controllers, which a loaded 2-core machine installing CRDs can cause; a restart is what a kubelet would do.
supervised() {
  local name=$1; shift
  start "$name" bash -c 'for try in 1 2 3 4; do "$@"; rc=$?; [ $try = 4 ] && exit $rc
    echo "voicectl up.sh: $(basename "$1") exited with $rc; restart $try of 3" >&2; sleep 1; done' _ "$@"
}
alive() { kill -0 "$(cat "$STATE/pids/$1.pid")" 2>/dev/null || die "$1 exited; see $STATE/logs/$1.log"; }
# wait_for NAME SECONDS CMD... : poll CMD until it succeeds while process NAME lives.
wait_for() {
  local name=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    alive "$name"
    [ $SECONDS -lt $deadline ] || die "timed out after ${secs}s waiting for $name"
    sleep 0.5
  done
}
CURL=(curl -sSf --max-time 5 --cacert "$P/ca.crt" --cert "$P/admin.crt" --key "$P/admin.key")
api() { "${CURL[@]}" "$@"; }

# ---- etcd -----------------------------------------------------------------------------
start etcd "$ETCD_BIN/etcd" --name=default --data-dir="$STATE/etcd" \
  --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster="default=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync --quota-backend-bytes=2147483648
wait_for etcd 30 curl -sSf --max-time 2 "http://127.0.0.1:$ETCD_PORT/health"

# ---- kube-apiserver (flags modelled on envtest's) --------------------------------------
start kube-apiserver "$K8S_BIN/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" \
  --cert-dir="$STATE/pki/apiserver-certdir" \
  --tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" \
  --client-ca-file="$P/ca.crt" \
  --authorization-mode=RBAC --disable-admission-plugins=ServiceAccount --allow-privileged=true \
  --service-account-issuer="https://kubernetes.default.svc.cluster.local" \
  --service-account-key-file="$P/sa.pub" --service-account-signing-key-file="$P/sa.key" \
  --service-cluster-ip-range=10.0.0.0/24 \
  --endpoint-reconciler-type=none \
  --profiling=false
wait_for kube-apiserver "$UP_TIMEOUT" api "$SERVER/readyz"
log "kube-apiserver ready at $SERVER"

# ---- CRDs of the traffic routers (Gateway API, Istio, KServe; cached by build.sh) --------------
# Posted in the background while the rest starts (a few seconds of API server work), checked at the end.
# Files are named <group>_<plural>.yaml, one CRD each.
CRD_NAMES=()
CRD_POSTS=()
post_crds() { # label dir kinds
  local label=$1 dir=$2 kinds=$3 f base plural files=()
  for f in "$dir"/*.yaml; do
    base="${f##*/}"; base="${base%.yaml}"          # gateway.networking.k8s.io_httproutes
    plural="${base#*_}"
    [ "$kinds" = all ] || [[ " $kinds " == *" $plural "* ]] || continue
    files+=("$f")
    CRD_NAMES+=("$plural.${base%%_*}")             # httproutes.gateway.networking.k8s.io
  done
  [ ${#files[@]} -gt 0 ] || die "no $label CRD in $dir matches the kinds asked for ($kinds)"
  (
    for f in "${files[@]}"; do
      # Creating HTTPRoute's CRD compiles ~200 CEL rules, InferenceService's is a 1 MB schema: allow more
      # than api()'s 5 s on a busy machine.
      api --max-time 120 -X POST -H 'Content-Type: application/yaml' --data-binary "@$f" \
        "$SERVER/apis/apiextensions.k8s.io/v1/customresourcedefinitions" >/dev/null 2>>"$STATE/logs/$label-crds.log" \
        || { echo "POST $f failed" >>"$STATE/logs/$label-crds.log"; exit 1; }
    done
  ) &
  CRD_POSTS+=("$label:$!")
}
[ "$GATEWAY_API" = 0 ] || post_crds gateway-api "$GATEWAY_API_CRDS" "$GATEWAY_API_KINDS"
[ "$ISTIO" = 0 ] || post_crds istio "$ISTIO_CRDS" "$ISTIO_KINDS"
[ "$KSERVE" = 0 ] || post_crds kserve "$KSERVE_CRDS" "$KSERVE_KINDS"

# ---- controller-manager, scheduler -------------------------------------------------------
supervised kube-controller-manager "$K8S_BIN/kube-controller-manager" \
  --kubeconfig="$KUBECONFIG_FILE" --authentication-kubeconfig="$KUBECONFIG_FILE" --authorization-kubeconfig="$KUBECONFIG_FILE" \
  --bind-address=127.0.0.1 --secure-port="$KCM_PORT" --cert-dir="$STATE/pki/kcm-certdir" \
  --leader-elect=false --profiling=false \
  --service-account-private-key-file="$P/sa.key" --root-ca-file="$P/ca.crt" \
  --service-cluster-ip-range=10.0.0.0/24 --allocate-node-cidrs=false
supervised kube-scheduler "$K8S_BIN/kube-scheduler" \
  --kubeconfig="$KUBECONFIG_FILE" --authentication-kubeconfig="$KUBECONFIG_FILE" --authorization-kubeconfig="$KUBECONFIG_FILE" \
  --bind-address=127.0.0.1 --secure-port="$SCHED_PORT" --cert-dir="$STATE/pki/sched-certdir" \
  --leader-elect=false --profiling=false
healthz() { curl -sSfk --max-time 2 "https://127.0.0.1:$1/healthz"; }
wait_for kube-controller-manager 60 healthz "$KCM_PORT"
wait_for kube-scheduler 60 healthz "$SCHED_PORT"

# ---- kwok -------------------------------------------------------------------------------------
# kwok v0.8 applies no default stages: pass node-initialize, node heartbeat with lease,
# pod-ready, pod-complete and pod-delete from its module's kustomize/stage/.
S="$KWOK_DIR/stage"
STAGES="$STATE/kwok-stages.yaml"
: >"$STAGES"
for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
         pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
  [ -f "$S/$f" ] || die "kwok stage $S/$f missing (rerun build.sh after deleting $KWOK_BIN/kwok)"
  { echo "---"; cat "$S/$f"; } >>"$STAGES"
done
start kwok "$KWOK_BIN/kwok" --kubeconfig="$KUBECONFIG_FILE" --config="$STAGES" \
  --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
  --node-lease-duration-seconds=40 --node-ip=127.0.0.1 --node-port="$KWOK_PORT" \
  --server-address="127.0.0.1:$KWOK_PORT" --cidr=10.244.0.1/16

# ---- fake GPU node pools ---------------------------------------------------------------------
node_json() { # name pool gpus
  cat <<EOF
{"apiVersion":"v1","kind":"Node","metadata":{"name":"$1",
 "annotations":{"kwok.x-k8s.io/node":"fake","node.alpha.kubernetes.io/ttl":"0"},
 "labels":{"voicectl.dev/pool":"$2","kubernetes.io/hostname":"$1","kubernetes.io/os":"linux","kubernetes.io/arch":"amd64","type":"kwok","node.kubernetes.io/instance-type":"$2"}},
 "spec":{},
 "status":{"capacity":{"cpu":"32","memory":"256Gi","pods":"110","nvidia.com/gpu":"$3"},
           "allocatable":{"cpu":"32","memory":"256Gi","pods":"110","nvidia.com/gpu":"$3"},
           "nodeInfo":{"architecture":"amd64","operatingSystem":"linux","kubeletVersion":"fake","kubeProxyVersion":"fake"}}}
EOF
}
NODES=()
for i in $(seq 0 $((H100_NODES - 1))); do NODES+=("h100-$i:h100:8"); done
for i in $(seq 0 $((L4_NODES - 1))); do NODES+=("l4-$i:l4:1"); done
for spec in "${NODES[@]}"; do
  IFS=: read -r name pool gpus <<<"$spec"
  node_json "$name" "$pool" "$gpus" | api -X POST -H 'Content-Type: application/json' --data-binary @- \
    "$SERVER/api/v1/nodes" >/dev/null || die "creating node $name failed"
done
log "created ${#NODES[@]} nodes (pool h100: $H100_NODES x 8 GPU, pool l4: $L4_NODES x 1 GPU)"

ready_count() {
  api "$SERVER/api/v1/nodes?labelSelector=voicectl.dev/pool" | python3 -c '
import json,sys
items=json.load(sys.stdin)["items"]
print(sum(1 for n in items if any(c["type"]=="Ready" and c["status"]=="True" for c in n.get("status",{}).get("conditions",[]))))'
}
all_ready() { [ "$(ready_count)" = "${#NODES[@]}" ]; }
wait_for kwok "$UP_TIMEOUT" all_ready
# The node lifecycle controller removes the not-ready taint shortly after Ready; wait for that too,
# so the first pods of a test are not rejected.
no_taints() { ! api "$SERVER/api/v1/nodes?labelSelector=voicectl.dev/pool" | grep -q 'node.kubernetes.io/not-ready'; }
wait_for kube-controller-manager 60 no_taints
# The default ServiceAccount must exist before pods can be created in a namespace.
wait_for kube-controller-manager 60 api "$SERVER/api/v1/namespaces/default/serviceaccounts/default"
log "all ${#NODES[@]} nodes Ready"

crds_established() {
  api "$SERVER/apis/apiextensions.k8s.io/v1/customresourcedefinitions" | python3 -c '
import json,sys
want=set(sys.argv[1:])
ok={c["metadata"]["name"] for c in json.load(sys.stdin)["items"]
    if any(x["type"]=="Established" and x["status"]=="True" for x in c.get("status",{}).get("conditions",[]))}
sys.exit(0 if want <= ok else 1)' "${CRD_NAMES[@]}"
}
for post in "${CRD_POSTS[@]}"; do
  label="${post%%:*}"
  wait "${post#*:}" || die "installing the $label CRDs failed: $(cat "$STATE/logs/$label-crds.log")"
done
if [ ${#CRD_NAMES[@]} -gt 0 ]; then
  wait_for kube-apiserver 60 crds_established
  log "router CRDs established (${#CRD_NAMES[@]}: ${CRD_NAMES[*]})"
fi

cat >"$STATE/env" <<EOF
export KUBECONFIG=$KUBECONFIG_FILE
export VOICECTL_CLUSTER_STATE=$STATE
export VOICECTL_CLUSTER_SERVER=$SERVER
export VOICECTL_CLUSTER_CA=$P/ca.crt
export VOICECTL_CLUSTER_CLIENT_CERT=$P/admin.crt
export VOICECTL_CLUSTER_CLIENT_KEY=$P/admin.key
export VOICECTL_ETCD_ENDPOINT=http://127.0.0.1:$ETCD_PORT
export PATH=$K8S_BIN:\$PATH
EOF
cp "$STATE/env" "$RUN_DIR/env"
ok=1
log "cluster up; source $RUN_DIR/env   (stop with test/cluster/down.sh)"
echo "$KUBECONFIG_FILE"
