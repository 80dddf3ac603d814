// A whole rollout in simulated time: the same state machine and online analysis the operator runs, fed by a
// simulated fleet instead of Prometheus and a simulated clock instead of the wall clock.
import type { Look } from "../core/analysis/look.js";
import { analyzeLook, initialOnlineState, type OnlineState } from "../core/analysis/online.js";
import { trafficSteps } from "../core/analysis/windows.js";
import { compareFindings } from "../core/judge/decide.js";
import { planJudge } from "../core/judge/plan.js";
import type { Policy } from "../core/policy/schema.js";
import {
  initialStatus,
  isTerminal,
  reconcileRollout,
  type MachineOptions,
  type AnalysisObservation,
  type RolloutStatus,
} from "../core/rollout/machine.js";
import { describeStep, type Step } from "../core/rollout/plan.js";
import { sliceKey, type Decision, type Finding, type Verdict } from "../core/types.js";

/** Requests per arm. */
export interface RequestCount {
  readonly baseline: number;
  readonly canary: number;
}

export interface LookSource {
  /** A look; `requests` when the source knows how many requests it served (the simulated fleet does). */
  look(fromMs: number, toMs: number, canaryWeight: number): Look & { readonly requests?: RequestCount };
}

/** What judges each look. Online analysis by default; the decision-quality benchmark plugs in others. */
export interface Analyzer {
  look(look: Look): { findings: Finding[]; decision: Decision; summary: string };
}

/** voicectl's own: anytime-valid tests per (metric, slice), state carried from look to look. */
export function onlineAnalyzer(policy: Policy, steps?: readonly Step[]): Analyzer {
  const plan = planJudge(policy);
  // As the operator does: the plan's traffic steps share the step windows' alpha.
  let state: OnlineState = initialOnlineState({
    trafficSteps: steps ? trafficSteps(steps) : null,
    startedAt: 0,
  });
  return {
    look(look) {
      const r = analyzeLook(policy, state, look, plan);
      state = r.state;
      return { findings: r.findings, decision: r.decision.decision, summary: r.decision.summary };
    },
  };
}

export interface SimulationInput {
  readonly name: string;
  readonly policy: Policy;
  readonly steps: readonly Step[];
  readonly intervalMs: number;
  readonly canaryReadyAfterMs: number;
  readonly durationMs: number;
  readonly fleet: LookSource;
  readonly analyzer?: Analyzer | undefined;
  /** The machine's options as the operator gives them (approval deadline, the rollout's name); none by default. */
  readonly machine?: MachineOptions | undefined;
}

/** A verdict that changed between two looks: what a person following the rollout wants to see. */
export interface VerdictChange {
  readonly metric: string;
  readonly slice: Finding["slice"];
  readonly from: Verdict | null;
  readonly to: Verdict;
  readonly reason: string;
}

export interface TimelineEntry {
  readonly at: number;
  readonly step: string;
  readonly stepIndex: number;
  readonly phase: RolloutStatus["phase"];
  readonly weight: number;
  /** Requests served so far, per arm: each request once, whatever number of metrics it carries. */
  readonly samples: RequestCount;
  readonly decision: Decision | null;
  /** How many findings pass, of all, at this look. */
  readonly findings: { readonly pass: number; readonly total: number };
  readonly changes: readonly VerdictChange[];
  readonly events: readonly string[];
  readonly message: string;
}

/**
 * A finding reported with a decision. `cause` tells the findings that made the decision (critical fails for a
 * rollback; for a pause, the fails that stopped an analysis step, or everything still open when a step ran
 * out of time) from the others that had not passed yet, listed after them for a pause.
 */
export type Reason = Finding & { readonly cause: boolean };

export interface SimulationResult {
  readonly scenario: string;
  readonly policy: string;
  readonly decision: Decision;
  readonly phase: RolloutStatus["phase"];
  readonly message: string;
  /** Simulated time at which the rollout ended (or the simulation stopped). */
  readonly endedAt: number;
  readonly looks: number;
  /** The causes first (`cause: true`), then, for a pause, the other findings that did not pass. */
  readonly reasons: readonly Reason[];
  readonly findings: readonly Finding[];
  readonly timeline: readonly TimelineEntry[];
}

/** The decision a final phase stands for, as the gate reports it. */
export function decisionOf(phase: RolloutStatus["phase"]): Decision {
  if (phase === "Promoted") return "promote";
  if (phase === "RolledBack" || phase === "Failed") return "rollback";
  return "pause";
}

/**
 * Requests in a look per arm, for a source that does not say: the largest count of any one metric over all
 * cells. Each metric counts each request at most once, but metrics are reported over different groupings
 * of cells (a metric sliced by voice, another by language), so counts of different metrics in different cells
 * are the same requests again and must not be added up. A metric scored on a fraction of requests counts
 * fewer; the largest count is the best lower bound.
 */
