// Online comparison of two means of a BOUNDED metric (speaker similarity in [-1, 1], MOS in [1, 5], a ratio in
// [0, 1]): a nonasymptotic confidence sequence, valid at every look and at every sample size, whatever the
// distribution inside the bounds (skewed, discrete, constant).
//
// Method: empirical-Bernstein confidence sequences (Howard, Ramdas, McAuliffe, Sekhon, "Time-uniform,
// nonparametric, nonasymptotic confidence sequences", Annals of Statistics 2021, Theorem 4; Waudby-Smith &
// Ramdas, "Estimating means of bounded random variables by betting", JRSSB 2024, section 3) for each arm, with
// a union over a fixed grid of bets. Values are rescaled to y = (x − lo)/(hi − lo) in [0, 1]. For a fixed
// λ in [0, 1) and predictable centres m_i in [0, 1] (fixed before y_i is seen),
//   M_t(μ) = exp( λ Σ(y_i − μ) − ψ(λ) V_t ),   V_t = Σ (y_i − m_i)²,   ψ(λ) = −log(1 − λ) − λ,
// is a nonnegative supermartingale at the true mean μ (Fan et al.'s inequality), and so is its mirror on 1 − y
// (same V_t). By Ville's inequality, at level α each one-sided bound misses with probability ≤ α/2 over ALL
// looks:  |ȳ_t − μ| ≤ (log(2/α) + ψ(λ) V_t) / (λ t).
// One λ is narrowest at one sample size only (λ* ≈ sqrt(2 log(2/α) / (σ² t))). So we use J = 26 bets on a
// geometric grid from 0.9 down to 0.9/1.3^25 ≈ 0.0013, each at level α/J, and take the narrowest: a union bound,
// so the whole sequence still misses with probability ≤ α, and at any t some bet is within a factor 1.14 of λ*.
// The price of the grid is log(2J/α) in place of log(2/α).
// WHY a grid and not the predictable plug-in bets of Waudby-Smith & Ramdas (PrPl-EB, λ_t ∝ 1/sqrt(σ̂² t log t)
// truncated at 1/2, as in confseq): (1) from batches, PrPl-EB's bet for a whole batch must come from the earlier
// batches, so a slice's first look (often thousands of values) is bet with the prior variance 1/4; (2) for
// metrics whose spread is small against their range (similarity: sd 0.035 in [-1, 1]) the best bet is far above
// 1 and every method is held by its largest bet: the bound is then about log(·)/(λ_max t), where the grid's
// λ_max = 0.9 beats PrPl-EB's 1/2 despite the larger log: 20-24% narrower for similarity at 200 and 2000 values,
// alpha 1.75e-4, and 46-54% with the one-sided bets below; for a skewed ratio or rare 0/1 events PrPl-EB is 10-14%
// narrower at 2000 values (bench/RESULTS.md, "Bounded means", from confseq's numbers). And the state is three sums per arm, independent of alpha. The hedged-capital betting
// sequence is tighter still, but its capital Π(1 + λ_i(y_i − m)) needs every value, not batch moments.
//
// Batches: the operator receives, per look and arm, a batch (count, sum, sum of squares), never single values.
// Everything above is a function of batch moments: Σ(y_i − μ) from the sums, and with one centre m_b per batch
// (fixed before the batch, so predictable), Σ_{i∈b}(y_i − m_b)² = m2_b + count_b (ȳ_b − m_b)². The guarantee is
// exact at every batch boundary, which is where the analysis looks; nothing is approximated.
// Centres: an arm's running mean before the batch. An arm's FIRST batch has no earlier values of its own; it is
// centred at the other arm's mean (its earlier values, or its batch at the same look). That is predictable for
// this arm because the arms are independent (condition on the other arm's values: this arm's values are still
// i.i.d. with mean μ), and it avoids the prior centre 1/2, whose error (ȳ − 1/2)² per value would dominate V
// for ever after a large first batch (similarity at 0.86 on the rescaled axis: 0.13 per value against a
// variance of 3e-4). With neither arm seen before, the centre is 1/2.
// The radius never vanishes: log(2J/α)/(λ t) > 0 whatever the sample variance (30 identical zeros included).
//
// How large a bet each side may take: Fan's inequality needs y_i − m_i ≥ −1 for λ < 1, but when every centre is
// at most h, y − m ≥ −h, and the same inequality on (y − m)/h allows bets λ = γ/h with γ < 1:
//   exp( λ(y − m) − ψ(γ)(y − m)²/h² ) ≤ 1 + λ(y − m).
// So the lower bound's radius is min over γ of (h·log(2J/α) + ψ(γ) V/h)/(γ t), and the upper bound's the same with
// 1 − (lowest centre) for h. Each arm's centres are clamped, for its whole life, to the other arm's mean at the
// arm's first batch ± CENTRE_MARGIN (or [0, 1] without one): fixed before any of its values, so predictable. For
// similarity near 0.84 on the rescaled axis the upper bound may then bet up to 0.9/0.26 ≈ 3.5 instead of 0.9,
// which is what a canary's upper bound (a drop proven) needs: values cannot hide far above 1. A value far below
// the centres still can (a take scoring −1), so proving a canary within budget stays slow.
//
// Two arms: each arm's sequence at α/2 (two-sided), combined by interval arithmetic for θ = μC − k·μB (k ≥ 0):
// [LC − k·UB, UC − k·LB] covers θ whenever both arm intervals cover (union bound: miss ≤ α/2 + α/2). Widths add
// rather than add in quadrature: with a 10/90 split the canary's width dominates and the loss against a joint
// two-sample sequence is about 1.27x.
//
// Bounds are a contract: a batch whose mean or spread is impossible within [lo, hi] (mean outside, or a variance
// above (mean − lo)(hi − mean), the largest any values inside the bounds can have) proves the declared bounds
// wrong; the state then records it and every interval is (−∞, ∞), so the finding stays inconclusive (never a
// pass) and says why.
//
// Assumptions: within an arm, values have the same conditional mean given the past (i.i.d. suffices); arms
// independent; allocation (how many values each arm gets when) independent of the values.

