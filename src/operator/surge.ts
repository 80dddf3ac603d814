// GPU pools under a surge budget: how many replicas each version holds as the canary's weight rises. Pure
// functions of the numbers; the reconciler reads the pool, asks these, and scales.
import type { DeploymentState } from "./ports.js";
import { INSUFFICIENT_GPUS, SURGE_BUDGET_EXCEEDED } from "./status.js";

/**
 * Replicas under a surge budget B (spec.nodePool.maxSurgeGPUs), for a rollout whose stable had N replicas at
 * the start and whose canary's full size is F (spec.canary.replicas, else N); w is the canary's weight in %:
 *
 *   canary(w) = ceil(w x F / 100)           held, and ready, before the route gives the canary w
 *   share(w)  = ceil((100 - w) x N / 100)   what the stable needs for the traffic the route still sends it
 *   stable    = min(N, max(share(w now), floor((N x gs + B - canary x gc) / gs)))
 *
 * Two phrases of the issue pull apart: "stable only gives up replicas as traffic leaves it" and "keeps enough
 * to take 100% back at once until the rollout ends". Both hold in full when B is at least the canary's full
 * size (the default): the budget never asks the stable for a replica, it keeps all N, and a rollback puts 100%
 * back at once on N warm replicas. A smaller B is the platform team's explicit trade of that margin for GPUs,
 * so the rule is: the stable gives up a replica only when the budget needs the room for the canary's next
 * step, never below the share of traffic the route still sends it (traffic leaves first, replicas after), and
 * a rollback scales it back to N in the pass that sends 100% back (same pod template: a scale, not a
 * redeploy). A step that would need the stable below its share does not run: the rollout pauses with
 * SurgeBudgetExceeded, saying how many GPUs of surge the step needs.
 *
 * Worked example: N = F = 8, one GPU per replica, B = 4, the plan of examples/rollouts (5, 25, 50, 100%):
 *
 *   raise to   canary   stable's floor (weight now)   stable   GPUs held (at most N + B = 12)
 *   5%         1        8 (0%)                        8        9
 *   25%        2        8 (5%)                        8        10
 *   50%        4        6 (25%)                       8        12
 *   100%       8        4 (50%)                       4        12   4 replicas given up after 50% left
 *
 * With B = 2 the raise to 50% already costs the stable 2 replicas (6, its floor at 25%), and the raise to 100%
 * would need the stable at 2 while it serves half the traffic (floor 4): the rollout pauses there, saying the
 * step needs 4 GPUs of surge and maxSurgeGPUs allows 2.
 */
export interface SurgeInput {
  /** The stable's replicas at the start. */
  readonly n: number;
  /** The canary's full size. */
  readonly full: number;
  /** maxSurgeGPUs. */
  readonly budget: number;
  readonly stableGpus: number;
  readonly canaryGpus: number;
  /** The weight the route carries now. */
  readonly weight: number;
  /** The weight the canary must be ready for before this pass may raise to it. */
  readonly target: number;
}

export interface SurgePlan {
  readonly canary: number;
  /** The fewest replicas the stable may have: what serves the traffic the route still sends it. */
  readonly stableFloor: number;
  /** What the stable may keep with the canary at `canary` inside the budget (never more than N). */
  readonly stable: number;
  /** GPUs beyond the stable's N at the start that the step needs with the stable at its floor. */
  readonly surgeNeeded: number;
  readonly fits: boolean;
}

export const canaryReplicasFor = (weight: number, full: number): number => Math.ceil((weight * full) / 100);
export const stableShareFor = (weight: number, n: number): number => Math.ceil(((100 - weight) * n) / 100);

export function surgePlan(i: SurgeInput): SurgePlan {
  const canary = canaryReplicasFor(Math.max(i.target, i.weight), i.full);
  const stableFloor = Math.min(i.n, stableShareFor(i.weight, i.n));
  const room =
    i.stableGpus > 0
      ? Math.floor((i.n * i.stableGpus + i.budget - canary * i.canaryGpus) / i.stableGpus)
      : i.n;
  const stable = Math.min(i.n, Math.max(stableFloor, room));
  const surgeNeeded = stableFloor * i.stableGpus + canary * i.canaryGpus - i.n * i.stableGpus;
  return { canary, stableFloor, stable, surgeNeeded, fits: surgeNeeded <= i.budget };
}

/** Whether a Paused condition's reason is the pool's: a pause that resumes by itself when GPUs appear. */
export function isPoolReason(reason: string | undefined): boolean {
  return reason === INSUFFICIENT_GPUS || reason === SURGE_BUDGET_EXCEEDED;
}

/** GPUs one replica of a version holds: its pod template's, else spec.nodePool.gpusPerReplica. */
export function gpusOf(d: DeploymentState | null, poolDefault: number): number {
  return d && d.gpusPerReplica > 0 ? d.gpusPerReplica : poolDefault;
}
