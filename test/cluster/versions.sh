# Versions of the real control-plane components used by test/cluster/*.sh.
# Sourced by build.sh and up.sh; each can be overridden from the environment.
K8S_VERSION="${K8S_VERSION:-v1.35.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
# Gateway API CRDs (standard channel) from the sigs.k8s.io/gateway-api module's config/crd/standard/.
# v1.6.3: the newest release whose go.mod this machine's Go (1.26) accepts; v1.7.0 wants Go 1.27.
GATEWAY_API_VERSION="${GATEWAY_API_VERSION:-v1.6.3}"
# Helm, built from the helm.sh/helm/v4 module (cmd/helm): renders, lints and installs charts/voicectl.
HELM_VERSION="${HELM_VERSION:-v4.3.1}"
# Istio CRDs from the istio.io/api module's kubernetes/customresourcedefinitions.gen.yaml: the generated
# source that istio.io/istio copies into manifests/charts/base/files/crd-all.gen.yaml. istio.io/api has
# semver tags on the module proxy; istio.io/istio only has pseudo-versions there (its tags lack the "v").
ISTIO_API_VERSION="${ISTIO_API_VERSION:-v1.32.0}"
# KServe CRDs from the github.com/kserve/kserve module's config/crd/full/. The proxy serves tagged versions
# but not the version list; v0.16.0 is the newest checked here.
KSERVE_VERSION="${KSERVE_VERSION:-v0.16.0}"
# Prometheus 3, built from the github.com/prometheus/prometheus module (cmd/prometheus) for the Prometheus
# end-to-end tests' second run (Debian's /usr/bin/prometheus is the first). The module's versions map
# 3.x.y to v0.3xx.y: v0.316.0 is Prometheus 3.16.0.
PROMETHEUS3_VERSION="${PROMETHEUS3_VERSION:-3.16.0}"
PROMETHEUS3_MODULE_VERSION="${PROMETHEUS3_MODULE_VERSION:-v0.316.0}"
CLUSTER_CACHE="${VOICECTL_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/voicectl/k8s}"
# One bin dir per combination of versions, so bumping any of them rebuilds only what changed.
K8S_BIN="$CLUSTER_CACHE/$K8S_VERSION/bin"
ETCD_BIN="$CLUSTER_CACHE/etcd-$ETCD_VERSION/bin"
KWOK_DIR="$CLUSTER_CACHE/kwok-$KWOK_VERSION"
KWOK_BIN="$KWOK_DIR/bin"
GATEWAY_API_CRDS="$CLUSTER_CACHE/gateway-api-$GATEWAY_API_VERSION/crds"
HELM_BIN="$CLUSTER_CACHE/helm-$HELM_VERSION/bin"
ISTIO_CRDS="$CLUSTER_CACHE/istio-api-$ISTIO_API_VERSION/crds"
KSERVE_CRDS="$CLUSTER_CACHE/kserve-$KSERVE_VERSION/crds"
PROMETHEUS3_BIN="$CLUSTER_CACHE/prometheus-$PROMETHEUS3_VERSION/bin"
