// A small seeded PRNG for simulations (coverage tests, A/A calibration, benchmarks).
//
// WHY not Math.random: results must be reproducible from a seed, so a failing simulation can be
// replayed and a test's figures are stable across machines and Node versions.
//
// References:
// - sfc32, Chris Doty-Humphrey's "Small Fast Counting" generator from PractRand (2010s); passes
//   PractRand and BigCrush; 128-bit state, 32-bit output.
// - splitmix32 (a 32-bit variant of Steele, Lea & Flood 2014, SplitMix) to spread one seed over the state.
// - Normal deviates: Marsaglia & Bray (1964) polar method.
// - Poisson: Knuth (1969) multiplication method for small lambda; for large lambda the PTRS
//   transformed rejection of Hörmann (1993).

import { logGamma } from "./distributions.js";

export interface Rng {
  /** Uniform on [0, 1), 2^-32 resolution. */
  next(): number;
  /** Uniform integer 0..n-1. */
  int(n: number): number;
  normal(mean?: number, sd?: number): number;
  lognormal(mu: number, sigma: number): number;
  bernoulli(p: number): boolean;
  poisson(lambda: number): number;
}

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** A deterministic generator: the same seed always yields the same sequence. */
export function createRng(seed: number): Rng {
  const init = splitmix32(Math.floor(seed));
  let a = init();
  let b = init();
  let c = init();
  let d = init();

  const nextU32 = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  // Discard a few outputs so nearby seeds decorrelate fully.
  for (let i = 0; i < 12; i++) nextU32();

  const next = (): number => nextU32() / 4294967296;

  let spare: number | null = null;
  const standardNormal = (): number => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    for (;;) {
      const u = 2 * next() - 1;
      const v = 2 * next() - 1;
      const s = u * u + v * v;
      if (s > 0 && s < 1) {
        const f = Math.sqrt((-2 * Math.log(s)) / s);
        spare = v * f;
        return u * f;
      }
    }
  };

  const poisson = (lambda: number): number => {
    if (!(lambda > 0)) return 0;
    if (lambda < 30) {
      // Knuth: count uniforms until their product drops below e^-lambda.
      const limit = Math.exp(-lambda);
      let k = 0;
      let prod = next();
      while (prod > limit) {
        k++;
        prod *= next();
      }
      return k;
    }
    // Hörmann (1993) PTRS.
    const slam = Math.sqrt(lambda);
    const loglam = Math.log(lambda);
    const b = 0.931 + 2.53 * slam;
    const a = -0.059 + 0.02483 * b;
    const invalpha = 1.1239 + 1.1328 / (b - 3.4);
    const vr = 0.9277 - 3.6224 / (b - 2);
    for (;;) {
      const u = next() - 0.5;
      const v = next();
      const us = 0.5 - Math.abs(u);
      const k = Math.floor(((2 * a) / us + b) * u + lambda + 0.43);
      if (us >= 0.07 && v <= vr) return k;
      if (k < 0 || (us < 0.013 && v > us)) continue;
      if (
        Math.log(v) + Math.log(invalpha) - Math.log(a / (us * us) + b) <=
        -lambda + k * loglam - logGamma(k + 1)
      ) {
        return k;
      }
    }
  };

  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    normal: (mean = 0, sd = 1) => mean + sd * standardNormal(),
    lognormal: (mu: number, sigma: number) => Math.exp(mu + sigma * standardNormal()),
    bernoulli: (p: number) => next() < p,
    poisson,
  };
}
