// Pinning in the pass (pinning.ts holds the rule): after the look, a critical regression in one pinnable
// slice value pins it to stable instead of rolling everyone back; the machine then sees the findings without
// it. Pins live in status while the rollout runs and end with it.
import { decideOnline } from "../../core/analysis/online.js";
import type { Policy } from "../../core/policy/schema.js";
import type { VoiceRolloutStatus } from "../../core/resource/voicerollout.js";
import { isTerminal, type Phase } from "../../core/rollout/machine.js";
import { applyPinning, type Pin, type PinningResult } from "../pinning.js";
import { toTime } from "../status.js";
import type { AnalysisPass } from "./analysis.js";
import type { Pass } from "./pass.js";

export function pinSlices(pass: Pass, look: AnalysisPass | null, policy: Policy | null): PinningResult {
  const pinning = applyPinning(
    pass.rollout.spec.traffic.pinning,
    pass.previous?.pins ?? [],
    look?.observation ?? null,
    toTime(pass.now),
    (findings) => (policy ? decideOnline(findings, policy) : { decision: "pause", summary: "no policy" }),
  );
  for (const pin of pinning.added)
    pass.events.push({
      type: "Warning",
      reason: "Pinned",
      message: `${pin.label}=${pin.value} pinned to stable by header ${pin.header}; the rollout goes on for everyone else: ${pin.reason}`,
    });
  return pinning;
}

/** The pins the next status holds: none once the rollout has ended (announced as Unpinned). */
export function pinsInStatus(
  pass: Pass,
  phase: Phase,
  status: VoiceRolloutStatus,
  pinning: PinningResult,
): { readonly status: VoiceRolloutStatus; readonly pins: readonly Pin[] } {
  const { previous } = pass;
  const pins = isTerminal(phase) ? [] : pinning.pins;
  let next = status;
  if (pins.length > 0) next = { ...next, pins: [...pins] };
  else delete next.pins;
  if (pins.length === 0 && (previous?.pins?.length ?? 0) > 0)
    pass.events.push({
      type: "Normal",
      reason: "Unpinned",
      message: `pins removed as the rollout ended: ${previous!.pins!.map((p) => `${p.label}=${p.value}`).join(", ")}`,
    });
  return { status: next, pins };
}
