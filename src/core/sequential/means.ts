// Online comparison of two means: a confidence sequence for the linear contrast θ = μC − k·μB (k = 1 for an
// absolute budget; k = 1 + r or 1 − r for a relative budget r), read at every look, fed with incremental batches
// (count, sum, sum of squares) per arm. Two methods, fixed when a test is created:
//
// 1. A metric with declared `bounds` (MOS, ratios): the nonasymptotic empirical-Bernstein sequence of
//    bounded-means.ts. Valid at every sample size for any distribution inside the bounds, but wide when the
//    values spread over a small part of the range (similarity in [-1, 1]: bench/RESULTS.md, "Bounded means").
// 2. Any other metric (latency, cost, WER): the asymptotic sequence below. It has NO finite-sample guarantee, and
//    none is possible for an unbounded mean from data alone; what it has is measured (bench/means-coverage).
//
// Method 2: the asymptotic confidence sequence (AsympCS) of Waudby-Smith, Arbour, Sinha, Kennedy, Ramdas,
// "Time-uniform central limit theory and asymptotic confidence sequences", Annals of Statistics 2024
// (arXiv 2103.06476), Theorem 2.2: the two-sided Gaussian-mixture (Robbins) boundary with a plug-in variance,
//   θ̂_t ± sd̂(θ̂_t) · sqrt( (x + 1)/x · 2 log( sqrt(x + 1) / α ) ),   x = ρ² · t_eff.
// It is justified by a time-uniform strong approximation (a Brownian motion coupling), not by an exact
// supermartingale: P(∃ t ≥ m: θ ∉ CS_t) → α only as the first look m grows. With skewed values and the small
// levels critical findings get it is NOT conservative at a few dozen samples, nor at a few thousand: A/A with
// lognormal(0, 1) values and a 10/90 split missed in 1.65% of runs at alpha 1e-3 (16.5x; 30x at 3.5e-4),
// because a canary that drew none of the rare large values has a low mean and a low sample variance together.
// Two measured corrections follow; the coverage they give is in bench/RESULTS.md ("Mean test coverage"):
// - each arm's variance is floored at the pooled variance of both arms (armVariances), which removes the A/A
//   excess (0 misses in 20,000 runs at 1e-3 and 3.5e-4, sigma 1 and 1.5);
// - the sequence runs at alpha / ASYMPTOTIC_ALPHA_DIVISOR, for a canary whose variance is larger than the
//   floor (a canary 30% worse: 0.35x alpha at 1e-3). A canary 50% worse still misses at 2.4x alpha: there the
//   method is not valid, and a verdict error needs the interval to miss by the whole gap to the budget.
// Both arms constant (every value the same) gives no interval at all ([−∞, ∞]): nothing bounds an unbounded
// mean from a sample without spread. Declare `bounds` wherever the metric has them.
//
// Two arms: with per-arm sample variances s²C, s²B and counts nC, nB, the estimate θ̂ = x̄C − k·x̄B has variance
// W = s²C/nC + k² s²B/nB. The standardized error (θ̂ − θ)/W is a Brownian motion in information time 1/W as
// long as the allocation (how many samples each arm gets when) does not depend on the values observed, even
// when the traffic split changes between steps: Cov(θ̂_m, θ̂_n) = W_n for m ≤ n. The mixture is placed in that
// time, standardized by (s²C + k² s²B), so that the effective time is
//   t_eff = (s²C + k² s²B) / W,
// which equals n when both arms have n samples (the one-sample AsympCS is the special case).
//
// The tuning parameter ρ: ρ² = x*/t*, where t* = `targetSamples` (per arm) is the sample size at which the
// interval should be narrowest and x* solves x = −2 log α + log(1 + x) (see mixture.ts; Waudby-Smith et al.
// give the first fixed-point iterate as their closed form). Against the best ρ for each t (alpha 0.05), the width
// is within 7% from t*/4 to 4·t*, 10% at 20·t*, but 26% wider at t*/10 and 54% at t*/20: a target on the small
// side costs little later, one on the large side costs a lot early. Choose t* near the smallest per-arm sample
// count at which a verdict is wanted (e.g. what a small slice collects in one step); default 200. Keep ρ
// (targetSamples and alpha) fixed for the life of a test, or the guarantee is lost.
//
// Assumptions: within each arm, values are i.i.d. with a finite 2 + δ moment; arms independent (paired data
// are treated as unpaired, which is valid but ignores the variance reduction); allocation independent of
// outcomes. Coverage is two-sided and simultaneous: P(∃ t: θ ∉ [lower_t, upper_t]) ≤ α asymptotically, and at
// the sample sizes and skews measured in bench/RESULTS.md; a verdict read from either bound at every look is
// wrong with at most that probability.

