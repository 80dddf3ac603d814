// The rollout state machine: one pure function from (plan, status, observations, commands, now) to the next
// status and the actions to take. No I/O and no clock of its own, so the operator and `voicectl simulate`
// run exactly the same logic, and a restarted operator resumes from the stored status.
//
// Precedence, from rule 9 of docs/decisions.md#decision-rules: an abort, then a critical failure (which rolls
// back even a paused rollout: a rollback wins over any waiting gate), then approvals and promotions, then the
// steps.
import { formatWorsening, worseningUnit, type WorseningUnit } from "../format.js";
import { formatSlice, type Decision, type Finding, type SliceLabels } from "../types.js";
import { describeStep, formatDuration, parseDuration, type Step } from "./plan.js";

export type Phase = "Progressing" | "Paused" | "Promoted" | "RolledBack" | "Failed";

export type PauseKind = "approval" | "analysis" | "duration";

/** What happens to a pause that waited for a person past its deadline. */
export type OnDeadline = "Abort" | "Escalate";

/** How long a pause for a person (approval or analysis) may wait, and what then. */
export interface ApprovalSettings {
  /** Null: the pause waits for ever (only when a caller says so; the resource's default is a deadline). */
  readonly deadlineMs: number | null;
  readonly onDeadline: OnDeadline;
}

export interface MachineOptions {
  readonly approval?: ApprovalSettings | undefined;
  /** The rollout's name and namespace, so a pause can print the exact commands that answer it. */
  readonly ref?: { readonly name: string; readonly namespace: string } | undefined;
}

/** A finding an approver accepted: a metric (optionally one slice) that stops pausing the rollout. */
export interface Acceptance {
  readonly metric: string;
  /** Labels the finding's slice must carry; empty: every slice of the metric. */
  readonly slice?: SliceLabels | undefined;
  /**
   * How much worse than at the approval it may get: `5%` of the baseline's value, or a bare number in the
   * worsening's own units. Without it the acceptance holds for the rest of the rollout.
   */
  readonly margin?: string | undefined;
}

/** An acceptance as recorded in status: resolved against the finding it was given for. */
export interface AcceptedFinding {
  readonly metric: string;
  readonly slice: SliceLabels;
  /** The worst matching finding's worsening when it was accepted (null: no such finding then). */
  readonly worseningAtApproval: number | null;
  /** Fails up to this worsening are accepted; null: any, for the rest of the rollout. */
  readonly upTo: number | null;
  readonly unit: WorseningUnit | null;
  readonly margin?: string | undefined;
  readonly user: string;
  readonly at: number;
  readonly stepIndex: number;
}

/** Who did what to the rollout, when and why: kept in status as the audit trail. */
export interface CommandRecord {
  readonly kind: Command["kind"];
  readonly user: string;
  readonly at: number;
  readonly reason: string;
  readonly stepIndex: number;
  /** For approve: the acceptances it recorded, in words. */
  readonly accepted?: readonly string[] | undefined;
  /** For approve and promote: the findings that had not passed when a person pushed the step through. */
  readonly over?: readonly string[] | undefined;
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
  readonly pause: {
    readonly kind: PauseKind;
    readonly reason: string;
    readonly since: number;
    /** When a pause for a person stops waiting (spec.approval.deadline or the step's own). */
    readonly deadline?: number | undefined;
    /** When it passed its deadline and was escalated (onDeadline: Escalate); it stays paused. */
    readonly escalatedAt?: number | undefined;
  } | null;
  readonly lastDecision: DecisionRecord | null;
  readonly history: readonly CommandRecord[];
  /** Findings approvers accepted for the rest of this attempt (a retry starts without any). */
  readonly accepted: readonly AcceptedFinding[];
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
  | {
      readonly kind: "approve";
      readonly user: string;
      readonly reason: string;
      readonly accept?: readonly Acceptance[] | undefined;
    }
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
    accepted: [],
    message: "starting",
  };
}

export function isTerminal(phase: Phase): boolean {
  return phase === "Promoted" || phase === "RolledBack" || phase === "Failed";
}

