#!/usr/bin/env bash
# Smoke check of a cluster started by up.sh: a 2-replica Deployment requesting nvidia.com/gpu: 1
# with nodeSelector voicectl.dev/pool=l4 must get both pods scheduled onto l4 nodes and Running
# (kwok plays the kubelet). Deletes the Deployment afterwards. Uses curl + python3 only.
set -euo pipefail
RUN_DIR="${VOICECTL_CLUSTER_RUN:-${XDG_RUNTIME_DIR:-/tmp}/voicectl-cluster}"
[ -f "$RUN_DIR/env" ] || { echo "verify.sh: no cluster (missing $RUN_DIR/env); run up.sh" >&2; exit 1; }
# shellcheck disable=SC1091
. "$RUN_DIR/env"
NS=default NAME=gpu-smoke TIMEOUT="${VERIFY_TIMEOUT:-60}"
api() { curl -sSf --max-time 10 --cacert "$VOICECTL_CLUSTER_CA" --cert "$VOICECTL_CLUSTER_CLIENT_CERT" \
  --key "$VOICECTL_CLUSTER_CLIENT_KEY" "$@"; }
log() { printf '[verify %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

api -X POST -H 'Content-Type: application/json' "$VOICECTL_CLUSTER_SERVER/apis/apps/v1/namespaces/$NS/deployments" \
  --data-binary @- >/dev/null <<EOF
{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"$NAME"},
 "spec":{"replicas":2,"selector":{"matchLabels":{"app":"$NAME"}},
  "template":{"metadata":{"labels":{"app":"$NAME"}},
   "spec":{"nodeSelector":{"voicectl.dev/pool":"l4"},
    "containers":[{"name":"model","image":"example.invalid/voice-model:1",
      "resources":{"requests":{"nvidia.com/gpu":"1"},"limits":{"nvidia.com/gpu":"1"}}}]}}}}
EOF
log "deployment $NAME created"

check() {
  api "$VOICECTL_CLUSTER_SERVER/api/v1/namespaces/$NS/pods?labelSelector=app%3D$NAME" | python3 -c '
import json,sys
pods=[p for p in json.load(sys.stdin)["items"] if not p["metadata"].get("deletionTimestamp")]
ok=[p for p in pods if p["status"].get("phase")=="Running" and p["spec"].get("nodeName","").startswith("l4-")]
for p in pods: print(p["metadata"]["name"], p["spec"].get("nodeName","<unscheduled>"), p["status"].get("phase"), file=sys.stderr)
sys.exit(0 if len(ok)==2 and len({p["spec"]["nodeName"] for p in ok})==2 else 1)'
}
deadline=$((SECONDS + TIMEOUT)); rc=1
while [ $SECONDS -lt $deadline ]; do
  if check 2>"/tmp/verify.$$"; then rc=0; break; fi
  sleep 1
done
cat "/tmp/verify.$$" >&2; rm -f "/tmp/verify.$$"
api -X DELETE "$VOICECTL_CLUSTER_SERVER/apis/apps/v1/namespaces/$NS/deployments/$NAME?propagationPolicy=Foreground" >/dev/null || true
if [ $rc = 0 ]; then log "OK: 2 pods Running on distinct l4 nodes"; else log "FAILED: pods not Running on l4 nodes within ${TIMEOUT}s"; fi
exit $rc
