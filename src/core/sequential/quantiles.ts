// Online comparison of quantiles (p50/p90/p95/p99 of time to first audio, say) from Prometheus histogram
// bucket counts, valid at every look.
//
// Method: the fixed-quantile confidence sequence of Howard & Ramdas, "Sequential estimation of quantiles with
// applications to A/B-testing and best-arm identification", Bernoulli 28(3), 2022, Theorem 1, with the
// beta-binomial mixture boundary of Howard, Ramdas, McAuliffe, Sekhon (Annals of Statistics 2021).
// For the true p-quantile q of a continuous distribution, the indicators 1{X_i ≤ q} are i.i.d.
// Bernoulli(p), so with N_t(x) = #{i ≤ t: X_i ≤ x},
//   M_t = B(a + N_t(q), b + t − N_t(q)) / B(a, b) / (p^N_t(q) (1 − p)^(t − N_t(q)))
// is a nonnegative martingale with M_0 = 1 (a Beta(a, b) mixture of likelihood ratios), and by Ville's
// inequality P(∃t: M_t ≥ 1/α) ≤ α. The confidence sequence is {x : M_t evaluated at N_t(x) < 1/α}. log M is
// convex in the count, so the counts it accepts form a range [sLo, sHi] (found by binary search), and
//   q ∈ {x : sLo ≤ N_t(x) ≤ sHi}.
//
// Histogram buckets: only N_t at the bucket bounds (the `le` values) is known. The interval is widened to bucket
// edges so that it stays conservative: the lower end is the upper bound of the last bucket whose cumulative
// count is still below sLo (every x up to it has N_t(x) < sLo), the upper end the first bound whose cumulative
// count exceeds sHi (every x from it on has N_t(x) > sHi), +∞ when that is only the +Inf bucket; below the
// first bound the lower end is `lowest` (default 0, for durations). So the interval is conservative to bucket
// resolution: with exponential buckets of factor f (native histograms: schema 4 is f = 2^(1/16), schema 5
// 2^(1/32)), a canary/baseline ratio cannot be proven closer than about f² (resolution limits sensitivity, not
// validity; classic Prometheus buckets with f ≈ 2-2.5 can only catch gross regressions).
//
// Prior: Beta(c·p, c·(1 − p)) centred at p, with c = t*/x* − 1 matched to the normal mixture tuned for t* =
// `targetSamples` (default 2000 per arm; mixture.ts); as in means.ts, keep it fixed for the life of a test.
//
// Comparing arms: each arm's sequence is run at alpha/2 and the contrast qC − k·qB (k ≥ 0) is bounded by
// interval arithmetic, [LC − k·UB, UC − k·LB]. Valid by a union bound: P(either arm's sequence ever misses its
// quantile) ≤ alpha/2 + alpha/2 = alpha, and on the complementary event both cover at every look, so the
// contrast interval covers qC − k·qB at every look. This needs no independence between the arms. (Howard &
// Ramdas's Theorem 5 gives a sharper sequential A/B test of quantiles; the union bound is simpler, yields an
// interval for any k, and costs about a factor sqrt(2) in width.)
//
// Assumptions: i.i.d. observations within an arm; a continuous distribution at the quantile (latencies are);
// bucket layouts that do not change during a test; counts are exact integers (Prometheus `increase()`
// extrapolates to non-integers: the update rounds cumulative counts and rejects inconsistent ones).

import type { Interval } from "../types.js";
import {
  betaConcentration,
  checkAlpha,
  checkPositive,
  firstTrueInteger,
  logBetaBinomialMixture,
} from "./mixture.js";

/** A Prometheus bucket: `le` upper bound (+Infinity for "+Inf") and the cumulative count of values ≤ le. */
export interface HistogramBucket {
  readonly le: number;
  readonly count: number;
}

/**
 * One arm's histogram: finite upper bounds in increasing order and the count per bucket (not cumulative):
 * counts[j] values in (bounds[j−1], bounds[j]], and counts[bounds.length] values above the last bound.
 */
export interface HistogramState {
  readonly bounds: readonly number[];
  readonly counts: readonly number[];
}

/** The plain-JSON state of a two-arm quantile comparison. */
export interface QuantileState {
  readonly baseline: HistogramState;
  readonly canary: HistogramState;
}

export interface QuantileUpdate {
  readonly baseline?: readonly HistogramBucket[] | undefined;
  readonly canary?: readonly HistogramBucket[] | undefined;
}

export interface QuantileCsOptions {
  /** The quantile, e.g. 0.95. */
  readonly p: number;
  /** For one arm: P(ever excluding its quantile) ≤ alpha. For a contrast: the total over both arms. */
  readonly alpha: number;
  /** Per-arm sample count at which the boundary is tuned to be narrowest; default 2000. */
  readonly targetSamples?: number | undefined;
  /** Lower edge of the first bucket (the smallest possible value); default 0 (durations). */
  readonly lowest?: number | undefined;
}

