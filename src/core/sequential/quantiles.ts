// Online comparison of quantiles (p50/p90/p95/p99 of time to first audio, say) from Prometheus histogram
// bucket counts, valid at every look.
//
// Method: the fixed-quantile confidence sequence of Howard & Ramdas, "Sequential estimation of quantiles with
// applications to A/B-testing and best-arm identification", Bernoulli 28(3), 2022, Theorem 1, with one-sided
// beta-binomial mixture boundaries (Howard, Ramdas, McAuliffe, Sekhon, Annals of Statistics 2021; onesided.ts).
// With N_t(x) = #{i ≤ t: X_i ≤ x} and q the p-quantile (q = inf{x: F(x) ≥ p}):
// - for x < q, F(x) < p, so the indicators 1{X_i ≤ x} have mean < p and the "upper" mixture of N_t(x) is a test
//   supermartingale; N_t(x) is nondecreasing in x and the mixture increasing in the count, so
//   P(∃t, ∃x < q: upper mixture at N_t(x) ≥ 1/α) ≤ P(∃t: upper mixture at N_t(q−) ≥ 1/α) ≤ α (Ville);
// - for x ≥ q, F(x) ≥ p, and the "lower" mixture gives the mirror statement.
// So {x : neither mixture at N_t(x) reaches 1/α} holds q at every look except with probability ≤ α per end: each
// END is a one-sided confidence sequence at level α, and both ends miss together with probability ≤ 2α. A
// verdict reads one end per arm (a fail the canary's lower and the baseline's upper, a pass the other two), and
// for a given truth only one of fail and pass can be wrong, so one-sided ends are what a verdict needs.
// The mixtures are monotone in the count, so the accepted counts form a range [sLo, sHi] (binary search).
// No continuity is needed: only F(x) < p below q and F(q) ≥ p are used.
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
// Prior: Beta(c·p, c·(1 − p)) centred at p, restricted to one side, with c matched to the normal mixture tuned
// for t* = `targetSamples` (default 2000; mixture.ts, onesided.ts); in a comparison the baseline's t* is ten
// times the canary's (it keeps most of the traffic). As in means.ts, keep the tuning fixed for the life of a test.
//
// Comparing arms: the canary's ends at canaryShare·alpha, the baseline's at baselineShare·alpha (shares summing
// to at most 1), and the contrast qC − k·qB (k ≥ 0) bounded by interval arithmetic, [LC − k·UB, UC − k·LB].
// Valid by a union bound: a wrong lower end needs LC > qC or UB < qB, probability ≤ (canaryShare +
// baselineShare)·alpha ≤ alpha, likewise the upper end. This needs no independence between the arms.
// The online analysis judges quantile budgets with the sharper two-sample test of quantile-budget.ts, which
// proves whatever these intervals prove (at its shares) and reports them.
//
// Assumptions: i.i.d. observations within an arm; bucket layouts that do not change during a test; counts are
// exact integers (Prometheus `increase()` extrapolates to non-integers: the update rounds cumulative counts and
// rejects inconsistent ones).

import type { Interval } from "../types.js";
import { checkAlpha, checkPositive } from "./mixture.js";
import { oneSidedMixture, rejectionBoundary, type OneSidedMixture, type Side } from "./onesided.js";

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
  /**
   * For one arm: each end's level (P(the lower end ever exceeds the quantile) ≤ alpha, likewise the upper end).
   * For a contrast: each end's level over both arms.
   */
  readonly alpha: number;
  /** Sample count at which the boundary is tuned to be narrowest (the canary's, in a comparison). */
  readonly targetSamples?: number | undefined;
  /** In a comparison, the baseline's tuning; default targetSamples. */
  readonly baselineTargetSamples?: number | undefined;
  /** In a comparison, the canary's part of alpha; default DEFAULT_CANARY_SHARE. */
  readonly canaryShare?: number | undefined;
  /** In a comparison, the baseline's part of alpha; default 1 − canaryShare. */
  readonly baselineShare?: number | undefined;
  /** Lower edge of the first bucket (the smallest possible value); default 0 (durations). */
  readonly lowest?: number | undefined;
}

export const DEFAULT_QUANTILE_TARGET = 2000;
export const DEFAULT_CANARY_SHARE = 0.5;

/**
 * The baseline's default tuning in a comparison: ten times the canary's. The baseline keeps most of the traffic
 * while a canary is judged (nine times the canary's at 10%, three times at 25%) and has served alone before it.
 */
export function baselineTarget(canaryTarget: number): number {
  return 10 * canaryTarget;
}

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
 * The range [lower, upper] of counts N_t(x) = #{X ≤ x} that neither one-sided test of "x is the p-quantile"
 * rejects after n observations, each test at level alpha (onesided.ts). A count below `lower` is too few values
 * ≤ x for x to be at or above the quantile (the "lower" mixture); a count above `upper` too many for x to be
 * below it (the "upper" mixture).
 */
export function acceptedRankRange(
  n: number,
  p: number,
  alpha: number,
  targetSamples: number = DEFAULT_QUANTILE_TARGET,
): { lower: number; upper: number } {
  checkAlpha(alpha);
  if (!(p > 0 && p < 1)) throw new RangeError(`p must be in (0, 1), got ${p}`);
  const low = rejectionBoundary(mixtureFor("lower", p, alpha, targetSamples), n, alpha);
  const high = rejectionBoundary(mixtureFor("upper", p, alpha, targetSamples), n, alpha);
  return { lower: low + 1, upper: high - 1 };
}

// The priors depend only on (side, p, alpha, target); a rollout asks for the same few thousands of times, so
// they are cached (immutable values).
const mixtures = new Map<string, OneSidedMixture>();
export function mixtureFor(side: Side, p: number, alpha: number, target: number): OneSidedMixture {
  const key = `${side}:${p}:${alpha}:${target}`;
  let m = mixtures.get(key);
  if (m === undefined) {
    if (mixtures.size > 1000) mixtures.clear();
    m = oneSidedMixture(side, p, alpha, target);
    mixtures.set(key, m);
  }
  return m;
}

/**
 * The anytime-valid interval for one arm's p-quantile, widened to bucket edges: every value of the quantile
 * consistent with the data at this look, to bucket resolution; each end a one-sided bound at alpha.
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

/**
 * Both arms' intervals: the canary's ends each at canaryShare·alpha, the baseline's at baselineShare·alpha
 * (default 1 − canaryShare), joined by the union bound of the header.
 */
export function armQuantileIntervals(
  state: QuantileState,
  options: QuantileCsOptions,
): { baseline: Interval; canary: Interval } {
  checkAlpha(options.alpha);
  const share = options.canaryShare ?? DEFAULT_CANARY_SHARE;
  const baseShare = options.baselineShare ?? 1 - share;
  if (!(share > 0 && baseShare > 0 && share + baseShare <= 1 + 1e-12))
    throw new RangeError(
      `the arms' shares of alpha must be > 0 and sum to <= 1, got ${share} and ${baseShare}`,
    );
  return {
    baseline: quantileInterval(state.baseline, {
      ...options,
      alpha: options.alpha * baseShare,
      targetSamples:
        options.baselineTargetSamples ?? baselineTarget(options.targetSamples ?? DEFAULT_QUANTILE_TARGET),
    }),
    canary: quantileInterval(state.canary, { ...options, alpha: options.alpha * share }),
  };
}

/** The anytime-valid interval for qC − k·qB (k ≥ 0; default 1), each end at alpha over both arms. */
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
 * The anytime-valid interval for the ratio qC/qB (relative budgets: ratio − 1), each end at alpha over both arms.
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
