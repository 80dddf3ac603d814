// The reconciler: one pass over one VoiceRollout, through the ports only. It derives everything from the
// rollout's spec and status, the stored analysis state and what it observes (policy, canary Deployment, a
// look of live traffic), runs the same pure state machine `voicectl simulate` runs, writes the status, and
// only then makes the world follow the status: the route takes status.canaryWeight, Events are emitted,
// commands are marked applied. A pass can stop at any point (crash, lost write race) and the next pass
// finishes the job without repeating it: the route is set to the stored weight (never shifted twice),
// commands already in status history are not applied again, and a look already saved is not taken again.
import { decide } from "../core/judge/decide.js";
import { planJudge, type JudgePlan } from "../core/judge/plan.js";
import type { Look } from "../core/analysis/look.js";
import { analyzeLook, findingsOf, initialOnlineState } from "../core/analysis/online.js";
import type { Policy } from "../core/policy/schema.js";
import type { VoiceRollout, VoiceRolloutCommand } from "../core/resource/voicerollout.js";
import {
  initialStatus,
  isTerminal,
  reconcileRollout,
  type AnalysisObservation,
  type Command,
  type Phase,
  type RolloutStatus,
} from "../core/rollout/machine.js";
import { parseDuration, type Step } from "../core/rollout/plan.js";
import type { Decision } from "../core/types.js";
import { silentLogger, type Logger } from "./log.js";
import { ConflictError, type Ports, type RolloutRef, type StoredAnalysis } from "./ports.js";
import {
  appliedCommandNames,
  conditionOf,
  crdStatus,
  fromTime,
  machineStatus,
  POLICY_UNAVAILABLE,
  sameStatus,
  toTime,
  type AnalysisStatus,
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
}

interface PendingEvent {
  readonly type: "Normal" | "Warning";
  readonly reason: string;
  readonly message: string;
}

/** Why a whole look is missing; no error text, which may carry a URL or a response body. */
const SOURCE_FAILED = "the metric source failed at this look";

function toCommand(c: VoiceRolloutCommand): Command {
  const { action, user, reason, full } = c.spec;
  return action === "promote" ? { kind: action, user, reason, full } : { kind: action, user, reason };
}

