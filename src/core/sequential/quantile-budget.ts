// A quantile budget judged by one two-sample test per verdict, not by two one-arm confidence sequences joined by
// a union bound: "is the canary's p-quantile above (or below) g(baseline's p-quantile)?", with g(x) = scale·x +
// shift (a relative budget is scale 1 ± r, an absolute one a shift ± a) and, optionally, a fixed limit folded in.
//
// Why: quantiles.ts bounds each arm's quantile separately and compares the ends, so a fail needs BOTH the
// baseline's upper bound and the canary's lower bound to have settled, each on its own part of alpha. Here the
// evidence of the two arms is multiplied where that is valid, and the whole alpha goes to the one test.
//
// The test (an intersection-union test in the sense of Berger, "Multiparameter hypothesis testing and acceptance
// sampling", Technometrics 24, 1982, built from e-processes; Ville's inequality makes it hold at every look).
// Histogram bounds e_0 < ... < e_{J−1} (e_{−1} = `lowest`, e_J = +∞) cut the line into buckets
// B_j = (e_{j−1}, e_j], j = 0..J. Take the fail of a lowerIsBetter budget: the claim is q_C > h(q_B) with
// h(x) = min(g(x), limit) (over the budget or over the limit; h nondecreasing). Its null H0: q_C ≤ h(q_B).
// Whatever q_B is, it lies in one bucket j*, and under H0
//   (a) q_B > e_{j*−1}, so F_B(e_{j*−1}) < p: the baseline's indicators 1{X ≤ e_{j*−1}} have mean < p, and the
//       "upper" mixture of onesided.ts on them, A_{j*}, is a nonnegative supermartingale with A_{j*,0} = 1;
//   (b) q_C ≤ h(q_B) ≤ h(e_{j*}) ≤ T_{j*} := the smallest edge ≥ h(e_{j*}), so F_C(T_{j*}) ≥ p: the "lower" mixture
//       on the canary's 1{X ≤ T_{j*}}, C_{j*}, is one too.
// Arms are independent (different requests), so within a look the two increments are conditionally independent
// given the past, and A·C is again a nonnegative supermartingale with initial value 1 (E[A_t C_t | past] =
// E[A_t | past] E[C_t | past] ≤ A_{t−1} C_{t−1}). Any convex combination
//   E_j = w_C·C_j + w_A·A_j + w_AC·A_j·C_j,   w_C + w_A + w_AC = 1,
// is then a test supermartingale under H0 for j = j*. The test fails the canary when min_j E_j ≥ 1/alpha: under
// H0 that needs E_{j*} ≥ 1/alpha at some look, which by Ville's inequality has probability ≤ alpha, whatever j*
// is, with no union bound over j, over the arms or over budget and limit. j* is unknown, hence the min over j
// (the intersection-union step: every bucket's null must be refuted, each at the full alpha).
// (A_0 := 0: nothing can show q_B below `lowest`; C_j := 0 when no edge reaches h(e_j): nothing can show q_C
// beyond the last finite edge. Both are valid e-values, just powerless.)
//
// The other claims are mirror images. "q_C < h(q_B)" (the fail of a higherIsBetter budget, h = max(g, limit))
// uses, per bucket, the baseline's "lower" mixture at e_j (q_B > e_j refutes B_j) and the canary's "upper"
// mixture at the largest edge below h(e_{j−1}) (under the null q_C ≥ h(e_{j−1}) > that edge). "q_C ≤ g(q_B)" (the
// budget's half of a lowerIsBetter pass) is the same with the largest edge AT OR below g(e_{j−1}), since its null
// is q_C > g(q_B) ≥ g(e_{j−1}): exactly on budget can pass. A pass needs the budget's claim AND the limit's (the
// canary's own one-sided bound at the whole alpha on the right side of the limit: the canary alone decides a
// limit). A wrong pass needs a false claim to be proven, and one false claim suffices to make the pass wrong, so
// the chance of a wrong pass is at most alpha, as is that of a wrong fail.
//
// Weights: in the bucket that holds q_B the baseline has nothing to refute, so the canary's evidence must do it
// alone, at w_C·alpha: that is the binding bucket, hence w_C = 1/2. The rest is split between the baseline alone
// (buckets well above q_B) and the product (the neighbouring bucket, where both arms have a little to say).
// Weights and tunings must be fixed before the data; they are constants here.
//
// What the product cannot beat: the canary's own evidence in q_B's bucket. In agents-latency (p95 +25% against
// +15%, buckets 2.2% wide) that is a one-arm test at about 1.7e-4 of "F_C(e131) ≥ 0.95" when F_C(e131) = 0.9364
// (bench/RESULTS.md works out what that means for detection times).
//
// Cost: in each claim one arm's evidence rises with j and the other's falls, so the buckets where w_C·C_j or
// w_A·A_j alone reaches 1/alpha are found by bisection; only the few buckets between are evaluated in full.
//
// Relation to the intervals of quantiles.ts: with the canary's ends at w_C·alpha and the baseline's at w_A·alpha,
// whenever those intervals prove a claim, this test proves it too (in every bucket one of the two single terms
// already reaches 1/alpha), so it is never slower; it can be faster.
//
// Assumptions: as quantiles.ts (i.i.d. within an arm, exact counts, a fixed bucket layout), plus independence
// between the arms. No continuity is needed: only F(x) < p for x < q and F(q) ≥ p are used.