export const DEFAULT_QUANTILE_TARGET = 2000;

/** An empty histogram; with no bounds, the first batch sets the bucket layout. */
export function initialHistogramState(bounds: readonly number[] = []): HistogramState {
  for (let j = 0; j < bounds.length; j++) {
    const b = bounds[j]!;
    if (!Number.isFinite(b) || (j > 0 && !(b > bounds[j - 1]!))) {
      throw new RangeError("bucket bounds must be finite and strictly increasing");
    }
  }
  return { bounds: [...bounds], counts: new Array<number>(bounds.length + 1).fill(0) };
}

export function initialQuantileState(bounds: readonly number[] = []): QuantileState {
  return { baseline: initialHistogramState(bounds), canary: initialHistogramState(bounds) };
}

export function histogramTotal(state: HistogramState): number {
  let n = 0;
  for (const c of state.counts) n += c;
  return n;
}

function sameBounds(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * A new histogram with a batch of cumulative bucket counts added (Prometheus `le` semantics; the +Inf bucket,
 * when present, is the batch total, otherwise nothing lies above the last bound). Cumulative counts are rounded
 * to integers; a count that decreases with `le`, a negative count or a changed bucket layout throws.
 */
export function updateHistogram(state: HistogramState, batch: readonly HistogramBucket[]): HistogramState {
  if (batch.length === 0) return state;
  const sorted = [...batch].sort((x, y) => x.le - y.le);
  const finite = sorted.filter((x) => x.le !== Infinity);
  const inf = sorted.find((x) => x.le === Infinity);
  const bounds = finite.map((x) => x.le);
  for (let j = 0; j < bounds.length; j++) {
    if (!Number.isFinite(bounds[j]!) || (j > 0 && bounds[j] === bounds[j - 1])) {
      throw new RangeError("bucket bounds must be finite (or +Inf) and distinct");
    }
  }
  const fresh = state.bounds.length === 0 && histogramTotal(state) === 0;
  if (!fresh && !sameBounds(state.bounds, bounds)) {
    throw new RangeError("the histogram's bucket layout changed during the test");
  }
  const cumulative = finite.map((x) => x.count);
  cumulative.push(inf === undefined ? (cumulative[cumulative.length - 1] ?? 0) : inf.count);
  const add: number[] = [];
  let previous = 0;
  for (const raw of cumulative) {
    if (!Number.isFinite(raw) || raw < 0)
      throw new RangeError(`bucket counts must be finite and >= 0, got ${raw}`);
    const c = Math.round(raw);
    if (c < previous) throw new RangeError("cumulative bucket counts must not decrease with le");
    add.push(c - previous);
    previous = c;
  }
  const base = fresh ? new Array<number>(bounds.length + 1).fill(0) : state.counts;
  return { bounds: fresh ? bounds : state.bounds, counts: base.map((c, j) => c + add[j]!) };
}

export function updateQuantiles(state: QuantileState, update: QuantileUpdate): QuantileState {
  return {
    baseline: update.baseline ? updateHistogram(state.baseline, update.baseline) : state.baseline,
    canary: update.canary ? updateHistogram(state.canary, update.canary) : state.canary,
  };
}

/**
 * The range [lower, upper] of counts N_t(q) = #{X ≤ q} that the beta-binomial mixture test of "q is the
 * p-quantile" accepts after n observations (log M < log(1/alpha)).
 */
export function acceptedRankRange(
  n: number,
  p: number,
  alpha: number,
  targetSamples: number = DEFAULT_QUANTILE_TARGET,
): { lower: number; upper: number } {
  checkAlpha(alpha);
  if (!(p > 0 && p < 1)) throw new RangeError(`p must be in (0, 1), got ${p}`);
  const c = betaConcentration(targetSamples, alpha);
  const a = c * p;
  const b = c * (1 - p);
  const logP = Math.log(p);
  const log1mP = Math.log1p(-p);
  const threshold = -Math.log(alpha);
  const logM = (s: number): number => logBetaBinomialMixture(s, n - s, logP, log1mP, a, b);
  // log M is convex in s: its minimizer is the first s where the forward difference turns non-negative.
  const sMin = firstTrueInteger(0, n - 1, (s) => logM(s + 1) - logM(s) >= 0);
  if (!(logM(sMin) < threshold)) return { lower: sMin, upper: sMin - 1 }; // empty (cannot happen for α < 1/2)
  const lower = firstTrueInteger(0, sMin, (s) => logM(s) < threshold);
  const upper = firstTrueInteger(sMin, n, (s) => !(logM(s) < threshold)) - 1;
  return { lower, upper };
}

/**
 * The anytime-valid interval for one arm's p-quantile, widened to bucket edges: every value of the quantile
 * consistent with the data at this look, to bucket resolution.
 */
export function quantileInterval(state: HistogramState, options: QuantileCsOptions): Interval {
  const lowest = options.lowest ?? 0;
  const target = options.targetSamples ?? DEFAULT_QUANTILE_TARGET;
  checkPositive("targetSamples", target);
  const n = histogramTotal(state);
  if (n === 0) {
    checkAlpha(options.alpha);
    return { lower: lowest, upper: Infinity };
  }
  return rankRangeInterval(state, acceptedRankRange(n, options.p, options.alpha, target), lowest);
}

/**
 * The values x whose count N(x) = #{X ≤ x} may lie in [ranks.lower, ranks.upper], to bucket resolution
 * (conservative: every x outside the result has N(x) outside the range).
 */
export function rankRangeInterval(
  state: HistogramState,
  ranks: { readonly lower: number; readonly upper: number },
  lowest = 0,
): Interval {
  const { bounds, counts } = state;
  // Cumulative counts at each bound; index bounds.length is the +Inf bucket (the total).
  let lower = lowest;
  let upper = Infinity;
  let cum = 0;
  let lowerFound = ranks.lower <= 0;
  for (let j = 0; j <= bounds.length; j++) {
    cum += counts[j]!;
    if (!lowerFound && cum >= ranks.lower) {
      lower = j === 0 ? lowest : bounds[j - 1]!;
      lowerFound = true;
    }
    if (cum > ranks.upper) {
      upper = j < bounds.length ? bounds[j]! : Infinity;
      break;
    }
  }
  return { lower, upper };
}

function checkK(k: number): void {
  if (!(k >= 0) || !Number.isFinite(k)) throw new RangeError(`k must be a finite number >= 0, got ${k}`);
}

/** k·x with 0·∞ = 0. */
function scale(k: number, x: number): number {
  return k === 0 ? 0 : k * x;
}

/** Both arms' intervals, each at alpha/2 (the union bound of the header). */
export function armQuantileIntervals(
  state: QuantileState,
  options: QuantileCsOptions,
): { baseline: Interval; canary: Interval } {
  checkAlpha(options.alpha);
  const perArm = { ...options, alpha: options.alpha / 2 };
  return {
    baseline: quantileInterval(state.baseline, perArm),
    canary: quantileInterval(state.canary, perArm),
  };
}

/** The anytime-valid interval for qC − k·qB (k ≥ 0; default 1), with alpha over both arms. */
export function quantileContrastInterval(
  state: QuantileState,
  options: QuantileCsOptions & { readonly k?: number | undefined },
): Interval {
  const k = options.k ?? 1;
  checkK(k);
  const { baseline: b, canary: c } = armQuantileIntervals(state, options);
  return { lower: c.lower - scale(k, b.upper), upper: c.upper - scale(k, b.lower) };
}

/**
 * The anytime-valid interval for the ratio qC/qB (relative budgets: ratio − 1), with alpha over both arms.
 * Needs positive values (durations); the upper end is +∞ while the baseline's lower end is 0.
 */
export function quantileRatioInterval(state: QuantileState, options: QuantileCsOptions): Interval {
  const { baseline: b, canary: c } = armQuantileIntervals(state, options);
  if (b.lower < 0 || c.lower < 0)
    throw new RangeError("a quantile ratio needs non-negative values (lowest >= 0)");
  const lower = b.upper === Infinity ? 0 : c.lower / b.upper;
  const upper = b.lower === 0 || c.upper === Infinity ? Infinity : c.upper / b.lower;
  return { lower, upper };
}

/**
 * A point estimate of the p-quantile (linear interpolation inside the bucket, as Prometheus's
 * histogram_quantile does), for reports only; null without data.
 */
export function quantileEstimate(state: HistogramState, p: number, lowest = 0): number | null {
  const n = histogramTotal(state);
  if (n === 0) return null;
  const rank = p * n;
  let cum = 0;
  for (let j = 0; j < state.bounds.length; j++) {
    const c = state.counts[j]!;
    if (cum + c >= rank && c > 0) {
      const lo = j === 0 ? lowest : state.bounds[j - 1]!;
      return lo + ((state.bounds[j]! - lo) * (rank - cum)) / c;
    }
    cum += c;
  }
  return state.bounds.length > 0 ? state.bounds[state.bounds.length - 1]! : null;
}

export function quantileSamples(state: QuantileState): { baseline: number; canary: number } {
  return { baseline: histogramTotal(state.baseline), canary: histogramTotal(state.canary) };
}
