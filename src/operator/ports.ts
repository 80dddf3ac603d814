// The ports the reconciler talks through (docs/architecture.md#ports-and-adapters). Kubernetes adapters
// implement them in src/adapters/kubernetes/; unit tests of the reconciler use the in-memory ones in
// ./memory.ts. Everything here is a plain async interface over plain data, so the reconciler never sees
// client-node.
import type { Look } from "../core/analysis/look.js";
import type { OnlineState } from "../core/analysis/online.js";
import type { Policy } from "../core/policy/schema.js";
import type {
  tolerationSchema,
  VoiceRollout,
  VoiceRolloutCommand,
  VoiceRolloutStatus,
} from "../core/resource/voicerollout.js";
import type { z } from "zod";

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

export type Toleration = z.infer<typeof tolerationSchema>;

/** Which nodes make up a GPU pool: spec.nodePool with its default selector applied. */
export interface PoolSelector {
  readonly name: string;
  /** Node labels, all of which a pool node carries (default voicectl.dev/pool=NAME). */
  readonly selector: Readonly<Record<string, string>>;
  /** The versions' tolerations: a node with a NoSchedule or NoExecute taint none of them tolerates is not counted. */
  readonly tolerations: readonly Toleration[];
}

/** A pool's nvidia.com/gpu as the scheduler sees it. */
export interface PoolCapacity {
  /** Allocatable GPUs of the pool's nodes that can take a pod: Ready, schedulable, taints tolerated. */
  readonly allocatable: number;
  /** GPUs requested by pods bound to those nodes that have not finished (not Succeeded or Failed). */
  readonly requested: number;
  /** Nodes counted. */
  readonly nodes: number;
  /** Nodes matching the selector but not counted (not Ready, cordoned, or tainted against the versions). */
  readonly excluded: number;
}

export interface NodePools {
  capacity(pool: PoolSelector): Promise<PoolCapacity>;
}

export const POOL_LABEL = "voicectl.dev/pool";

/** spec.nodePool's nodes: its selector, or voicectl.dev/pool=NAME when it names none. */
export function poolSelectorOf(pool: {
  name: string;
  selector?: Record<string, string> | undefined;
  tolerations?: readonly Toleration[] | undefined;
}): PoolSelector {
  return {
    name: pool.name,
    selector:
      pool.selector && Object.keys(pool.selector).length > 0 ? pool.selector : { [POOL_LABEL]: pool.name },
    tolerations: pool.tolerations ?? [],
  };
}

export interface Taint {
  readonly key: string;
  readonly value?: string | undefined;
  readonly effect: string;
}

/**
 * Whether a pod with these tolerations may be scheduled onto a node with these taints, as the scheduler's
 * TaintToleration filter decides: every NoSchedule and NoExecute taint must be tolerated (PreferNoSchedule
 * only lowers a score).
 */
export function toleratesAll(tolerations: readonly Toleration[], taints: readonly Taint[]): boolean {
  return taints
    .filter((t) => t.effect === "NoSchedule" || t.effect === "NoExecute")
    .every((t) =>
      tolerations.some((tol) => {
        if (tol.effect !== undefined && tol.effect !== t.effect) return false;
        // An empty key with Exists tolerates every taint.
        if (tol.key === undefined || tol.key === "") return tol.operator === "Exists";
        if (tol.key !== t.key) return false;
        return tol.operator === "Exists" || (tol.value ?? "") === (t.value ?? "");
      }),
    );
}

/** What a route carries for one rollout, read in one request. */
export interface RouteObservation {
  /** The canary's weight in percent, or null when the route does not name both backends. */
  readonly weight: number | null;
  /**
   * The weight voicectl last wrote there (recorded on the object in the same update as the weights), or null
   * when it never wrote one. A weight that differs from it was set by someone else.
   */
  readonly written: number | null;
  /**
   * Who changed the weight, when it differs from the one voicectl wrote: the field manager that last wrote
   * the weight fields (metadata.managedFields), e.g. `kubectl-patch` or `argocd-controller`. Absent when the
   * weight is voicectl's, or when the object does not say.
   */
  readonly changedBy?: string | undefined;
}

