// The state machine's RolloutStatus (plain numbers, milliseconds) to and from the VoiceRollout's status
// (RFC 3339 strings, the names kubectl shows), plus the conditions that tools such as `kubectl wait` read.
// The machine's status is the truth; everything the CRD status adds is derived from it and from the
// previous CRD status (a condition's lastTransitionTime, the commands' names in history).
import type { z } from "zod";
import { worseningUnit } from "../core/format.js";
import { compareFindings } from "../core/judge/decide.js";
import type {
  acceptedFindingSchema,
  conditionSchema,
  historyEntrySchema,
  statusFindingSchema,
  VoiceRolloutStatus,
} from "../core/resource/voicerollout.js";
import type { AcceptedFinding, DecisionRecord, Phase, RolloutStatus } from "../core/rollout/machine.js";
import type { Finding } from "../core/types.js";

export type StatusFinding = z.infer<typeof statusFindingSchema>;
export type Condition = z.infer<typeof conditionSchema>;
export type HistoryEntry = z.infer<typeof historyEntrySchema>;
export type StatusAcceptedFinding = z.infer<typeof acceptedFindingSchema>;
export type AnalysisStatus = NonNullable<VoiceRolloutStatus["analysis"]>;

/** Status shows at most this many findings: enough to act on, small enough for etcd. */
export const MAX_STATUS_FINDINGS = 20;

export const CONDITION_TYPES = ["Progressing", "Paused", "Completed", "Degraded"] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];

/** The Paused condition's reason when the rollout waits for its RolloutPolicy rather than for a person. */
export const POLICY_UNAVAILABLE = "PolicyUnavailable";

/**
 * The Paused condition's reason (and the Event's) when the route's weights were changed by someone other than
 * voicectl: the rollout waits for a person to approve setting them back, or to abort.
 */
export const ROUTE_CHANGED_BY_HAND = "RouteChangedByHand";

/**
 * The condition a rollout with spec.nodePool carries: True when the pool has the GPUs the next scale-up needs
 * (and it fits the surge budget), False with a reason and the missing count when it has not.
 */
export const POOL_CAPACITY = "PoolCapacity";
/** The Paused and PoolCapacity reason when the pool lacks free GPUs for the canary: resumes by itself. */
export const INSUFFICIENT_GPUS = "InsufficientGPUs";
/** The Paused and PoolCapacity reason when a step needs more GPUs than spec.nodePool.maxSurgeGPUs allows. */
export const SURGE_BUDGET_EXCEEDED = "SurgeBudgetExceeded";

/**
 * The condition (and Event reason) of a pause for a person that passed its deadline under
 * spec.approval.onDeadline: Escalate: True while it stays paused past it. Notifications and alerts key on it.
 */
export const APPROVAL_OVERDUE = "ApprovalOverdue";
/** The Event reason (and Degraded reason's message source) of a rollback because nobody approved in time. */
export const APPROVAL_EXPIRED = "ApprovalExpired";

/**
 * What the operator records of the pool in status.pool, so a restarted operator scales with the same numbers.
 * The CRD's status schema must carry this field (voicerollout.ts): the API server prunes unknown fields.
 */
export interface PoolStatus {
  /** The stable's replicas when the rollout started (N): the canary's full size and what a rollback restores. */
  readonly stableReplicasAtStart: number;
}

/** status.pool, or undefined when absent or not of the expected shape. */
export function poolStatusOf(status: VoiceRolloutStatus | undefined): PoolStatus | undefined {
  const pool = (status as { pool?: unknown } | undefined)?.pool;
  if (typeof pool !== "object" || pool === null) return undefined;
  const n = (pool as { stableReplicasAtStart?: unknown }).stableReplicasAtStart;
  return typeof n === "number" && Number.isInteger(n) && n >= 0 ? { stableReplicasAtStart: n } : undefined;
}

/** A condition the rollout carries besides the four the machine's phase decides (PoolCapacity). */
export interface ExtraCondition {
  readonly type: string;
  readonly status: "True" | "False";
  readonly reason: string;
  readonly message: string;
}

export function toTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** Milliseconds since the epoch, or null when the text is absent or not a time. */
export function fromTime(text: string | undefined | null): number | null {
  if (text === undefined || text === null) return null;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? null : ms;
}

/** JSON has no Infinity or NaN: those become null rather than breaking the status write. */
function finite(n: number | null | undefined): number | null {
  return n === null || n === undefined || !Number.isFinite(n) ? null : n;
}