/** The findings as they stand after the stored state's latest look: the same between two looks as at it. */
function observe(policy: Policy, plan: JudgePlan, stored: StoredAnalysis): AnalysisObservation {
  const gaps: Look = { at: stored.lastLookAt, canaryWeight: 0, cells: [], unavailable: stored.unavailable };
  const findings = findingsOf(plan, stored.state, gaps);
  const d = decide(findings, policy);
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
  let stored: StoredAnalysis = loaded ?? {
    state: initialOnlineState(),
    // The next look starts where the last one recorded in status ended (or now, for a new rollout).
    lastLookAt: fromTime(previous?.lastLookAt) ?? now,
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
    else if (e.reason === "RolledBack" || e.reason === "Aborted" || e.reason === "Failed")
      out.push({ decision: "rollback", reason: e.reason });
    else if (e.reason === "Paused") out.push({ decision: "pause", reason: status.pause?.kind ?? "Paused" });
    else if (e.reason === POLICY_UNAVAILABLE) out.push({ decision: "pause", reason: POLICY_UNAVAILABLE });
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
  const before = machineStatus(previous, now) ?? initialStatus(now);
  const terminalBefore = isTerminal(before.phase);
  const intervalMs = parseDuration(spec.analysis.interval) ?? 60_000;
  const scaleDownDelayMs = parseDuration(spec.rollback.scaleDownDelay) ?? 30_000;
  const events: PendingEvent[] = [];

  // Commands already recorded in history were applied by an earlier pass that died before marking them.
  const pending = await ports.rollouts.pendingCommands(ref);
  const recorded = appliedCommandNames(previous);
  const repeats = pending.filter((c) => recorded.has(c.metadata.name));
  const fresh = pending.filter((c) => !recorded.has(c.metadata.name));

  const lookup = await ports.policies.get({ namespace: ref.namespace, name: spec.policyRef.name });
  const policy = "policy" in lookup ? lookup.policy : null;
  const policyProblem =
    "error" in lookup ? `RolloutPolicy ${spec.policyRef.name} cannot be used: ${lookup.error}` : null;

  const canaryRef: RolloutRef = { namespace: ref.namespace, name: spec.canary.deployment };
  const canary = await ports.workloads.deployment(canaryRef);
  // Without spec.canary.replicas the Deployment's own count is meant; a canary created at zero (or scaled to
  // zero by a rollback before a retry) gets the stable's count instead, so it never waits for nothing.
  const wanted =
    spec.canary.replicas ??
    (canary !== null && canary.replicas > 0
      ? canary.replicas
      : ((await ports.workloads.deployment({ namespace: ref.namespace, name: spec.stable.deployment }))
          ?.replicas ?? 0));
  // Zero wanted replicas are never ready: traffic to a canary with no replicas would fail every request.
  const canaryReady = canary !== null && wanted > 0 && canary.readyReplicas >= wanted;
  const fatal =
    canary === null
      ? `the canary Deployment ${spec.canary.deployment} does not exist; the stable version keeps all traffic`
      : undefined;
  if (!terminalBefore && canary && wanted > 0 && canary.replicas !== wanted) {
    // Scaled before any traffic: the machine raises the weight only once these replicas are ready.
    await ports.workloads.scale(canaryRef, wanted);
    log.info("canary scaled", { deployment: spec.canary.deployment, replicas: wanted });
  }

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

  // Without a policy only an abort or a retry can act; approvals wait, still pending, until it is back.
  const actionable =
    policyProblem && !terminalBefore
      ? fresh.filter((c) => c.spec.action === "abort" || c.spec.action === "retry")
      : fresh;
  const t = reconcileRollout(
    spec.steps,
    status,
    { canaryReady, analysis: pass?.observation ?? null, fatal },
    actionable.map(toCommand),
    now,
  );
  const next = t.status;
  for (const a of t.actions)
    if (a.type === "event") events.push({ type: a.severity, reason: a.reason, message: a.message });

  // The machine appends one history record per command it applied, aborts first, in command order: match
  // them up to put each command's name in history, which is what makes a command apply only once.
  const names = new Map<number, string>();
  const results = new Map<VoiceRolloutCommand, string>();
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
  });

  // After a rollback the canary keeps its replicas for a while (a quick retry finds them warm), then goes
  // to zero, once. The stable version is never scaled by a rollback: it has served all traffic throughout.
  let scaleDownAt: number | null = null;
  if ((next.phase === "RolledBack" || next.phase === "Failed") && scaledDownAt === undefined && canary) {
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

  let stored = rollout;
  if (!sameStatus(previous, nextStatus)) {
    try {
      stored = await ports.rollouts.updateStatus(rollout, nextStatus);
    } catch (err) {
      if (err instanceof ConflictError) {
        log.debug("status write lost a race; reconciling again", {});
        return { requeueAfterMs: 0, decisions: [], conflict: true, analysisMs: pass?.analysisMs };
      }
      throw err;
    }
  }

  // The route follows the stored status, every pass: this also repairs a pass that died between the status
  // write and the route write, and since the router writes only on a change, nothing shifts twice.
  await ports.router.setCanaryWeight(stored, next.canaryWeight);

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
    requeueAfterMs: requeueAfter({
      steps: spec.steps,
      status: next,
      now,
      nextLookAt,
      waitingForCanary: !isTerminal(next.phase) && !canaryReady,
      policyProblem: policyProblem !== null && !isTerminal(next.phase),
      scaleDownAt,
      resyncMs,
      pollMs,
    }),
    phase: next.phase,
    canaryWeight: next.canaryWeight,
    decisions: decisionsOf(next, events),
    analysisMs: pass?.analysisMs,
  };
}
