// Online comparison of two means of a BOUNDED metric (speaker similarity in [-1, 1], MOS in [1, 5], a ratio in
// [0, 1]): a nonasymptotic confidence sequence, valid at every look and at every sample size, whatever the
// distribution inside the bounds (skewed, discrete, constant).
//
// Method: the predictable plug-in empirical-Bernstein confidence sequence (PrPl-EB) of Waudby-Smith & Ramdas,
// "Estimating means of bounded random variables by betting", JRSSB 2024 (arXiv 2010.09686), Theorem 2, for each
// arm, with the tuning of the authors' reference code (PyPI `confseq`, predmix.py and betting_strategies.py:
// `predmix_empbern_cs`, `lambda_predmix_eb`). Values are rescaled to y = (x − lo)/(hi − lo) in [0, 1]. For
// predictable λ_i in [0, 1) and predictable centres m_i,
//   M_t(μ) = Π exp( λ_i (y_i − μ) − ψ(λ_i) (y_i − m_i)² ),   ψ(λ) = −log(1 − λ) − λ,
// is a nonnegative supermartingale at the true mean μ (Fan et al.'s inequality; Howard et al. 2021), and so is
// its mirror on 1 − y. By Ville's inequality each one-sided bound misses with probability ≤ α/2 over ALL
// looks, and the two together give
//   μ ∈ [ Σλy/Σλ − (log(2/α) + Σψ(λ)(y − m)²)/Σλ,  Σλy/Σλ + (log(2/α) + Σψ(λ)(y − m)²)/Σλ ]   for every t.
// The radius never vanishes: log(2/α)/Σλ > 0 whatever the sample variance (30 identical zeros included).
//
// Batches: the operator receives, per look and arm, a batch (count, sum, sum of squares), never single values.
// The supermartingale only needs λ_i and m_i to be PREDICTABLE, i.e. fixed before y_i is seen. We fix them once
// per batch, from the earlier batches only, and use the same λ_b and m_b for every value in the batch. Then the
// three running sums the sequence needs are exact functions of the batch's moments:
//   Σ_b λ_b·count_b,   Σ_b λ_b·sum_b,   Σ_b ψ(λ_b)·Σ_{i∈b}(y_i − m_b)² = ψ(λ_b)·(m2_b + count_b (ȳ_b − m_b)²).
// This is the per-value sequence with a (legitimate) choice of λ, not an approximation: the guarantee holds
// exactly at every batch boundary, which is where the analysis looks. The price is only efficiency: λ cannot
// adapt within a batch, and the first batch's λ and centre come from the prior (mean 1/2, variance 1/4) because
// nothing was seen before it. The per-batch λ counts are allowed to depend on the batch's COUNT (how many values
// arrived), since the allocation of requests to arms does not depend on their values.
//
// λ for batch b, following `lambda_predmix_eb` (the CS version, not tuned to one sample size):
//   λ_b = min(1/2, sqrt(2 log(2/α_tune) / (t log(1 + t) σ̂²))),  t = values after the batch,
//   σ̂² = (1/4 + Σ_{earlier}(y − μ̂)²)/(n + 1),  μ̂ = (1/2 + Σ_{earlier} y)/(n + 1),  m_b = μ̂.
// With batches of one value this is exactly confseq's sequence (bench/confseq-check compares numbers). The
// variance sum is kept per batch as m2_b + count_b (ȳ_b − μ̂_after)² (confseq adds each (y_i − μ̂_i)²); any
// predictable choice is valid. α_tune is fixed when the test is created (the test's level) and stored, so the
// sequence of λ never depends on a later alpha; the interval can be read at any alpha.
//
// Two arms: each arm's sequence at α/2 (two-sided), combined by interval arithmetic for θ = μC − k·μB (k ≥ 0):
// [LC − k·UB, UC − k·LB] covers θ whenever both arm intervals cover (union bound: miss ≤ α/2 + α/2). Widths add
// rather than add in quadrature: with a 10/90 split the canary's width dominates and the loss against a joint
// two-sample sequence is about 1.27x in width (bench/RESULTS.md, "Bounded means").
//
// Bounds are a contract: a batch whose mean or spread is impossible within [lo, hi] (mean outside, or a variance
// above (mean − lo)(hi − mean), the largest any values inside the bounds can have) proves the declared bounds
// wrong; the state then records it and every interval is (−∞, ∞), so the finding stays inconclusive (never a
// pass) and says why.
//
// Assumptions: within an arm, values have the same conditional mean given the past (i.i.d. suffices); arms
// independent; allocation independent of the values.