import type { Interval } from "../types.js";
import { checkAlpha } from "./mixture.js";
import type { MomentBatch } from "./means.js";

/** One arm's running sums, in the rescaled units y = (x − lo)/(hi − lo). Plain JSON, all finite. */
export interface BoundedArm {
  /** Values seen. */
  readonly n: number;
  /** Σ y. */
  readonly sum: number;
  /** V = Σ (y_i − m_i)², each value against its batch's predictable centre. */
  readonly v: number;
  /**
   * The range every centre of this arm is clamped to, fixed at its first batch from the other arm's values
   * ([0, 1] when there were none). It sets how large a bet each side may take (see the header).
   */
  readonly centreLow?: number | undefined;
  readonly centreHigh?: number | undefined;
}

export interface BoundedMeansState {
  readonly lo: number;
  readonly hi: number;
  readonly baseline: BoundedArm;
  readonly canary: BoundedArm;
  /** Set when a batch could not come from values inside [lo, hi]: the declared bounds are wrong. */
  readonly outOfBounds?: { readonly arm: "baseline" | "canary"; readonly mean: number } | undefined;
}

/** The grid of bets: 0.9, 0.9/1.3, ..., 0.9/1.3^25. Fixed: changing it changes every running test's level. */
export const BET_GRID: readonly number[] = Array.from({ length: 26 }, (_, j) => 0.9 / 1.3 ** j);

const BET_PSI: readonly number[] = BET_GRID.map((l) => psiE(l));

const EMPTY_ARM: BoundedArm = { n: 0, sum: 0, v: 0 };

export function checkBounds(lo: number, hi: number): void {
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || !(lo < hi)) {
    throw new RangeError(`bounds must be finite with lo < hi, got [${lo}, ${hi}]`);
  }
}

/** An empty bounded comparison of values in [lo, hi]. */
export function initialBoundedState(lo: number, hi: number): BoundedMeansState {
  checkBounds(lo, hi);
  return { lo, hi, baseline: EMPTY_ARM, canary: EMPTY_ARM };
}

/** ψ_E(λ) = −log(1 − λ) − λ, accurate for small λ. */
export function psiE(lambda: number): number {
  return -Math.log1p(-lambda) - lambda;
}

// Relative slack for rounding in a batch's moments (sum of squares minus sum²/count loses digits).
const SLACK = 1e-9;

/** A batch in the rescaled units; null when no values inside [0, 1] can have these moments. */
interface Scaled {
  readonly count: number;
  readonly mean: number;
  readonly m2: number;
}