export function statusFinding(f: Finding): StatusFinding {
  return {
    metric: f.metric,
    slice: { ...f.slice },
    verdict: f.verdict,
    critical: f.critical,
    baseline: finite(f.baseline),
    canary: finite(f.canary),
    allowed: finite(f.allowed),
    worsening: finite(f.worsening),
    samples: { baseline: f.samples.baseline, canary: f.samples.canary },
    // worsening and allowed are in the budget's units; a relative budget's 0.2786 is shown as +27.9%.
    unit: worseningUnit(f),
    interval:
      f.interval && Number.isFinite(f.interval.lower) && Number.isFinite(f.interval.upper)
        ? { lower: f.interval.lower, upper: f.interval.upper }
        : null,
    ...(f.window
      ? {
          window: {
            kind: f.window.kind,
            since: toTime(f.window.since),
            ...(f.window.weight !== undefined ? { weight: f.window.weight } : {}),
          },
        }
      : {}),
    reason: f.reason,
  };
}

/** The findings that did not pass, most severe first, at most MAX_STATUS_FINDINGS. */
export function statusFindings(findings: readonly Finding[]): StatusFinding[] {
  return findings
    .filter((f) => f.verdict !== "pass")
    .sort(compareFindings)
    .slice(0, MAX_STATUS_FINDINGS)
    .map(statusFinding);
}

/**
 * The machine's view of a stored status, or null when the rollout has never been reconciled (no phase).
 * lastDecision comes back without its findings: the machine only compares its time, and crdStatus() keeps
 * the stored findings while the decision is the same one.
 */
export function machineStatus(status: VoiceRolloutStatus | undefined, now: number): RolloutStatus | null {
  if (!status?.phase) return null;
  const decision = status.lastDecision;
  const lastDecision: DecisionRecord | null = decision
    ? {
        decision: decision.decision,
        at: fromTime(decision.at) ?? now,
        summary: decision.summary,
        reasons: [],
      }
    : null;
  return {
    phase: status.phase,
    stepIndex: status.currentStepIndex ?? 0,
    stepStartedAt: fromTime(status.stepStartedAt) ?? now,
    canaryWeight: status.canaryWeight ?? 0,
    pause: status.pause ? machinePause(status.pause, now) : null,
    lastDecision,
    history: (status.history ?? []).map((h) => ({
      kind: h.action,
      user: h.user,
      at: fromTime(h.at) ?? now,
      reason: h.reason,
      stepIndex: h.step,
      ...(h.accepted ? { accepted: h.accepted } : {}),
      ...(h.over ? { over: h.over } : {}),
    })),
    accepted: (status.acceptedFindings ?? []).map((a): AcceptedFinding => ({
      metric: a.metric,
      slice: { ...a.slice },
      worseningAtApproval: a.worseningAtApproval,
      upTo: a.upTo,
      unit: a.unit,
      ...(a.margin !== undefined ? { margin: a.margin } : {}),
      user: a.user,
      at: fromTime(a.at) ?? now,
      stepIndex: a.step,
    })),
    message: status.message ?? "",
  };
}

function machinePause(p: NonNullable<VoiceRolloutStatus["pause"]>, now: number): RolloutStatus["pause"] {
  const deadline = fromTime(p.deadline);
  const escalatedAt = fromTime(p.escalatedAt);
  return {
    kind: p.kind,
    reason: p.reason,
    since: fromTime(p.since) ?? now,
    ...(deadline !== null ? { deadline } : {}),
    ...(escalatedAt !== null ? { escalatedAt } : {}),
  };
}

/** The names of the commands already recorded in history: those are never applied again. */
export function appliedCommandNames(status: VoiceRolloutStatus | undefined): Set<string> {
  return new Set((status?.history ?? []).flatMap((h) => (h.command ? [h.command] : [])));
}

interface WantedCondition {
  readonly type: ConditionType;
  readonly status: "True" | "False";
  readonly reason: string;
  readonly message: string;
}

const PAUSE_REASON = { approval: "AwaitingApproval", analysis: "AnalysisHeld", duration: "Waiting" } as const;

