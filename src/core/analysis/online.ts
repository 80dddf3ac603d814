// Online analysis: at every look, new samples are rolled up into the policy's slices and added to one
// anytime-valid test per (metric, slice). Each finding's error guarantee holds however often it is looked at
// (docs/statistics.md#online-analysis-many-looks), unlike the gate's fixed-sample intervals, which are valid
// for one look only.
//
// Family-wise control: tests are split into critical and non-critical families, each spending the policy's
// `alpha`. The tests seen at the first look are declared and share 90% of alpha by Bonferroni, weighted
// between all-traffic and per-slice tests by spec.alphaSplit (sequential/alpha-split.ts); slices that
// appear later (a new voice) spend from the remaining 10% by alpha*6/(pi^2 j^2). Levels are fixed when a
// test is created and stored with it, so the guarantee survives a restart.
//
// Three windows (windows.ts, docs/statistics.md#windows-rollout-and-step): every test runs once over the whole
// rollout (the rollout window), once over the current traffic step alone (the step window, restarted
// whenever the canary's weight changes), and once over the step's last few minutes (the recent window,
// restarted every RECENT_MS), each on its own share of the family's alpha. A fail in any is a fail;
// promotion also needs the final step's window to pass (rollout/machine.ts); the recent window only fails.
//
// The state is plain JSON: an operator stores it and resumes after a restart. A state stored before windows
// existed has no `split`: it keeps its one rollout window at the whole alpha and makes no step windows; one
// stored before recent windows has no `recent`, and makes none.
import { decide } from "../judge/decide.js";
import { planJudge, type JudgePlan, type PlannedMetric } from "../judge/plan.js";
import { describeFinding } from "../judge/reason.js";
import type { Policy } from "../policy/schema.js";
import {
  initialMeansState,
  meansContrastInterval,
  meansEstimates,
  meansRatioInterval,
  meansSamples,
  updateMeans,
  type MeansState,
} from "../sequential/means.js";
import {
  initialQuantileState,
  armQuantileIntervals,
  quantileContrastInterval,
  quantileEstimate,
  quantileInterval,
  quantileRatioInterval,
  quantileSamples,
  updateQuantiles,
  type HistogramBucket,
  type QuantileState,
} from "../sequential/quantiles.js";
import {
  initialRateState,
  rateArmInterval,
  rateDifferenceInterval,
  rateEstimates,
  rateRatioInterval,
  rateSamples,
  rateTotals,
  updateRates,
  type RateState,
} from "../sequential/rates.js";
import { declaredLevels } from "../sequential/alpha-split.js";
import { QUANTILE_TEST_WEIGHTS, quantileBudgetTest } from "../sequential/quantile-budget.js";
import {
  sequentialVerdict,
  testAlpha,
  worseningFromContrast,
  worseningFromRatio,
} from "../sequential/verdict.js";
import type {
  DecisionResult,
  Finding,
  FindingWindow,
  Interval,
  LimitCheck,
  SliceLabels,
  Verdict,
} from "../types.js";
import { sliceKey } from "../types.js";
import { rollUp, type SliceIncrement } from "./rollup.js";
import type { Look } from "./look.js";
import {
  LEGACY_SPLIT,
  formatSince,
  intersect,
  recentWindowAlpha,
  rolloutWindowAlpha,
  stepWindowAlpha,
  windowSplit,
  type WindowSplit,
} from "./windows.js";

export type TestState =
  | { readonly kind: "moments"; readonly state: MeansState }
  | { readonly kind: "histogram"; readonly state: QuantileState }
  | { readonly kind: "rate"; readonly state: RateState };

export interface OnlineTest {
  readonly metric: string;
  readonly slice: SliceLabels;
  readonly critical: boolean;
  /** This test's share of the family's alpha, fixed when it was created. */
  readonly alpha: number;
  readonly test: TestState;
  /**
   * Step windows only: the running intersection of the worsening's intervals since the window started (the
   * canary is assumed unchanged within a step), so a verdict reached does not come and go between looks.
   */
  readonly running?: Interval | undefined;
}