import type { Interval } from "../types.js";
import { checkAlpha } from "./mixture.js";
import type { MomentBatch } from "./means.js";

/** One arm's running sums, in the rescaled units y = (x − lo)/(hi − lo). Plain JSON, all finite. */
export interface BoundedArm {
  /** Values seen. */
  readonly n: number;
  /** Σ y. */
  readonly sum: number;
  /** Σ over batches of m2_b + count_b (ȳ_b − μ̂ after the batch)²: the plug-in variance's numerator. */
  readonly varSum: number;
  /** Σ λ_i. */
  readonly lambdaSum: number;
  /** Σ λ_i y_i. */
  readonly lambdaYSum: number;
  /** Σ ψ(λ_i) (y_i − m_i)². */
  readonly psiVSum: number;
}

export interface BoundedMeansState {
  readonly lo: number;
  readonly hi: number;
  /** The level λ is tuned for (per arm, two-sided), fixed when the test is created. */
  readonly tuneAlpha: number;
  readonly baseline: BoundedArm;
  readonly canary: BoundedArm;
  /** Set when a batch could not come from values inside [lo, hi]: the declared bounds are wrong. */
  readonly outOfBounds?: { readonly arm: "baseline" | "canary"; readonly mean: number } | undefined;
}

/** λ is truncated at 1/2, as in confseq's `predmix_empbern_cs` default. */
export const LAMBDA_TRUNCATION = 0.5;

const EMPTY_ARM: BoundedArm = { n: 0, sum: 0, varSum: 0, lambdaSum: 0, lambdaYSum: 0, psiVSum: 0 };

export function checkBounds(lo: number, hi: number): void {
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || !(lo < hi)) {
    throw new RangeError(`bounds must be finite with lo < hi, got [${lo}, ${hi}]`);
  }
}

/** An empty bounded comparison; `alpha` is the test's two-sided level (each arm is tuned for alpha/2). */
export function initialBoundedState(lo: number, hi: number, alpha: number): BoundedMeansState {
  checkBounds(lo, hi);
  checkAlpha(alpha);
  return { lo, hi, tuneAlpha: alpha / 2, baseline: EMPTY_ARM, canary: EMPTY_ARM };
}

/** ψ_E(λ) = −log(1 − λ) − λ, accurate for small λ. */
export function psiE(lambda: number): number {
  return -Math.log1p(-lambda) - lambda;
}

/** λ for the next batch of `count` values after `arm` (two-sided per-arm level alpha: log(2/alpha)). */
export function nextLambda(arm: BoundedArm, count: number, alpha: number): number {
  const t = arm.n + count;
  const sigma2 = (0.25 + arm.varSum) / (arm.n + 1);
  const raw = Math.sqrt((2 * Math.log(2 / alpha)) / (t * Math.log1p(t) * sigma2));
  return Number.isFinite(raw) ? Math.min(LAMBDA_TRUNCATION, raw) : LAMBDA_TRUNCATION;
}

// Relative slack for rounding in a batch's moments (sum of squares minus sum²/count loses digits).
const SLACK = 1e-9;

/**
 * Adds a batch given in the rescaled units (count, mean ȳ, m2 = Σ(y − ȳ)²); null when the batch is impossible
 * inside [0, 1].
 */
function addScaled(
  arm: BoundedArm,
  count: number,
  mean: number,
  m2: number,
  alpha: number,
): BoundedArm | null {
  if (mean < -SLACK || mean > 1 + SLACK) return null;
  const y = Math.min(1, Math.max(0, mean));
  if (m2 > count * y * (1 - y) + SLACK * Math.max(1, count)) return null;
  const lambda = nextLambda(arm, count, alpha);
  const centre = (0.5 + arm.sum) / (arm.n + 1);
  const n = arm.n + count;
  const sum = arm.sum + count * y;
  const after = (0.5 + sum) / (n + 1);
  return {
    n,
    sum,
    varSum: arm.varSum + m2 + count * (y - after) ** 2,
    lambdaSum: arm.lambdaSum + lambda * count,
    lambdaYSum: arm.lambdaYSum + lambda * count * y,
    psiVSum: arm.psiVSum + psiE(lambda) * (m2 + count * (y - centre) ** 2),
  };
}