function wantedConditions(s: RolloutStatus, pausedFor: string | undefined): WantedCondition[] {
  const is = (p: Phase) => s.phase === p;
  const degraded = is("RolledBack") || is("Failed");
  return [
    is("Progressing")
      ? { type: "Progressing", status: "True", reason: "Progressing", message: s.message }
      : { type: "Progressing", status: "False", reason: s.phase, message: s.message },
    is("Paused")
      ? {
          type: "Paused",
          status: "True",
          reason: pausedFor ?? (s.pause ? PAUSE_REASON[s.pause.kind] : "Paused"),
          message: s.pause?.reason ?? s.message,
        }
      : { type: "Paused", status: "False", reason: "NotPaused", message: "" },
    is("Promoted")
      ? { type: "Completed", status: "True", reason: "Promoted", message: s.message }
      : { type: "Completed", status: "False", reason: degraded ? s.phase : "InProgress", message: "" },
    degraded
      ? { type: "Degraded", status: "True", reason: s.phase, message: s.message }
      : { type: "Degraded", status: "False", reason: "Healthy", message: "" },
  ];
}

/**
 * ApprovalOverdue: True while a pause is escalated past its deadline; False once answered. Absent on a
 * rollout that was never overdue, so the four usual conditions stay as they were.
 */
function overdueCondition(s: RolloutStatus, previous: readonly Condition[] | undefined): ExtraCondition[] {
  if (s.phase === "Paused" && s.pause?.escalatedAt !== undefined)
    return [{ type: APPROVAL_OVERDUE, status: "True", reason: APPROVAL_OVERDUE, message: s.message }];
  if (previous?.some((c) => c.type === APPROVAL_OVERDUE))
    return [{ type: APPROVAL_OVERDUE, status: "False", reason: "Answered", message: "" }];
  return [];
}

/** Conditions whose lastTransitionTime moves only when their status does (the Kubernetes convention). */
export function conditionsFor(
  s: RolloutStatus,
  previous: readonly Condition[] | undefined,
  now: number,
  generation: number | undefined,
  pausedFor?: string | undefined,
  extra: readonly ExtraCondition[] = [],
): Condition[] {
  return [...wantedConditions(s, pausedFor), ...overdueCondition(s, previous), ...extra].map((w) => {
    const before = previous?.find((c) => c.type === w.type);
    // One pause can follow another without the rollout leaving Paused (a new finding, an acceptance
    // worsened): the Paused condition's time is the current pause's, not the first one's.
    const lastTransitionTime =
      w.type === "Paused" && w.status === "True" && s.pause
        ? toTime(s.pause.since)
        : before && before.status === w.status
          ? before.lastTransitionTime
          : toTime(now);
    return generation === undefined
      ? { ...w, lastTransitionTime }
      : { ...w, lastTransitionTime, observedGeneration: generation };
  });
}

export function conditionOf(
  status: VoiceRolloutStatus | undefined,
  type: ConditionType | typeof POOL_CAPACITY | typeof APPROVAL_OVERDUE,
): Condition | undefined {
  return status?.conditions?.find((c) => c.type === type);
}

export interface CrdStatusInput {
  readonly machine: RolloutStatus;
  readonly previous: VoiceRolloutStatus | undefined;
  readonly generation: number | undefined;
  readonly now: number;
  /** Command names of history entries, by index; entries already in previous keep theirs. */
  readonly commandNames?: ReadonlyMap<number, string> | undefined;
  readonly analysis?: AnalysisStatus | undefined;
  readonly canaryScaledDownAt?: number | undefined;
  /** The Paused condition's reason when the pause is not the machine's own (POLICY_UNAVAILABLE). */
  readonly pausedFor?: string | undefined;
  /** Conditions beyond the machine's four, such as PoolCapacity. */
  readonly extraConditions?: readonly ExtraCondition[] | undefined;
  /** status.pool, when the rollout scales within a surge budget. */
  readonly pool?: PoolStatus | undefined;
  /** The plan's length, for status.step ("2/4", counted from 1). */
  readonly stepCount?: number | undefined;
  /** The reasons of this pass's Events, in order: how a rollout that ended this pass ended. */
  readonly eventReasons?: readonly string[] | undefined;
}

/** Event reasons that end a rollout: the last one of a pass is status.reason from then on. */
const ENDINGS = new Set(["Promoted", "RolledBack", "Aborted", "Failed", APPROVAL_EXPIRED]);

/**
 * status.reason, one word for kubectl's Reason column: while paused, the Paused condition's reason (or
 * ApprovalOverdue once escalated); once ended, the Event that ended it, kept on later passes; nothing while
 * progressing (the Phase column says it all).
 */