/** The tests of one window, with how their alpha was shared (by family, as the first look declared them). */
export interface TestFamily {
  /** By `metric` + slice key. */
  readonly tests: Readonly<Record<string, OnlineTest>>;
  /** Tests declared at the window's first look, per family; null before it. */
  readonly declared: { readonly critical: number; readonly other: number } | null;
  /** Tests that appeared after the first look, per family: the index of the next one's alpha. */
  readonly late: { readonly critical: number; readonly other: number };
  readonly looks: number;
}

/** The current traffic step's window: its tests see only samples taken at `weight` since `since`. */
export interface StepWindow extends TestFamily {
  /** 1 for the first traffic step, 2 for the next, ...: the index its alpha was spent at. */
  readonly index: number;
  readonly weight: number;
  /** When its first samples were taken (the look before its first look ended then). */
  readonly since: number;
  /** The family alpha of this window (each of critical and non-critical), fixed when it started. */
  readonly alpha: number;
}

/**
 * The recent window: the current step's samples since `since` only, restarted every `split.recentMs` and at
 * every new step. It can only fail (a late change no longer diluted by the step's clean minutes); its passes
 * never count toward promotion.
 */
export interface RecentWindow extends TestFamily {
  /** The step window it belongs to (its `index`). */
  readonly step: number;
  /** 1 for the step's first recent window, 2 for the next, ...: the index its alpha was spent at. */
  readonly index: number;
  readonly weight: number;
  readonly since: number;
  /** The family alpha of this window, fixed when it started. */
  readonly alpha: number;
}

/** The rollout window's tests (the top-level fields, as stored before windows existed) and the step window. */
export interface OnlineState extends TestFamily {
  /** How each family's alpha is split between the windows; absent in a state stored before windows. */
  readonly split?: WindowSplit | undefined;
  /** When the rollout window's first samples were taken. */
  readonly since?: number | undefined;
  /** When the last look ended: the next look's samples start there. */
  readonly lastAt?: number | undefined;
  /** The current step's window; null before the canary takes traffic or without step windows. */
  readonly step?: StepWindow | null | undefined;
  /** The current recent window; absent in a state stored before recent windows (none are made then). */
  readonly recent?: RecentWindow | null | undefined;
}

export interface LookResult {
  readonly state: OnlineState;
  readonly findings: Finding[];
  readonly decision: DecisionResult;
}

/**
 * A new analysis. `trafficSteps`: how many traffic steps the plan has (windows.ts trafficSteps), so that the
 * step windows' alpha is split evenly over them; unknown (null), it is spent by a convergent series.
 * `startedAt`: when the first look's samples start (the rollout window's start).
 */
export function initialOnlineState(
  options: { trafficSteps?: number | null; startedAt?: number } = {},
): OnlineState {
  return {
    ...emptyFamily(),
    split: windowSplit(options.trafficSteps ?? null),
    ...(options.startedAt !== undefined ? { lastAt: options.startedAt } : {}),
    step: null,
    recent: null,
  };
}

function emptyFamily(): TestFamily {
  return { tests: {}, declared: null, late: { critical: 0, other: 0 }, looks: 0 };
}

function emptyTest(metric: PlannedMetric): TestState {
  if (metric.kind === "moments") {
    return { kind: "moments", state: initialMeansState(metric.spec.bounds) };
  }
  if (metric.kind === "rate") return { kind: "rate", state: initialRateState() };
  return { kind: "histogram", state: initialQuantileState() };
}

