# Versions of the real control-plane components used by test/cluster/*.sh.
# Sourced by build.sh and up.sh; each can be overridden from the environment.
K8S_VERSION="${K8S_VERSION:-v1.35.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
CLUSTER_CACHE="${VOICECTL_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/voicectl/k8s}"
# One bin dir per combination of versions, so bumping any of them rebuilds only what changed.
K8S_BIN="$CLUSTER_CACHE/$K8S_VERSION/bin"
ETCD_BIN="$CLUSTER_CACHE/etcd-$ETCD_VERSION/bin"
KWOK_DIR="$CLUSTER_CACHE/kwok-$KWOK_VERSION"
KWOK_BIN="$KWOK_DIR/bin"
