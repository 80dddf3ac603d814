#!/usr/bin/env bash
# Build the real control-plane binaries from source through the Go module proxy, once,
# and cache them by version outside the repository (see versions.sh for where).
#
#   etcd                                      go.etcd.io/etcd/server/v3
#   kube-apiserver, kube-controller-manager,  k8s.io/kubernetes/cmd/...
#   kube-scheduler, kubectl
#   kwok (+ its stage manifests)              sigs.k8s.io/kwok/cmd/kwok
#   gateway-api (standard-channel CRDs)       sigs.k8s.io/gateway-api config/crd/standard/
#   istio (CRDs, one file per kind)           istio.io/api kubernetes/customresourcedefinitions.gen.yaml
#   kserve (CRDs)                             github.com/kserve/kserve config/crd/full/
#   helm                                      helm.sh/helm/v4/cmd/helm
#   prometheus3 (Prometheus 3, for .ci/run)   github.com/prometheus/prometheus/cmd/prometheus
#
# Idempotent: a binary already in the cache for its version is skipped.
# Usage: test/cluster/build.sh [component...]   (default: all; names as in the list above)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.sh
. "$HERE/versions.sh"

export GOFLAGS=-mod=mod CGO_ENABLED=0 GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
command -v go >/dev/null || { echo "build.sh: go toolchain not found" >&2; exit 1; }