import { mergeMoments } from "../stats/moments.js";
import type { Interval } from "../types.js";
import {
  boundedContrastInterval,
  boundedRatioInterval,
  initialBoundedState,
  updateBounded,
  type BoundedMeansState,
} from "./bounded-means.js";
import { bisectBoundary, checkAlpha, mixtureRho2, normalMixtureMultiplier } from "./mixture.js";

/** One arm's increment: how many values arrived, their sum and their sum of squares. */
export interface MomentBatch {
  readonly count: number;
  readonly sum: number;
  readonly sumSquares: number;
  /** Every value is known exactly, not sampled (a computed cost): see ArmMoments.computed. */
  readonly computed?: boolean | undefined;
}

/** One arm's accumulated values: count, mean and m2 = Σ (x − mean)² (Welford/Chan form: no cancellation). */
export interface ArmMoments {
  readonly n: number;
  readonly mean: number;
  readonly m2: number;
  /**
   * Every batch so far was computed, not sampled: the mean is the population's, exactly, and intervals are
   * points. A sampled arm without spread (30 zeros) is the opposite case: nothing bounds its mean.
   */
  readonly computed?: boolean;
}

/** The plain-JSON state of a two-arm means comparison. */
export interface MeansState {
  readonly baseline: ArmMoments;
  readonly canary: ArmMoments;
  /**
   * For a metric with declared bounds: the nonasymptotic sequence of bounded-means.ts, which then decides every
   * interval. Set when the test is created and kept for its life (a test's method never changes mid-rollout).
   */
  readonly bounded?: BoundedMeansState | undefined;
}

export interface MeansUpdate {
  readonly baseline?: MomentBatch | undefined;
  readonly canary?: MomentBatch | undefined;
}

export interface MeansCsOptions {
  /** Two-sided error of the whole sequence: P(ever excluding θ) ≤ alpha. */
  readonly alpha: number;
  /** θ = μC − k·μB; default 1. */
  readonly k?: number | undefined;
  /** Per-arm sample size at which the interval is tuned to be narrowest (ρ); default 200. */
  readonly targetSamples?: number | undefined;
}

export const DEFAULT_MEANS_TARGET = 200;

/**
 * The asymptotic sequence runs at alpha / 2. WHY: it is only asymptotically valid, and measured with skewed values
 * it needs a margin. With the pooled variance floor (armVariances) its A/A miss rate with lognormal values is far
 * below alpha, but a canary 30% worse has a larger variance than the floor, and there it missed at 0.8x alpha at
 * 1e-3 (lognormal sigma 1, 10/90 split); at alpha / 2, 0.35x at 1e-3 and 0.43x at 3.5e-4 (bench/means-coverage,
 * 20,000 runs). A canary 50% worse still misses at 2.4x alpha at 1e-3 (2.7x at 3.5e-4), and alpha / 4 barely helps
 * (1.6x against 1.7x in a smaller run): the plug-in is not valid there and no constant factor makes it so
 * (bench/RESULTS.md, "Mean test coverage"). The price is about 4% of width at 3.5e-4.
 */
export const ASYMPTOTIC_ALPHA_DIVISOR = 2;

const EMPTY: ArmMoments = { n: 0, mean: 0, m2: 0 };

/** An empty comparison. With `bounds` ([lo, hi], every value inside) the intervals come from bounded-means.ts. */
export function initialMeansState(bounds?: readonly number[]): MeansState {
  if (bounds === undefined) return { baseline: EMPTY, canary: EMPTY };
  if (bounds.length !== 2) throw new RangeError(`bounds must be [lo, hi], got [${bounds.join(", ")}]`);
  return { baseline: EMPTY, canary: EMPTY, bounded: initialBoundedState(bounds[0]!, bounds[1]!) };
}

/** The (count, sum, sumSquares) of some values: a convenience for callers and tests. */
export function momentBatch(values: Iterable<number>): MomentBatch {
  let count = 0;
  let sum = 0;
  let sumSquares = 0;
  for (const x of values) {
    count++;
    sum += x;
    sumSquares += x * x;
  }
  return { count, sum, sumSquares };
}

