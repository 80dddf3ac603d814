// After a rollback (part of phase 8, before the status write): the canary keeps its replicas for a while
// (spec.rollback.scaleDownDelay: a quick retry finds them warm), then goes to zero, once. The stable version
// is never scaled by a rollback, except to give back what it gave up under a surge budget.
import type { VoiceRolloutStatus } from "../../core/resource/voicerollout.js";
import type { RolloutStatus } from "../../core/rollout/machine.js";
import { conditionOf, fromTime, toTime } from "../status.js";
import type { Pass } from "./pass.js";
import type { World } from "./world.js";

export interface AfterRollback {
  readonly status: VoiceRolloutStatus;
  /** When the canary is due to go to zero; null when it is not (or went this pass). */
  readonly scaleDownAt: number | null;
}

/**
 * `scaledDownAt`: when an earlier pass scaled the canary down (undefined: not yet, or the rollout runs).
 * Scales the stable back to N and the canary to zero when due; the status says the canary went.
 */
export async function scaleAfterRollback(
  pass: Pass,
  world: Pick<World, "canary" | "stable" | "budget" | "recordedN" | "canaryRef" | "stableRef">,
  next: RolloutStatus,
  status: VoiceRolloutStatus,
  scaledDownAt: number | undefined,
): Promise<AfterRollback> {
  const { ports, rollout, now, events } = pass;
  const { spec } = rollout;
  const { canary, stable, recordedN } = world;
  const surge = world.budget !== undefined;
  let nextStatus = status;
  let scaleDownAt: number | null = null;
  const rolledBack = next.phase === "RolledBack" || next.phase === "Failed";
  if (rolledBack && scaledDownAt === undefined && surge && recordedN !== undefined && stable) {
    // Under a surge budget the stable may have given up replicas as traffic left it: the route puts 100% back
    // on it in this pass, and its replicas come back with it (same template, a scale and not a redeploy).
    // Only until the canary's scale-down ends the rollback, so a later change by its owner is not undone.
    if (stable.replicas < recordedN) {
      await ports.workloads.scale(world.stableRef, recordedN);
      events.push({
        type: "Normal",
        reason: "StableRestored",
        message: `stable Deployment ${spec.stable.deployment} scaled back to its ${recordedN} replicas for the rollback`,
      });
    }
  }
  if (rolledBack && scaledDownAt === undefined && canary) {
    const since = fromTime(conditionOf(nextStatus, "Degraded")?.lastTransitionTime) ?? now;
    scaleDownAt = since + pass.scaleDownDelayMs;
    if (now >= scaleDownAt) {
      await ports.workloads.scale(world.canaryRef, 0);
      scaleDownAt = null;
      nextStatus = { ...nextStatus, canaryScaledDownAt: toTime(now) };
      events.push({
        type: "Normal",
        reason: "CanaryScaledDown",
        message: `canary Deployment ${spec.canary.deployment} scaled to 0 replicas after the rollback`,
      });
    }
  }
  return { status: nextStatus, scaleDownAt };
}
