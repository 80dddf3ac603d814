import { describe, expect, it } from "vitest";
import {
  addPair,
  addValue,
  emptyCoMoments,
  emptyMoments,
  mergeCoMoments,
  mergeMoments,
  sampleCovariance,
  sampleVariance,
} from "./moments.js";
import { createRng } from "./random.js";

/** Reference: the textbook two-pass formulas. */
function twoPass(xs: number[], ys: number[] = xs): { meanX: number; varX: number; cov: number } {
  const n = xs.length;
  const meanX = xs.reduce((s, x) => s + x, 0) / n;
  const meanY = ys.reduce((s, y) => s + y, 0) / n;
  let ssx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    ssx += (xs[i]! - meanX) ** 2;
    sxy += (xs[i]! - meanX) * (ys[i]! - meanY);
  }
  return { meanX, varX: ssx / (n - 1), cov: sxy / (n - 1) };
}

describe("Welford moments", () => {
  // A large offset against a small spread is where naive sums of squares fail.
  it.each([
    [0, 1],
    [1e9, 1],
    [200, 0.5],
  ])("matches the two-pass formula (offset %d, sd %d)", (offset, sd) => {
    const r = createRng(11);
    const xs = Array.from({ length: 5000 }, () => offset + r.normal(0, sd));
    const m = emptyMoments();
    for (const x of xs) addValue(m, x);
    const ref = twoPass(xs);
    expect(m.n).toBe(5000);
    expect(Math.abs(m.mean - ref.meanX)).toBeLessThan(1e-13 * Math.max(1, Math.abs(ref.meanX)));
    // At offset 1e9 the spacing of doubles is 1.2e-7, so ~1e-7 relative is the floor for any method;
    // the naive Σx² − n·mean² would lose everything there (Σx² ≈ 5e21, spacing ≈ 1e6).
    expect(Math.abs(sampleVariance(m) / ref.varX - 1)).toBeLessThan(1e-6);
  });

  it("merge (Chan et al.) equals accumulating everything at once", () => {
    const r = createRng(12);
    const xs = Array.from({ length: 3001 }, () => r.lognormal(3, 0.7));
    const whole = emptyMoments();
    const a = emptyMoments();
    const b = emptyMoments();
    xs.forEach((x, i) => {
      addValue(whole, x);
      addValue(i < 1234 ? a : b, x);
    });
    const merged = mergeMoments(a, b);
    expect(merged.n).toBe(whole.n);
    expect(merged.mean).toBeCloseTo(whole.mean, 10);
    expect(merged.m2 / whole.m2).toBeCloseTo(1, 12);
    expect(mergeMoments(emptyMoments(), a)).toEqual(a);
    expect(mergeMoments(a, emptyMoments())).toEqual(a);
  });

  it("variance is NaN below two values", () => {
    const m = emptyMoments();
    expect(sampleVariance(m)).toBeNaN();
    addValue(m, 3);
    expect(sampleVariance(m)).toBeNaN();
    addValue(m, 5);
    expect(sampleVariance(m)).toBe(2);
  });
});

describe("paired co-moments", () => {
  it("match the two-pass means, variances and covariance, and merge", () => {
    const r = createRng(13);
    const cs: number[] = [];
    const bs: number[] = [];
    const whole = emptyCoMoments();
    const a = emptyCoMoments();
    const b = emptyCoMoments();
    for (let i = 0; i < 4000; i++) {
      const u = r.normal(0.7, 0.03); // utterance effect shared by both arms
      const c = u - 0.01 + r.normal(0, 0.01);
      const bb = u + r.normal(0, 0.01);
      cs.push(c);
      bs.push(bb);
      addPair(whole, c, bb);
      addPair(i % 3 === 0 ? a : b, c, bb);
    }
    const refC = twoPass(cs, bs);
    const refB = twoPass(bs);
    expect(whole.meanC).toBeCloseTo(refC.meanX, 12);
    expect(whole.meanB).toBeCloseTo(refB.meanX, 12);
    expect(whole.m2C / (whole.n - 1) / refC.varX).toBeCloseTo(1, 10);
    expect(whole.m2B / (whole.n - 1) / refB.varX).toBeCloseTo(1, 10);
    expect(sampleCovariance(whole) / refC.cov).toBeCloseTo(1, 10);
    const merged = mergeCoMoments(a, b);
    expect(merged.n).toBe(4000);
    expect(sampleCovariance(merged) / sampleCovariance(whole)).toBeCloseTo(1, 10);
    expect(merged.m2C / whole.m2C).toBeCloseTo(1, 10);
    expect(merged.meanB).toBeCloseTo(whole.meanB, 12);
  });

  it("covariance is NaN below two pairs", () => {
    const m = emptyCoMoments();
    addPair(m, 1, 2);
    expect(sampleCovariance(m)).toBeNaN();
    addPair(m, 3, 6);
    expect(sampleCovariance(m)).toBe(4); // (1−2)(2−4)+(3−2)(6−4) = 4, /(n−1)
  });
});
