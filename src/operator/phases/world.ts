// Phase 3 of a pass: reading what the rollout acts on. The RolloutPolicy (or why it cannot be used), the
// canary Deployment, the stable one when its count matters, the node pool and its surge budget, and the
// numbers the canary is sized from: N (the stable's replicas at the start) and the canary's wanted size.
import type { Policy } from "../../core/policy/schema.js";
import type { VoiceRollout } from "../../core/resource/voicerollout.js";
import type { RolloutStatus } from "../../core/rollout/machine.js";
import type { DeploymentState, RolloutRef } from "../ports.js";
import { poolStatusOf, type PoolStatus } from "../status.js";
import { gpusOf } from "../surge.js";
import type { Pass } from "./pass.js";

export interface World {
  readonly policy: Policy | null;
  /** Why the policy cannot be used (missing, invalid), as the pause will say it; null when it can. */
  readonly policyProblem: string | null;
  readonly canaryRef: RolloutRef;
  readonly stableRef: RolloutRef;
  /** null: the canary Deployment does not exist. */
  readonly canary: DeploymentState | null;
  /** Read only when its count matters (a surge budget, or the canary's default size); else null. */
  readonly stable: DeploymentState | null;
  readonly pool: VoiceRollout["spec"]["nodePool"];
  /** spec.nodePool.maxSurgeGPUs: defined means the rollout runs under a surge budget. */
  readonly budget: number | undefined;
  /** N as recorded in status.pool, when it is. */
  readonly recordedN: number | undefined;
  /** Whether N can be trusted this pass (recorded, or read at weight 0 where the stable is whole). */
  readonly nKnown: boolean;
  readonly n: number;
  /** What status.pool records this pass. */
  readonly poolRecord: PoolStatus | undefined;
  /** The canary's full size. */
  readonly wanted: number;
  /** Why the rollout cannot go on at all (no canary Deployment), for the machine. */
  readonly fatal: string | undefined;
  /** GPUs one replica of each version holds. */
  readonly canaryGpus: number;
  readonly stableGpus: number;
}

export async function readWorld(pass: Pass, before: RolloutStatus, terminalBefore: boolean): Promise<World> {
  const { ports, ref, rollout, previous } = pass;
  const { spec } = rollout;
  const lookup = await ports.policies.get({ namespace: ref.namespace, name: spec.policyRef.name });
  const policy = "policy" in lookup ? lookup.policy : null;
  const policyProblem =
    "error" in lookup ? `RolloutPolicy ${spec.policyRef.name} cannot be used: ${lookup.error}` : null;

  const canaryRef: RolloutRef = { namespace: ref.namespace, name: spec.canary.deployment };
  const stableRef: RolloutRef = { namespace: ref.namespace, name: spec.stable.deployment };
  const canary = await ports.workloads.deployment(canaryRef);
  const pool = spec.nodePool;
  const budget = pool?.maxSurgeGPUs;
  const surge = budget !== undefined;
  // The stable's count matters under a surge budget, and as the canary's default size.
  const stable =
    surge || (spec.canary.replicas === undefined && !(canary !== null && canary.replicas > 0))
      ? await ports.workloads.deployment(stableRef)
      : null;
  // N, the stable's replicas at the start, is recorded so that a restart scales with the same numbers. At
  // weight 0 the stable has never given up a replica (its floor is all of N), so reading it there is safe;
  // a record lost later is not re-read from a stable that may have shrunk, and the stable then stays put.
  const recordedN = poolStatusOf(previous)?.stableReplicasAtStart;
  const nKnown = recordedN !== undefined || (before.canaryWeight === 0 && !terminalBefore && stable !== null);
  const n = recordedN ?? stable?.replicas ?? 0;
  const poolRecord: PoolStatus | undefined = surge && nKnown ? { stableReplicasAtStart: n } : undefined;
  // Without spec.canary.replicas the Deployment's own count is meant; a canary created at zero (or scaled to
  // zero by a rollback before a retry) gets the stable's count instead, so it never waits for nothing. Under a
  // surge budget the canary's own count moves with the weight, so its full size is the stable's N.
  const wanted = surge
    ? (spec.canary.replicas ?? n)
    : (spec.canary.replicas ??
      (canary !== null && canary.replicas > 0 ? canary.replicas : (stable?.replicas ?? 0)));
  const fatal =
    canary === null
      ? `the canary Deployment ${spec.canary.deployment} does not exist; the stable version keeps all traffic`
      : undefined;
  return {
    policy,
    policyProblem,
    canaryRef,
    stableRef,
    canary,
    stable,
    pool,
    budget,
    recordedN,
    nKnown,
    n,
    poolRecord,
    wanted,
    fatal,
    canaryGpus: gpusOf(canary, pool?.gpusPerReplica ?? 1),
    stableGpus: gpusOf(stable, pool?.gpusPerReplica ?? 1),
  };
}