function scale(state: BoundedMeansState, b: MomentBatch | undefined): Scaled | null | undefined {
  if (b === undefined) return undefined;
  if (!Number.isInteger(b.count) || b.count < 0) {
    throw new RangeError(`batch count must be a non-negative integer, got ${b.count}`);
  }
  if (!Number.isFinite(b.sum) || !Number.isFinite(b.sumSquares)) {
    throw new RangeError("batch sum and sumSquares must be finite");
  }
  if (b.count === 0) return undefined;
  const w = state.hi - state.lo;
  const raw = b.sum / b.count;
  // m2 about the batch mean; a single value has none (and rounding can make the difference slightly negative).
  const m2 = (b.count === 1 ? 0 : Math.max(0, b.sumSquares - b.sum * raw)) / (w * w);
  const mean = (raw - state.lo) / w;
  if (mean < -SLACK || mean > 1 + SLACK) return null;
  const y = Math.min(1, Math.max(0, mean));
  if (m2 > b.count * y * (1 - y) + SLACK * Math.max(1, b.count)) return null;
  return { count: b.count, mean: y, m2 };
}

/** How far from the other arm's mean an arm's centres may go (rescaled units): 0.1 is 0.2 of similarity. */
export const CENTRE_MARGIN = 0.1;

function add(arm: BoundedArm, batch: Scaled, other: BoundedArm, otherBatch: Scaled | undefined): BoundedArm {
  let { centreLow, centreHigh } = arm;
  if (arm.n === 0) {
    // The first batch: the other arm's mean, if it has any values, is this arm's guess of where it lies.
    const guess = other.n > 0 ? other.sum / other.n : otherBatch ? otherBatch.mean : null;
    centreLow = guess === null ? 0 : Math.max(0, guess - CENTRE_MARGIN);
    centreHigh = guess === null ? 1 : Math.min(1, guess + CENTRE_MARGIN);
  }
  const low = centreLow ?? 0;
  const high = centreHigh ?? 1;
  // Fixed before the batch: the arm's own earlier mean, else the other arm's; clamped into the arm's range.
  const own = arm.n > 0 ? arm.sum / arm.n : other.n > 0 ? other.sum / other.n : (otherBatch?.mean ?? 0.5);
  const centre = Math.min(high, Math.max(low, own));
  return {
    n: arm.n + batch.count,
    sum: arm.sum + batch.count * batch.mean,
    v: arm.v + batch.m2 + batch.count * (batch.mean - centre) ** 2,
    centreLow: low,
    centreHigh: high,
  };
}

/** A new state with the batches added (the input state is not modified). */
export function updateBounded(
  state: BoundedMeansState,
  update: { readonly baseline?: MomentBatch | undefined; readonly canary?: MomentBatch | undefined },
): BoundedMeansState {
  if (state.outOfBounds) return state;
  const b = scale(state, update.baseline);
  const c = scale(state, update.canary);
  const rawMean = (x: MomentBatch | undefined) => (x && x.count > 0 ? x.sum / x.count : NaN);
  if (b === null) return { ...state, outOfBounds: { arm: "baseline", mean: rawMean(update.baseline) } };
  if (c === null) return { ...state, outOfBounds: { arm: "canary", mean: rawMean(update.canary) } };
  return {
    ...state,
    baseline: b ? add(state.baseline, b, state.canary, c) : state.baseline,
    canary: c ? add(state.canary, c, state.baseline, b) : state.canary,
  };
}

/**
 * One side's radius at one-sided level alpha/2, in the rescaled units, when every value lies at least `reach` below
 * its centre at most (y − m ≥ −reach): the best of the grid's bets γ, each betting λ = γ/reach,
 *   min over γ of (reach·log(2J/α) + ψ(γ)·V/reach) / (γ t).
 */
function sideRadius(arm: BoundedArm, alpha: number, reach: number): number {
  const a = Math.max(reach, 1e-12);
  const threshold = Math.log((2 * BET_GRID.length) / alpha);
  let best = Infinity;
  for (let j = 0; j < BET_GRID.length; j++) {
    best = Math.min(best, (a * threshold + (BET_PSI[j]! * arm.v) / a) / (BET_GRID[j]! * arm.n));
  }
  return best;
}

/**
 * The radii below and above the mean of one arm's sequence at two-sided level alpha, in the rescaled units. Below:
 * values lie at most centreHigh under a centre; above: at most 1 − centreLow over it.
 */
export function boundedRadius(arm: BoundedArm, alpha: number): { below: number; above: number } {
  if (arm.n === 0) return { below: Infinity, above: Infinity };
  return {
    below: sideRadius(arm, alpha, arm.centreHigh ?? 1),
    above: sideRadius(arm, alpha, 1 - (arm.centreLow ?? 0)),
  };
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
  if (state.outOfBounds || a.n === 0) return { lower: lo, upper: hi };
  const mean = a.sum / a.n;
  const radius = boundedRadius(a, alpha);
  const w = hi - lo;
  return {
    lower: lo + w * Math.max(0, mean - radius.below),
    upper: lo + w * Math.min(1, mean + radius.above),
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