WANT=("$@")
[ ${#WANT[@]} -gt 0 ] || WANT=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok gateway-api helm istio kserve prometheus3)
TIMES_LOG="$CLUSTER_CACHE/build-times.log"
mkdir -p "$CLUSTER_CACHE" "$K8S_BIN" "$ETCD_BIN" "$KWOK_BIN" "$HELM_BIN" "$PROMETHEUS3_BIN"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/voicectl-build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

log() { printf '[build %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# timed NAME OUT CMD... : run CMD (which must produce OUT, a binary or a directory) unless OUT exists;
# record seconds.
timed() {
  local name=$1 out=$2; shift 2
  if [ -x "$out" ]; then log "$name: cached at $out"; return 0; fi
  log "$name: building -> $out"
  local t0=$SECONDS
  "$@"
  local dt=$((SECONDS - t0))
  log "$name: done in ${dt}s ($(du -h "$out" | cut -f1))"
  printf '%s\t%s\t%ss\t%s\n' "$(date -u +%FT%TZ)" "$name" "$dt" "$out" >>"$TIMES_LOG"
}

# ---- etcd -------------------------------------------------------------------
# etcd's own go.mod has local replace directives, so `go install pkg@version` refuses it:
# build inside a throwaway module that requires it instead.
build_etcd() {
  local d="$WORK/etcd"; mkdir -p "$d"; cd "$d"
  go mod init voicectl.local/etcd-build >/dev/null 2>&1
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null
  go build -trimpath -o "$ETCD_BIN/etcd.tmp" go.etcd.io/etcd/server/v3
  mv "$ETCD_BIN/etcd.tmp" "$ETCD_BIN/etcd"
}

# ---- kubernetes ---------------------------------------------------------------
# k8s.io/kubernetes pins its staging modules (k8s.io/api, client-go, ...) at v0.0.0 with
# `replace => ./staging/...`, which only work inside its own repo. The wrapper module requires
# k8s.io/kubernetes and replaces each staging module with its published v0.<minor>.<patch>.
K8S_WRAP="$WORK/k8s"
prepare_k8s() {
  [ -f "$K8S_WRAP/go.mod" ] && return 0
  mkdir -p "$K8S_WRAP"; cd "$K8S_WRAP"
  local modfile staging v="${K8S_VERSION#v}"
  modfile="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
  [ -f "$modfile" ] || { echo "could not download k8s.io/kubernetes@$K8S_VERSION go.mod" >&2; exit 1; }
  local staging_ver="v0.${v#*.}"   # v1.35.4 -> v0.35.4
  staging="$(sed -n 's#^[[:space:]]*\(k8s\.io/[^ ]*\) => \./staging/.*#\1#p' "$modfile")"
  local godir godebug
  godir="$(sed -n 's/^go \(.*\)$/\1/p' "$modfile" | head -1)"
  godebug="$(grep -E '^godebug ' "$modfile" || true)"
  {
    echo "module voicectl.local/k8s-build"
    echo
    echo "go $godir"
    [ -n "$godebug" ] && echo "$godebug"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    for m in $staging; do printf '\t%s => %s %s\n' "$m" "$m" "$staging_ver"; done
    echo ")"
  } >go.mod
  log "kubernetes: wrapper go.mod with $(echo "$staging" | wc -w) staging replaces at $staging_ver"
  cat >tools.go <<'EOF'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
EOF
  log "kubernetes: resolving modules (go mod tidy)"
  go mod tidy -e >/dev/null 2>"$WORK/tidy.err" || { cat "$WORK/tidy.err" >&2; exit 1; }
}
k8s_ldflags() {
  local v="${K8S_VERSION#v}" major minor
  major="${v%%.*}"; minor="${v#*.}"; minor="${minor%%.*}"
  local x="-X k8s.io/component-base/version"
  echo "-s -w $x.gitVersion=$K8S_VERSION $x.gitMajor=$major $x.gitMinor=$minor $x.gitTreeState=clean $x.gitCommit=0000000000000000000000000000000000000000 $x.buildDate=1970-01-01T00:00:00Z" \
       "${x/component-base/client-go/pkg}.gitVersion=$K8S_VERSION ${x/component-base/client-go/pkg}.gitMajor=$major ${x/component-base/client-go/pkg}.gitMinor=$minor"
}
build_k8s() {
  local cmd=$1
  prepare_k8s; cd "$K8S_WRAP"
  go build -trimpath -ldflags "$(k8s_ldflags)" -o "$K8S_BIN/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd"
  mv "$K8S_BIN/$cmd.tmp" "$K8S_BIN/$cmd"
}

# ---- kwok -----------------------------------------------------------------------
build_kwok() {
  local d="$WORK/kwok"; mkdir -p "$d"; cd "$d"
  go mod init voicectl.local/kwok-build >/dev/null 2>&1
  go get "sigs.k8s.io/kwok@$KWOK_VERSION" >/dev/null
  local dir; dir="$(go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
  go build -trimpath -ldflags "-s -w" \
    -o "$KWOK_BIN/kwok.tmp" sigs.k8s.io/kwok/cmd/kwok
  # kwok v0.8 no longer applies default stages: keep a copy of the ones we pass to it.
  rm -rf "$KWOK_DIR/stage"; mkdir -p "$KWOK_DIR/stage"
  cp -r "$dir/kustomize/stage/." "$KWOK_DIR/stage/"; chmod -R u+w "$KWOK_DIR/stage"
  mv "$KWOK_BIN/kwok.tmp" "$KWOK_BIN/kwok"
}

# ---- Gateway API CRDs ------------------------------------------------------------
# Nothing to build: the module zip carries the manifests. Only the CustomResourceDefinitions are kept; the
# channel's safe-upgrades admission policy guards upgrades of long-lived clusters, not fresh test ones.
fetch_gateway_api() {
  cd "$WORK"
  local dir tmp="$GATEWAY_API_CRDS.tmp" n=0
  dir="$(go mod download -json "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -d "$dir/config/crd/standard" ] || { echo "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION has no config/crd/standard" >&2; exit 1; }
  rm -rf "$tmp"; mkdir -p "$tmp"
  for f in "$dir"/config/crd/standard/*.yaml; do
    grep -q '^kind: CustomResourceDefinition$' "$f" || continue
    cp "$f" "$tmp/"; n=$((n + 1))
  done
  [ "$n" -gt 0 ] || { echo "no CRDs in $dir/config/crd/standard" >&2; exit 1; }
  chmod -R u+w "$tmp"
  rm -rf "$GATEWAY_API_CRDS"; mv "$tmp" "$GATEWAY_API_CRDS"
  log "gateway-api: $n CRDs"
}

# ---- helm -------------------------------------------------------------------------
# Built inside a throwaway module that requires helm (as etcd is), so a replace directive in a future helm
# go.mod cannot break `go install`. The version is stamped as helm's own Makefile does (`helm version`).
build_helm() {
  local d="$WORK/helm"; mkdir -p "$d"; cd "$d"
  go mod init voicectl.local/helm-build >/dev/null 2>&1
  go get "helm.sh/helm/v4@$HELM_VERSION" >/dev/null
  go build -trimpath -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
    -o "$HELM_BIN/helm.tmp" helm.sh/helm/v4/cmd/helm
  mv "$HELM_BIN/helm.tmp" "$HELM_BIN/helm"
}

# ---- Istio CRDs -----------------------------------------------------------------------
# One generated file holds every Istio CRD; up.sh posts one CRD per request, so it is split into
# <group>_<plural>.yaml files like Gateway API's. Nothing is compiled.
fetch_istio() {
  cd "$WORK"
  local dir src tmp="$ISTIO_CRDS.tmp" n
  dir="$(go mod download -json "istio.io/api@$ISTIO_API_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  src="$dir/kubernetes/customresourcedefinitions.gen.yaml"
  [ -f "$src" ] || { echo "istio.io/api@$ISTIO_API_VERSION has no kubernetes/customresourcedefinitions.gen.yaml" >&2; exit 1; }
  rm -rf "$tmp"; mkdir -p "$tmp"
  # A document's CRD name (plural.group) is its metadata's `  name:`; the file is named group_plural.yaml.
  # Comment lines before a document's first line are dropped.
  awk -v out="$tmp" '
    function flush() {
      if (doc != "" && crd != "") {
        plural = crd; sub(/\..*/, "", plural); group = crd; sub(/^[^.]*\./, "", group)
        f = out "/" group "_" plural ".yaml"; printf "%s", doc > f; close(f); n++
      }
      doc = ""; crd = ""; inmeta = 0
    }
    /^---/ { flush(); next }
    /^#/ && doc == "" { next }
    /^metadata:/ { inmeta = 1 }
    /^[a-z]/ && !/^metadata:/ { inmeta = 0 }
    inmeta && crd == "" && /^  name: / { crd = $2 }
    { doc = doc $0 "\n" }
    END { flush(); print n + 0 > "/dev/stderr" }
  ' "$src" 2>"$WORK/istio-count"
  n="$(cat "$WORK/istio-count")"
  [ "${n:-0}" -gt 0 ] || { echo "no CRDs split out of $src" >&2; exit 1; }
  [ -f "$tmp/networking.istio.io_virtualservices.yaml" ] || { echo "no VirtualService CRD in $src" >&2; exit 1; }
  rm -rf "$ISTIO_CRDS"; mv "$tmp" "$ISTIO_CRDS"
  log "istio: $n CRDs"
}

