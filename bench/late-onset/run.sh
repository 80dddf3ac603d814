#!/usr/bin/env bash
# Late regressions on the voice-agents fleet: the agents-latency scenario's fleet and policy with no canary
# change but a ttfa_p95 regression (x1.3, every cell) starting at each ONSET, over a four-step plan ending at
# 80%. Prints one line per (onset, seed): decision, time, reason. Run from the repository root after
# `npm run build --silent`:  bash bench/late-onset/run.sh [onsets] [seeds]
set -u
root=$(pwd)
onsets=${1:-"none 16m 25m 40m"}
seeds=${2:-"1 2 3 4 5 6"}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for onset in $onsets; do
  f="$tmp/late-$onset.yaml"
  # The fleet, metrics and policy of agents-latency; its own canary change and plan replaced.
  sed -e "s#policy: ../../policies/voice-agents.yaml#policy: $root/policies/voice-agents.yaml#" \
    -e '/^  expected:/d' \
    -e '/^  canary:$/,$d' \
    -e '/^  steps:$/,/^  traffic:$/{/^  traffic:$/!d}' \
    examples/scenarios/agents-latency.yaml >"$f"
  sed -i -e 's/^  traffic:$/  steps:\n    - setWeight: 25\n    - analysis: { minDuration: 10m, maxDuration: 60m }\n    - setWeight: 50\n    - analysis: { minDuration: 10m, maxDuration: 30m }\n    - setWeight: 80\n    - analysis: { minDuration: 5m, maxDuration: 30m }\n  traffic:/' "$f"
  if [ "$onset" != none ]; then
    printf '  regressions:\n    - { metric: ttfa_p95, factor: 1.3, from: %s }\n' "$onset" >>"$f"
  fi
  for seed in $seeds; do
    printf '%s\tseed %s\t' "$onset" "$seed"
    node dist/src/cli/main.js simulate "$f" --seed "$seed" | head -2 | tr '\n' ' ' | cut -c1-400
    echo
  done
done
