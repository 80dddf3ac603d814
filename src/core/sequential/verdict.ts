// Verdicts of the online analysis, and how a rollout's error budget alpha is shared among its tests.
//
// Verdict (docs/decisions.md#verdicts, docs/statistics.md#online-analysis-many-looks): from the anytime-valid
// interval of the WORSENING (positive = worse, in the budget's units) and the allowed worsening,
//   fail          when the lower bound > allowed   (the worsening provably exceeds the budget),
//   pass          when the upper bound <= allowed  (provably within budget; exactly on budget passes),
//   inconclusive  otherwise (the interval straddles the budget),
//   nodata        when either arm has fewer than minSamples.
// With a confidence sequence of level 1 − α, the probability that ANY look ever gives a wrong verdict (fail
// while within budget, or pass while over it) is at most α: for a given true worsening only one of the two
// errors is possible, and each needs the sequence to miss the truth at some look. Each error needs only ONE end
// to miss (a wrong fail the lower end, a wrong pass the upper end), so an interval whose ends are separate
// one-sided sequences at 1 − α each (quantiles.ts) gives the same guarantee.
// A test may also decide a verdict itself rather than through an interval, with the same guarantee (the
// two-sample quantile test of quantile-budget.ts: P(wrong fail) ≤ α and P(wrong pass) ≤ α over all looks).
//
// Family-wise control: a rollout makes many critical tests ((slice, metric) pairs; a budget with a `limit`
// counts twice). Giving test i the level α_i with Σ α_i <= α bounds the chance of any wrong critical verdict,
// hence of a false rollback, by α — a union bound, valid under any dependence between tests and under
// continuous monitoring, because each test's guarantee already holds over all its looks
// (docs/statistics.md#many-slices-family-wise-error: Bonferroni over e-processes / confidence sequences).
// - Declared tests (the slices and metrics known when the rollout starts) share (1 − lateShare)·α equally.
// - Tests that appear later (a new voice, tenant or language) get the j-th term of a convergent series over
//   their order of appearance j = 1, 2, ...: lateShare·α·6/(π² j²), which sums to lateShare·α
//   (Σ 1/j² = π²/6). The index must be assigned when the slice first appears (from traffic, never from its
//   values) and stored with the test's state so a restart keeps it. The price grows only logarithmically in j:
//   the interval width depends on log(1/α_j).
// A test's level must not change during the rollout (its sequence is valid for the one alpha it was run at, and
// the means/quantile boundaries are tuned with it): fix declaredTests when the rollout starts and store it.
// Non-critical findings (which only pause) could use e-BH for false-discovery control instead; voicectl
// applies the same Bonferroni-plus-spending scheme to them as a family of their own, which is stricter.

import type { Budget, Direction, Interval, Verdict } from "../types.js";
import { checkAlpha } from "./mixture.js";

export interface SequentialVerdictInput {
  /** Interval of the worsening in the budget's units (positive = worse); null when none could be made. */
  readonly interval: Interval | null;
  readonly allowed: number;
  readonly samples: { readonly baseline: number; readonly canary: number };
  readonly minSamples: number;
}

export function sequentialVerdict(input: SequentialVerdictInput): Verdict {
  const { interval, allowed, samples, minSamples } = input;
  if (samples.baseline < minSamples || samples.canary < minSamples) return "nodata";
  if (interval === null || Number.isNaN(interval.lower) || Number.isNaN(interval.upper))
    return "inconclusive";
  if (interval.lower > allowed) return "fail";
  if (interval.upper <= allowed) return "pass";
  return "inconclusive";
}

/** An interval of (canary − k·baseline) as an interval of the worsening: mirrored for higherIsBetter. */
export function worseningFromContrast(contrast: Interval, direction: Direction): Interval {
  return direction === "lowerIsBetter" ? contrast : { lower: -contrast.upper, upper: -contrast.lower };
}