/** Mutable scratch for one transition; the function's callers only ever see immutable results. */
class Builder {
  actions: Action[] = [];
  constructor(
    public status: RolloutStatus,
    readonly plan: readonly Step[],
    readonly obs: Observations,
    readonly options: MachineOptions,
  ) {}
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
  record(c: Command, now: number, extra: Partial<CommandRecord> = {}): void {
    this.set({
      history: [
        ...this.status.history,
        { kind: c.kind, user: c.user, at: now, reason: c.reason, stepIndex: this.status.stepIndex, ...extra },
      ],
    });
  }
}

/** "step 2 of 4 (analysis 5m..20m)": steps count from 1 for people; status.currentStepIndex is 0-based. */
export function stepLabel(plan: readonly Step[], index: number): string {
  const step = plan[index];
  return `step ${index + 1} of ${plan.length}` + (step ? ` (${describeStep(step)})` : "");
}

/** A finding's name for people: `ttfa_p95 in voice_id=mia-chen`. */
export function findingName(f: { metric: string; slice: SliceLabels }): string {
  return `${f.metric} in ${formatSlice(f.slice)}`;
}

const MARGIN = /^(\d+(?:\.\d+)?)(%?)$/;

/** Whether a margin text is one the machine can resolve: `5%`, `0.02`. */
export function isMargin(text: string): boolean {
  return MARGIN.test(text.trim());
}

function matches(a: { metric: string; slice: SliceLabels }, f: Finding): boolean {
  return a.metric === f.metric && Object.entries(a.slice).every(([k, v]) => f.slice[k] === v);
}

/**
 * Resolves an approver's acceptance against the findings the approval was given over: the worst matching
 * one's worsening, plus the margin (N% means N% of that finding's baseline value, in its worsening's units).
 */
export function resolveAcceptance(
  a: Acceptance,
  findings: readonly Finding[],
  who: { user: string; at: number; stepIndex: number },
): AcceptedFinding {
  const slice = { ...(a.slice ?? {}) };
  const matching = findings.filter(
    (f) => !f.critical && f.verdict !== "pass" && matches({ metric: a.metric, slice }, f),
  );
  const worst = matching.reduce<Finding | undefined>(
    (w, f) => (w === undefined || (f.worsening ?? -Infinity) > (w.worsening ?? -Infinity) ? f : w),
    undefined,
  );
  const unit = worst ? worseningUnit(worst) : null;
  const w0 = worst?.worsening ?? null;
  let upTo: number | null = null;
  const m = a.margin === undefined ? null : MARGIN.exec(a.margin.trim());
  if (m) {
    const value = Number(m[1]);
    const base = w0 ?? worst?.allowed ?? 0;
    const scale = m[2] === "%" ? (unit === "relative" ? 0.01 : 0.01 * Math.abs(worst?.baseline ?? 0)) : 1;
    upTo = base + value * scale;
  }
  return {
    metric: a.metric,
    slice,
    worseningAtApproval: w0,
    upTo,
    unit,
    ...(a.margin !== undefined ? { margin: a.margin } : {}),
    ...who,
  };
}

/** An acceptance in words: what approve prints, and history and the Event record. */
export function describeAcceptance(a: AcceptedFinding): string {
  const name = findingName(a);
  const at =
    a.worseningAtApproval === null
      ? ""
      : ` (worsening ${formatWorsening(a.worseningAtApproval, a.unit ?? "metric")} when accepted)`;
  if (a.upTo === null) return `${name}${at} accepted for the rest of the rollout`;
  return `${name}${at} accepted up to a worsening of ${formatWorsening(a.upTo, a.unit ?? "metric")} (margin ${a.margin ?? "0"})`;
}

/** The acceptance covering a failing finding, if one does (critical findings are never covered). */
function acceptanceOf(accepted: readonly AcceptedFinding[], f: Finding): AcceptedFinding | undefined {
  if (f.critical || f.verdict !== "fail") return undefined;
  return accepted.find((a) => matches(a, f));
}

/** Whether an accepted failing finding is still within what was accepted. */
function withinAcceptance(a: AcceptedFinding, f: Finding): boolean {
  return a.upTo === null || (f.worsening !== null && f.worsening <= a.upTo);
}