import type { Direction } from "../types.js";
import { checkAlpha } from "./mixture.js";
import { logOneSidedMixture, logOneSidedMixtureBound, type OneSidedMixture, type Side } from "./onesided.js";
import {
  baselineTarget,
  DEFAULT_QUANTILE_TARGET,
  histogramTotal,
  mixtureFor,
  quantileInterval,
  type HistogramState,
  type QuantileState,
} from "./quantiles.js";

/** The test's weights (see the header); also the shares of alpha of the reported intervals. */
export const QUANTILE_TEST_WEIGHTS = { canary: 0.5, baseline: 0.25, joint: 0.25 } as const;

export interface QuantileBudgetOptions {
  readonly p: number;
  /** The finding's level: P(a wrong fail) ≤ alpha and P(a wrong pass) ≤ alpha, over all looks. */
  readonly alpha: number;
  readonly direction: Direction;
  /** The budget: the canary's quantile is compared with scale·q_B + shift (scale ≥ 0). */
  readonly scale: number;
  readonly shift: number;
  /** A fixed bound on the canary's quantile (upper for lowerIsBetter, lower for higherIsBetter). */
  readonly limit?: number | undefined;
  readonly targetSamples?: number | undefined;
  readonly baselineTargetSamples?: number | undefined;
  readonly lowest?: number | undefined;
}

export interface QuantileBudgetResult {
  /** The budget or the limit is proven violated. */
  readonly fail: boolean;
  /** The budget and the limit are both proven to hold. */
  readonly pass: boolean;
}

/** Cumulative counts at each finite bound, and the total. */
function cumulative(h: HistogramState): { cum: number[]; n: number } {
  const cum: number[] = [];
  let c = 0;
  for (let j = 0; j < h.bounds.length; j++) cum.push((c += h.counts[j]!));
  return { cum, n: histogramTotal(h) };
}

/** The smallest index i with bounds[i] >= x, −1 when none. */
function firstEdgeAtLeast(bounds: readonly number[], x: number): number {
  let lo = 0;
  let hi = bounds.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (bounds[mid]! >= x) hi = mid;
    else lo = mid + 1;
  }
  return lo < bounds.length ? lo : -1;
}