function updateTest(t: TestState, inc: SliceIncrement, segment: string): TestState {
  switch (t.kind) {
    case "moments":
      return {
        kind: "moments",
        state: updateMeans(t.state, {
          baseline: inc.baseline?.kind === "moments" ? inc.baseline : undefined,
          canary: inc.canary?.kind === "moments" ? inc.canary : undefined,
        }),
      };
    case "histogram":
      return {
        kind: "histogram",
        state: updateQuantiles(t.state, {
          baseline: inc.baseline?.kind === "histogram" ? inc.baseline.buckets : undefined,
          canary: inc.canary?.kind === "histogram" ? inc.canary.buckets : undefined,
        }),
      };
    case "rate":
      return {
        kind: "rate",
        state: updateRates(t.state, {
          baseline: inc.baseline?.kind === "rate" ? inc.baseline : undefined,
          canary: inc.canary?.kind === "rate" ? inc.canary : undefined,
          segment,
        }),
      };
  }
}

const key = (metric: string, slice: SliceLabels) => `${metric}\u0001${sliceKey(slice)}`;

/** Add one look's samples to the tests of both windows, creating tests for slices seen for the first time. */
export function addLook(plan: JudgePlan, state: OnlineState, look: Look): OnlineState {
  const increments = rollUp(plan, look);
  const alpha = plan.policy.spec.alpha;
  const split = state.split ?? LEGACY_SPLIT;
  const rollout = addToFamily(plan, state, increments, look, rolloutWindowAlpha(alpha, split));
  // The look's samples were taken since the previous look ended (or, for the first, up to this one).
  const from = state.lastAt ?? look.at;
  let step = state.step ?? null;
  if (split.step > 0 && look.canaryWeight > 0) {
    if (step === null || step.weight !== look.canaryWeight) {
      // The weight changed: a new traffic step, judged on its own samples from here on.
      const index = (step?.index ?? 0) + 1;
      step = {
        ...emptyFamily(),
        index,
        weight: look.canaryWeight,
        since: from,
        alpha: stepWindowAlpha(alpha, split, index),
      };
    }
    // A window past the plan's steps has no alpha left: it makes no tests, and so never passes.
    if (step.alpha > 0) {
      step = { ...step, ...addToFamily(plan, step, increments, look, step.alpha) };
    }
  }
  let recent = state.recent ?? null;
  const recentMs = split.recentMs ?? Infinity;
  if ((split.recent ?? 0) > 0 && step !== null && look.canaryWeight > 0) {
    const sameStep = recent !== null && recent.step === step.index;
    if (!sameStep || recent === null || from - recent.since >= recentMs) {
      // A new step, or the recent window ran its time: the next one starts on this look's samples alone.
      const index = sameStep && recent !== null ? recent.index + 1 : 1;
      recent = {
        ...emptyFamily(),
        step: step.index,
        index,
        weight: step.weight,
        since: from,
        alpha: recentWindowAlpha(alpha, split, step.index, index),
      };
    }
    if (recent.alpha > 0) {
      recent = { ...recent, ...addToFamily(plan, recent, increments, look, recent.alpha) };
    }
  }
  return {
    ...rollout,
    ...(state.split !== undefined ? { split: state.split } : {}),
    since: state.since ?? from,
    lastAt: look.at,
    ...(state.split !== undefined ? { step } : {}),
    ...(state.recent !== undefined ? { recent } : {}),
  };
}