export function statusReason(
  s: RolloutStatus,
  conditions: readonly Condition[],
  eventReasons: readonly string[],
  previous: VoiceRolloutStatus | undefined,
): string | undefined {
  if (s.phase === "Progressing") return undefined;
  if (s.phase === "Paused") {
    if (s.pause?.escalatedAt !== undefined) return APPROVAL_OVERDUE;
    return conditions.find((c) => c.type === "Paused" && c.status === "True")?.reason;
  }
  const ended = [...eventReasons].reverse().find((r) => ENDINGS.has(r));
  if (ended !== undefined) return ended;
  if (previous?.phase === s.phase && previous.reason !== undefined) return previous.reason;
  return s.phase;
}

/** status.step: the current step counted from 1 over the plan's steps; all done reads `4/4`. */
export function stepText(stepIndex: number, stepCount: number): string {
  return `${Math.min(stepIndex + 1, stepCount)}/${stepCount}`;
}

export function crdStatus(input: CrdStatusInput): VoiceRolloutStatus {
  const { machine: s, previous, now } = input;
  const before = previous?.history ?? [];
  const history: HistoryEntry[] = s.history.map((h, i) => {
    const command = before[i]?.command ?? input.commandNames?.get(i);
    const entry: HistoryEntry = {
      action: h.kind,
      user: h.user,
      at: toTime(h.at),
      reason: h.reason,
      step: h.stepIndex,
      ...(h.accepted ? { accepted: [...h.accepted] } : {}),
      ...(h.over ? { over: [...h.over] } : {}),
    };
    return command === undefined ? entry : { ...entry, command };
  });

  let lastDecision: VoiceRolloutStatus["lastDecision"] = null;
  if (s.lastDecision) {
    const at = toTime(s.lastDecision.at);
    // The same decision as stored (machineStatus() dropped its findings): keep the stored findings.
    const kept = previous?.lastDecision?.at === at ? previous.lastDecision.findings : undefined;
    lastDecision = {
      decision: s.lastDecision.decision,
      at,
      summary: s.lastDecision.summary,
      findings: kept ?? statusFindings(s.lastDecision.reasons),
    };
  }

  const out: VoiceRolloutStatus = {
    phase: s.phase,
    canaryWeight: s.canaryWeight,
    currentStepIndex: s.stepIndex,
    stepStartedAt: toTime(s.stepStartedAt),
    message: s.message,
    pause: s.pause ? crdPause(s.pause) : null,
    conditions: conditionsFor(
      s,
      previous?.conditions,
      now,
      input.generation,
      input.pausedFor,
      input.extraConditions,
    ),
    lastDecision,
    history,
  };
  if (input.stepCount !== undefined) out.step = stepText(s.stepIndex, input.stepCount);
  const reason = statusReason(s, out.conditions ?? [], input.eventReasons ?? [], previous);
  if (reason !== undefined) out.reason = reason;
  if (s.accepted.length > 0)
    out.acceptedFindings = s.accepted.map((a) => ({
      metric: a.metric,
      slice: { ...a.slice },
      worseningAtApproval: finite(a.worseningAtApproval),
      upTo: finite(a.upTo),
      unit: a.unit,
      ...(a.margin !== undefined ? { margin: a.margin } : {}),
      user: a.user,
      at: toTime(a.at),
      step: a.stepIndex,
    }));
  if (input.generation !== undefined) out.observedGeneration = input.generation;
  if (input.analysis) out.analysis = input.analysis;
  if (input.canaryScaledDownAt !== undefined) out.canaryScaledDownAt = toTime(input.canaryScaledDownAt);
  // Typed apart until the status schema names it (see PoolStatus).
  if (input.pool) (out as { pool?: PoolStatus }).pool = { ...input.pool };
  return out;
}

function crdPause(p: NonNullable<RolloutStatus["pause"]>): NonNullable<VoiceRolloutStatus["pause"]> {
  return {
    kind: p.kind,
    reason: p.reason,
    since: toTime(p.since),
    ...(p.deadline !== undefined ? { deadline: toTime(p.deadline) } : {}),
    ...(p.escalatedAt !== undefined ? { escalatedAt: toTime(p.escalatedAt) } : {}),
  };
}

/** Compares two statuses as the API server stores them (absent and undefined fields are the same). */
export function sameStatus(a: VoiceRolloutStatus | undefined, b: VoiceRolloutStatus | undefined): boolean {
  return canonical(a ?? {}) === canonical(b ?? {});
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)))
      : v,
  );
}
