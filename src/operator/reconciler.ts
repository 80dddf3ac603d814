// The reconciler: one pass over one VoiceRollout, through the ports only. It derives everything from the
// rollout's spec and status, the stored analysis state and what it observes (policy, canary Deployment, a
// look of live traffic), runs the same pure state machine `voicectl simulate` runs, writes the status, and
// only then makes the world follow the status: the route takes status.canaryWeight, Events are emitted,
// commands are marked applied. A pass can stop at any point (crash, lost write race) and the next pass
// finishes the job without repeating it: the route is set to the stored weight (never shifted twice),
// commands already in status history are not applied again, and a look already saved is not taken again.
import { planJudge, type JudgePlan } from "../core/judge/plan.js";
import type { Look } from "../core/analysis/look.js";
import { analyzeLook, decideOnline, findingsOf, initialOnlineState } from "../core/analysis/online.js";
import { trafficSteps } from "../core/analysis/windows.js";
import type { Policy } from "../core/policy/schema.js";
import type { VoiceRollout, VoiceRolloutCommand } from "../core/resource/voicerollout.js";
import {
  initialStatus,
  isTerminal,
  reconcileRollout,
  type AnalysisObservation,
  type Command,
  type MachineOptions,
  type Phase,
  type RolloutStatus,
} from "../core/rollout/machine.js";
import { parseDuration, type Step } from "../core/rollout/plan.js";
import type { Decision } from "../core/types.js";
import { silentLogger, type Logger } from "./log.js";
import { withOutbox } from "./notifications/outbox.js";
import { applyPinning } from "./pinning.js";
import { changedByHandReason, checkRoute, repairedMessage, restoredMessage } from "./route-edits.js";
import { canaryReplicasFor, gpusOf, isPoolReason, surgePlan } from "./surge.js";
import {
  ConflictError,
  poolSelectorOf,
  RouteChangedByHandError,
  type Ports,
  type RolloutRef,
  type StoredAnalysis,
} from "./ports.js";
import {
  APPROVAL_EXPIRED,
  appliedCommandNames,
  conditionOf,
  crdStatus,
  fromTime,
  INSUFFICIENT_GPUS,
  machineStatus,
  POLICY_UNAVAILABLE,
  POOL_CAPACITY,
  poolStatusOf,
  ROUTE_CHANGED_BY_HAND,
  sameStatus,
  SURGE_BUDGET_EXCEEDED,
  toTime,
  type AnalysisStatus,
  type ExtraCondition,
  type PoolStatus,
} from "./status.js";

export interface ReconcileOptions {
  readonly log?: Logger | undefined;
  /** Reconcile at least this often even when nothing is due: a safety net for missed watch events. */
  readonly resyncMs?: number | undefined;
  /** How soon to look again at something no watch may announce: canary readiness, a missing policy. */
  readonly pollMs?: number | undefined;
}

export const DEFAULT_RESYNC_MS = 5 * 60_000;
export const DEFAULT_POLL_MS = 15_000;

/** A rollout-level decision this pass made, for the voicectl_decisions_total metric. */
export interface DecisionMade {
  readonly decision: Decision;
  /** Low-cardinality: the Event reason or the pause kind, never a finding's text. */
  readonly reason: string;
}

export interface ReconcileResult {
  /** When to reconcile again: 0 at once (a lost write race), null never (the rollout is gone). */
  readonly requeueAfterMs: number | null;
  readonly phase?: Phase | undefined;
  readonly canaryWeight?: number | undefined;
  readonly decisions: readonly DecisionMade[];
  /** How long the look and its analysis took, when this pass took one. */
  readonly analysisMs?: number | undefined;
  /** The status write lost a race with another writer; nothing after it was done. */
  readonly conflict?: boolean | undefined;
  /** The stored status holds notifications not yet delivered (notifications/deliver.ts sends them). */
  readonly notificationsPending?: boolean | undefined;
}

interface PendingEvent {
  readonly type: "Normal" | "Warning";
  readonly reason: string;
  readonly message: string;
}

/** Why a whole look is missing; no error text, which may carry a URL or a response body. */
const SOURCE_FAILED = "the metric source failed at this look";