/** One window's tests with a look's increments added; new tests get their level from `familyAlpha`. */
function addToFamily(
  plan: JudgePlan,
  state: TestFamily,
  increments: readonly SliceIncrement[],
  look: Look,
  familyAlpha: number,
): TestFamily {
  const tests: Record<string, OnlineTest> = { ...state.tests };
  const created: { k: string; metric: PlannedMetric; inc: SliceIncrement }[] = [];
  for (const inc of increments) {
    const metric = plan.metrics[inc.metricIndex]!;
    if (look.unavailable?.[metric.spec.name] !== undefined) continue; // a gap teaches nothing
    const k = key(metric.spec.name, inc.slice);
    const existing = tests[k];
    if (existing) tests[k] = { ...existing, test: updateTest(existing.test, inc, String(look.canaryWeight)) };
    else created.push({ k, metric, inc });
  }

  // Alpha for new tests: the first look declares its tests; later ones spend from the reserve.
  const alpha = familyAlpha;
  let declared = state.declared;
  const late = { ...state.late };
  if (declared === null) {
    declared = {
      critical: created.filter((c) => c.metric.spec.critical).length,
      other: created.filter((c) => !c.metric.spec.critical).length,
    };
  }
  const first = state.looks === 0;
  // Declared tests: weighted Bonferroni between all-traffic and per-slice tests (alpha-split.ts).
  const isAll = (c: (typeof created)[number]) => Object.keys(c.inc.slice).length === 0;
  const level = declaredLevels(
    { alpha, aggregateShare: plan.policy.spec.alphaSplit.aggregate },
    first ? created.map((c) => ({ critical: c.metric.spec.critical, aggregate: isAll(c) })) : [],
  );
  for (const c of created) {
    const family = c.metric.spec.critical ? "critical" : "other";
    const testLevel = first
      ? level(c.metric.spec.critical, isAll(c))
      : testAlpha({ alpha, declaredTests: declared[family] }, ++late[family]);
    tests[c.k] = {
      metric: c.metric.spec.name,
      slice: c.inc.slice,
      critical: c.metric.spec.critical,
      alpha: testLevel,
      test: updateTest(emptyTest(c.metric), c.inc, String(look.canaryWeight)),
    };
  }
  return { tests, declared, late, looks: state.looks + 1 };
}

interface Judged {
  interval: Interval | null;
  worsening: number | null;
  allowed: number;
  baseline: number | null;
  canary: number | null;
  samples: { baseline: number; canary: number };
  limit: LimitCheck | undefined;
  note: string | null;
  /** A verdict the test decides itself (budget and limit together); otherwise read off interval and limit. */
  verdict?: Verdict;
}

function point(relative: boolean, lowerIsBetter: boolean, b: number | null, c: number | null): number | null {
  if (b === null || c === null) return null;
  if (relative) return b === 0 ? null : lowerIsBetter ? c / b - 1 : 1 - c / b;
  return lowerIsBetter ? c - b : b - c;
}

function limitVerdict(
  metric: PlannedMetric,
  canary: Interval | null,
  value: number | null,
): LimitCheck | undefined {
  const limit = metric.spec.budget.limit;
  if (limit === undefined) return undefined;
  const lower = metric.spec.direction === "lowerIsBetter";
  let verdict: Verdict = "inconclusive";
  if (canary) {
    if (lower ? canary.lower > limit : canary.upper < limit) verdict = "fail";
    else if (lower ? canary.upper <= limit : canary.lower >= limit) verdict = "pass";
  }
  return { limit, value, interval: canary, verdict };
}

