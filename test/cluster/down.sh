#!/usr/bin/env bash
# Stop the cluster started by up.sh and remove its state dir.
# Usage: test/cluster/down.sh [--keep-state]   (--keep-state leaves certs/logs for a post-mortem)
# Only processes whose pids up.sh recorded are signalled (each was started in its own session,
# so the whole process group of each is ended). Safe to run when nothing is up.
set -uo pipefail
RUN_DIR="${VOICECTL_CLUSTER_RUN:-${XDG_RUNTIME_DIR:-/tmp}/voicectl-cluster}"
KEEP=0; [ "${1:-}" = "--keep-state" ] && KEEP=1
log() { printf '[down %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

STATE="${VOICECTL_CLUSTER_STATE:-}"
[ -n "$STATE" ] || STATE="$(cat "$RUN_DIR/current" 2>/dev/null || true)"
if [ -z "$STATE" ] || [ ! -d "$STATE" ]; then
  log "no cluster recorded in $RUN_DIR/current"; rm -f "$RUN_DIR/current" "$RUN_DIR/env"; exit 0
fi

# A zombie (exited, not yet reaped by whoever inherited it) counts as stopped.
is_alive() { kill -0 "$1" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
# Signal every recorded process group at once (kwok first, etcd last), then wait; stragglers get SIGKILL.
NAMES=(kwok kube-scheduler kube-controller-manager kube-apiserver etcd)
declare -A PID
for name in "${NAMES[@]}"; do
  f="$STATE/pids/$name.pid"; [ -f "$f" ] || continue
  pid="$(cat "$f")"; rm -f "$f"
  kill -0 "$pid" 2>/dev/null || continue
  PID[$name]=$pid
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
done
for _ in $(seq 1 100); do
  left=0; for name in "${!PID[@]}"; do is_alive "${PID[$name]}" && left=1; done
  [ "$left" = 0 ] && break; sleep 0.1
done
for name in "${!PID[@]}"; do
  pid=${PID[$name]}
  if is_alive "$pid"; then
    log "$name (pid $pid) ignored SIGTERM for 10s; sending SIGKILL"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
  fi
  log "$name stopped (pid $pid)"
done

if [ "$KEEP" = 1 ]; then
  log "state kept in $STATE"
else
  rm -rf "$STATE"; log "removed $STATE"
fi
if [ "$(cat "$RUN_DIR/current" 2>/dev/null)" = "$STATE" ]; then rm -f "$RUN_DIR/current" "$RUN_DIR/env"; fi
exit 0