export function requestsIn(look: Look): RequestCount {
  const perMetric = { baseline: new Map<string, number>(), canary: new Map<string, number>() };
  for (const cell of look.cells) {
    const sums = perMetric[cell.arm];
    for (const [name, b] of Object.entries(cell.metrics)) {
      const count =
        b.kind === "moments" ? b.count : b.kind === "rate" ? b.requests : (b.buckets.at(-1)?.count ?? 0);
      sums.set(name, (sums.get(name) ?? 0) + count);
    }
  }
  const largest = (sums: Map<string, number>) => Math.max(0, ...sums.values());
  return { baseline: largest(perMetric.baseline), canary: largest(perMetric.canary) };
}

/**
 * The findings behind the outcome, causes first. A rollback lists its critical failures. A pause lists every
 * finding that did not pass, as it always has, but leads with those that paused it: the machine pauses an
 * analysis step at once on a failure (findings still inconclusive then are only open, not causes), and
 * pauses a step that ran out of time on everything still unsettled or missing. A pause for approval (a
 * plan step) has no finding as its cause.
 */
export function reasonsFor(
  decision: Decision,
  status: RolloutStatus,
  findings: readonly Finding[],
): Reason[] {
  if (decision === "promote") return [];
  if (decision === "rollback")
    return findings
      .filter((f) => f.critical && f.verdict === "fail")
      .sort(compareFindings)
      .map((f) => ({ ...f, cause: true }));
  const open = findings.filter((f) => f.verdict !== "pass").sort(compareFindings);
  const forApproval = status.phase === "Paused" && status.pause?.kind === "approval";
  const failed = open.some((f) => f.verdict === "fail");
  const isCause = (f: Finding) => !forApproval && (!failed || f.verdict === "fail");
  return [
    ...open.filter(isCause).map((f) => ({ ...f, cause: true })),
    ...open.filter((f) => !isCause(f)).map((f) => ({ ...f, cause: false })),
  ];
}

/**
 * Run the plan until the rollout promotes, rolls back, pauses (nobody approves in a simulation), or the
 * scenario's duration runs out (reported as a pause). Deterministic for a deterministic fleet.
 */
export function runSimulation(input: SimulationInput): SimulationResult {
  const { policy, steps, intervalMs } = input;
  const analyzer = input.analyzer ?? onlineAnalyzer(policy, steps);
  let status = initialStatus(0);
  let analysis: AnalysisObservation | null = null;
  let findings: Finding[] = [];
  const verdicts = new Map<string, Verdict>();
  const timeline: TimelineEntry[] = [];
  let looks = 0;
  const requests = { baseline: 0, canary: 0 };

  for (let now = 0; ; now += intervalMs) {
    if (now > 0) {
      // The samples of the interval that just ended, at the weight that was in force during it.
      const look = input.fleet.look(now - intervalMs, now, status.canaryWeight);
      const added = look.requests ?? requestsIn(look);
      requests.baseline += added.baseline;
      requests.canary += added.canary;
      const r = analyzer.look(look);
      findings = r.findings;
      analysis = { at: now, findings: r.findings, decision: r.decision, summary: r.summary };
      looks++;
    }
    const t = reconcileRollout(
      steps,
      status,
      { canaryReady: now >= input.canaryReadyAfterMs, analysis },
      [],
      now,
      input.machine,
    );
    status = t.status;

    const changes: VerdictChange[] = [];
    for (const f of findings) {
      const k = `${f.metric}\u0001${sliceKey(f.slice)}\u0001${f.window?.kind ?? ""}`;
      const before = verdicts.get(k) ?? null;
      if (before !== f.verdict)
        changes.push({ metric: f.metric, slice: f.slice, from: before, to: f.verdict, reason: f.reason });
      verdicts.set(k, f.verdict);
    }
    const stepIndex = Math.min(status.stepIndex, steps.length - 1);
    timeline.push({
      at: now,
      step: status.stepIndex >= steps.length ? "done" : describeStep(steps[stepIndex]!),
      stepIndex: status.stepIndex,
      phase: status.phase,
      weight: status.canaryWeight,
      samples: { ...requests },
      decision: analysis?.decision ?? null,
      findings: { pass: findings.filter((f) => f.verdict === "pass").length, total: findings.length },
      changes,
      events: t.actions.flatMap((a) => (a.type === "event" ? [`${a.reason}: ${a.message}`] : [])),
      message: status.message,
    });

    const stopped = isTerminal(status.phase) || status.phase === "Paused";
    if (stopped || now + intervalMs > input.durationMs) {
      const decision = decisionOf(status.phase);
      const message = stopped
        ? status.message
        : `the simulation ran out of time (${now / 60_000} min) at ${timeline.at(-1)!.step}`;
      const reasons = reasonsFor(decision, status, findings);
      return {
        scenario: input.name,
        policy: policy.metadata.name,
        decision,
        phase: status.phase,
        message,
        endedAt: now,
        looks,
        reasons,
        findings,
        timeline,
      };
    }
  }
}