function judgeTest(metric: PlannedMetric, t: OnlineTest): Judged {
  const { direction, budget } = metric.spec;
  const lowerIsBetter = direction === "lowerIsBetter";
  const relative = budget.relative !== undefined;
  const allowed = relative ? budget.relative! : budget.absolute!;
  // With a limit, the budget and the limit are two tests: for means and rates each gets half the level (they
  // are different sequences, joined by a union bound). A quantile's budget and limit are one two-sample test
  // (quantile-budget.ts: the limit is folded into the claim it refutes), valid at the whole level.
  const alpha = budget.limit === undefined || t.test.kind === "histogram" ? t.alpha : t.alpha / 2;
  const test = t.test;
  if (test.kind === "moments") {
    const { baseline, canary } = meansEstimates(test.state);
    const raw = relative
      ? worseningFromRatio(meansRatioInterval(test.state, { alpha }), direction)
      : worseningFromContrast(meansContrastInterval(test.state, { alpha, k: 1 }), direction);
    // k = 0 turns the contrast into the canary's own mean: what a limit is checked against.
    const own = budget.limit === undefined ? null : meansContrastInterval(test.state, { alpha, k: 0 });
    return {
      interval: raw,
      worsening: point(relative, lowerIsBetter, baseline, canary),
      allowed,
      baseline,
      canary,
      samples: meansSamples(test.state),
      limit: limitVerdict(metric, own, canary),
      note: test.state.bounded?.outOfBounds
        ? `values outside the declared bounds [${test.state.bounded.lo}, ${test.state.bounded.hi}] (a ${test.state.bounded.outOfBounds.arm} batch's mean ${test.state.bounded.outOfBounds.mean}): fix the metric's bounds`
        : null,
    };
  }
  if (test.kind === "histogram") {
    // The verdict comes from the two-sample test of quantile-budget.ts (budget and limit in one test, at the
    // whole level); the interval reported with it is the arms' union-bound interval at the test's shares of
    // alpha, which the test is never slower than (so a fail or pass read off the interval is also the test's).
    const p = metric.quantile!;
    const w = QUANTILE_TEST_WEIGHTS;
    const opts = { p, alpha, canaryShare: w.canary, baselineShare: w.baseline };
    const baseline = quantileEstimate(test.state.baseline, p);
    const canary = quantileEstimate(test.state.canary, p);
    const raw = relative
      ? worseningFromRatio(quantileRatioInterval(test.state, opts), direction)
      : worseningFromContrast(quantileContrastInterval(test.state, { ...opts, k: 1 }), direction);
    let limit: LimitCheck | undefined;
    if (budget.limit !== undefined) {
      // Each end at the level that decides it: a limit fail is read at the canary's share (and then the test
      // fails too), a limit pass at the whole level (the canary alone decides a limit; quantile-budget.ts).
      const atShare = armQuantileIntervals(test.state, opts).canary;
      const atWhole = quantileInterval(test.state.canary, { p, alpha });
      const own = lowerIsBetter
        ? { lower: atShare.lower, upper: atWhole.upper }
        : { lower: atWhole.lower, upper: atShare.upper };
      limit = limitVerdict(metric, own, canary);
    }
    const enough = { baseline: 1, canary: 1 };
    let shown = sequentialVerdict({ interval: raw, allowed, samples: enough, minSamples: 0 });
    if (limit) shown = worst(shown, limit.verdict);
    // Whatever the interval and the limit's check prove, the test proves too (same mixtures; quantile-budget.ts):
    // it only runs when they leave the question open.
    const tested =
      shown === "inconclusive"
        ? quantileBudgetTest(test.state, {
            p,
            alpha,
            direction,
            scale: relative ? (lowerIsBetter ? 1 + allowed : 1 - allowed) : 1,
            shift: relative ? 0 : lowerIsBetter ? allowed : -allowed,
            limit: budget.limit,
          })
        : { fail: shown === "fail", pass: shown === "pass" };
    const verdict: Verdict = tested.fail ? "fail" : tested.pass ? "pass" : "inconclusive";
    return {
      interval: raw,
      worsening: point(relative, lowerIsBetter, baseline, canary),
      allowed,
      baseline,
      canary,
      samples: quantileSamples(test.state),
      limit,
      verdict,
      note:
        verdict !== shown
          ? `${verdict === "fail" ? "over" : "within"} budget by the two-sample quantile test (the interval shown, each arm on its share of alpha, is wider)`
          : null,
    };
  }
  const { baseline, canary } = rateEstimates(test.state);
  const zeroBaseline = relative && baseline === 0;
  // A relative budget over a zero baseline allows no worsening: judged as an absolute difference against 0.
  const raw =
    relative && !zeroBaseline
      ? worseningFromRatio(rateRatioInterval(test.state, { alpha }), direction)
      : worseningFromContrast(rateDifferenceInterval(test.state, { alpha }), direction);
  const own = budget.limit === undefined ? null : rateArmInterval(rateTotals(test.state).canary, alpha);
  return {
    interval: raw,
    worsening: point(relative && !zeroBaseline, lowerIsBetter, baseline, canary),
    allowed: zeroBaseline ? 0 : allowed,
    baseline,
    canary,
    samples: rateSamples(test.state),
    limit: limitVerdict(metric, own, canary),
    note: zeroBaseline ? "the baseline is 0, so a relative budget allows no worsening" : null,
  };
}

