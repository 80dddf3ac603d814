// The coverage simulation behind the mean test's A/A unit tests (src/core/sequential/means-coverage.test.ts) and
// its larger bench (bench/means-coverage/run.ts): the same code at two sizes.
//
// A run feeds the two arms per-look batches (count, sum, sum of squares), as the operator does, with the canary
// taking `canaryShare` of the traffic (0.1: a 10/90 split); the first look comes when the canary has
// `firstCanary` values. The run MISSES when the interval for θ = μC − μB excludes the true θ at ANY look. A
// confidence sequence at level alpha misses in at most a fraction alpha of runs.
//
// Monte Carlo error: `misses` of `runs` is Binomial(runs, rate). `upper95` is the one-sided 95% Clopper-Pearson
// upper bound on the rate; `limit` is the largest count a method with rate exactly alpha exceeds with probability
// below 0.1% (the 99.9% quantile of Binomial(runs, alpha)), which the unit tests assert against.
import { binomialCdf } from "../../src/core/stats/distributions.js";
import { createRng, type Rng } from "../../src/core/stats/random.js";
import {
  initialMeansState,
  meansContrastInterval,
  updateMeans,
  type MeansState,
} from "../../src/core/sequential/means.js";
import { gamma } from "../../src/sim/sampling.js";

export interface Population {
  readonly name: string;
  readonly draw: (rng: Rng) => number;
  readonly mean: number;
  /** Declared bounds, for the bounded sequence; none for the asymptotic one. */
  readonly bounds?: readonly [number, number] | undefined;
}

export const lognormal = (sigma: number): Population => ({
  name: `lognormal(0, ${sigma})`,
  draw: (r) => r.lognormal(0, sigma),
  mean: Math.exp((sigma * sigma) / 2),
});

/** A skewed ratio in [0, 1] (mean 1/11, skewness about 2.4), declared with bounds [0, 1]. */
export const betaRatio: Population = {
  name: "Beta(0.5, 5) ratio, bounds [0, 1]",
  draw: (r) => {
    const a = gamma(r, 0.5);
    return a / (a + gamma(r, 5));
  },
  mean: 0.5 / 5.5,
  bounds: [0, 1],
};

/** Speaker similarity with a long tail of poor takes (1 − 0.6·Beta(1, 8), by inversion): mean 0.933, bounds [-1, 1]. */
export const skewedSimilarity: Population = {
  name: "similarity 1 - 0.6 Beta(1, 8), bounds [-1, 1]",
  draw: (r) => 1 - 0.6 * (1 - Math.pow(1 - r.next(), 1 / 8)),
  mean: 1 - 0.6 / 9,
  bounds: [-1, 1],
};

export interface AaOptions {
  readonly population: Population;
  readonly alphas: readonly number[];
  readonly runs: number;
  readonly looks: number;
  readonly seed: number;
  readonly canaryShare?: number;
  readonly firstCanary?: number;
  readonly canaryPerLook?: number;
  /** The canary's values are the population's times this (θ = (scale − 1)·mean); 1 is A/A. */
  readonly canaryScale?: number;
}

export interface AaResult {
  readonly population: string;
  readonly alpha: number;
  readonly runs: number;
  readonly misses: number;
  readonly rate: number;
  readonly upper95: number;
  readonly limit: number;
  /** Misses with the interval entirely below θ (canary looked better than it is) and entirely above. */
  readonly below: number;
  readonly above: number;
}

function batch(rng: Rng, n: number, draw: (r: Rng) => number, scale: number) {
  let sum = 0;
  let sumSquares = 0;
  for (let i = 0; i < n; i++) {
    const x = scale * draw(rng);
    sum += x;
    sumSquares += x * x;
  }
  return { count: n, sum, sumSquares };
}

/** One-sided upper confidence bound (level 1 − delta) on a binomial rate from `k` of `n` (Clopper-Pearson). */
export function binomialUpper(k: number, n: number, delta = 0.05): number {
  if (k >= n) return 1;
  let lo = k / n;
  let hi = 1;
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    if (binomialCdf(k, n, mid) > delta) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** The smallest count q with P(Binomial(n, p) > q) < delta. */
export function binomialLimit(n: number, p: number, delta = 0.001): number {
  let q = 0;
  while (1 - binomialCdf(q, n, p) >= delta) q++;
  return q;
}

export function simulateAa(options: AaOptions): AaResult[] {
  const { population: pop, alphas, runs, looks } = options;
  const share = options.canaryShare ?? 0.1;
  const scale = options.canaryScale ?? 1;
  const theta = (scale - 1) * pop.mean;
  const first = options.firstCanary ?? 30;
  const perLook = options.canaryPerLook ?? 5;
  const rng = createRng(options.seed);
  const below = alphas.map(() => 0);
  const above = alphas.map(() => 0);
  for (let run = 0; run < runs; run++) {
    let state: MeansState = initialMeansState(pop.bounds);
    const missed = alphas.map(() => false);
    for (let look = 0; look < looks; look++) {
      const c = look === 0 ? first : perLook;
      const b = Math.round((c * (1 - share)) / share);
      const update = { canary: batch(rng, c, pop.draw, scale), baseline: batch(rng, b, pop.draw, 1) };
      state = updateMeans(state, update);
      alphas.forEach((alpha, i) => {
        if (missed[i]) return;
        const iv = meansContrastInterval(state, { alpha, k: 1 });
        if (iv.upper < theta) {
          missed[i] = true;
          below[i]!++;
        } else if (iv.lower > theta) {
          missed[i] = true;
          above[i]!++;
        }
      });
    }
  }
  return alphas.map((alpha, i) => {
    const misses = below[i]! + above[i]!;
    return {
      population: pop.name + (scale === 1 ? "" : `, canary x${scale}`),
      alpha,
      runs,
      misses,
      rate: misses / runs,
      upper95: binomialUpper(misses, runs),
      limit: binomialLimit(runs, alpha),
      below: below[i]!,
      above: above[i]!,
    };
  });
}
