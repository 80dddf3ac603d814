// Fixed-sample confidence intervals for the offline gate (docs/statistics.md#the-offline-gate-one-look: one
// look, so classical intervals are valid). Every function is two-sided at `confidence` with each tail at most
// (1 − confidence)/2, so the judge may read either end as a one-sided bound at (1 + confidence)/2.
//
// References per method are given at each function.

import type { Interval } from "../types.js";
import { binomialCdf, normalQuantile, studentTQuantile } from "./distributions.js";

const WHOLE_LINE: Interval = { lower: -Infinity, upper: Infinity };

/** t critical value for a two-sided interval; NaN df (no variance estimate) gives Infinity. */
function tCritical(confidence: number, df: number): number {
  if (!(df > 0)) return Infinity;
  return studentTQuantile((1 + confidence) / 2, df);
}

/**
 * Welch–Satterthwaite degrees of freedom (Welch 1947; Satterthwaite 1946) from the variances of the
 * two means (s²/n) and the sample sizes:  (vC + vB)² / (vC²/(nC−1) + vB²/(nB−1)).
 * WHY: the two arms of a canary rarely share a variance, so the pooled t is wrong; Welch's df
 * lies between min(nC, nB) − 1 and nC + nB − 2. When both variances are zero (constant data) the
 * width is zero anyway and nC + nB − 2 is returned; NaN when an arm has fewer than 2 values.
 */
export function welchDf(varMeanC: number, nC: number, varMeanB: number, nB: number): number {
  if (nC < 2 || nB < 2 || Number.isNaN(varMeanC) || Number.isNaN(varMeanB)) return NaN;
  const num = (varMeanC + varMeanB) ** 2;
  const den = (varMeanC * varMeanC) / (nC - 1) + (varMeanB * varMeanB) / (nB - 1);
  if (den === 0) return nC + nB - 2;
  return num / den;
}

/**
 * Two estimated means (canary C, baseline B) with the variances of the means, their covariance
 * (0 for independent arms; sample covariance / n for paired data) and the df for the t critical
 * value (n − 1 paired; welchDf for independent arms).
 */
export interface ContrastInput {
  meanC: number;
  meanB: number;
  varMeanC: number;
  varMeanB: number;
  covMeans: number;
  df: number;
}

/**
 * CI for μC − μB: (meanC − meanB) ± t_{(1+conf)/2, df} · sqrt(varMeanC + varMeanB − 2 covMeans).
 * Welch (1947) for independent arms; the paired t (Student 1908) when covMeans and df come from pairs.
 * Without a variance estimate (NaN, fewer than 2 values) the interval is the whole line: nothing is known.
 */
export function differenceInterval(x: ContrastInput, confidence: number): Interval {
  const v = Math.max(0, x.varMeanC + x.varMeanB - 2 * x.covMeans); // clamp rounding below 0
  const d = x.meanC - x.meanB;
  if (Number.isNaN(v) || Number.isNaN(d)) return WHOLE_LINE;
  const half = tCritical(confidence, x.df) * Math.sqrt(v);
  if (!Number.isFinite(half)) return WHOLE_LINE;
  return { lower: d - half, upper: d + half };
}

/**
 * Fieller's (1954) CI for the ratio μC / μB: all ρ with
 *   (meanC − ρ·meanB)² ≤ t² (varMeanC − 2ρ·covMeans + ρ²·varMeanB),
 * i.e. the ρ for which μC − ρμB = 0 is not rejected. WHY not delta-method: the ratio's sampling
 * distribution is skewed when the baseline is noisy, and Fieller is exact under normal means.
 *
 * Returns null when the set is not a bounded interval: meanB² − t²·varMeanB <= 0, i.e. the baseline
 * mean is not significantly different from 0. Then a relative budget ("+15% of baseline") cannot be
 * judged at this confidence: the ratio could be anything, including negative or infinite.
 */
export function ratioInterval(x: ContrastInput, confidence: number): Interval | null {
  const t = tCritical(confidence, x.df);
  const t2 = t * t;
  const a = x.meanB * x.meanB - t2 * x.varMeanB;
  if (!(a > 0) || !Number.isFinite(a)) return null;
  const halfB = x.meanC * x.meanB - t2 * x.covMeans; // quadratic a ρ² − 2 halfB ρ + c ≤ 0
  const c = x.meanC * x.meanC - t2 * x.varMeanC;
  // With a > 0 the quadratic is ≤ 0 at ρ = meanC/meanB, so the discriminant is ≥ 0 up to rounding.
  const disc = Math.max(0, halfB * halfB - a * c);
  const root = Math.sqrt(disc);
  return { lower: (halfB - root) / a, upper: (halfB + root) / a };
}

/**
 * Sample p-quantile, Hyndman & Fan (1996) type 7 (R's and NumPy's default): linear interpolation
 * between order statistics at h = (n − 1)p. `sorted` ascending, n >= 1.
 */
