# Versions of the real control-plane components used by test/cluster/*.sh.
# Sourced by build.sh and up.sh; each can be overridden from the environment.
K8S_VERSION="${K8S_VERSION:-v1.35.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
# Gateway API CRDs (standard channel) from the sigs.k8s.io/gateway-api module's config/crd/standard/.
# v1.6.3: the newest release whose go.mod this machine's Go (1.26) accepts; v1.7.0 wants Go 1.27.
GATEWAY_API_VERSION="${GATEWAY_API_VERSION:-v1.6.3}"
CLUSTER_CACHE="${VOICECTL_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/voicectl/k8s}"
# One bin dir per combination of versions, so bumping any of them rebuilds only what changed.
K8S_BIN="$CLUSTER_CACHE/$K8S_VERSION/bin"
ETCD_BIN="$CLUSTER_CACHE/etcd-$ETCD_VERSION/bin"
KWOK_DIR="$CLUSTER_CACHE/kwok-$KWOK_VERSION"
KWOK_BIN="$KWOK_DIR/bin"
GATEWAY_API_CRDS="$CLUSTER_CACHE/gateway-api-$GATEWAY_API_VERSION/crds"