function toCommand(c: VoiceRolloutCommand): Command {
  const { action, user, reason, full, accept } = c.spec;
  if (action === "promote") return { kind: action, user, reason, full };
  if (action === "approve" && accept && accept.length > 0) return { kind: action, user, reason, accept };
  return { kind: action, user, reason };
}

/**
 * The machine's options from the spec. A rollout written before spec.approval existed (or an object not
 * defaulted by the API server) gets the same default the schema gives: a 4h deadline, then a rollback.
 */
export function machineOptions(rollout: VoiceRollout): MachineOptions {
  const approval = rollout.spec.approval as VoiceRollout["spec"]["approval"] | undefined;
  return {
    approval: {
      deadlineMs: parseDuration(approval?.deadline ?? DEFAULT_APPROVAL_DEADLINE) ?? null,
      onDeadline: approval?.onDeadline ?? "Abort",
    },
    ref: { name: rollout.metadata.name, namespace: rollout.metadata.namespace },
  };
}

export const DEFAULT_APPROVAL_DEADLINE = "4h";

/** The findings as they stand after the stored state's latest look: the same between two looks as at it. */
function observe(policy: Policy, plan: JudgePlan, stored: StoredAnalysis): AnalysisObservation {
  const gaps: Look = { at: stored.lastLookAt, canaryWeight: 0, cells: [], unavailable: stored.unavailable };
  const findings = findingsOf(plan, stored.state, gaps);
  const d = decideOnline(findings, policy);
  return { at: stored.lastLookAt, findings, decision: d.decision, summary: d.summary };
}

interface AnalysisPass {
  readonly stored: StoredAnalysis;
  readonly observation: AnalysisObservation | null;
  readonly restarted: boolean;
  readonly lostLooks: number;
  readonly analysisMs: number | undefined;
}

/**
 * Loads the analysis state, takes a look when one is due, and saves the state before the status is written,
 * so a pass that dies after the save does not take the same look twice. A look whose source fails adds no
 * samples and marks every metric unavailable: its findings are nodata (or still fail), never a new pass.
 */
async function analyse(
  ports: Ports,
  rollout: VoiceRollout,
  policy: Policy,
  weight: number,
  intervalMs: number,
  now: number,
  log: Logger,
): Promise<AnalysisPass> {
  const plan = planJudge(policy);
  const previous = rollout.status?.analysis;
  const loaded = await ports.analysis.load(rollout);
  const lostLooks = previous?.looks ?? 0;
  // Status counts the stored state's looks; more looks in status than in the store means it was lost.
  const restarted = lostLooks > (loaded?.state.looks ?? 0);
  // The next look starts where the last one recorded in status ended (or now, for a new rollout).
  const lastLookAt = fromTime(previous?.lastLookAt) ?? now;
  let stored: StoredAnalysis = loaded ?? {
    // The plan's traffic steps share the step windows' alpha (windows.ts).
    state: initialOnlineState({ trafficSteps: trafficSteps(rollout.spec.steps), startedAt: lastLookAt }),
    lastLookAt,
  };
  let changed = loaded === null;
  let analysisMs: number | undefined;
  if (now - stored.lastLookAt >= intervalMs) {
    const started = ports.clock.now();
    let look: Look | null = null;
    try {
      look = await ports.metrics.for(rollout, policy).look(stored.lastLookAt, now, weight);
    } catch (err) {
      log.warn("look failed: the metric source did not answer", {
        error: err,
        from: toTime(stored.lastLookAt),
        to: toTime(now),
      });
    }
    if (look) {
      const r = analyzeLook(policy, stored.state, look, plan);
      const unavailable =
        look.unavailable && Object.keys(look.unavailable).length > 0 ? look.unavailable : undefined;
      stored = { state: r.state, lastLookAt: now, unavailable };
    } else {
      // The window's samples are skipped, as a simulated fault skips them: the tests stay valid without
      // them, and the state's first-look alpha split is not spent on a look that saw nothing.
      const unavailable = Object.fromEntries(policy.spec.metrics.map((m) => [m.name, SOURCE_FAILED]));
      stored = { state: stored.state, lastLookAt: now, unavailable };
    }
    analysisMs = ports.clock.now() - started;
    changed = true;
  }
  if (changed) await ports.analysis.save(rollout, stored);
  const observation =
    stored.state.looks > 0 || stored.unavailable !== undefined ? observe(policy, plan, stored) : null;
  return { stored, observation, restarted, lostLooks, analysisMs };
}