export function quantileEstimate(sorted: Float64Array, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const h = (n - 1) * Math.min(1, Math.max(0, p));
  const lo = Math.floor(h);
  const xLo = sorted[lo]!;
  if (lo + 1 >= n) return xLo;
  return xLo + (h - lo) * (sorted[lo + 1]! - xLo);
}

/**
 * Distribution-free CI for the p-quantile ξ_p from order statistics (Thompson 1936; Hahn & Meeker
 * 1991, section 5.2). With Y ~ Binomial(n, p):
 *   P[x_(l) > ξ_p] <= P[Y <= l−1],   P[x_(u) < ξ_p] <= P[Y >= u],
 * with equality for continuous data (and the inequalities keep discrete data conservative).
 * Ranks are chosen equal-tailed: l is the largest rank whose lower tail is <= (1−conf)/2 and u the
 * smallest whose upper tail is <= (1−conf)/2, so coverage >= confidence and each end is a valid
 * one-sided bound. When no rank satisfies a side (small n, extreme p) that side is ∓Infinity: the
 * sample cannot bound it. Ranks are found by binary search on the exact binomial CDF, so no
 * normal approximation is needed even for large n. `sorted` ascending.
 */
export function quantileInterval(sorted: Float64Array, p: number, confidence: number): Interval {
  const n = sorted.length;
  if (n === 0) return WHOLE_LINE;
  const tail = (1 - confidence) / 2;
  // Lower: largest l in 1..n with F(l−1) <= tail (F nondecreasing).
  let lower = -Infinity;
  if (binomialCdf(0, n, p) <= tail) {
    let lo = 1; // satisfies
    let hi = n + 1; // F(n) = 1 > tail: fails
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1;
      if (binomialCdf(mid - 1, n, p) <= tail) lo = mid;
      else hi = mid;
    }
    lower = sorted[lo - 1]!;
  }
  // Upper: smallest u in 1..n with 1 − F(u−1) <= tail.
  let upper = Infinity;
  if (1 - binomialCdf(n - 1, n, p) <= tail) {
    let lo = 0; // 1 − F(−1) = 1 > tail: fails
    let hi = n; // satisfies
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1;
      if (1 - binomialCdf(mid - 1, n, p) <= tail) hi = mid;
      else lo = mid;
    }
    upper = sorted[hi - 1]!;
  }
  return { lower, upper };
}

/**
 * CI for pC − k·pB (k = 1: plain difference; k = 1 + r: "canary rate at most (1+r)× baseline"),
 * Agresti & Caffo (2000): add one success and one failure to each arm, then the Wald interval on
 * the adjusted estimates p̃ = (x+1)/(n+2) with ñ = n+2. WHY: the plain Wald interval collapses to a
 * point when counts are zero (common for error and underrun rates near 0) and undercovers badly for
 * rare events; the adjustment fixes both at no cost. Clamped to the possible range [−k, 1].
 */
export function proportionDifferenceInterval(
  xC: number,
  nC: number,
  xB: number,
  nB: number,
  k: number,
  confidence: number,
): Interval {
  const nCt = nC + 2;
  const nBt = nB + 2;
  const pC = (xC + 1) / nCt;
  const pB = (xB + 1) / nBt;
  const d = pC - k * pB;
  const se = Math.sqrt((pC * (1 - pC)) / nCt + (k * k * (pB * (1 - pB))) / nBt);
  const half = normalQuantile((1 + confidence) / 2) * se;
  return { lower: Math.max(-k, d - half), upper: Math.min(1, d + half) };
}

/**
 * Wilson (1927) score interval for one proportion x/n. WHY not Wald: it stays inside [0, 1] and
 * keeps close to nominal coverage for small x (Brown, Cai & DasGupta 2001). n = 0 gives [0, 1].
 */
export function wilsonInterval(x: number, n: number, confidence: number): Interval {
  if (!(n > 0)) return { lower: 0, upper: 1 };
  const z = normalQuantile((1 + confidence) / 2);
  const z2 = z * z;
  const center = (x + z2 / 2) / (n + z2);
  const half = (z / (n + z2)) * Math.sqrt((x * (n - x)) / n + z2 / 4);
  return { lower: Math.max(0, center - half), upper: Math.min(1, center + half) };
}

/** One-sample t interval (Student 1908): mean ± t_{(1+conf)/2, df} · sqrt(varMean). */
export function meanInterval(mean: number, varMean: number, df: number, confidence: number): Interval {
  if (Number.isNaN(mean) || Number.isNaN(varMean)) return WHOLE_LINE;
  const half = tCritical(confidence, df) * Math.sqrt(Math.max(0, varMean));
  if (!Number.isFinite(half)) return WHOLE_LINE;
  return { lower: mean - half, upper: mean + half };
}
