#!/usr/bin/env bash
# Late regressions on the voice-agents fleet: the agents-latency scenario's fleet and policy with no canary
# change but a ttfa_p95 regression (x1.3, every cell) starting at each ONSET, over a four-step plan ending at
# 80%. Prints one line per (onset, seed): decision, time, reason. An onset `late8` means 8 minutes before the
# time the same build promotes the same seed without the regression (`none`): the regression that the
# rollout window dilutes most. Run from the repository root after `npm run build --silent`:
#   bash bench/late-onset/run.sh ["none 16m 25m 40m late8"] ["1 2 3 4 5 6"]
set -u
root=$(pwd)
onsets=${1:-"none 16m 25m 40m"}
seeds=${2:-"1 2 3 4 5 6"}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
scenario() { # onset -> file
  local onset=$1
  local f="$tmp/late-$onset.yaml"
  # The fleet, metrics and policy of agents-latency; its own canary change and plan replaced.
  sed -e "s#policy: ../../policies/voice-agents.yaml#policy: $root/policies/voice-agents.yaml#" \
    -e '/^  expected:/d' \
    -e '/^  canary:$/,$d' \
    -e '/^  steps:$/,/^  traffic:$/{/^  traffic:$/!d}' \
    examples/scenarios/agents-latency.yaml >"$f"
  sed -i -e 's/^  traffic:$/  steps:\n    - setWeight: 25\n    - analysis: { minDuration: 10m, maxDuration: 60m }\n    - setWeight: 50\n    - analysis: { minDuration: 10m, maxDuration: 30m }\n    - setWeight: 80\n    - analysis: { minDuration: 5m, maxDuration: 90m }\n  traffic:/' "$f"
  if [ "$onset" != none ]; then
    printf '  regressions:\n    - { metric: ttfa_p95, factor: 1.3, from: %s }\n' "$onset" >>"$f"
  fi
  echo "$f"
}
run() { # file seed -> the first two lines of the simulation
  node dist/src/cli/main.js simulate "$1" --seed "$2" | head -2 | tr '\n' ' ' | cut -c1-400
}
for onset in $onsets; do
  for seed in $seeds; do
    at=$onset
    if [[ $onset == late* ]]; then
      # hh:mm of the promotion without a regression, minus the lead.
      t=$(run "$(scenario none)" "$seed" | grep -o 'PROMOTE at [0-9:]*' | grep -o '[0-9][0-9]:[0-9][0-9]')
      if [ -z "$t" ]; then echo "$onset seed $seed: no promotion without the regression"; continue; fi
      at=$((10#${t%:*} * 60 + 10#${t#*:} - ${onset#late}))m
    fi
    printf '%s (%s)\tseed %s\t' "$onset" "$at" "$seed"
    run "$(scenario "$at")" "$seed"
    echo
  done
done