/** A pause's reason without the commands that answered it: for messages written once nobody did. */
function withoutAnswers(reason: string): string {
  const cut = [": voicectl rollout approve ", ": approve or abort it"]
    .map((m) => reason.indexOf(m))
    .filter((i) => i >= 0);
  return cut.length > 0 ? reason.slice(0, Math.min(...cut)) : reason;
}

/** The commands that answer a pause for a person, as a person would type them. */
function answers(o: MachineOptions, accept?: Finding): string {
  if (!o.ref) return "approve or abort it";
  const { name, namespace } = o.ref;
  const acc = accept
    ? ` --accept ${accept.metric}` +
      Object.entries(accept.slice)
        .map(([k, v]) => `,${k}=${v}`)
        .join("")
    : "";
  return `voicectl rollout approve ${name} -n ${namespace} --reason "..."${acc} or voicectl rollout abort ${name} -n ${namespace} --reason "..."`;
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

/**
 * How the rollout got to promotion, for its final message: a promotion pushed through by people over
 * findings that had not passed must not read "all steps passed". Counted since the last retry.
 */
function promotedHow(s: RolloutStatus): string {
  const lastRetry = s.history.map((h) => h.kind).lastIndexOf("retry");
  const pushed = s.history.slice(lastRetry + 1).filter((h) => (h.over?.length ?? 0) > 0);
  if (pushed.length === 0)
    return s.accepted.length > 0
      ? `with every step passed or within accepted findings (${s.accepted.map(findingName).join(", ")})`
      : "with all steps passed";
  const names = [...new Set(pushed.flatMap((h) => h.over ?? []))];
  const n = pushed.length;
  const unsettled = names.some((x) => / \((inconclusive|nodata)\)$/.test(x));
  const kind = unsettled ? "findings that had not passed" : "failing findings";
  return `with ${n} ${n === 1 ? "approval" : "approvals"} over ${kind} (${names.join(", ")})`;
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
    case "approve": {
      if (phase !== "Paused") return;
      const findings = b.obs.analysis?.findings ?? [];
      const who = { user: c.user, at: now, stepIndex: b.status.stepIndex };
      // A critical metric is never accepted: its failure rolls back whatever an approver said.
      const accepted = (c.accept ?? []).map((a) => resolveAcceptance(a, findings, who));
      const words = accepted.map(describeAcceptance);
      const over = b.status.pause?.kind === "analysis" ? overFindings(findings) : [];
      b.record(c, now, {
        ...(words.length > 0 ? { accepted: words } : {}),
        ...(over.length > 0 ? { over } : {}),
      });
      if (accepted.length > 0) {
        // A newer acceptance of the same metric and slice replaces the older one.
        const key = (a: AcceptedFinding) => `${a.metric}|${formatSlice(a.slice)}`;
        const fresh = new Set(accepted.map(key));
        b.set({ accepted: [...b.status.accepted.filter((a) => !fresh.has(key(a))), ...accepted] });
      }
      b.event(
        "Normal",
        "Approved",
        `${stepLabel(plan, b.status.stepIndex)} approved by ${c.user}: ${c.reason}` +
          (over.length > 0 ? `; over ${over.join(", ")}` : "") +
          (words.length > 0 ? `; accepting ${words.join("; ")}` : ""),
      );
      advance(b, now);
      return;
    }
    case "promote": {
      if (isTerminal(phase)) return;
      const step = plan[b.status.stepIndex];
      const overAnalysis =
        b.status.pause?.kind === "analysis" || (step !== undefined && "analysis" in step) || c.full;
      const over = overAnalysis ? overFindings(b.obs.analysis?.findings ?? []) : [];
      b.record(c, now, over.length > 0 ? { over } : {});
      if (c.full) {
        b.set({ stepIndex: plan.length, stepStartedAt: now, pause: null, phase: "Progressing" });
        b.event("Normal", "PromotedFully", `promoted past every remaining step by ${c.user}: ${c.reason}`);
      } else {
        b.event(
          "Normal",
          "StepSkipped",
          `${stepLabel(plan, b.status.stepIndex)} skipped by ${c.user}: ${c.reason}`,
        );
        advance(b, now);
      }
      return;
    }
  }
}