function batchMoments(b: MomentBatch): ArmMoments {
  if (!Number.isInteger(b.count) || b.count < 0) {
    throw new RangeError(`batch count must be a non-negative integer, got ${b.count}`);
  }
  if (!Number.isFinite(b.sum) || !Number.isFinite(b.sumSquares)) {
    throw new RangeError("batch sum and sumSquares must be finite");
  }
  if (b.count === 0) return EMPTY;
  const mean = b.sum / b.count;
  // sumSquares − sum²/count can come out slightly off zero from rounding (30 values of 0.1 give about 1e-17):
  // a spread that small is rounding, not data, and must read as none, or a constant sample gets an interval of
  // width 1e-9 that passes any budget. A batch of one value has m2 = 0.
  const raw = b.count === 1 ? 0 : b.sumSquares - b.sum * mean;
  const m2 = raw > 1e-12 * b.sumSquares ? raw : 0;
  return { n: b.count, mean, m2 };
}

function addBatch(arm: ArmMoments, batch: MomentBatch | undefined): ArmMoments {
  if (batch === undefined || batch.count === 0) return arm;
  const m = mergeMoments({ n: arm.n, mean: arm.mean, m2: arm.m2 }, { ...batchMoments(batch) });
  const computed = batch.computed === true && (arm.n === 0 || arm.computed === true);
  return computed ? { n: m.n, mean: m.mean, m2: m.m2, computed } : { n: m.n, mean: m.mean, m2: m.m2 };
}

/** Both arms' means are known exactly (computed values only): the comparison needs no interval. */
function exactlyKnown(state: MeansState): boolean {
  return (
    state.baseline.computed === true &&
    state.canary.computed === true &&
    state.baseline.n > 0 &&
    state.canary.n > 0
  );
}

/** A new state with the batches added (the input state is not modified). */
export function updateMeans(state: MeansState, update: MeansUpdate): MeansState {
  const next: MeansState = {
    baseline: addBatch(state.baseline, update.baseline),
    canary: addBatch(state.canary, update.canary),
  };
  return state.bounded ? { ...next, bounded: updateBounded(state.bounded, update) } : next;
}

/**
 * The per-arm variances the sequence plugs in: each arm's sample variance, floored at the two arms' pooled
 * variance. WHY: with right-skewed values (latency, cost, WER) a small arm's sample mean and sample variance are
 * positively correlated; a canary that drew none of the rare large values has a low mean AND a low variance, so
 * its interval is too narrow exactly when it is off, and it excludes the truth far more often than alpha (A/A,
 * lognormal sigma 1, 10/90 split: 16.5x alpha at 1e-3, bench/means-coverage). The pooled variance, dominated by
 * the larger arm, does not share that correlation. Flooring only widens the interval, so whatever coverage the
 * plug-in had is kept. Both variances 0 (constant values in both arms) gives 0: the caller then knows nothing
 * about the spread and must not return a zero-width interval.
 */
function armVariances(state: MeansState): { s2C: number; s2B: number } {
  const { baseline: b, canary: c } = state;
  const pooled = (b.m2 + c.m2) / (b.n + c.n - 2);
  return { s2C: Math.max(c.m2 / (c.n - 1), pooled), s2B: Math.max(b.m2 / (b.n - 1), pooled) };
}

/**
 * The estimate, its variance W and the effective time of θ̂ = x̄C − k·x̄B; null with fewer than 2 per arm, or
 * when neither arm shows any spread (k = 0 and a constant canary included).
 */
function contrastParts(
  state: MeansState,
  k: number,
): { estimate: number; w: number; tEff: number; nMin: number; nMax: number } | null {
  const { baseline: b, canary: c } = state;
  if (b.n < 2 || c.n < 2) return null;
  const { s2C, s2B } = armVariances(state);
  const w = s2C / c.n + (k * k * s2B) / b.n;
  if (!(w > 0)) return null; // no spread seen in either arm: nothing bounds the mean of an unbounded metric
  const tEff = (s2C + k * k * s2B) / w;
  return { estimate: c.mean - k * b.mean, w, tEff, nMin: Math.min(b.n, c.n), nMax: Math.max(b.n, c.n) };
}

/**
 * The anytime-valid interval for θ = μC − k·μB at this look. [−∞, ∞] until both arms have 2 samples.
 */
