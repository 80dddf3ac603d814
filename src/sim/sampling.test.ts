import { describe, expect, it } from "vitest";
import { binomialCdf } from "../core/stats/distributions.js";
import { createRng } from "../core/stats/random.js";
import { addMultinomial, binomial, categorical, chiSquare, gamma, poisson } from "./sampling.js";

function meanVar(xs: readonly number[]): { mean: number; variance: number } {
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  const variance = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (xs.length - 1);
  return { mean, variance };
}

/** Pearson's statistic of observed counts against expected counts, merging cells with expected < 5. */
function pearson(observed: readonly number[], expected: readonly number[]): { stat: number; df: number } {
  let stat = 0;
  let cells = 0;
  let o = 0;
  let e = 0;
  for (let i = 0; i < observed.length; i++) {
    o += observed[i]!;
    e += expected[i]!;
    if (e >= 5) {
      stat += (o - e) ** 2 / e;
      cells++;
      o = 0;
      e = 0;
    }
  }
  if (e > 0) stat += (o - e) ** 2 / e; // the remainder joins as its own (small) cell
  return { stat, df: Math.max(1, cells - 1) };
}

/** A loose upper bound of the chi-square(df) distribution far in the tail (about 1e-4). */
const chiSquareBound = (df: number) => df + 5 * Math.sqrt(2 * df) + 6;

describe("binomial", () => {
  it.each([
    [20, 0.1, "inversion"],
    [5, 0.5, "inversion"],
    [1000, 0.3, "BTRS"],
    [1_000_000, 0.0001, "BTRS, rare events"],
    [50, 0.9, "p > 0.5 by symmetry"],
    [400, 0.025, "BTRS at n·p = 10"],
  ])("Binomial(%d, %d) (%s) has the right mean and variance", (n, p) => {
    const rng = createRng(11);
    const xs = Array.from({ length: 20_000 }, () => binomial(rng, n, p));
    const { mean, variance } = meanVar(xs);
    const v = n * p * (1 - p);
    expect(Math.abs(mean - n * p)).toBeLessThan(5 * Math.sqrt(v / xs.length));
    expect(Math.abs(variance / v - 1)).toBeLessThan(0.05);
    expect(xs.every((x) => Number.isInteger(x) && x >= 0 && x <= n)).toBe(true);
  });

  it.each([
    [12, 0.3],
    [60, 0.4],
    [3000, 0.01],
  ])("Binomial(%d, %d) matches its pmf (chi-square goodness of fit)", (n, p) => {
    const rng = createRng(5);
    const draws = 30_000;
    const observed = new Array<number>(n + 1).fill(0);
    for (let i = 0; i < draws; i++) observed[binomial(rng, n, p)]!++;
    const expected = observed.map((_, k) => draws * (binomialCdf(k, n, p) - binomialCdf(k - 1, n, p)));
    const { stat, df } = pearson(observed, expected);
    expect(stat).toBeLessThan(chiSquareBound(df));
  });

  it("handles the edges", () => {
    const rng = createRng(1);
    expect(binomial(rng, 0, 0.5)).toBe(0);
    expect(binomial(rng, 10, 0)).toBe(0);
    expect(binomial(rng, 10, 1)).toBe(10);
  });
});

describe("gamma and chi-square (Marsaglia–Tsang)", () => {
  it.each([0.3, 1, 3.7, 250])("Gamma(%d) has mean and variance equal to its shape", (shape) => {
    const rng = createRng(3);
    const xs = Array.from({ length: 40_000 }, () => gamma(rng, shape));
    const { mean, variance } = meanVar(xs);
    expect(Math.abs(mean - shape)).toBeLessThan(5 * Math.sqrt(shape / xs.length));
    expect(Math.abs(variance / shape - 1)).toBeLessThan(0.08);
    expect(xs.every((x) => x >= 0)).toBe(true);
  });

  it.each([1, 4, 99])("chi-square(%d) has mean df and variance 2 df", (df) => {
    const rng = createRng(8);
    const xs = Array.from({ length: 40_000 }, () => chiSquare(rng, df));
    const { mean, variance } = meanVar(xs);
    expect(Math.abs(mean - df)).toBeLessThan(5 * Math.sqrt((2 * df) / xs.length));
    expect(Math.abs(variance / (2 * df) - 1)).toBeLessThan(0.08);
    expect(chiSquare(rng, 0)).toBe(0);
  });
});

describe("poisson", () => {
  it.each([0.3, 12, 400])("Poisson(%d) has mean and variance lambda", (lambda) => {
    const rng = createRng(2);
    const xs = Array.from({ length: 20_000 }, () => poisson(rng, lambda));
    const { mean, variance } = meanVar(xs);
    expect(Math.abs(mean - lambda)).toBeLessThan(5 * Math.sqrt(lambda / xs.length));
    expect(Math.abs(variance / lambda - 1)).toBeLessThan(0.06);
    expect(poisson(rng, 0)).toBe(0);
  });
});

describe("multinomial", () => {
  const weights = [0, 5, 1, 0, 30, 12, 0.5, 0, 2, 0];
  const dist = categorical(weights);
  const total = weights.reduce((s, w) => s + w, 0);

  it("normalises weights and ends the cumulative probabilities at exactly 1", () => {
    expect(dist.cumulative[dist.cumulative.length - 1]).toBe(1);
    expect(dist.last).toBe(8);
    expect(dist.probabilities[4]).toBeCloseTo(30 / total, 15);
    expect(() => categorical([0, 0])).toThrow(RangeError);
    expect(() => categorical([1, -1])).toThrow(RangeError);
  });

  it.each([
    [7, "per-item inversion"],
    [5000, "conditional binomials"],
  ])("n = %d (%s): counts add up to n and match the probabilities", (n) => {
    const rng = createRng(4);
    const counts = new Float64Array(weights.length);
    const rounds = Math.ceil(200_000 / n);
    for (let r = 0; r < rounds; r++) addMultinomial(rng, n, dist, counts);
    const draws = rounds * n;
    expect(counts.reduce((s, c) => s + c, 0)).toBe(draws);
    const one = new Float64Array(weights.length);
    addMultinomial(rng, n, dist, one);
    expect(one.reduce((s, c) => s + c, 0)).toBe(n);
    weights.forEach((w, j) => {
      if (w === 0) expect(counts[j]).toBe(0);
    });
    const { stat, df } = pearson(
      [...counts],
      weights.map((w) => (draws * w) / total),
    );
    expect(stat).toBeLessThan(chiSquareBound(df));
  });
});