const METHOD = { moments: "mixture-cs", histogram: "quantile-cs", rate: "rate-e-process" } as const;

function worst(a: Verdict, b: Verdict): Verdict {
  const order: Verdict[] = ["fail", "inconclusive", "nodata", "pass"];
  return order.indexOf(a) <= order.indexOf(b) ? a : b;
}

/**
 * The findings of every test of both windows as they stand; metrics in a gap at this look are nodata with the
 * reason. Rollout-window findings first, then the step window's.
 */
export function findingsOf(plan: JudgePlan, state: OnlineState, look: Look | null): Finding[] {
  const rollout = familyFindings(plan, state, look, {
    kind: "rollout",
    since: state.since ?? state.lastAt ?? look?.at ?? 0,
  });
  const step = state.step;
  const recent = state.recent;
  // A recent window only ever fails: its other findings are not shown (they would hold nothing up, and a
  // pass there must never read as evidence for promotion).
  const recentFails = recent
    ? familyFindings(plan, recent, look, {
        kind: "recent",
        since: recent.since,
        weight: recent.weight,
      }).filter((f) => f.verdict === "fail")
    : [];
  if (!step) return [...rollout, ...recentFails];
  return [
    ...rollout,
    ...familyFindings(plan, step, look, { kind: "step", since: step.since, weight: step.weight }),
    ...recentFails,
  ];
}

/** A window in words, appended to its findings' reasons: a rollback names when the change it saw started. */
export function describeWindow(w: FindingWindow): string {
  if (w.kind === "rollout") return `rollout window since ${formatSince(w.since)}`;
  return `${w.kind} window since ${formatSince(w.since)} at ${w.weight ?? "?"}%`;
}

