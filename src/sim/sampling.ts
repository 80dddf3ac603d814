// Samplers for the simulated fleet, on top of the seeded `Rng` (src/core/stats/random.ts). The fleet draws
// per-look AGGREGATES (how many requests, how many events, a histogram's counts, a sum and a sum of squares)
// directly from their sampling distributions instead of drawing each request: a two-hour rollout over 300
// voices is then a few hundred thousand draws, not millions.
//
// Every sampler is exact (draws from the stated distribution up to floating point), none is an approximation:
// - Poisson: the Rng's own sampler, Knuth (1969) for lambda < 30 and Hörmann's (1993) PTRS transformed
//   rejection above.
// - Binomial: inversion by sequential search (Kachitvichyanukul & Schmeiser 1988, BINV) while n·min(p, 1−p)
//   < 10, where it takes about n·p + 1 steps; above, Hörmann's (1993) BTRS transformed rejection with the
//   exact acceptance test against log-factorials (about 1.2 uniforms per draw, no approximation: BTRS is a
//   rejection sampler, so its output is exactly binomial whatever the squeeze).
// - Gamma: Marsaglia & Tsang (2000), "A simple method for generating gamma variables", ACM TOMS 26(3);
//   shape < 1 by Stuart's boost Gamma(a) = Gamma(a + 1)·U^(1/a). Chi-square(k) = 2·Gamma(k/2).
// - Multinomial: per-item inversion over the cumulative probabilities (with a guide table, Chen & Asau 1974:
//   O(1) expected per item) when n is small against the number of categories, else conditional binomials (the first category's count is
//   Binomial(n, p1), the next Binomial(n − c1, p2/(1 − p1)), ...), stopping once every item is placed.
import { logGamma } from "../core/stats/distributions.js";
import type { Rng } from "../core/stats/random.js";

/** Poisson(lambda); 0 for lambda <= 0. */
export function poisson(rng: Rng, lambda: number): number {
  return rng.poisson(lambda);
}

const LOG_FACTORIALS: Float64Array = (() => {
  const t = new Float64Array(256);
  for (let i = 2; i < t.length; i++) t[i] = t[i - 1]! + Math.log(i);
  return t;
})();

function logFactorial(k: number): number {
  return k < LOG_FACTORIALS.length ? LOG_FACTORIALS[k]! : logGamma(k + 1);
}

/** Inversion for p <= 0.5 and n·p < 10 (BINV). */
function binomialInversion(rng: Rng, n: number, p: number): number {
  const q = 1 - p;
  const s = p / q;
  const a = (n + 1) * s;
  const r0 = Math.exp(n * Math.log1p(-p));
  for (;;) {
    let r = r0;
    let u = rng.next();
    let k = 0;
    while (u > r) {
      u -= r;
      k++;
      if (k > n) break; // rounding left u above the total mass: draw again
      r *= a / k - s;
    }
    if (k <= n) return k;
  }
}

/** BTRS for p <= 0.5 and n·p >= 10 (Hörmann 1993, "The generation of binomial random variates"). */
function binomialBtrs(rng: Rng, n: number, p: number): number {
  const q = 1 - p;
  const spq = Math.sqrt(n * p * q);
  const b = 1.15 + 2.53 * spq;
  const a = -0.0873 + 0.0248 * b + 0.01 * p;
  const c = n * p + 0.5;
  const alpha = (2.83 + 5.1 / b) * spq;
  const vr = 0.92 - 4.2 / b;
  const m = Math.floor((n + 1) * p);
  const lpq = Math.log(p / q);
  const h = logFactorial(m) + logFactorial(n - m);
  for (;;) {
    const u = rng.next() - 0.5;
    const v = rng.next();
    const us = 0.5 - Math.abs(u);
    const k = Math.floor(((2 * a) / us + b) * u + c);
    if (us >= 0.07 && v <= vr) return k; // inside the squeeze: accepted without evaluating the pmf
    if (k < 0 || k > n) continue;
    // Accept when v under the hat is below f(k)/f(m), f the binomial pmf.
    const lhs = Math.log((v * alpha) / (a / (us * us) + b));
    if (lhs <= h - logFactorial(k) - logFactorial(n - k) + (k - m) * lpq) return k;
  }
}

