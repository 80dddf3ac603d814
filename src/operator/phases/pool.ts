// Phase 6 of a pass: sizing the canary against its node pool. The canary is scaled up after the look (a look
// is priced with the replicas held during it) and before the route raises its weight. Without a surge budget
// it takes its full size at once; under one (surge.ts has the rule and a worked example) it is sized for the
// weight this pass would reach, found by a dry run of the machine. A pool without the GPUs, or a step the
// budget cannot fit, pauses the rollout until it can go on; the pause ends by itself.
import { reconcileRollout, type AnalysisObservation } from "../../core/rollout/machine.js";
import type { VoiceRolloutStatus } from "../../core/resource/voicerollout.js";
import { poolSelectorOf } from "../ports.js";
import {
  conditionOf,
  INSUFFICIENT_GPUS,
  POOL_CAPACITY,
  ROUTE_CHANGED_BY_HAND,
  SURGE_BUDGET_EXCEEDED,
  type ExtraCondition,
} from "../status.js";
import { canaryReplicasFor, isPoolReason, surgePlan } from "../surge.js";
import type { Actionable } from "./commands.js";
import type { Held } from "./holds.js";
import type { Pass, Start } from "./pass.js";
import type { World } from "./world.js";

export interface PoolProblem {
  /** InsufficientGPUs or SurgeBudgetExceeded: the Paused condition's and the Warning Event's reason. */
  readonly reason: string;
  readonly message: string;
}

export interface Sizing {
  /** The canary holds the replicas the weight this pass may reach needs, all ready. */
  readonly canaryReady: boolean;
  /** Under a surge budget: the weight the canary was sized for (what the stable may make room for). */
  readonly surgeTarget: number | null;
  readonly poolProblem: PoolProblem | null;
  /** The stable must give up replicas (at the end of this pass) before the canary can grow. */
  readonly waitForStable: boolean;
  /** The PoolCapacity condition this pass sets, if it checked the pool. */
  readonly poolCondition: ExtraCondition | undefined;
}

/** Paused, at the start of the pass, on the pool: approvals wait until it resumes (commands.ts). */
export function pausedForPool(previous: VoiceRolloutStatus | undefined, start: Start): boolean {
  return (
    start.before.phase === "Paused" &&
    isPoolReason(conditionOf(previous, "Paused")?.reason) &&
    !start.terminalBefore
  );
}