function checkBatch(b: MomentBatch): void {
  if (!Number.isInteger(b.count) || b.count < 0) {
    throw new RangeError(`batch count must be a non-negative integer, got ${b.count}`);
  }
  if (!Number.isFinite(b.sum) || !Number.isFinite(b.sumSquares)) {
    throw new RangeError("batch sum and sumSquares must be finite");
  }
}

function addBatch(
  state: BoundedMeansState,
  which: "baseline" | "canary",
  batch: MomentBatch | undefined,
): BoundedMeansState {
  if (batch === undefined) return state;
  checkBatch(batch);
  if (batch.count === 0 || state.outOfBounds) return state;
  const w = state.hi - state.lo;
  const mean = batch.sum / batch.count;
  // m2 about the batch mean; a single value has none (and rounding can make the difference slightly negative).
  const m2 = batch.count === 1 ? 0 : Math.max(0, batch.sumSquares - batch.sum * mean);
  const next = addScaled(state[which], batch.count, (mean - state.lo) / w, m2 / (w * w), state.tuneAlpha);
  if (next === null) return { ...state, outOfBounds: { arm: which, mean } };
  return { ...state, [which]: next };
}

/** A new state with the batches added (the input state is not modified). */
export function updateBounded(
  state: BoundedMeansState,
  update: { readonly baseline?: MomentBatch | undefined; readonly canary?: MomentBatch | undefined },
): BoundedMeansState {
  return addBatch(addBatch(state, "baseline", update.baseline), "canary", update.canary);
}

/** One arm's anytime-valid interval for its mean at two-sided level alpha, in the metric's units. */
export function boundedArmInterval(
  state: BoundedMeansState,
  arm: "baseline" | "canary",
  alpha: number,
): Interval {
  checkAlpha(alpha);
  const { lo, hi } = state;
  const a = state[arm];
  if (state.outOfBounds || a.lambdaSum <= 0) return { lower: lo, upper: hi };
  const centre = a.lambdaYSum / a.lambdaSum;
  const radius = (Math.log(2 / alpha) + a.psiVSum) / a.lambdaSum;
  const w = hi - lo;
  return {
    lower: lo + w * Math.max(0, centre - radius),
    upper: lo + w * Math.min(1, centre + radius),
  };
}

const WHOLE: Interval = { lower: -Infinity, upper: Infinity };

/**
 * The anytime-valid interval for θ = μC − k·μB (k ≥ 0) at two-sided level alpha: each arm at alpha/2, combined by
 * interval arithmetic. k = 0 is the canary's own mean, at the whole alpha. (−∞, ∞) once the bounds were broken.
 */
export function boundedContrastInterval(
  state: BoundedMeansState,
  options: { alpha: number; k?: number },
): Interval {
  const k = options.k ?? 1;
  if (!(k >= 0) || !Number.isFinite(k)) throw new RangeError(`k must be finite and >= 0, got ${k}`);
  if (state.outOfBounds) return WHOLE;
  if (k === 0) return boundedArmInterval(state, "canary", options.alpha);
  const c = boundedArmInterval(state, "canary", options.alpha / 2);
  const b = boundedArmInterval(state, "baseline", options.alpha / 2);
  return { lower: c.lower - k * b.upper, upper: c.upper - k * b.lower };
}

/**
 * The anytime-valid interval for R = μC/μB: every ratio of a canary mean and a baseline mean inside their arm
 * intervals (each at alpha/2). (−∞, ∞) unless the baseline's interval is bounded away from 0 on the positive side.
 */
export function boundedRatioInterval(state: BoundedMeansState, options: { alpha: number }): Interval {
  if (state.outOfBounds) return WHOLE;
  const c = boundedArmInterval(state, "canary", options.alpha / 2);
  const b = boundedArmInterval(state, "baseline", options.alpha / 2);
  if (!(b.lower > 0)) return WHOLE;
  const corners = [c.lower / b.upper, c.lower / b.lower, c.upper / b.upper, c.upper / b.lower];
  return { lower: Math.min(...corners), upper: Math.max(...corners) };
}
