// One-sided beta-binomial mixture e-processes for a Bernoulli proportion: the building block of the quantile
// bounds in quantiles.ts.
//
// Reference: Howard, Ramdas, McAuliffe, Sekhon, "Time-uniform, nonparametric, nonasymptotic confidence
// sequences", Annals of Statistics 49(2), 2021, section 3 and Proposition 7 (beta-binomial mixture), whose
// one-sided form mixes over a Beta prior truncated to one side of the null value (as their confseq library's
// `BetaBinomialMixture(..., is_one_sided)` does, with the incomplete beta function as normalizer).
//
// Why one-sided: a verdict only ever needs one end of each bound (a fail needs the canary's lower end and the
// baseline's upper end, a pass the other two), and for a given truth only one of the two wrong verdicts is
// possible. A two-sided mixture at level α spends α on both ends at once; two one-sided mixtures at α each
// give each end its whole α, which narrows every end (about log 2 off the threshold log(1/α), plus the
// half-line prior puts all of its mass where the alternative lies).
//
// The e-process. Observations Y_1, Y_2, ... in {0, 1}, s successes and f failures after n = s + f of them.
// For θ, θ0 in (0, 1) the likelihood ratio L_θ(s, f) = (θ/θ0)^s ((1 − θ)/(1 − θ0))^f. Mix over a prior π:
//   M(s, f) = ∫ L_θ(s, f) dπ(θ).
// - "upper" (evidence that the success probability exceeds θ0): π = Beta(a, b) restricted to [θ0, 1].
//   Null: E[Y_i | past] ≤ θ0 for every i. For θ ≥ θ0 one factor has conditional mean
//   μ θ/θ0 + (1 − μ)(1 − θ)/(1 − θ0), linear and non-decreasing in μ and equal to 1 at μ = θ0, so ≤ 1 under the
//   null: each L_θ is a nonnegative supermartingale with L_θ = 1 at n = 0, and so is their π-average
//   (Fubini). Ville's inequality: P(∃n: M ≥ 1/α) ≤ α.
// - "lower" (evidence that it is below θ0): π restricted to [0, θ0]; null E[Y_i | past] ≥ θ0; the same argument
//   with the signs reversed.
// The Beta integral is closed-form:
//   M = [B(a + s, b + f) · T(a + s, b + f)] / [B(a, b) · T(a, b)] / (θ0^s (1 − θ0)^f),
// with T(A, B) = P_{Beta(A, B)}(θ ≥ θ0) for "upper" and P(θ ≤ θ0) for "lower" (regularized incomplete beta).
// M is monotone in s for fixed n = s + f (increasing for "upper", decreasing for "lower"): every L_θ is, since
// θ/θ0 and (1 − θ)/(1 − θ0) lie on opposite sides of 1. So the counts it rejects are a tail of [0, n], found by
// binary search.
//
// Numerics: the incomplete beta is evaluated in log space by its continued fraction (Numerical Recipes'
// betacf, modified Lentz) on the side where it converges fast. The fraction is slow only when θ0 sits near
// the posterior's mean, where the mixture is far below any threshold: `crossesThreshold` first checks the
// untruncated bound M ≤ M_full / T(a, b) (T ≤ 1 in the numerator) and skips the fraction when even that
// cannot reach the threshold.

import { betaContinuedFraction, logBeta } from "../stats/distributions.js";
import {
  betaConcentration,
  checkAlpha,
  checkPositive,
  firstTrueInteger,
  logBetaBinomialMixture,
} from "./mixture.js";
import { memoBoundary } from "./cache.js";

export type Side = "upper" | "lower";

/** log(1 − e^x) for x ≤ 0, accurate at both ends. */
function log1mExp(x: number): number {
  return x > -Math.LN2 ? Math.log(-Math.expm1(x)) : Math.log1p(-Math.exp(x));
}

/**
 * log P_{Beta(a, b)}(θ ≥ x) ("upper") or log P(θ ≤ x) ("lower"), 0 < x < 1, in log space so tiny tails keep
 * their precision; x and 1 − x passed separately (1 − x is exact for the caller's θ0).
 */
export function logBetaTail(side: Side, x: number, oneMinusX: number, a: number, b: number): number {
  const front = a * Math.log(x) + b * Math.log(oneMinusX) - logBeta(a, b);
  let logLower: number;
  let logUpper: number;
  if (x < (a + 1) / (a + b + 2)) {
    logLower = front + Math.log(betaContinuedFraction(x, a, b)) - Math.log(a);
    logUpper = log1mExp(Math.min(0, logLower));
  } else {
    logUpper = front + Math.log(betaContinuedFraction(oneMinusX, b, a)) - Math.log(b);
    logLower = log1mExp(Math.min(0, logUpper));
  }
  return side === "upper" ? logUpper : logLower;
}