export function meansContrastInterval(state: MeansState, options: MeansCsOptions): Interval {
  const { alpha } = options;
  const k = options.k ?? 1;
  checkAlpha(alpha);
  if (!Number.isFinite(k)) throw new RangeError(`k must be finite, got ${k}`);
  if (exactlyKnown(state)) {
    const d = state.canary.mean - k * state.baseline.mean;
    return { lower: d, upper: d };
  }
  if (state.bounded) return boundedContrastInterval(state.bounded, { alpha, k });
  const level = alpha / ASYMPTOTIC_ALPHA_DIVISOR;
  const rho2 = mixtureRho2(level, options.targetSamples ?? DEFAULT_MEANS_TARGET);
  const parts = contrastParts(state, k);
  if (parts === null) return { lower: -Infinity, upper: Infinity };
  const radius = Math.sqrt(parts.w) * normalMixtureMultiplier(parts.tEff, rho2, level);
  return { lower: parts.estimate - radius, upper: parts.estimate + radius };
}

/**
 * The anytime-valid interval for the ratio R = μC/μB (for relative budgets reported as R − 1), by inverting the
 * contrast sequence Fieller-style: R is in the set when 0 is in the interval for μC − R·μB. At the true ratio
 * that contrast is 0, so the set inherits the contrast sequence's coverage. The set is an interval when the
 * baseline mean is clearly away from 0; otherwise (or before both arms have 2 samples) [−∞, ∞] is returned.
 */
export function meansRatioInterval(state: MeansState, options: Omit<MeansCsOptions, "k">): Interval {
  const { alpha } = options;
  checkAlpha(alpha);
  if (exactlyKnown(state)) {
    const { baseline: b, canary: c } = state;
    if (b.mean === 0) return { lower: -Infinity, upper: Infinity };
    return { lower: c.mean / b.mean, upper: c.mean / b.mean };
  }
  if (state.bounded) return boundedRatioInterval(state.bounded, { alpha });
  const level = alpha / ASYMPTOTIC_ALPHA_DIVISOR;
  const rho2 = mixtureRho2(level, options.targetSamples ?? DEFAULT_MEANS_TARGET);
  const whole: Interval = { lower: -Infinity, upper: Infinity };
  const { baseline: b, canary: c } = state;
  if (b.n < 2 || c.n < 2 || b.mean === 0) return whole;
  const { s2C, s2B } = armVariances(state);
  if (!(s2C > 0)) return whole; // constant values in both arms: no spread seen, nothing bounds the ratio
  const vC = s2C / c.n;
  const vB = s2B / b.n;
  const radius = (r: number): number => {
    const parts = contrastParts(state, r)!;
    return Math.sqrt(parts.w) * normalMixtureMultiplier(parts.tEff, rho2, level);
  };
  const inSet = (r: number): boolean => Math.abs(c.mean - r * b.mean) <= radius(r);
  // A bracket from Fieller's quadratic with the largest multiplier the effective time can give: t_eff lies
  // between the two arms' counts, and the multiplier is quasi-convex in t, so its maximum is at an end.
  const mMax = Math.max(
    normalMixtureMultiplier(Math.min(b.n, c.n), rho2, level),
    normalMixtureMultiplier(Math.max(b.n, c.n), rho2, level),
  );
  const m2 = mMax * mMax;
  const qa = b.mean * b.mean - m2 * vB;
  if (!(qa > 0)) return whole; // the baseline mean is not bounded away from zero: the set is unbounded
  const qb = c.mean * b.mean;
  const disc = Math.max(0, qb * qb - qa * (c.mean * c.mean - m2 * vC));
  const outerLow = (qb - Math.sqrt(disc)) / qa;
  const outerHigh = (qb + Math.sqrt(disc)) / qa;
  const center = c.mean / b.mean;
  if (outerLow === outerHigh) return { lower: center, upper: center };
  // Refine each end inside the bracket (the set contains the point estimate).
  const lower = inSet(outerLow) ? outerLow : bisectBoundary(center, outerLow, inSet);
  const upper = inSet(outerHigh) ? outerHigh : bisectBoundary(center, outerHigh, inSet);
  return { lower, upper };
}

/** Per-arm counts, for verdicts (minSamples) and reports. */
export function meansSamples(state: MeansState): { baseline: number; canary: number } {
  return { baseline: state.baseline.n, canary: state.canary.n };
}

/** Per-arm means (null when an arm has no data). */
export function meansEstimates(state: MeansState): { baseline: number | null; canary: number | null } {
  return {
    baseline: state.baseline.n > 0 ? state.baseline.mean : null,
    canary: state.canary.n > 0 ? state.canary.mean : null,
  };
}