/** Scales the canary as far as the pool and the surge budget allow; says what is missing otherwise. */
export async function sizeCanary(
  pass: Pass,
  start: Start,
  world: World,
  held: Held,
  actionable: Actionable,
  analysis: AnalysisObservation | null,
): Promise<Sizing> {
  const { ports, log, rollout, now } = pass;
  const { spec } = rollout;
  const { before, terminalBefore } = start;
  const { canary, stable, pool, budget, n, nKnown, wanted, canaryRef, fatal } = world;
  const gc = world.canaryGpus;
  const gs = world.stableGpus;
  let canaryReady = canary !== null && wanted > 0 && canary.readyReplicas >= wanted;
  let surgeTarget: number | null = null;
  let poolProblem: PoolProblem | null = null;
  let poolCondition: ExtraCondition | undefined;
  let waitForStable = false;
  /** Scales the canary up to `replicas` when the pool has the GPUs; otherwise says what is missing. */
  const scaleCanaryUp = async (from: number, replicas: number) => {
    const need = (replicas - from) * gc;
    if (pool && ports.pools && need > 0) {
      const cap = await ports.pools.capacity(poolSelectorOf(pool));
      const free = Math.max(0, cap.allocatable - cap.requested);
      if (need > free) {
        const excluded =
          cap.excluded > 0
            ? ` (${cap.excluded} of its nodes not counted: not Ready, cordoned, or tainted against spec.nodePool.tolerations)`
            : "";
        poolProblem = {
          reason: INSUFFICIENT_GPUS,
          message: `pool ${pool.name} has ${free} free nvidia.com/gpu, the canary needs ${need} more${excluded}; waiting for GPUs to free up`,
        };
        return;
      }
      poolCondition = {
        type: POOL_CAPACITY,
        status: "True",
        reason: "Fits",
        message: `pool ${pool.name} had the ${need} nvidia.com/gpu the canary's last scale-up needed`,
      };
    }
    await ports.workloads.scale(canaryRef, replicas);
    log.info("canary scaled", { deployment: spec.canary.deployment, replicas });
  };
  if (!terminalBefore && canary && !world.policyProblem) {
    if (budget === undefined) {
      // The canary's full size before any traffic (the default: no surge budget). Scaled down without a check.
      if (wanted > 0 && canary.replicas > wanted) await ports.workloads.scale(canaryRef, wanted);
      else if (wanted > canary.replicas) await scaleCanaryUp(canary.replicas, wanted);
    } else {
      // The weight this pass would reach with a ready canary: the canary is sized for it ahead of the raise.
      // Steps that follow each other without waiting (two setWeights in a row) count as one raise.
      const { status } = held;
      const base = pausedForPool(pass.previous, start)
        ? { ...status, phase: "Progressing" as const, pause: null }
        : status;
      const dry = reconcileRollout(
        spec.steps,
        base,
        { canaryReady: true, analysis, fatal },
        actionable.machine,
        now,
        pass.machine,
      );
      // A pause the run stops at (a step's pause for approval after a raise) is reached at the raised
      // weight: the canary is sized for it too, or the raise would wait for a canary nobody scales.
      const target =
        dry.status.phase === "Progressing" || dry.status.phase === "Promoted" || dry.status.phase === "Paused"
          ? dry.status.canaryWeight
          : before.canaryWeight;
      surgeTarget = target;
      const plan = surgePlan({
        n,
        full: wanted,
        budget,
        stableGpus: gs,
        canaryGpus: gc,
        weight: before.canaryWeight,
        target,
      });
      const readyFor = canaryReplicasFor(target, wanted);
      canaryReady = readyFor > 0 && canary.replicas >= readyFor && canary.readyReplicas >= readyFor;
      if (!nKnown) {
        poolProblem = {
          reason: SURGE_BUDGET_EXCEEDED,
          message: `the stable's replica count at the start (status.pool) is missing mid-rollout; holding at ${before.canaryWeight}% rather than sizing from a stable that may have given up replicas (abort rolls back)`,
        };
      } else if (!plan.fits) {
        poolProblem = {
          reason: SURGE_BUDGET_EXCEEDED,
          message: `raising the canary to ${target}% needs ${plan.surgeNeeded} GPUs beyond the stable's ${n} replicas at the start (the stable keeps ${plan.stableFloor} for the ${100 - before.canaryWeight}% it still serves), and spec.nodePool.maxSurgeGPUs is ${budget}`,
        };
      } else if (plan.canary > canary.replicas) {
        const gpusHeld = (stable?.replicas ?? n) * gs + plan.canary * gc;
        // The stable makes room first, at the end of this pass (after the route): the canary grows next pass.
        if (gpusHeld > n * gs + budget) waitForStable = true;
        else await scaleCanaryUp(canary.replicas, plan.canary);
      }
    }
  }
  return { canaryReady, surgeTarget, poolProblem, waitForStable, poolCondition };
}

/**
 * The pool's pause: set when the pool lacks GPUs or the budget cannot fit the step, lifted once it can. A
 * route changed by hand outranks it. The PoolCapacity condition stays as the last check left it, unless
 * that was a shortage that no longer holds.
 */
export function poolHold(
  pass: Pass,
  start: Start,
  world: Pick<World, "pool">,
  held: Held,
  sizing: Sizing,
): Held & { readonly poolCondition: ExtraCondition | undefined } {
  const { previous, now, events } = pass;
  const { before, terminalBefore } = start;
  const { pool } = world;
  const { poolProblem } = sizing;
  const paused = pausedForPool(previous, start);
  let { status, pausedFor } = held;
  let poolCondition = sizing.poolCondition;
  if (poolProblem !== null && !terminalBefore) {
    const problem: PoolProblem = poolProblem;
    pausedFor = problem.reason;
    poolCondition = { type: POOL_CAPACITY, status: "False", ...problem };
    if (!paused || before.pause?.reason !== problem.message) {
      status = {
        ...status,
        phase: "Paused",
        // A pause that ends by itself, as a timed one does: no approval is asked for.
        pause: {
          kind: "duration",
          reason: problem.message,
          since: paused ? before.pause!.since : now,
        },
        message: problem.message,
      };
      events.push({ type: "Warning", reason: problem.reason, message: problem.message });
    }
  } else if (paused) {
    const message = `pool ${pool?.name ?? ""} has the GPUs the canary needs; resuming`;
    status = { ...status, phase: "Progressing", pause: null, message };
    events.push({ type: "Normal", reason: "PoolCapacityAvailable", message });
  }
  if (held.handPause) {
    status = held.handPause;
    pausedFor = ROUTE_CHANGED_BY_HAND;
  }
  if (pool && poolCondition === undefined) {
    // No check this pass: the last one stands, unless it was a shortage that no longer holds.
    const last = conditionOf(previous, POOL_CAPACITY);
    if (last?.status === "True")
      poolCondition = { type: POOL_CAPACITY, status: "True", reason: last.reason, message: last.message };
    else if (last)
      poolCondition = {
        type: POOL_CAPACITY,
        status: "True",
        reason: "Fits",
        message: `pool ${pool.name} fits what the rollout holds`,
      };
  }
  return { status, pausedFor, handPause: held.handPause, poolCondition };
}