/** An interval of the ratio canary/baseline as a relative worsening: ratio − 1, or 1 − ratio for higherIsBetter. */
export function worseningFromRatio(ratio: Interval, direction: Direction): Interval {
  return direction === "lowerIsBetter"
    ? { lower: ratio.lower - 1, upper: ratio.upper - 1 }
    : { lower: 1 - ratio.upper, upper: 1 - ratio.lower };
}

/**
 * The contrast θ = canary − k·baseline that decides a budget, and what its worsening may be:
 * - absolute a: k = 1, allowed = a (worsening = ±(C − B));
 * - relative r, lowerIsBetter: k = 1 + r, allowed = 0 (C > (1 + r)·B fails);
 * - relative r, higherIsBetter: k = 1 − r, allowed = 0 (C < (1 − r)·B fails).
 * Feed `k` to meansContrastInterval / quantileContrastInterval, mirror the result with worseningFromContrast,
 * and compare it with `allowed`. (The ratio intervals with worseningFromRatio and allowed = r give the same
 * verdicts up to how the interval is built, and report the worsening as a fraction.)
 */
export function budgetContrast(direction: Direction, budget: Budget): { k: number; allowed: number } {
  if (budget.relative !== undefined) {
    const r = budget.relative;
    return { k: direction === "lowerIsBetter" ? 1 + r : 1 - r, allowed: 0 };
  }
  if (budget.absolute !== undefined) return { k: 1, allowed: budget.absolute };
  throw new RangeError("a budget needs `absolute` or `relative`");
}

/** Bonferroni: each of `tests` tests at alpha/tests. */
export function bonferroniAlpha(alpha: number, tests: number): number {
  checkAlpha(alpha);
  if (!Number.isInteger(tests) || tests < 1)
    throw new RangeError(`tests must be a positive integer, got ${tests}`);
  return alpha / tests;
}

/** The j-th term (j = 1, 2, ...) of the spending series alpha·6/(π² j²), whose sum over all j is alpha. */
export function spendingAlpha(alpha: number, index: number): number {
  checkAlpha(alpha);
  if (!Number.isInteger(index) || index < 1)
    throw new RangeError(`index must be a positive integer, got ${index}`);
  return (alpha * 6) / (Math.PI * Math.PI * index * index);
}

export interface AlphaPlan {
  /** The rollout's false-rollback rate (policy spec.alpha). */
  readonly alpha: number;
  /** Critical tests known when the rollout starts. */
  readonly declaredTests: number;
  /** Share of alpha kept for tests that appear later; default 0.1 (1 when nothing is declared). */
  readonly lateShare?: number | undefined;
}

function lateShareOf(plan: AlphaPlan): number {
  const share = plan.declaredTests === 0 ? 1 : (plan.lateShare ?? 0.1);
  if (!(share >= 0 && share <= 1)) throw new RangeError(`lateShare must be in [0, 1], got ${share}`);
  if (plan.declaredTests > 0 && share === 1)
    throw new RangeError("lateShare 1 leaves nothing for declared tests");
  return share;
}

/**
 * The level of one critical test: a declared test (no `lateIndex`) or the lateIndex-th test to appear later
 * (1-based, in order of appearance). The levels of all tests ever made sum to at most plan.alpha.
 * 0 for a late test when lateShare is 0: such a test has no error to spend and cannot be judged (report it).
 */
export function testAlpha(plan: AlphaPlan, lateIndex?: number): number {
  checkAlpha(plan.alpha);
  if (!Number.isInteger(plan.declaredTests) || plan.declaredTests < 0) {
    throw new RangeError(`declaredTests must be a non-negative integer, got ${plan.declaredTests}`);
  }
  const share = lateShareOf(plan);
  if (lateIndex === undefined) {
    if (plan.declaredTests === 0) throw new RangeError("no declared tests: pass the late index");
    return bonferroniAlpha(plan.alpha * (1 - share), plan.declaredTests);
  }
  if (share === 0) return 0;
  return spendingAlpha(plan.alpha * share, lateIndex);
}