/**
 * The findings a person pushed a step through: the failing ones; or, when none failed (a pause on unsettled
 * or missing evidence), those that had not passed, with their verdict.
 */
function overFindings(findings: readonly Finding[]): string[] {
  const failing = findings.filter((f) => f.verdict === "fail");
  if (failing.length > 0) return failing.map(findingName);
  return findings.filter((f) => f.verdict !== "pass").map((f) => `${findingName(f)} (${f.verdict})`);
}

/** How long a pause for a person may wait at the current step: the step's own deadline, else the spec's. */
function deadlineFor(b: Builder): number | null {
  const step = b.plan[b.status.stepIndex];
  const own = step && "pause" in step && step.pause.deadline ? parseDuration(step.pause.deadline) : null;
  return own ?? b.options.approval?.deadlineMs ?? null;
}

/** The deadline in words; when it falls is in status.pause.deadline (a message says it without a clock). */
function deadlineNote(b: Builder, wait: number): string {
  const then =
    (b.options.approval?.onDeadline ?? "Abort") === "Abort"
      ? "then it rolls back"
      : "then it escalates (ApprovalOverdue) and keeps waiting";
  return `; waits for a person for up to ${formatDuration(wait)}, ${then}`;
}

function pauseFor(b: Builder, now: number, kind: PauseKind, reason: string): void {
  if (b.status.phase === "Paused" && b.status.pause?.reason === reason) return;
  // Only a pause that waits for a person has a deadline; a timed pause ends by itself.
  const wait = kind === "duration" ? null : deadlineFor(b);
  const deadline = wait === null ? undefined : now + wait;
  const message = reason + (deadline === undefined ? "" : deadlineNote(b, wait!));
  b.set({
    phase: "Paused",
    pause: deadline === undefined ? { kind, reason, since: now } : { kind, reason, since: now, deadline },
    message,
  });
  b.event(kind === "approval" ? "Normal" : "Warning", "Paused", message);
}

/**
 * A pause for a person past its deadline: rolled back (Abort: the stable version is the known state), or
 * kept waiting and escalated once (Escalate: a condition and an ApprovalOverdue Event that alerts key on).
 */
function applyDeadline(b: Builder, now: number): void {
  const p = b.status.pause;
  if (b.status.phase !== "Paused" || !p || p.deadline === undefined || now < p.deadline) return;
  const waited = formatDuration(p.deadline - p.since);
  const where = stepLabel(b.plan, b.status.stepIndex);
  if ((b.options.approval?.onDeadline ?? "Abort") === "Abort") {
    rollBack(
      b,
      now,
      "ApprovalExpired",
      `rolled back: no approval within ${waited} at ${where}; it was paused for: ${withoutAnswers(p.reason)}`,
    );
    return;
  }
  if (p.escalatedAt !== undefined) return;
  const message = `overdue: no approval within ${waited} at ${where}; still paused for: ${p.reason}`;
  b.set({ pause: { ...p, escalatedAt: now }, message });
  b.event("Warning", "ApprovalOverdue", message);
}

/**
 * The findings an analysis step needs to pass to advance: the rollout window's (findings without a window
 * come from an analysis without windows and count as such); at the plan's last analysis step, also every
 * critical finding of the step window, so that promotion rests on evidence about the canary as it is now,
 * not on early samples diluting a late change (docs/decisions.md#windows). Intermediate steps advance on the
 * rollout window as long as their step window does not fail (a fail pauses or rolls back before this).
 */
export function mustPass(plan: readonly Step[], index: number, findings: readonly Finding[]): Finding[] {
  // A recent window's findings never count toward advancing (it can only fail, which stops the step before).
  const rollout = findings.filter((f) => f.window === undefined || f.window.kind === "rollout");
  const last = !plan.slice(index + 1).some((s) => "analysis" in s);
  if (!last) return rollout;
  return [...rollout, ...findings.filter((f) => f.window?.kind === "step" && f.critical)];
}