/** Binomial(n, p): n a whole number >= 0, p in [0, 1] (clamped). */
export function binomial(rng: Rng, n: number, p: number): number {
  if (n <= 0 || !(p > 0)) return 0;
  if (p >= 1) return n;
  if (p > 0.5) return n - binomial(rng, n, 1 - p);
  return n * p < 10 ? binomialInversion(rng, n, p) : binomialBtrs(rng, n, p);
}

/** Gamma(shape, 1) by Marsaglia & Tsang; 0 for shape <= 0. */
export function gamma(rng: Rng, shape: number): number {
  if (!(shape > 0)) return 0;
  if (shape < 1) {
    // Gamma(a) = Gamma(a + 1) · U^(1/a); 1 − next() is in (0, 1], so the power never becomes 0^(1/a) by accident.
    return gamma(rng, shape + 1) * Math.pow(1 - rng.next(), 1 / shape);
  }
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = rng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - rng.next(); // (0, 1]
    const x2 = x * x;
    if (u < 1 - 0.0331 * x2 * x2) return d * v;
    if (Math.log(u) < 0.5 * x2 + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** Chi-square with `df` degrees of freedom (any df >= 0; 0 for df = 0). */
export function chiSquare(rng: Rng, df: number): number {
  return df > 0 ? 2 * gamma(rng, df / 2) : 0;
}

/**
 * A categorical distribution prepared for repeated multinomial draws: `probabilities[j]` of category j and
 * `cumulative[j]` = probabilities[0] + ... + probabilities[j], the last exactly 1.
 */
export interface Categorical {
  readonly probabilities: Float64Array;
  readonly cumulative: Float64Array;
  /** The last category with a positive probability. */
  readonly last: number;
  /** Guide table (Chen & Asau 1974): guide[g] is the first category with cumulative > g / guide.length. */
  readonly guide: Int32Array;
}

/** Normalise non-negative weights (at least one positive) into a categorical distribution. */
export function categorical(weights: ArrayLike<number>): Categorical {
  const k = weights.length;
  let total = 0;
  for (let j = 0; j < k; j++) {
    const w = weights[j]!;
    if (!(w >= 0) || !Number.isFinite(w)) throw new RangeError(`weight ${j} is ${w}, expected >= 0`);
    total += w;
  }
  if (!(total > 0)) throw new RangeError("expected at least one positive weight");
  const probabilities = new Float64Array(k);
  const cumulative = new Float64Array(k);
  let acc = 0;
  for (let j = 0; j < k; j++) {
    probabilities[j] = weights[j]! / total;
    acc += probabilities[j]!;
    cumulative[j] = acc;
  }
  // The last category takes what rounding left over, so a uniform draw always lands somewhere.
  let last = k - 1;
  while (last > 0 && probabilities[last] === 0) last--;
  for (let j = last; j < k; j++) cumulative[j] = 1;
  const guide = new Int32Array(k);
  for (let g = 0, j = 0; g < k; g++) {
    while (cumulative[j]! <= g / k) j++;
    guide[g] = j;
  }
  return { probabilities, cumulative, last, guide };
}

/**
 * Add a Multinomial(n, dist) draw into `counts` (same length as the distribution; counts[j] += the items of
 * category j). Cost: O(n) for n <= 2k, else O(k) binomial draws at most.
 */
export function addMultinomial(rng: Rng, n: number, dist: Categorical, counts: Float64Array): void {
  const k = dist.probabilities.length;
  if (n <= 0) return;
  if (n <= 2 * k) {
    // Inversion with the guide table: about two comparisons per item.
    const cum = dist.cumulative;
    const guide = dist.guide;
    const g = guide.length;
    for (let i = 0; i < n; i++) {
      const u = rng.next();
      let j = guide[Math.floor(u * g)]!;
      while (u >= cum[j]!) j++;
      counts[j]!++;
    }
    return;
  }
  let remaining = n;
  let mass = 1;
  for (let j = 0; j < dist.last && remaining > 0; j++) {
    const p = dist.probabilities[j]!;
    if (p === 0) continue;
    const c = mass > p ? binomial(rng, remaining, p / mass) : remaining;
    counts[j]! += c;
    remaining -= c;
    mass -= p;
  }
  counts[dist.last]! += remaining;
}