function familyFindings(
  plan: JudgePlan,
  family: TestFamily,
  look: Look | null,
  window: FindingWindow,
): Finding[] {
  const findings: Finding[] = [];
  const byName = new Map(plan.metrics.map((m) => [m.spec.name, m]));
  const seen = new Set<string>();
  for (const t of Object.values(family.tests)) {
    const metric = byName.get(t.metric);
    if (!metric) continue;
    seen.add(t.metric);
    const j = judgeTest(metric, t);
    // A step window reports the running intersection (the canary is assumed unchanged within the step).
    if (t.running !== undefined && j.interval !== null)
      j.interval = intersect(t.running, j.interval).interval;
    const gap = look?.unavailable?.[t.metric];
    let verdict = sequentialVerdict({
      interval: j.interval,
      allowed: j.allowed,
      samples: j.samples,
      minSamples: metric.minSamples,
    });
    if (verdict !== "nodata" && j.verdict !== undefined) {
      // The quantile test decides; a running interval that has settled the question keeps it settled.
      if (t.running !== undefined && j.verdict !== "fail" && verdict !== "inconclusive")
        verdict = j.limit ? worst(verdict, j.limit.verdict) : verdict;
      else verdict = j.verdict;
    } else if (verdict !== "nodata" && j.limit) verdict = worst(verdict, j.limit.verdict);
    // Missing data never promotes: while a metric's source is down its findings cannot pass.
    if (gap !== undefined && verdict !== "fail") verdict = "nodata";
    const finite = j.interval && Number.isFinite(j.interval.lower) && Number.isFinite(j.interval.upper);
    const f: Finding = {
      metric: t.metric,
      slice: t.slice,
      verdict,
      critical: t.critical,
      tier: metric.spec.tier,
      direction: metric.spec.direction,
      aggregate: metric.spec.aggregate,
      baseline: j.baseline,
      canary: j.canary,
      delta: j.baseline !== null && j.canary !== null ? j.canary - j.baseline : null,
      relativeDelta:
        j.baseline !== null && j.canary !== null && j.baseline !== 0
          ? (j.canary - j.baseline) / j.baseline
          : null,
      worsening: j.worsening,
      interval: j.interval,
      allowed: j.allowed,
      budget: metric.spec.budget,
      confidence: 1 - t.alpha,
      samples: j.samples,
      method:
        t.test.kind === "moments" && t.test.state.bounded ? "empirical-bernstein-cs" : METHOD[t.test.kind],
      limit: j.limit,
      window,
      reason: "",
    };
    const note =
      gap !== undefined
        ? `metric source unavailable: ${gap}`
        : verdict === "nodata"
          ? `fewer samples than minSamples ${metric.minSamples}`
          : !finite && verdict === "inconclusive"
            ? (j.note ?? "not enough samples yet to bound the interval")
            : j.note;
    findings.push({ ...f, reason: `${describeFinding(f, note)}; ${describeWindow(window)}` });
  }
  // A metric with no test at all has had no data: nodata on the aggregate.
  for (const metric of plan.metrics) {
    if (seen.has(metric.spec.name)) continue;
    const gap = look?.unavailable?.[metric.spec.name];
    const f: Finding = {
      metric: metric.spec.name,
      slice: {},
      verdict: "nodata",
      critical: metric.spec.critical,
      tier: metric.spec.tier,
      direction: metric.spec.direction,
      aggregate: metric.spec.aggregate,
      baseline: null,
      canary: null,
      delta: null,
      relativeDelta: null,
      worsening: null,
      interval: null,
      allowed: null,
      budget: metric.spec.budget,
      confidence: null,
      samples: { baseline: 0, canary: 0 },
      method: "none",
      window,
      reason: "",
    };
    const why = gap !== undefined ? `metric source unavailable: ${gap}` : "no samples yet";
    findings.push({ ...f, reason: `${describeFinding(f, why)}; ${describeWindow(window)}` });
  }
  return findings;
}

/** One look: add its samples, judge every (metric, slice), decide. */
export function analyzeLook(
  policy: Policy,
  state: OnlineState,
  look: Look,
  plan: JudgePlan = planJudge(policy),
): LookResult {
  const added = addLook(plan, state, look);
  const findings = findingsOf(plan, added, look);
  return { state: withRunning(added, findings), findings, decision: decideOnline(findings, policy) };
}

/**
 * The step tests' running intersections brought up to this look, from the findings just judged (each
 * already the intersection of the stored one with this look's interval), so no test is judged twice.
 */
function withRunning(state: OnlineState, findings: readonly Finding[]): OnlineState {
  const step = state.step;
  if (!step) return state;
  const tests: Record<string, OnlineTest> = { ...step.tests };
  for (const f of findings) {
    if (f.window?.kind !== "step" || f.interval === null) continue;
    const k = key(f.metric, f.slice);
    const t = tests[k];
    if (t) tests[k] = { ...t, running: f.interval };
  }
  return { ...state, step: { ...step, tests } };
}

/**
 * The analysis' own decision over both windows: a fail in either window counts; a step window that has not
 * settled yet holds nothing up here (the rollout's state machine asks for the final step's window to pass
 * before promoting, docs/decisions.md#windows).
 */
export function decideOnline(findings: readonly Finding[], policy: Policy): DecisionResult {
  return decide(
    findings.filter(
      (f) => f.window?.kind === undefined || f.window.kind === "rollout" || f.verdict === "fail",
    ),
    policy,
  );
}

export type { HistogramBucket };