function decisionsOf(status: RolloutStatus, events: readonly PendingEvent[]): DecisionMade[] {
  const out: DecisionMade[] = [];
  for (const e of events) {
    if (e.reason === "Promoted") out.push({ decision: "promote", reason: "Promoted" });
    else if (
      e.reason === "RolledBack" ||
      e.reason === "Aborted" ||
      e.reason === "Failed" ||
      e.reason === APPROVAL_EXPIRED
    )
      out.push({ decision: "rollback", reason: e.reason });
    else if (e.reason === "Paused") out.push({ decision: "pause", reason: status.pause?.kind ?? "Paused" });
    else if (e.reason === POLICY_UNAVAILABLE) out.push({ decision: "pause", reason: POLICY_UNAVAILABLE });
    else if (e.reason === ROUTE_CHANGED_BY_HAND)
      out.push({ decision: "pause", reason: ROUTE_CHANGED_BY_HAND });
  }
  return out;
}

interface Deadlines {
  readonly steps: readonly Step[];
  readonly status: RolloutStatus;
  readonly now: number;
  readonly nextLookAt: number | null;
  readonly waitingForCanary: boolean;
  readonly policyProblem: boolean;
  readonly scaleDownAt: number | null;
  readonly resyncMs: number;
  readonly pollMs: number;
}

/** The soonest thing that will be due: a look, a step's end, a pause's end, the canary's scale-down. */
function requeueAfter(d: Deadlines): number {
  const at: number[] = [];
  const s = d.status;
  if (d.nextLookAt !== null) at.push(d.nextLookAt - d.now);
  // A pause for a person is looked at again when its deadline passes.
  if (s.phase === "Paused" && s.pause?.deadline !== undefined && s.pause.escalatedAt === undefined)
    at.push(s.pause.deadline - d.now);
  if (s.phase === "Progressing" && s.stepIndex < d.steps.length) {
    const step = d.steps[s.stepIndex]!;
    const elapsed = d.now - s.stepStartedAt;
    if ("pause" in step && step.pause.duration) at.push((parseDuration(step.pause.duration) ?? 0) - elapsed);
    if ("analysis" in step) {
      at.push((parseDuration(step.analysis.minDuration) ?? 0) - elapsed);
      at.push((parseDuration(step.analysis.maxDuration) ?? 0) - elapsed);
    }
  }
  if (d.waitingForCanary || d.policyProblem) at.push(d.pollMs);
  if (d.scaleDownAt !== null) at.push(d.scaleDownAt - d.now);
  const future = at.filter((ms) => ms > 0);
  return Math.min(d.resyncMs, ...future);
}

