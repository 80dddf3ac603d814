// Phase 8 of a pass: the next status, assembled in full before it is written: the machine's transition in
// the CRD's shape (status.ts), the analysis record, the pins, the canary's scale-down after a rollback, and
// the notifications that tell of this transition, which go into status in the same write
// (notifications/outbox.ts).
import type { VoiceRolloutStatus } from "../../core/resource/voicerollout.js";
import { isTerminal } from "../../core/rollout/machine.js";
import { withOutbox } from "../notifications/outbox.js";
import type { Pin, PinningResult } from "../pinning.js";
import { crdStatus, fromTime, toTime, type AnalysisStatus, type ExtraCondition } from "../status.js";
import type { AnalysisPass } from "./analysis.js";
import type { Pass, Start } from "./pass.js";
import { pinsInStatus } from "./pins.js";
import { scaleAfterRollback } from "./rollback.js";
import type { Transition } from "./transition.js";
import type { World } from "./world.js";

export interface NextStatus {
  readonly status: VoiceRolloutStatus;
  /** The pins the route is to carry. */
  readonly pins: readonly Pin[];
  /** When the rolled-back canary is due to go to zero, for the requeue. */
  readonly scaleDownAt: number | null;
}

/** What the pass decided that is not the machine's own status. */
export interface Decided {
  readonly look: AnalysisPass | null;
  readonly transition: Transition;
  readonly pausedFor: string | undefined;
  readonly poolCondition: ExtraCondition | undefined;
  readonly pinning: PinningResult;
  readonly canaryReady: boolean;
}

export async function assembleStatus(
  pass: Pass,
  start: Start,
  world: World,
  decided: Decided,
): Promise<NextStatus> {
  const { rollout, previous, now, events } = pass;
  const { next, names } = decided.transition;
  const scaledDownAt = isTerminal(next.phase)
    ? (fromTime(previous?.canaryScaledDownAt) ?? undefined)
    : undefined;
  // Before crdStatus: the Event it may add is among the reasons status.reason is read from.
  const analysis = analysisStatus(pass, start, decided);
  const status = crdStatus({
    machine: next,
    previous,
    generation: rollout.metadata.generation,
    now,
    commandNames: names,
    analysis,
    canaryScaledDownAt: scaledDownAt,
    pausedFor: next.phase === "Paused" ? decided.pausedFor : undefined,
    extraConditions: decided.poolCondition ? [decided.poolCondition] : undefined,
    pool: world.poolRecord,
    stepCount: rollout.spec.steps.length,
    eventReasons: events.map((e) => e.reason),
  });
  const pinned = pinsInStatus(pass, next.phase, status, decided.pinning);
  const after = await scaleAfterRollback(pass, world, next, pinned.status, scaledDownAt);
  const { policy, canary } = world;
  return {
    status: withOutbox({
      rollout,
      previous,
      next: after.status,
      events,
      now,
      canaryWaiting: !decided.canaryReady && canary !== null,
      metricsDown:
        policy !== null &&
        Object.keys(decided.look?.stored.unavailable ?? {}).length >= policy.spec.metrics.length,
    }),
    pins: pinned.pins,
    scaleDownAt: after.scaleDownAt,
  };
}

/**
 * status.analysis: the looks the stored state holds and where it is kept. A state found lost is announced
 * (AnalysisRestarted); a retry after a rollback starts a new analysis, as the old state judged the canary
 * that was rolled back.
 */
export function analysisStatus(
  pass: Pass,
  start: Pick<Start, "terminalBefore">,
  decided: Pick<Decided, "look" | "transition">,
): AnalysisStatus | undefined {
  const { ports, rollout, previous, now, events } = pass;
  const { look } = decided;
  const { next } = decided.transition;
  let analysis: AnalysisStatus | undefined = previous?.analysis;
  const location = ports.analysis.location?.(rollout);
  const restarts = (previous?.analysis?.restarts ?? 0) + (look?.restarted ? 1 : 0);
  if (look) {
    analysis = { looks: look.stored.state.looks, lastLookAt: toTime(look.stored.lastLookAt), restarts };
    if (location) analysis.configMap = location;
    if (look.restarted)
      events.push({
        type: "Warning",
        reason: "AnalysisRestarted",
        message: `the online analysis state was lost after ${look.lostLooks} looks; analysis starts again from zero`,
      });
  }
  if (start.terminalBefore && !isTerminal(next.phase)) {
    analysis = { looks: 0, lastLookAt: toTime(now), restarts };
    if (location) analysis.configMap = location;
  }
  return analysis;
}