# ---- KServe CRDs ----------------------------------------------------------------------
fetch_kserve() {
  cd "$WORK"
  local dir tmp="$KSERVE_CRDS.tmp" n=0
  dir="$(go mod download -json "github.com/kserve/kserve@$KSERVE_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -d "$dir/config/crd/full" ] || { echo "github.com/kserve/kserve@$KSERVE_VERSION has no config/crd/full" >&2; exit 1; }
  rm -rf "$tmp"; mkdir -p "$tmp"
  for f in "$dir"/config/crd/full/*.yaml; do
    grep -q '^kind: CustomResourceDefinition$' "$f" || continue
    cp "$f" "$tmp/"; n=$((n + 1))
  done
  [ -f "$tmp/serving.kserve.io_inferenceservices.yaml" ] || { echo "no InferenceService CRD in $dir/config/crd/full" >&2; exit 1; }
  chmod -R u+w "$tmp"
  rm -rf "$KSERVE_CRDS"; mv "$tmp" "$KSERVE_CRDS"
  log "kserve: $n CRDs"
}

# ---- Prometheus 3 ------------------------------------------------------------------------
# Built inside a throwaway module like etcd and helm. `remove_all_sd` drops every service-discovery plugin
# but file and http (plugins/*.go are guarded by `!remove_all_sd || enable_<name>_sd`): the tests scrape
# static targets, and without the cloud SDKs (AWS EC2, Kubernetes client-go, Azure, GCE, ...) the build
# compiles about a third fewer packages. Without `builtinassets` the web UI is not embedded; the tests use
# only the HTTP API. The version is stamped as Prometheus' .promu.yml does: `prometheus --version` reports it,
# and the tests choose their version-dependent expectations from that.
build_prometheus3() {
  local d="$WORK/prometheus3"; mkdir -p "$d"; cd "$d"
  go mod init voicectl.local/prometheus-build >/dev/null 2>&1
  go get "github.com/prometheus/prometheus@$PROMETHEUS3_MODULE_VERSION" >/dev/null
  go build -trimpath -tags netgo,remove_all_sd \
    -ldflags "-s -w -X github.com/prometheus/common/version.Version=$PROMETHEUS3_VERSION -X github.com/prometheus/common/version.Branch=HEAD" \
    -o "$PROMETHEUS3_BIN/prometheus.tmp" github.com/prometheus/prometheus/cmd/prometheus
  mv "$PROMETHEUS3_BIN/prometheus.tmp" "$PROMETHEUS3_BIN/prometheus"
}

for c in "${WANT[@]}"; do
  case "$c" in
    etcd) timed etcd "$ETCD_BIN/etcd" build_etcd ;;
    kube-apiserver|kube-controller-manager|kube-scheduler|kubectl) timed "$c" "$K8S_BIN/$c" build_k8s "$c" ;;
    kwok) timed kwok "$KWOK_BIN/kwok" build_kwok ;;
    gateway-api) timed gateway-api "$GATEWAY_API_CRDS" fetch_gateway_api ;;
    istio) timed istio "$ISTIO_CRDS" fetch_istio ;;
    kserve) timed kserve "$KSERVE_CRDS" fetch_kserve ;;
    helm) timed helm "$HELM_BIN/helm" build_helm ;;
    prometheus3) timed prometheus3 "$PROMETHEUS3_BIN/prometheus" build_prometheus3 ;;
    *) echo "build.sh: unknown component $c" >&2; exit 2 ;;
  esac
done
log "binaries: $ETCD_BIN  $K8S_BIN  $KWOK_BIN  $PROMETHEUS3_BIN  (Gateway API CRDs: $GATEWAY_API_CRDS)"
log "cache size: $(du -sh "$CLUSTER_CACHE" | cut -f1) (plus Go module/build caches: $(go env GOMODCACHE), $(go env GOCACHE))"