export interface SetWeightOptions {
  /** Write even over a weight someone else set: a rollback, or an approval to set the route back. */
  readonly overrideHandEdit?: boolean | undefined;
}

/**
 * The route carries a weight someone else set since voicectl last wrote it, and the write would have undone
 * it. Nothing was written; the next pass sees the edit and pauses with a reason.
 */
export class RouteChangedByHandError extends Error {
  override readonly name = "RouteChangedByHandError";
  constructor(
    message: string,
    /** The canary weight the route carries. */
    readonly routed: number,
    /** The weight voicectl last wrote there. */
    readonly written: number,
  ) {
    super(message);
  }
}

/** Whether writing `weight` over a route carrying `routed` would undo someone else's edit of voicectl's `written`. */
export function undoesHandEdit(routed: number | null, written: number | null, weight: number): boolean {
  return routed !== null && written !== null && routed !== written && routed !== weight;
}

/** Argo Rollouts' TrafficRoutingReconciler, reduced to what voicectl needs. */
export interface TrafficRouter {
  /** The canary's current weight in percent, or null when the route does not name both backends. */
  canaryWeight(rollout: VoiceRollout): Promise<number | null>;
  /** The canary's current weight and the weight voicectl last wrote, from one read. */
  observe(rollout: VoiceRollout): Promise<RouteObservation>;
  /**
   * Sets the canary's weight (stable gets the rest) and records it as written, in one update. Idempotent: no
   * write when already so. Throws RouteChangedByHandError, writing nothing, when the route carries a weight
   * other than the one last written (someone else changed it), unless `options.overrideHandEdit`.
   */
  setCanaryWeight(rollout: VoiceRollout, weight: number, options?: SetWeightOptions): Promise<void>;
  /**
   * Values of `header` that voicectl's own rules currently send to stable only, sorted. Absent on a router
   * that cannot match on headers.
   */
  pinnedValues?(rollout: VoiceRollout, header: string): Promise<string[]>;
  /**
   * Sends requests whose `header` equals one of `values` to stable only, ahead of the split, while the
   * rollout continues for everyone else (docs/operator.md#pinning-a-slice); `[]` removes every pin.
   * Idempotent: no write when the pins are already so. Absent on a router that cannot match on headers.
   */
  setPins?(rollout: VoiceRollout, header: string, values: readonly string[]): Promise<void>;
}

/**
 * The router's object says it serves something other than what voicectl wrote (KServe ignoring
 * canaryTrafficPercent, or its canary revision not ready): the weight is not in effect, so nothing may be
 * judged or promoted as if it were. Not a conflict: re-reading does not fix it until the router catches up.
 */
export class TrafficMismatchError extends Error {
  override readonly name = "TrafficMismatchError";
  constructor(
    message: string,
    /** The canary share voicectl wrote, in percent. */
    readonly written: number,
    /** The canary share the object says it serves, in percent. */
    readonly served: number,
  ) {
    super(message);
  }
}

/** The rollout asks for pinning through a router that cannot match requests on a header. */
export class PinningUnsupportedError extends Error {
  override readonly name = "PinningUnsupportedError";
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

/** A sink refused or could not be reached: `status` is the HTTP status when there was an answer. */
export class SinkError extends Error {
  override readonly name = "SinkError";
  constructor(
    message: string,
    readonly status?: number | undefined,
  ) {
    super(message);
  }
}

/** How notifications leave the operator: the sinks' URLs from Secrets, and one HTTP POST each. */
export interface NotificationTransport {
  /** A key of a Secret in `namespace`; null when the Secret or the key is missing. Never logged. */
  secret(namespace: string, name: string, key: string): Promise<string | null>;
  /** POSTs a JSON body; resolves on a 2xx answer, throws SinkError otherwise. */
  post(url: string, body: unknown, headers: Readonly<Record<string, string>>): Promise<void>;
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
  /** GPU pool capacity; without it the reconciler scales without checking the pool (tests of other parts). */
  readonly pools?: NodePools | undefined;
  /** Where notifications go; without it the outbox fills (bounded) and nothing is sent. */
  readonly notifications?: NotificationTransport | undefined;
}
