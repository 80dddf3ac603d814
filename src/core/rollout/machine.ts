// The rollout state machine: one pure function from (plan, status, observations, commands, now) to the next
// status and the actions to take. No I/O and no clock of its own, so the operator and `voicectl simulate`
// run exactly the same logic, and a restarted operator resumes from the stored status.
//
// Precedence, from rule 9 of docs/decisions.md#decision-rules: an abort, then a critical failure (which rolls
// back even a paused rollout: a rollback wins over any waiting gate), then approvals and promotions, then the
// steps.
import type { Decision, Finding } from "../types.js";
import { describeStep, parseDuration, type Step } from "./plan.js";

export type Phase = "Progressing" | "Paused" | "Promoted" | "RolledBack" | "Failed";

export type PauseKind = "approval" | "analysis" | "duration";

/** Who did what to the rollout, when and why: kept in status as the audit trail. */
export interface CommandRecord {
  readonly kind: Command["kind"];
  readonly user: string;
  readonly at: number;
  readonly reason: string;
  readonly stepIndex: number;
}

export interface DecisionRecord {
  readonly decision: Decision;
  readonly at: number;
  readonly summary: string;
  /** The findings behind it (only those that did not pass): which slice, metric, values, budget. */
  readonly reasons: readonly Finding[];
}

export interface RolloutStatus {
  readonly phase: Phase;
  /** The step being executed; `steps.length` once all are done. */
  readonly stepIndex: number;
  readonly stepStartedAt: number;
  /** Percent of traffic the canary gets, as last written to the router. */
  readonly canaryWeight: number;
  readonly pause: { readonly kind: PauseKind; readonly reason: string; readonly since: number } | null;
  readonly lastDecision: DecisionRecord | null;
  readonly history: readonly CommandRecord[];
  readonly message: string;
}

/** What the analysis of the latest look concluded (null when no analysis has run yet). */
export interface AnalysisObservation {
  readonly at: number;
  readonly findings: readonly Finding[];
  readonly decision: Decision;
  readonly summary: string;
}

export interface Observations {
  /** Whether the canary's replicas are ready for traffic (a cold GPU model can take minutes to load). */
  readonly canaryReady: boolean;
  readonly analysis: AnalysisObservation | null;
  /** Something that makes the rollout impossible (the canary Deployment is gone, say). */
  readonly fatal?: string | undefined;
}

export type Command =
  | { readonly kind: "approve"; readonly user: string; readonly reason: string }
  | { readonly kind: "abort"; readonly user: string; readonly reason: string }
  | { readonly kind: "promote"; readonly user: string; readonly reason: string; readonly full: boolean }
  | { readonly kind: "retry"; readonly user: string; readonly reason: string };

export type Action =
  | { readonly type: "setWeight"; readonly weight: number }
  | {
      readonly type: "event";
      readonly severity: "Normal" | "Warning";
      readonly reason: string;
      readonly message: string;
    };

export interface Transition {
  readonly status: RolloutStatus;
  readonly actions: readonly Action[];
}

export function initialStatus(now: number): RolloutStatus {
  return {
    phase: "Progressing",
    stepIndex: 0,
    stepStartedAt: now,
    canaryWeight: 0,
    pause: null,
    lastDecision: null,
    history: [],
    message: "starting",
  };
}

export function isTerminal(phase: Phase): boolean {
  return phase === "Promoted" || phase === "RolledBack" || phase === "Failed";
}

/** Mutable scratch for one transition; the function's callers only ever see immutable results. */
class Builder {
  actions: Action[] = [];
  constructor(public status: RolloutStatus) {}
  set(patch: Partial<RolloutStatus>): void {
    this.status = { ...this.status, ...patch };
  }
  event(severity: "Normal" | "Warning", reason: string, message: string): void {
    this.actions.push({ type: "event", severity, reason, message });
  }
  weight(weight: number): void {
    if (weight !== this.status.canaryWeight) this.actions.push({ type: "setWeight", weight });
    this.set({ canaryWeight: weight });
  }
  record(c: Command, now: number): void {
    this.set({
      history: [
        ...this.status.history,
        { kind: c.kind, user: c.user, at: now, reason: c.reason, stepIndex: this.status.stepIndex },
      ],
    });
  }
}

function rollBack(b: Builder, now: number, reason: string, message: string): void {
  // Rolling back is a traffic change, never a redeploy: stable takes 100% at once and stays warm.
  b.weight(0);
  b.set({ phase: "RolledBack", pause: null, message, stepStartedAt: now });
  b.event("Warning", reason, message);
}

function criticalFailure(a: AnalysisObservation | null): Finding | undefined {
  return a?.findings.find((f) => f.critical && f.verdict === "fail");
}

function decisionRecord(a: AnalysisObservation): DecisionRecord {
  return {
    decision: a.decision,
    at: a.at,
    summary: a.summary,
    reasons: a.findings.filter((f) => f.verdict !== "pass"),
  };
}

function advance(b: Builder, now: number): void {
  b.set({ stepIndex: b.status.stepIndex + 1, stepStartedAt: now, pause: null, phase: "Progressing" });
}

