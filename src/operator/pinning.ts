// Pinning (spec.traffic.pinning): a critical regression confined to one value of a slice label (one cloned
// voice, one tenant) sends that value back to stable through a header match, and the rollout goes on for
// everyone else, instead of rolling every voice back for one. Pure: the reconciler writes the pins to status
// first and the router follows, as it does with weights.
//
// Safety: at most maxPins values are pinned; one more critical regression rolls back as usual. A pinned
// value's findings leave the judgement (its canary traffic stops, so they could only stay as they were) and
// status.lastDecision; the finding that caused the pin stays in status.pins[].reason, as a sentence, for
// people to see. Pins end with the rollout.
import type { AnalysisObservation } from "../core/rollout/machine.js";
import type { VoiceRolloutSpec } from "../core/resource/voicerollout.js";
import type { Finding } from "../core/types.js";
import { formatSlice } from "../core/types.js";

export type PinningSpec = NonNullable<VoiceRolloutSpec["traffic"]["pinning"]>;

export interface Pin {
  readonly label: string;
  readonly value: string;
  readonly header: string;
  /** RFC 3339. */
  readonly at: string;
  /** The finding that caused it, as a sentence. */
  readonly reason: string;
}

export interface PinningResult {
  readonly pins: readonly Pin[];
  /** Pins added by this look, for Events. */
  readonly added: readonly Pin[];
  /** The observation the state machine judges: pinned values' findings left out. */
  readonly observation: AnalysisObservation | null;
}

const isPinned = (f: Finding, spec: PinningSpec, values: ReadonlySet<string>) => {
  const v = f.slice[spec.label];
  return v !== undefined && values.has(v);
};

export function applyPinning(
  spec: PinningSpec | undefined,
  previous: readonly Pin[],
  observation: AnalysisObservation | null,
  now: string,
  /** The decision rules over the findings left (decide() with the rollout's policy). */
  redecide: (findings: readonly Finding[]) => { decision: AnalysisObservation["decision"]; summary: string },
): PinningResult {
  if (!spec || observation === null) return { pins: previous, added: [], observation };
  const pins = [...previous];
  const added: Pin[] = [];
  const values = new Set(pins.map((p) => p.value));
  for (const f of observation.findings) {
    if (!f.critical || f.verdict !== "fail") continue;
    const value = f.slice[spec.label];
    if (value === undefined || values.has(value) || pins.length >= spec.maxPins) continue;
    const pin: Pin = {
      label: spec.label,
      value,
      header: spec.header,
      at: now,
      reason: `${f.metric} in ${formatSlice(f.slice)}: ${f.reason}`,
    };
    pins.push(pin);
    added.push(pin);
    values.add(value);
  }
  if (values.size === 0) return { pins, added, observation };
  const findings = observation.findings.filter((f) => !isPinned(f, spec, values));
  const pinned = [...values].map((v) => `${spec.label}=${v}`).join(", ");
  const d = redecide(findings);
  return {
    pins,
    added,
    observation: {
      ...observation,
      findings,
      decision: d.decision,
      summary: `${d.summary} (pinned to stable, not judged: ${pinned})`,
    },
  };
}