/** The largest index i with bounds[i] < x, −1 when none. */
function lastEdgeBelow(bounds: readonly number[], x: number): number {
  let lo = 0;
  let hi = bounds.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (bounds[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

function logSumExp3(x: number, y: number, z: number): number {
  const m = Math.max(x, y, z);
  if (m === -Infinity) return -Infinity;
  return m + Math.log(Math.exp(x - m) + Math.exp(y - m) + Math.exp(z - m));
}

/** One arm's log e-value at a bound index: exact, or −∞ for "no such bound" (a powerless e-value). */
interface ArmEvidence {
  exact(i: number): number;
  /** An upper bound on exact(i), cheap. */
  bound(i: number): number;
}

function armEvidence(m: OneSidedMixture, h: HistogramState): ArmEvidence {
  const { cum, n } = cumulative(h);
  return {
    exact: (i) => (i < 0 || n === 0 ? -Infinity : logOneSidedMixture(m, cum[i]!, n)),
    bound: (i) => (i < 0 || n === 0 ? -Infinity : logOneSidedMixtureBound(m, cum[i]!, n)),
  };
}

/**
 * min over buckets j of log E_j >= log(1/alpha), where the baseline's evidence for bucket j is at index a(j)
 * (monotone in j, direction given by `baselineRises`) and the canary's at index c(j).
 */
function refutesEveryBucket(
  buckets: number,
  baseline: ArmEvidence,
  baselineIndex: (j: number) => number,
  canary: ArmEvidence,
  canaryIndex: (j: number) => number,
  baselineRises: boolean,
  alpha: number,
): boolean {
  const w = QUANTILE_TEST_WEIGHTS;
  const L = -Math.log(alpha);
  const logWC = Math.log(w.canary);
  const logWA = Math.log(w.baseline);
  const logWAC = Math.log(w.joint);
  // Single-term sufficiency, monotone in j: the canary's term falls with j when the baseline's rises.
  const canaryAlone = (j: number) =>
    logWC + canary.bound(canaryIndex(j)) >= L && logWC + canary.exact(canaryIndex(j)) >= L;
  const baselineAlone = (j: number) =>
    logWA + baseline.bound(baselineIndex(j)) >= L && logWA + baseline.exact(baselineIndex(j)) >= L;
  // Buckets are 0..buckets−1. With baselineRises, canaryAlone holds on a prefix, baselineAlone on a suffix.
  const [first, second] = baselineRises ? [canaryAlone, baselineAlone] : [baselineAlone, canaryAlone];
  // lo: the first index where `first` fails; hi: the first index of the suffix where `second` holds.
  let lo: number;
  let hi: number;
  {
    let a = 0;
    let b = buckets;
    while (a < b) {
      const mid = (a + b) >> 1;
      if (!first(mid)) b = mid;
      else a = mid + 1;
    }
    lo = a;
  }
  {
    let a = lo;
    let b = buckets;
    while (a < b) {
      const mid = (a + b) >> 1;
      if (second(mid)) b = mid;
      else a = mid + 1;
    }
    hi = a;
  }
  for (let j = lo; j < hi; j++) {
    const la = baseline.exact(baselineIndex(j));
    const lc = canary.exact(canaryIndex(j));
    if (logSumExp3(logWC + lc, logWA + la, logWAC + la + lc) < L) return false;
  }
  return true;
}

/** Proves q_C > h(q_B) for a nondecreasing h (see the header), at level alpha. */
export function provesCanaryAbove(
  state: QuantileState,
  h: (x: number) => number,
  options: QuantileBudgetOptions,
): boolean {
  const bounds = state.baseline.bounds;
  if (bounds.length === 0 || state.canary.bounds.length !== bounds.length) return false;
  const { baseline: mB, canary: mC } = mixtures(options, "upper", "lower");
  const baseline = armEvidence(mB, state.baseline);
  const canary = armEvidence(mC, state.canary);
  const J = bounds.length;
  return refutesEveryBucket(
    J + 1,
    baseline,
    (j) => j - 1, // A_j at e_{j−1}; A_0 := 0 (index −1)
    canary,
    (j) => firstEdgeAtLeast(bounds, h(j < J ? bounds[j]! : Infinity)),
    true,
    options.alpha,
  );
}

/**
 * Proves q_C < h(q_B) for a nondecreasing h, at level alpha; with orEqual, q_C ≤ h(q_B) (the canary's evidence
 * may then sit on an edge equal to h, which is what "exactly on budget passes" needs).
 */
export function provesCanaryBelow(
  state: QuantileState,
  h: (x: number) => number,
  options: QuantileBudgetOptions,
  orEqual = false,
): boolean {
  const bounds = state.baseline.bounds;
  if (bounds.length === 0 || state.canary.bounds.length !== bounds.length) return false;
  const lowest = options.lowest ?? 0;
  const { baseline: mB, canary: mC } = mixtures(options, "lower", "upper");
  const baseline = armEvidence(mB, state.baseline);
  const canary = armEvidence(mC, state.canary);
  const J = bounds.length;
  return refutesEveryBucket(
    J + 1,
    baseline,
    (j) => (j < J ? j : -1), // evidence q_B > e_j; nothing refutes the +Inf bucket from below
    canary,
    (j) => {
      const x = h(j > 0 ? bounds[j - 1]! : lowest);
      const i = lastEdgeBelow(bounds, x);
      return orEqual && i + 1 < bounds.length && bounds[i + 1] === x ? i + 1 : i;
    },
    false,
    options.alpha,
  );
}

/**
 * The arms' mixtures: the same priors and tunings as the intervals of quantiles.ts at the arms' shares of
 * alpha (QUANTILE_TEST_WEIGHTS), so that whatever those intervals prove, this test proves too.
 */
function mixtures(
  o: QuantileBudgetOptions,
  baselineSide: Side,
  canarySide: Side,
): { baseline: OneSidedMixture; canary: OneSidedMixture } {
  const tC = o.targetSamples ?? DEFAULT_QUANTILE_TARGET;
  const tB = o.baselineTargetSamples ?? baselineTarget(tC);
  return {
    baseline: mixtureFor(baselineSide, o.p, o.alpha * QUANTILE_TEST_WEIGHTS.baseline, tB),
    canary: mixtureFor(canarySide, o.p, o.alpha * QUANTILE_TEST_WEIGHTS.canary, tC),
  };
}

/**
 * The limit's half of a pass: the canary's own one-sided bound at the whole alpha (the canary alone decides a
 * limit) is on the right side of it.
 */
function limitHolds(state: QuantileState, o: QuantileBudgetOptions): boolean {
  const iv = quantileInterval(state.canary, {
    p: o.p,
    alpha: o.alpha,
    targetSamples: o.targetSamples,
    lowest: o.lowest,
  });
  return o.direction === "lowerIsBetter" ? iv.upper <= o.limit! : iv.lower >= o.limit!;
}

/** The budget's and the limit's verdicts for a quantile (see the header). */
export function quantileBudgetTest(state: QuantileState, o: QuantileBudgetOptions): QuantileBudgetResult {
  checkAlpha(o.alpha);
  if (!(o.scale >= 0) || !Number.isFinite(o.scale) || !Number.isFinite(o.shift))
    throw new RangeError("scale must be a finite number >= 0 and shift finite");
  const g = (x: number) => (x === Infinity ? (o.scale > 0 ? Infinity : o.shift) : o.scale * x + o.shift);
  const limit = o.limit;
  if (o.direction === "lowerIsBetter") {
    const over = limit === undefined ? g : (x: number) => Math.min(g(x), limit);
    const fail = provesCanaryAbove(state, over, o);
    const pass =
      !fail && provesCanaryBelow(state, g, o, true) && (limit === undefined || limitHolds(state, o));
    return { fail, pass };
  }
  const under = limit === undefined ? g : (x: number) => Math.max(g(x), limit);
  const fail = provesCanaryBelow(state, under, o);
  const pass = !fail && provesCanaryAbove(state, g, o) && (limit === undefined || limitHolds(state, o));
  return { fail, pass };
}
