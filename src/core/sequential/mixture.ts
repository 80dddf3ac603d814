// Shared pieces of the mixture boundaries behind the online (anytime-valid) analysis: the tuning of a
// normal-mixture boundary for a target sample size, the beta-binomial mixture martingale, and the
// monotone searches that invert a test into a confidence sequence.
//
// References:
// - Robbins (1970), "Statistical methods related to the law of the iterated logarithm": the normal
//   mixture martingale and Ville's inequality P(∃t: M_t ≥ 1/α) ≤ α.
// - Howard, Ramdas, McAuliffe, Sekhon (2021), "Time-uniform, nonparametric, nonasymptotic confidence
//   sequences", Annals of Statistics 49(2): the two-sided normal mixture boundary
//   |S_t| ≤ sqrt((V_t + 1/ρ²) · 2 log(sqrt(1 + ρ² V_t) / α)) in intrinsic time V_t, and the
//   beta-binomial mixture for Bernoulli observations.
// - Waudby-Smith, Arbour, Sinha, Kennedy, Ramdas (2024), "Time-uniform central limit theory and
//   asymptotic confidence sequences", Annals of Statistics (arXiv 2103.06476): the same boundary with
//   a plug-in variance, and the choice of ρ for a target time t* (their R package drconfseq,
//   `best_rho2_exact`).

import { logBeta } from "../stats/distributions.js";
import { memoPriorLogBeta } from "./cache.js";

/** Throws unless 0 < alpha < 1. */
export function checkAlpha(alpha: number): void {
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`alpha must be in (0, 1), got ${alpha}`);
}

/** Throws unless x is a finite number > 0. */
export function checkPositive(name: string, x: number): void {
  if (!(x > 0) || !Number.isFinite(x))
    throw new RangeError(`${name} must be a positive finite number, got ${x}`);
}

/**
 * x* = ρ²·t*: the value of ρ² times the target time that makes the two-sided normal mixture boundary
 * narrowest at the target. The width at time t is proportional to sqrt((x + 1)/x · (log(1 + x) − 2 log α))
 * with x = ρ² t; its derivative vanishes where x = −2 log α + log(1 + x), which we solve by fixed-point
 * iteration (a contraction: the derivative of the right side is 1/(1 + x) < 1). This equals
 * −W₋₁(−α²/e) − 1; the closed form ρ² = (−2 log α + log(−2 log α + 1)) / t* quoted by
 * Waudby-Smith et al. is the first iterate.
 */
export function optimalMixtureRatio(alpha: number): number {
  checkAlpha(alpha);
  const l = -2 * Math.log(alpha);
  let x = l + Math.log1p(l);
  for (let i = 0; i < 100; i++) {
    const next = l + Math.log1p(x);
    if (Math.abs(next - x) <= 1e-13 * next) return next;
    x = next;
  }
  return x;
}

/** ρ² of the normal mixture tuned so the boundary is narrowest after `targetSamples` (standardized) samples. */
export function mixtureRho2(alpha: number, targetSamples: number): number {
  checkPositive("targetSamples", targetSamples);
  return optimalMixtureRatio(alpha) / targetSamples;
}

/**
 * The multiplier m of the two-sided normal mixture confidence sequence in standardized units: at
 * (effective) time t the radius is m · sd(estimate), with
 * m² = (tρ² + 1)/(tρ²) · 2 log(sqrt(tρ² + 1)/α). (For one mean, sd = σ/√t and this is the
 * margin σ·sqrt(2(tρ²+1)/(t²ρ²) · log(sqrt(tρ²+1)/α)) of Waudby-Smith et al.)
 */
export function normalMixtureMultiplier(t: number, rho2: number, alpha: number): number {
  const x = t * rho2;
  if (!(x > 0)) return Infinity;
  return Math.sqrt(((x + 1) / x) * (Math.log1p(x) - 2 * Math.log(alpha)));
}

/**
 * Concentration c of a Beta(c·p, c·(1 − p)) mixing prior over a Bernoulli parameter centred at p, matched to
 * the normal mixture tuned for `target` observations: in intrinsic time V = t·p(1−p) the tuned mixing
 * variance on the natural parameter is x⋆ / V⋆, i.e. a prior variance x⋆·p(1−p) / t⋆ on the probability
 * itself, and Beta(c p, c(1−p)) has variance p(1−p)/(c + 1). Hence c = t⋆ / x⋆ − 1 (floored as in the
 * confseq library, which parametrizes the same prior by r = ρ − g·h).
 */
export function betaConcentration(target: number, alpha: number): number {
  checkPositive("target", target);
  return Math.max(target / optimalMixtureRatio(alpha) - 1, 1e-3);
}

/** s·log(x) with the convention 0·log 0 = 0. */
function xlogy(s: number, logX: number): number {
  return s === 0 ? 0 : s * logX;
}

/**
 * log of the beta-binomial mixture martingale for `successes` and `failures` Bernoulli observations
 * tested against success probability p0 (given as log p0 and log(1 − p0) so callers keep precision),
 * with a Beta(a, b) mixing prior:
 *   log [ B(a + s, b + f) / B(a, b) ] − s·log p0 − f·log(1 − p0).
 * Under i.i.d. Bernoulli(p0) observations this is a nonnegative martingale with initial value 1.
 */
export function logBetaBinomialMixture(
  successes: number,
  failures: number,
  logP0: number,
  log1mP0: number,
  a: number,
  b: number,
): number {
  return (
    logBeta(a + successes, b + failures) -
    memoPriorLogBeta(a, b, () => logBeta(a, b)) -
    xlogy(successes, logP0) -
    xlogy(failures, log1mP0)
  );
}

/** softplus(x) = log(1 + e^x), without overflow. log σ(z) = −softplus(−z), log(1 − σ(z)) = −softplus(z). */
export function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

/**
 * The smallest integer s in [lo, hi] with pred(s) true, for a predicate that is false then true on the
 * range; hi + 1 when it is never true.
 */
export function firstTrueInteger(lo: number, hi: number, pred: (s: number) => boolean): number {
  let a = lo;
  let b = hi + 1;
  while (a < b) {
    const mid = Math.floor((a + b) / 2);
    if (pred(mid)) b = mid;
    else a = mid + 1;
  }
  return a;
}

/**
 * Bisection on [inside, outside] for the boundary of a set: pred(inside) is true, pred(outside) false,
 * and the answer is the last bracket end where pred is false (so the returned point is never inside the
 * set: using it as an interval end is conservative).
 */
export function bisectBoundary(inside: number, outside: number, pred: (x: number) => boolean): number {
  let a = inside;
  let b = outside;
  for (let i = 0; i < 200; i++) {
    const mid = (a + b) / 2;
    if (mid === a || mid === b) break;
    if (pred(mid)) a = mid;
    else b = mid;
    if (Math.abs(b - a) <= 1e-12 * Math.max(1, Math.abs(a))) break;
  }
  return b;
}