function applyCommand(b: Builder, plan: readonly Step[], c: Command, now: number): void {
  const { phase } = b.status;
  switch (c.kind) {
    case "abort":
      if (isTerminal(phase)) return;
      b.record(c, now);
      rollBack(b, now, "Aborted", `aborted by ${c.user}: ${c.reason}`);
      return;
    case "retry":
      if (phase !== "RolledBack" && phase !== "Failed") return;
      b.record(c, now);
      b.set({
        ...initialStatus(now),
        history: b.status.history,
        lastDecision: b.status.lastDecision,
        message: `retried by ${c.user}`,
      });
      b.event("Normal", "Retried", `retried by ${c.user}: ${c.reason}`);
      return;
    case "approve":
      if (phase !== "Paused") return;
      b.record(c, now);
      b.event(
        "Normal",
        "Approved",
        `step ${b.status.stepIndex + 1} (${describeStep(plan[b.status.stepIndex]!)}) approved by ${c.user}: ${c.reason}`,
      );
      advance(b, now);
      return;
    case "promote":
      if (isTerminal(phase)) return;
      b.record(c, now);
      if (c.full) {
        b.set({ stepIndex: plan.length, stepStartedAt: now, pause: null, phase: "Progressing" });
        b.event("Normal", "PromotedFully", `promoted past every remaining step by ${c.user}: ${c.reason}`);
      } else {
        b.event(
          "Normal",
          "StepSkipped",
          `step ${b.status.stepIndex + 1} (${describeStep(plan[b.status.stepIndex]!)}) skipped by ${c.user}: ${c.reason}`,
        );
        advance(b, now);
      }
      return;
  }
}

function pauseFor(b: Builder, now: number, kind: PauseKind, reason: string): void {
  if (b.status.phase === "Paused" && b.status.pause?.reason === reason) return;
  b.set({ phase: "Paused", pause: { kind, reason, since: now }, message: reason });
  b.event(kind === "approval" ? "Normal" : "Warning", "Paused", reason);
}

/** Runs steps until one has to wait. Returns when the rollout waits, pauses, or finishes. */
function runSteps(b: Builder, plan: readonly Step[], obs: Observations, now: number): void {
  for (let guard = 0; guard <= plan.length + 1; guard++) {
    if (b.status.phase !== "Progressing") return;
    const i = b.status.stepIndex;
    if (i >= plan.length) {
      if (!obs.canaryReady && b.status.canaryWeight < 100) {
        b.set({ message: "waiting for the canary's replicas to be ready before taking all traffic" });
        return;
      }
      b.weight(100);
      b.set({
        phase: "Promoted",
        message: "promoted: the canary takes all traffic and becomes the new stable",
      });
      b.event("Normal", "Promoted", "all steps passed; the canary takes 100% of traffic");
      return;
    }
    const step = plan[i]!;
    const elapsed = now - b.status.stepStartedAt;
    const label = `step ${i + 1}/${plan.length} (${describeStep(step)})`;
    if ("setWeight" in step) {
      // Never send traffic to replicas that cannot serve it.
      if (step.setWeight > b.status.canaryWeight && !obs.canaryReady) {
        b.set({ message: `${label}: waiting for the canary's replicas to be ready` });
        return;
      }
      b.weight(step.setWeight);
      b.event("Normal", "WeightSet", `${label}: canary weight ${step.setWeight}%`);
      advance(b, now);
      continue;
    }
    if ("pause" in step) {
      const duration = step.pause.duration ? parseDuration(step.pause.duration)! : null;
      if (duration === null) {
        pauseFor(b, now, "approval", `${label}: waiting for approval`);
        return;
      }
      if (elapsed < duration) {
        b.set({ message: `${label}: ${Math.ceil((duration - elapsed) / 1000)}s left` });
        return;
      }
      advance(b, now);
      continue;
    }
    // An analysis step.
    const min = parseDuration(step.analysis.minDuration)!;
    const max = parseDuration(step.analysis.maxDuration)!;
    const a = obs.analysis;
    const findings = a?.findings ?? [];
    const failed = findings.find((f) => f.verdict === "fail");
    if (failed) {
      // Critical failures were handled before the steps; this one is for a person to judge.
      pauseFor(b, now, "analysis", `${label}: ${failed.reason}`);
      return;
    }
    const allPass = a !== null && findings.length > 0 && findings.every((f) => f.verdict === "pass");
    if (allPass && elapsed >= min) {
      b.event("Normal", "AnalysisPassed", `${label}: all ${findings.length} findings pass`);
      advance(b, now);
      continue;
    }
    if (elapsed >= max) {
      // The step ran out of time with evidence unsettled or missing: missing data never promotes.
      const open = findings.find((f) => f.verdict !== "pass");
      const why = a === null ? "no analysis result arrived" : open ? open.reason : "no findings";
      pauseFor(b, now, "analysis", `${label}: analysis ran out of time unsettled: ${why}`);
      return;
    }
    b.set({
      message: `${label}: analysing (${Math.floor(elapsed / 1000)}s of ${min / 1000}..${max / 1000}s)`,
    });
    return;
  }
}

/**
 * The next status and actions. Idempotent: calling it again with the same inputs and the returned status
 * yields no new actions (a weight already written is not written twice).
 */
export function reconcileRollout(
  plan: readonly Step[],
  status: RolloutStatus,
  obs: Observations,
  commands: readonly Command[],
  now: number,
): Transition {
  const b = new Builder(status);
  if (obs.analysis && obs.analysis.at !== status.lastDecision?.at)
    b.set({ lastDecision: decisionRecord(obs.analysis) });

  const aborts = commands.filter((c) => c.kind === "abort");
  for (const c of aborts) applyCommand(b, plan, c, now);

  if (!isTerminal(b.status.phase)) {
    if (obs.fatal) {
      b.weight(0);
      b.set({ phase: "Failed", pause: null, message: obs.fatal });
      b.event("Warning", "Failed", obs.fatal);
    } else {
      const critical = criticalFailure(obs.analysis);
      if (critical) rollBack(b, now, "RolledBack", `critical regression: ${critical.reason}`);
    }
  }

  for (const c of commands) if (c.kind !== "abort") applyCommand(b, plan, c, now);
  runSteps(b, plan, obs, now);
  return { status: b.status, actions: b.actions };
}