/** A one-sided beta-binomial mixture for null value θ0, tuned for a target sample size; immutable. */
export interface OneSidedMixture {
  readonly side: Side;
  readonly theta0: number;
  readonly a: number;
  readonly b: number;
  readonly logTheta0: number;
  readonly log1mTheta0: number;
  /** log T(a, b): the prior's mass on the tested side. */
  readonly logPriorMass: number;
}

/**
 * The prior Beta(c·θ0, c·(1 − θ0)) centred at θ0, restricted to `side`. c is the concentration of mixture.ts
 * (matched to the normal mixture that is narrowest after `targetSamples` observations), computed at 2α as
 * confseq does for its one-sided mixtures: the tuning only moves where the boundary is tight, never validity.
 */
export function oneSidedMixture(
  side: Side,
  theta0: number,
  alpha: number,
  targetSamples: number,
): OneSidedMixture {
  checkAlpha(alpha);
  checkPositive("targetSamples", targetSamples);
  if (!(theta0 > 0 && theta0 < 1)) throw new RangeError(`theta0 must be in (0, 1), got ${theta0}`);
  const c = betaConcentration(targetSamples, Math.min(2 * alpha, 0.5));
  const a = c * theta0;
  const b = c * (1 - theta0);
  return {
    side,
    theta0,
    a,
    b,
    logTheta0: Math.log(theta0),
    log1mTheta0: Math.log1p(-theta0),
    logPriorMass: logBetaTail(side, theta0, 1 - theta0, a, b),
  };
}

/** log M(s, n − s): the mixture e-process after s successes in n observations. */
export function logOneSidedMixture(m: OneSidedMixture, s: number, n: number): number {
  const full = logBetaBinomialMixture(s, n - s, m.logTheta0, m.log1mTheta0, m.a, m.b);
  return full + logBetaTail(m.side, m.theta0, 1 - m.theta0, m.a + s, m.b + n - s) - m.logPriorMass;
}

/** M(s, n − s) >= 1/alpha, skipping the incomplete beta where the untruncated bound already says no. */
function crossesThreshold(m: OneSidedMixture, s: number, n: number, logThreshold: number): boolean {
  const full = logBetaBinomialMixture(s, n - s, m.logTheta0, m.log1mTheta0, m.a, m.b);
  if (full - m.logPriorMass < logThreshold) return false;
  const tail = logBetaTail(m.side, m.theta0, 1 - m.theta0, m.a + s, m.b + n - s);
  return full + tail - m.logPriorMass >= logThreshold;
}

/**
 * The rejection boundary after n observations at level alpha:
 * - "upper": the smallest s with M(s) >= 1/alpha (every count >= it is rejected), n + 1 when none is;
 * - "lower": the largest s with M(s) >= 1/alpha (every count <= it is rejected), −1 when none is.
 * For s on the null's side of n·θ0 every L_θ is < 1, so the search runs over the other side only.
 */
export function rejectionBoundary(m: OneSidedMixture, n: number, alpha: number): number {
  checkAlpha(alpha);
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`n must be an integer >= 0, got ${n}`);
  return memoBoundary(m, n, alpha, () => searchBoundary(m, n, alpha));
}

function searchBoundary(m: OneSidedMixture, n: number, alpha: number): number {
  const logThreshold = -Math.log(alpha);
  const centre = n * m.theta0;
  if (m.side === "upper") {
    const from = Math.min(n, Math.floor(centre));
    return firstTrueInteger(from, n, (s) => crossesThreshold(m, s, n, logThreshold));
  }
  const to = Math.max(0, Math.ceil(centre));
  // The last s in [0, to] that crosses: the predicate "s does NOT cross" is false then true.
  return firstTrueInteger(0, to, (s) => !crossesThreshold(m, s, n, logThreshold)) - 1;
}

/** A cheap upper bound on log M(s, n − s): the untruncated mixture over the prior's mass (the tail is <= 1). */
export function logOneSidedMixtureBound(m: OneSidedMixture, s: number, n: number): number {
  return logBetaBinomialMixture(s, n - s, m.logTheta0, m.log1mTheta0, m.a, m.b) - m.logPriorMass;
}
