// The ports the reconciler talks through (design.md section 7). Kubernetes adapters implement them in
// src/adapters/kubernetes/; unit tests of the reconciler use the in-memory ones in ./memory.ts. Everything
// here is a plain async interface over plain data, so the reconciler never sees client-node.
import type { Look } from "../core/analysis/look.js";
import type { OnlineState } from "../core/analysis/online.js";
import type { Policy } from "../core/policy/schema.js";
import type { VoiceRollout, VoiceRolloutCommand, VoiceRolloutStatus } from "../core/resource/voicerollout.js";

/** A write lost a race with another writer (HTTP 409): re-read and try again, it is not a failure. */
export class ConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConflictError";
  }
}

export interface RolloutRef {
  readonly namespace: string;
  readonly name: string;
}

export interface RolloutStore {
  get(ref: RolloutRef): Promise<VoiceRollout | null>;
  /**
   * Replace the status through the status subresource, guarded by the rollout's resourceVersion (optimistic
   * concurrency): throws ConflictError when someone else wrote first. Returns the stored object.
   */
  updateStatus(rollout: VoiceRollout, status: VoiceRolloutStatus): Promise<VoiceRollout>;
  /** Commands for this rollout not yet marked applied, oldest first. */
  pendingCommands(ref: RolloutRef): Promise<VoiceRolloutCommand[]>;
  /** Marks a command applied (or ignored, with why) so it is never applied again. */
  markApplied(command: VoiceRolloutCommand, result: string, at: number): Promise<void>;
}

/** A RolloutPolicy, or why it cannot be used (missing, invalid: the message names the field). */
export type PolicyLookup = { readonly policy: Policy } | { readonly error: string };

export interface PolicyStore {
  get(ref: RolloutRef): Promise<PolicyLookup>;
}

export interface DeploymentState {
  readonly replicas: number;
  readonly readyReplicas: number;
  /** spec.template's GPUs per replica, when it asks for nvidia.com/gpu. */
  readonly gpusPerReplica: number;
}

export interface Workloads {
  /** null when the Deployment does not exist. */
  deployment(ref: RolloutRef): Promise<DeploymentState | null>;
  /** Sets spec.replicas through the scale subresource; a no-op when it already has that many. */
  scale(ref: RolloutRef, replicas: number): Promise<void>;
}

/** Argo Rollouts' TrafficRoutingReconciler, reduced to what voicectl needs. */
export interface TrafficRouter {
  /** The canary's current weight in percent, or null when the route does not name both backends. */
  canaryWeight(rollout: VoiceRollout): Promise<number | null>;
  /** Sets the canary's weight (stable gets the rest). Idempotent: no write when already so. */
  setCanaryWeight(rollout: VoiceRollout, weight: number): Promise<void>;
}

/** Where a rollout's online analysis state is kept between looks, so a restart resumes it. */
export interface AnalysisStateStore {
  load(rollout: VoiceRollout): Promise<StoredAnalysis | null>;
  save(rollout: VoiceRollout, stored: StoredAnalysis): Promise<void>;
  remove(rollout: VoiceRollout): Promise<void>;
  /** Where the state is kept (a ConfigMap's name, say), shown in status.analysis.configMap. */
  location?(rollout: VoiceRollout): string;
}

export interface StoredAnalysis {
  readonly state: OnlineState;
  /** When the last look ended (ms since the epoch): the next look starts here. */
  readonly lastLookAt: number;
  /**
   * Metrics the latest look could not read, with why. Kept so the findings between two looks are the same
   * as at the look itself: those metrics stay nodata until a look reads them again (missing data never
   * promotes).
   */
  readonly unavailable?: Readonly<Record<string, string>> | undefined;
}

/** One look of live traffic between two instants, for one rollout. */
export interface LookSource {
  look(fromMs: number, toMs: number, canaryWeight: number): Promise<Look>;
}

export interface MetricsSources {
  for(rollout: VoiceRollout, policy: Policy): LookSource;
}

export interface EventRecorder {
  record(rollout: VoiceRollout, type: "Normal" | "Warning", reason: string, message: string): Promise<void>;
}

export interface Clock {
  now(): number;
}

/** Everything the reconciler needs, gathered so the operator and the tests wire it in one place. */
export interface Ports {
  readonly rollouts: RolloutStore;
  readonly policies: PolicyStore;
  readonly workloads: Workloads;
  readonly router: TrafficRouter;
  readonly analysis: AnalysisStateStore;
  readonly metrics: MetricsSources;
  readonly events: EventRecorder;
  readonly clock: Clock;
}