/** One pass over one rollout. Idempotent: a second pass with nothing new changes and writes nothing. */
export async function reconcile(
  ref: RolloutRef,
  ports: Ports,
  options: ReconcileOptions = {},
): Promise<ReconcileResult> {
  const log = (options.log ?? silentLogger).child({ rollout: ref });
  const resyncMs = options.resyncMs ?? DEFAULT_RESYNC_MS;
  const pollMs = options.pollMs ?? DEFAULT_POLL_MS;
  const now = ports.clock.now();

  const rollout = await ports.rollouts.get(ref);
  if (!rollout) return { requeueAfterMs: null, decisions: [] };
  const { spec } = rollout;
  const previous = rollout.status;
  const generation = rollout.metadata.generation;
  const stored0 = machineStatus(previous, now) ?? initialStatus(now);
  // Finish our own unfinished route write before acting on anything new; a route changed by hand pauses
  // instead (route-edits.ts says how the two are told apart, and why).
  const route = isTerminal(stored0.phase)
    ? ({ kind: "agrees" } as const)
    : checkRoute(await ports.router.observe(rollout), stored0.canaryWeight);
  const handEdited = route.kind === "byHand" ? route.routed : null;
  if (route.kind === "byHand")
    log.warn("route changed by someone else; pausing and leaving it alone", {
      routed: route.routed,
      written: route.written,
      weight: stored0.canaryWeight,
      by: route.by,
    });
  if (route.kind === "unfinished") {
    try {
      await ports.router.setCanaryWeight(rollout, stored0.canaryWeight);
    } catch (err) {
      // Someone changed the route between our read and this write: the next pass sees it and pauses.
      if (!(err instanceof RouteChangedByHandError)) throw err;
      log.warn("route changed by someone else during the pass; looking again", { error: err });
      return { requeueAfterMs: 0, decisions: [] };
    }
    log.warn("route did not carry the status's weight; set it before anything else", {
      routed: route.routed,
      weight: stored0.canaryWeight,
    });
  }

  // Commands already recorded in history were applied by an earlier pass that died before marking them.
  const pending = await ports.rollouts.pendingCommands(ref);
  const recorded = appliedCommandNames(previous);
  const repeats = pending.filter((c) => recorded.has(c.metadata.name));
  const unapplied = pending.filter((c) => !recorded.has(c.metadata.name));
  // While the route is changed by hand, an approval answers that pause: it sets the route back to the
  // status's weight and runs the step again from its start (it does not skip the step, as approving a step's
  // pause would). One given before the pause was announced waits for the next pass, so nobody approves
  // what they have not seen; abort and promote act as always.
  const pausedByHand =
    stored0.phase === "Paused" && conditionOf(previous, "Paused")?.reason === ROUTE_CHANGED_BY_HAND;
  const routeApproval =
    handEdited !== null && pausedByHand ? unapplied.find((c) => c.spec.action === "approve") : undefined;
  const fresh = handEdited !== null ? unapplied.filter((c) => c.spec.action !== "approve") : unapplied;
  const extraApprovals =
    routeApproval !== undefined
      ? unapplied.filter((c) => c.spec.action === "approve" && c !== routeApproval)
      : [];
  // The route carries the status's weight again after a hand edit: set back by the approval (at the end of
  // this pass) or by the person. The step and the analysis window start again, as after a repair.
  const routeBack =
    routeApproval !== undefined || (pausedByHand && handEdited === null && !isTerminal(stored0.phase));
  if (route.kind === "unfinished" || routeBack) {
    const kept = await ports.analysis.load(rollout);
    if (kept) await ports.analysis.save(rollout, { ...kept, lastLookAt: now });
  }

  const before = route.kind === "unfinished" || routeBack ? { ...stored0, stepStartedAt: now } : stored0;
  const terminalBefore = isTerminal(before.phase);
  const events: PendingEvent[] = [];
  if (route.kind === "unfinished")
    events.push({
      type: "Warning",
      reason: "RouteRepaired",
      message: repairedMessage(route.routed, before.canaryWeight),
    });
  const intervalMs = parseDuration(spec.analysis.interval) ?? 60_000;
  const machine = machineOptions(rollout);
  const scaleDownDelayMs = parseDuration(spec.rollback.scaleDownDelay) ?? 30_000;

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

  let pass: AnalysisPass | null = null;
  if (terminalBefore) {
    // Left over by a pass that died before dropping it: dropped before a retry could judge the new canary
    // with the evidence against the old one.
    if ((await ports.analysis.load(rollout)) !== null) await ports.analysis.remove(rollout);
  } else if (policy) {
    pass = await analyse(ports, rollout, policy, before.canaryWeight, intervalMs, now, log);
  }

  // A policy that cannot be read holds the rollout where it is: nothing is judged, nothing promotes, and it
  // resumes by itself once the policy is usable again. An abort still rolls back.
  let status = before;
  let pausedFor: string | undefined;
  const pausedForPolicy =
    before.phase === "Paused" && conditionOf(previous, "Paused")?.reason === POLICY_UNAVAILABLE;
  if (policyProblem && !terminalBefore) {
    pausedFor = POLICY_UNAVAILABLE;
    if (!pausedForPolicy || before.pause?.reason !== policyProblem) {
      status = {
        ...status,
        phase: "Paused",
        pause: {
          kind: "analysis",
          reason: policyProblem,
          since: pausedForPolicy ? before.pause!.since : now,
        },
        message: policyProblem,
      };
      events.push({ type: "Warning", reason: POLICY_UNAVAILABLE, message: policyProblem });
    }
  } else if (pausedForPolicy && policy) {
    const message = `RolloutPolicy ${spec.policyRef.name} is usable again; resuming`;
    status = { ...status, phase: "Progressing", pause: null, message };
    events.push({ type: "Normal", reason: "PolicyAvailable", message });
  }

  // A route changed by hand holds the rollout where it is, ahead of any pause the pool asks for (below).
  let handPause: RolloutStatus | null = null;
  if (!terminalBefore && handEdited !== null && routeApproval === undefined) {
    const by = route.kind === "byHand" ? route.by : undefined;
    const reason = changedByHandReason(rollout, handEdited, before.canaryWeight, before.stepIndex, by);
    if (!pausedByHand || before.pause?.reason !== reason)
      events.push({ type: "Warning", reason: ROUTE_CHANGED_BY_HAND, message: reason });
    handPause = {
      ...status,
      phase: "Paused",
      pause: { kind: "approval", reason, since: pausedByHand && before.pause ? before.pause.since : now },
      message: reason,
    };
    status = handPause;
    pausedFor = ROUTE_CHANGED_BY_HAND;
  } else if (routeBack && !terminalBefore) {
    const why = routeApproval
      ? `set back as approved by ${routeApproval.spec.user}: ${routeApproval.spec.reason}`
      : "put back by hand";
    const message = restoredMessage(rollout, before.canaryWeight, before.stepIndex, why);
    const history = routeApproval
      ? [
          ...status.history,
          {
            kind: "approve" as const,
            user: routeApproval.spec.user,
            at: now,
            reason: routeApproval.spec.reason,
            stepIndex: status.stepIndex,
          },
        ]
      : status.history;
    status = { ...status, phase: "Progressing", pause: null, message, history };
    events.push({ type: "Normal", reason: "RouteRestored", message });
  }

  const pausedForPool =
    before.phase === "Paused" && isPoolReason(conditionOf(previous, "Paused")?.reason) && !terminalBefore;
  // Without a policy, or while the pool lacks GPUs, only an abort or a retry can act; approvals wait, still
  // pending, until the rollout moves again.
  const actionable =
    (policyProblem || pausedForPool) && !terminalBefore
      ? fresh.filter((c) => c.spec.action === "abort" || c.spec.action === "retry")
      : fresh;
  const commands = actionable.map(toCommand);
  // A critical regression in one pinnable slice value pins it to stable instead of rolling everyone back.
  const pinning = applyPinning(
    spec.traffic.pinning,
    previous?.pins ?? [],
    pass?.observation ?? null,
    toTime(now),
    (findings) => (policy ? decideOnline(findings, policy) : { decision: "pause", summary: "no policy" }),
  );
  for (const pin of pinning.added)
    events.push({
      type: "Warning",
      reason: "Pinned",
      message: `${pin.label}=${pin.value} pinned to stable by header ${pin.header}; the rollout goes on for everyone else: ${pin.reason}`,
    });
  const analysisSeen = pinning.observation;

  // Scaling the canary up, after the look (a look is priced with the replicas held during it).
  let canaryReady = canary !== null && wanted > 0 && canary.readyReplicas >= wanted;
  let surgeTarget: number | null = null;
  let poolProblem: { reason: string; message: string } | null = null;
  let poolCondition: ExtraCondition | undefined;
  let waitForStable = false;
  const gc = gpusOf(canary, pool?.gpusPerReplica ?? 1);
  const gs = gpusOf(stable, pool?.gpusPerReplica ?? 1);
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
  if (!terminalBefore && canary && !policyProblem) {
    if (!surge) {
      // The canary's full size before any traffic (the default: no surge budget). Scaled down without a check.
      if (wanted > 0 && canary.replicas > wanted) await ports.workloads.scale(canaryRef, wanted);
      else if (wanted > canary.replicas) await scaleCanaryUp(canary.replicas, wanted);
    } else {
      // The weight this pass would reach with a ready canary: the canary is sized for it ahead of the raise.
      // Steps that follow each other without waiting (two setWeights in a row) count as one raise.
      const base = pausedForPool ? { ...status, phase: "Progressing" as const, pause: null } : status;
      const dry = reconcileRollout(
        spec.steps,
        base,
        { canaryReady: true, analysis: analysisSeen, fatal },
        commands,
        now,
        machine,
      );
      const target =
        dry.status.phase === "Progressing" || dry.status.phase === "Promoted"
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
        const held = (stable?.replicas ?? n) * gs + plan.canary * gc;
        // The stable makes room first, at the end of this pass (after the route): the canary grows next pass.
        if (held > n * gs + budget) waitForStable = true;
        else await scaleCanaryUp(canary.replicas, plan.canary);
      }
    }
  }

  if (poolProblem !== null && !terminalBefore) {
    const problem: { reason: string; message: string } = poolProblem;
    pausedFor = problem.reason;
    poolCondition = { type: POOL_CAPACITY, status: "False", ...problem };
    if (!pausedForPool || before.pause?.reason !== problem.message) {
      status = {
        ...status,
        phase: "Paused",
        // A pause that ends by itself, as a timed one does: no approval is asked for.
        pause: {
          kind: "duration",
          reason: problem.message,
          since: pausedForPool ? before.pause!.since : now,
        },
        message: problem.message,
      };
      events.push({ type: "Warning", reason: problem.reason, message: problem.message });
    }
  } else if (pausedForPool) {
    const message = `pool ${pool?.name ?? ""} has the GPUs the canary needs; resuming`;
    status = { ...status, phase: "Progressing", pause: null, message };
    events.push({ type: "Normal", reason: "PoolCapacityAvailable", message });
  }
  if (handPause) {
    status = handPause;
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

  const t = reconcileRollout(
    spec.steps,
    status,
    { canaryReady, analysis: analysisSeen, fatal },
    commands,
    now,
    machine,
  );
  const next = t.status;
  for (const a of t.actions)
    if (a.type === "event") events.push({ type: a.severity, reason: a.reason, message: a.message });

  // The machine appends one history record per command it applied, aborts first, in command order: match
  // them up to put each command's name in history, which is what makes a command apply only once.
  const names = new Map<number, string>();
  const results = new Map<VoiceRolloutCommand, string>();
  if (routeApproval) {
    names.set(before.history.length, routeApproval.metadata.name);
    results.set(
      routeApproval,
      `applied: the route set back to ${before.canaryWeight}% at step ${before.stepIndex + 1}` +
        // This approval answers the hand edit, not a finding: nothing it names is accepted.
        (routeApproval.spec.accept?.length
          ? "; --accept not recorded: approve again with it when a finding pauses the rollout"
          : ""),
    );
    for (const c of extraApprovals)
      results.set(c, `ignored: ${routeApproval.metadata.name} already set the route back`);
  }
  let h = status.history.length;
  const order = [
    ...actionable.filter((c) => c.spec.action === "abort"),
    ...actionable.filter((c) => c.spec.action !== "abort"),
  ];
  for (const c of order) {
    const record = next.history[h];
    if (
      record &&
      record.kind === c.spec.action &&
      record.user === c.spec.user &&
      record.reason === c.spec.reason
    ) {
      names.set(h, c.metadata.name);
      results.set(c, `applied at step ${record.stepIndex + 1}`);
      h++;
    } else {
      results.set(c, `ignored: nothing to ${c.spec.action} while the rollout is ${status.phase}`);
    }
  }

  let analysis: AnalysisStatus | undefined = previous?.analysis;
  const location = ports.analysis.location?.(rollout);
  const restarts = (previous?.analysis?.restarts ?? 0) + (pass?.restarted ? 1 : 0);
  if (pass) {
    analysis = { looks: pass.stored.state.looks, lastLookAt: toTime(pass.stored.lastLookAt), restarts };
    if (location) analysis.configMap = location;
    if (pass.restarted)
      events.push({
        type: "Warning",
        reason: "AnalysisRestarted",
        message: `the online analysis state was lost after ${pass.lostLooks} looks; analysis starts again from zero`,
      });
  }
  if (terminalBefore && !isTerminal(next.phase)) {
    // A retry starts a new analysis: the old state judged the canary that was rolled back.
    analysis = { looks: 0, lastLookAt: toTime(now), restarts };
    if (location) analysis.configMap = location;
  }

  const scaledDownAt = isTerminal(next.phase)
    ? (fromTime(previous?.canaryScaledDownAt) ?? undefined)
    : undefined;
  let nextStatus = crdStatus({
    machine: next,
    previous,
    generation,
    now,
    commandNames: names,
    analysis,
    canaryScaledDownAt: scaledDownAt,
    pausedFor: next.phase === "Paused" ? pausedFor : undefined,
    extraConditions: poolCondition ? [poolCondition] : undefined,
    pool: poolRecord,
    stepCount: spec.steps.length,
    eventReasons: events.map((e) => e.reason),
  });

  // Pins live in status while the rollout runs and end with it.
  const pins = isTerminal(next.phase) ? [] : pinning.pins;
  if (pins.length > 0) nextStatus = { ...nextStatus, pins: [...pins] };
  else delete nextStatus.pins;
  if (pins.length === 0 && (previous?.pins?.length ?? 0) > 0)
    events.push({
      type: "Normal",
      reason: "Unpinned",
      message: `pins removed as the rollout ended: ${previous!.pins!.map((p) => `${p.label}=${p.value}`).join(", ")}`,
    });

  // After a rollback the canary keeps its replicas for a while (a quick retry finds them warm), then goes
  // to zero, once. The stable version is never scaled by a rollback: it has served all traffic throughout.
  let scaleDownAt: number | null = null;
  const rolledBack = next.phase === "RolledBack" || next.phase === "Failed";
  if (rolledBack && scaledDownAt === undefined && surge && recordedN !== undefined && stable) {
    // Under a surge budget the stable may have given up replicas as traffic left it: the route puts 100% back
    // on it in this pass, and its replicas come back with it (same template, a scale and not a redeploy).
    // Only until the canary's scale-down ends the rollback, so a later change by its owner is not undone.
    if (stable.replicas < recordedN) {
      await ports.workloads.scale(stableRef, recordedN);
      events.push({
        type: "Normal",
        reason: "StableRestored",
        message: `stable Deployment ${spec.stable.deployment} scaled back to its ${recordedN} replicas for the rollback`,
      });
    }
  }
  if (rolledBack && scaledDownAt === undefined && canary) {
    const since = fromTime(conditionOf(nextStatus, "Degraded")?.lastTransitionTime) ?? now;
    scaleDownAt = since + scaleDownDelayMs;
    if (now >= scaleDownAt) {
      await ports.workloads.scale(canaryRef, 0);
      scaleDownAt = null;
      nextStatus = { ...nextStatus, canaryScaledDownAt: toTime(now) };
      events.push({
        type: "Normal",
        reason: "CanaryScaledDown",
        message: `canary Deployment ${spec.canary.deployment} scaled to 0 replicas after the rollback`,
      });
    }
  }

  // Notifications go into status in the same write as the transition they tell of (notifications/outbox.ts).
  nextStatus = withOutbox({
    rollout,
    previous,
    next: nextStatus,
    events,
    now,
    canaryWaiting: !canaryReady && canary !== null,
    metricsDown:
      policy !== null && Object.keys(pass?.stored.unavailable ?? {}).length >= policy.spec.metrics.length,
  });

  let stored = rollout;
  if (!sameStatus(previous, nextStatus)) {
    // A write that changed neither spec nor status (labels, annotations: another tool's metadata) leaves this
    // pass's decision standing, so the status is written again on the fresh version; otherwise a busy writer
    // of metadata could win every race and starve the rollout. Any other change means deciding again.
    let base = rollout;
    for (let attempt = 1; ; attempt++) {
      try {
        stored = await ports.rollouts.updateStatus(base, nextStatus);
        break;
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        const fresh = attempt < 5 ? await ports.rollouts.get(ref) : null;
        const unchanged =
          fresh !== null &&
          fresh.metadata.generation === rollout.metadata.generation &&
          sameStatus(fresh.status, previous);
        if (!unchanged) {
          log.debug("status write lost a race; reconciling again", {});
          return { requeueAfterMs: 0, decisions: [], conflict: true, analysisMs: pass?.analysisMs };
        }
        log.debug("status write lost a race to a metadata-only change; writing again", { attempt });
        base = fresh;
      }
    }
  }

  // The route follows the stored status, every pass: this also repairs a pass that died between the status
  // write and the route write, and since the router writes only on a change, nothing shifts twice. A route
  // changed by hand is left as it is while the rollout waits on it. Only a decision taken knowing of the edit
  // (an approval to set it back, an abort, a promotion) or a rollback may write over it; an edit made during
  // this pass is refused by the router and paused on in the next.
  let routeRefused = false;
  if (!(handPause !== null && next.phase === "Paused")) {
    const overrideHandEdit = handEdited !== null || (!terminalBefore && isTerminal(next.phase));
    try {
      await ports.router.setCanaryWeight(stored, next.canaryWeight, { overrideHandEdit });
    } catch (err) {
      if (!(err instanceof RouteChangedByHandError)) throw err;
      routeRefused = true;
      log.warn("route changed by someone else during the pass; not overwritten", { error: err });
    }
  }
  // Pins follow status the same way (every pass, so a crash between the two writes is repaired).
  if (spec.traffic.pinning && ports.router.setPins)
    await ports.router.setPins(
      stored,
      spec.traffic.pinning.header,
      pins.map((p) => p.value),
    );

  // Under a surge budget the stable gives up replicas only now that the route carries the new weight, and only
  // those the budget needs for the canary's next size (surgePlan's rule and worked example).
  if (
    surge &&
    !routeRefused &&
    recordedN !== undefined &&
    stable &&
    surgeTarget !== null &&
    !isTerminal(next.phase)
  ) {
    const plan = surgePlan({
      n: recordedN,
      full: wanted,
      budget,
      stableGpus: gs,
      canaryGpus: gc,
      weight: next.canaryWeight,
      target: surgeTarget,
    });
    // A step that does not fit the budget, or waits for the pool, takes no replica from the stable.
    if (plan.fits && poolProblem === null && stable.replicas > plan.stable) {
      await ports.workloads.scale(stableRef, plan.stable);
      log.info("stable scaled down", { deployment: spec.stable.deployment, replicas: plan.stable });
      events.push({
        type: "Normal",
        reason: "StableScaledDown",
        message: `stable Deployment ${spec.stable.deployment} scaled to ${plan.stable} of ${recordedN} replicas: ${100 - next.canaryWeight}% of traffic is left on it and the canary needs ${plan.canary} within maxSurgeGPUs ${budget}`,
      });
    }
  }

  if (next.phase !== before.phase)
    log.info("phase changed", { from: before.phase, to: next.phase, weight: next.canaryWeight });
  for (const e of events) {
    try {
      await ports.events.record(stored, e.type, e.reason, e.message);
    } catch (err) {
      // An Event is a notification; status already holds the truth, so a lost Event fails nothing.
      log.warn("could not record an event", { reason: e.reason, error: err });
    }
  }

  for (const c of repeats) await ports.rollouts.markApplied(c, "applied (recorded in status history)", now);
  for (const [c, result] of results) await ports.rollouts.markApplied(c, result, now);

  // A finished rollout's analysis state is dropped (a pass that dies first leaves it to the next one).
  if (isTerminal(next.phase) && !terminalBefore) await ports.analysis.remove(stored);

  const nextLookAt = !isTerminal(next.phase) && pass ? pass.stored.lastLookAt + intervalMs : null;
  return {
    // A refused route write on a live rollout is looked at again at once, to pause on the edit.
    requeueAfterMs:
      routeRefused && !isTerminal(next.phase)
        ? 0
        : requeueAfter({
            steps: spec.steps,
            status: next,
            now,
            nextLookAt,
            waitingForCanary: !isTerminal(next.phase) && (!canaryReady || waitForStable),
            // Neither a policy, a pool nor a route is watched: look again soon.
            policyProblem:
              (policyProblem !== null || poolProblem !== null || handPause !== null) &&
              !isTerminal(next.phase),
            scaleDownAt,
            resyncMs,
            pollMs,
          }),
    phase: next.phase,
    canaryWeight: next.canaryWeight,
    decisions: decisionsOf(next, events),
    analysisMs: pass?.analysisMs,
    notificationsPending: (stored.status?.notifications?.outbox.length ?? 0) > 0,
  };
}