/** Runs steps until one has to wait. Returns when the rollout waits, pauses, or finishes. */
function runSteps(b: Builder, now: number): void {
  const { plan, obs } = b;
  for (let guard = 0; guard <= plan.length + 1; guard++) {
    if (b.status.phase !== "Progressing") return;
    const i = b.status.stepIndex;
    if (i >= plan.length) {
      if (!obs.canaryReady && b.status.canaryWeight < 100) {
        b.set({ message: "waiting for the canary's replicas to be ready before taking all traffic" });
        return;
      }
      b.weight(100);
      const how = promotedHow(b.status);
      b.set({
        phase: "Promoted",
        message: `promoted ${how}: the canary takes all traffic and becomes the new stable`,
      });
      b.event("Normal", "Promoted", `promoted ${how}; the canary takes 100% of traffic`);
      return;
    }
    const step = plan[i]!;
    const elapsed = now - b.status.stepStartedAt;
    const label = stepLabel(plan, i);
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
        pauseFor(b, now, "approval", `${label}: waiting for approval: ${answers(b.options)}`);
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
    // A step judges what it observed: an analysis of a look that ended before the step started (at the weight
    // before, say) neither pauses nor advances it. Critical failures were acted on above, whenever seen.
    const a = obs.analysis !== null && obs.analysis.at > b.status.stepStartedAt ? obs.analysis : null;
    const findings = a?.findings ?? [];
    const accepted = b.status.accepted;
    // An accepted failure pauses again only once it is worse than the approver accepted.
    const worsened = findings.find((f) => {
      const acc = acceptanceOf(accepted, f);
      return acc !== undefined && !withinAcceptance(acc, f);
    });
    if (worsened) {
      const acc = acceptanceOf(accepted, worsened)!;
      pauseFor(
        b,
        now,
        "analysis",
        `${label}: ${worsened.reason}; worse than accepted by ${acc.user} at ${stepLabel(plan, acc.stepIndex)} (${describeAcceptance(acc)}); non-critical, so paused rather than rolled back: ${answers(b.options, worsened)}`,
      );
      return;
    }
    // A fail in either window (the whole rollout, or this traffic step alone) is a fail.
    const failed = findings.find((f) => f.verdict === "fail" && acceptanceOf(accepted, f) === undefined);
    if (failed) {
      // Critical failures were handled before the steps; this one is for a person to judge.
      pauseFor(
        b,
        now,
        "analysis",
        `${label}: ${failed.reason}; ${failed.metric} is non-critical, so paused rather than rolled back: ${answers(b.options, failed)}`,
      );
      return;
    }
    const judged = mustPass(plan, i, findings);
    const overlooked = judged.filter((f) => f.verdict === "fail");
    const allPass =
      a !== null &&
      judged.length > 0 &&
      judged.every((f) => f.verdict === "pass" || acceptanceOf(accepted, f) !== undefined);
    if (allPass && elapsed >= min) {
      const passing = judged.length - overlooked.length;
      b.event(
        "Normal",
        "AnalysisPassed",
        overlooked.length === 0
          ? `${label}: all ${judged.length} findings pass`
          : `${label}: ${passing} of ${judged.length} findings pass; ${overlooked.length} failing within what approvers accepted (${overlooked.map(findingName).join(", ")})`,
      );
      advance(b, now);
      continue;
    }
    if (elapsed >= max) {
      // The step ran out of time with evidence unsettled or missing: missing data never promotes.
      const open = judged.find((f) => f.verdict !== "pass");
      const why = a === null ? "no analysis result arrived" : open ? open.reason : "no findings";
      pauseFor(
        b,
        now,
        "analysis",
        `${label}: analysis ran out of time unsettled: ${why}; unsettled evidence neither promotes nor rolls back, so a person decides: ${answers(b.options)}`,
      );
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
  options: MachineOptions = {},
): Transition {
  const b = new Builder(status, plan, obs, options);
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
  // An approval that arrived in time wins over the deadline passing in the same pass.
  applyDeadline(b, now);
  runSteps(b, now);
  return { status: b.status, actions: b.actions };
}
