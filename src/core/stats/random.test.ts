import { describe, expect, it } from "vitest";
import { createRng } from "./random.js";

function meanVar(xs: number[]): { mean: number; variance: number } {
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  const variance = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (xs.length - 1);
  return { mean, variance };
}

function draw(n: number, f: () => number): number[] {
  return Array.from({ length: n }, f);
}

describe("createRng", () => {
  it("is deterministic for a seed and differs across seeds", () => {
    const a = createRng(42);
    const b = createRng(42);
    const c = createRng(43);
    const sa = draw(100, () => a.next());
    expect(draw(100, () => b.next())).toEqual(sa);
    expect(draw(100, () => c.next())).not.toEqual(sa);
    // The derived draws are deterministic too.
    const d1 = createRng(7);
    const d2 = createRng(7);
    const mixed = (r: ReturnType<typeof createRng>) => [
      r.normal(),
      r.int(10),
      r.poisson(3),
      r.poisson(80),
      r.lognormal(0, 1),
    ];
    expect(mixed(d1)).toEqual(mixed(d2));
  });

  it("next() is uniform on [0, 1)", () => {
    const r = createRng(1);
    const xs = draw(100_000, () => r.next());
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    const { mean, variance } = meanVar(xs);
    expect(mean).toBeCloseTo(0.5, 2);
    expect(variance).toBeCloseTo(1 / 12, 3);
    // Deciles each hold about 10% (binomial sd ≈ 0.001).
    const counts = new Array<number>(10).fill(0);
    for (const x of xs) counts[Math.floor(x * 10)]! += 1;
    for (const k of counts) expect(Math.abs(k / xs.length - 0.1)).toBeLessThan(0.005);
  });

  it("int(n) covers 0..n-1 evenly", () => {
    const r = createRng(2);
    const counts = new Array<number>(7).fill(0);
    for (let i = 0; i < 70_000; i++) counts[r.int(7)]! += 1;
    for (const k of counts) expect(Math.abs(k - 10_000)).toBeLessThan(450); // ~4.6 sd
  });

  it.each([
    [0, 1],
    [5, 2],
    [-3, 0.1],
  ])("normal(%d, %d) has the right mean and sd", (m, sd) => {
    const r = createRng(3);
    const { mean, variance } = meanVar(draw(50_000, () => r.normal(m, sd)));
    expect(Math.abs(mean - m)).toBeLessThan((4 * sd) / Math.sqrt(50_000));
    expect(Math.sqrt(variance) / sd).toBeCloseTo(1, 1);
  });

  it("lognormal(mu, sigma) has median e^mu and mean e^(mu + sigma²/2)", () => {
    const r = createRng(4);
    const xs = draw(50_000, () => r.lognormal(0.5, 0.5)).sort((a, b) => a - b);
    expect(xs[25_000]! / Math.exp(0.5)).toBeCloseTo(1, 1);
    expect(meanVar(xs).mean / Math.exp(0.5 + 0.125)).toBeCloseTo(1, 1);
  });

  it("bernoulli(p) succeeds at rate p", () => {
    const r = createRng(5);
    const hits = draw(100_000, () => (r.bernoulli(0.03) ? 1 : 0)).reduce((s, x) => s + x, 0);
    expect(Math.abs(hits / 100_000 - 0.03)).toBeLessThan(0.0025); // ~4.6 sd
  });

  it.each([0.5, 4, 29.9, 30, 250])("poisson(%d) has mean and variance lambda", (lambda) => {
    const r = createRng(6);
    const xs = draw(40_000, () => r.poisson(lambda));
    const { mean, variance } = meanVar(xs);
    expect(xs.every((x) => Number.isInteger(x) && x >= 0)).toBe(true);
    expect(Math.abs(mean - lambda)).toBeLessThan(5 * Math.sqrt(lambda / 40_000));
    expect(variance / lambda).toBeGreaterThan(0.95);
    expect(variance / lambda).toBeLessThan(1.05);
  });
});
