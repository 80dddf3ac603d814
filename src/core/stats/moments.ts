// Streaming first and second moments, so the gate can read evaluation files of any size in one pass.
//
// WHY Welford rather than sums of squares: sum(x²) − n·mean² cancels catastrophically when the mean
// is large against the spread (e.g. latencies of 200 ms ± 0.5 ms, or speaker similarity 0.70 ± 0.03).
// Welford's update keeps the sum of squared deviations directly.
//
// References:
// - Welford (1962), "Note on a method for calculating corrected sums of squares and products".
// - Chan, Golub & LeVeque (1979/1983), pairwise merge of (n, mean, M2), for combining partial
//   accumulators (e.g. per file or per worker).
// - The co-moment update for paired data is the bivariate form of Welford's method
//   (Pébay 2008, "Formulas for robust, one-pass parallel computation of covariances").

/** n values, their mean, and m2 = Σ (x − mean)². */
export interface Moments {
  n: number;
  mean: number;
  m2: number;
}

export function emptyMoments(): Moments {
  return { n: 0, mean: 0, m2: 0 };
}

/** Adds one value (mutates). */
export function addValue(m: Moments, x: number): void {
  m.n += 1;
  const delta = x - m.mean;
  m.mean += delta / m.n;
  m.m2 += delta * (x - m.mean); // uses the old and the new mean: exact Welford step
}

/** Combines two accumulators (Chan et al.); inputs are not modified. */
export function mergeMoments(a: Moments, b: Moments): Moments {
  if (a.n === 0) return { ...b };
  if (b.n === 0) return { ...a };
  const n = a.n + b.n;
  const delta = b.mean - a.mean;
  return {
    n,
    mean: a.mean + (delta * b.n) / n,
    m2: a.m2 + b.m2 + (delta * delta * a.n * b.n) / n,
  };
}

/** Unbiased sample variance m2 / (n − 1); NaN when n < 2 (no spread can be estimated). */
export function sampleVariance(m: Moments): number {
  return m.n < 2 ? NaN : m.m2 / (m.n - 1);
}

/**
 * Paired (canary, baseline) values: both means, both m2, and the co-moment
 * cov = Σ (c − meanC)(b − meanB).
 */
export interface CoMoments {
  n: number;
  meanC: number;
  meanB: number;
  m2C: number;
  m2B: number;
  cov: number;
}

export function emptyCoMoments(): CoMoments {
  return { n: 0, meanC: 0, meanB: 0, m2C: 0, m2B: 0, cov: 0 };
}

/** Adds one pair (mutates): canary value c, baseline value b. */
export function addPair(m: CoMoments, c: number, b: number): void {
  m.n += 1;
  const dC = c - m.meanC;
  const dB = b - m.meanB;
  m.meanC += dC / m.n;
  m.meanB += dB / m.n;
  m.m2C += dC * (c - m.meanC);
  m.m2B += dB * (b - m.meanB);
  m.cov += dC * (b - m.meanB); // old-mean deviation of c times new-mean deviation of b (Pébay 2008)
}

/** Combines two paired accumulators (Chan et al. / Pébay 2008); inputs are not modified. */
export function mergeCoMoments(a: CoMoments, b: CoMoments): CoMoments {
  if (a.n === 0) return { ...b };
  if (b.n === 0) return { ...a };
  const n = a.n + b.n;
  const dC = b.meanC - a.meanC;
  const dB = b.meanB - a.meanB;
  const w = (a.n * b.n) / n;
  return {
    n,
    meanC: a.meanC + (dC * b.n) / n,
    meanB: a.meanB + (dB * b.n) / n,
    m2C: a.m2C + b.m2C + dC * dC * w,
    m2B: a.m2B + b.m2B + dB * dB * w,
    cov: a.cov + b.cov + dC * dB * w,
  };
}

/** Unbiased sample covariance cov / (n − 1); NaN when n < 2. */
export function sampleCovariance(m: CoMoments): number {
  return m.n < 2 ? NaN : m.cov / (m.n - 1);
}
