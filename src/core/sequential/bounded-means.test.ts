import { describe, expect, it } from "vitest";
import { createRng } from "../stats/random.js";
import {
  BET_GRID,
  boundedArmInterval,
  boundedContrastInterval,
  boundedRatioInterval,
  initialBoundedState,
  psiE,
  updateBounded,
  type BoundedMeansState,
} from "./bounded-means.js";
import { momentBatch } from "./means.js";

/**
 * The per-value definition, written out independently: the arm's centres are clamped for life to the other arm's
 * first-batch mean ± 0.1, each value y_i (rescaled to [0, 1]) is measured against the centre fixed before its
 * batch, and each side's radius is min over the grid's γ of (h·log(2J/α) + ψ(γ) Σ(y − m)²/h) / (γ t), with
 * h = the highest centre (below the mean) or 1 − the lowest (above it).
 */
function perValueRadius(batches: number[][], lo: number, hi: number, alpha: number, otherFirst: number) {
  const ys: number[] = [];
  let v = 0;
  const low = Math.max(0, otherFirst - 0.1);
  const high = Math.min(1, otherFirst + 0.1);
  for (const batch of batches) {
    const own = ys.length > 0 ? ys.reduce((a, b) => a + b, 0) / ys.length : otherFirst;
    const centre = Math.min(high, Math.max(low, own));
    for (const x of batch) {
      const y = (x - lo) / (hi - lo);
      v += (y - centre) ** 2;
      ys.push(y);
    }
  }
  const t = ys.length;
  const L = Math.log((2 * BET_GRID.length) / alpha);
  const side = (h: number) => Math.min(...BET_GRID.map((g) => (h * L + (psiE(g) * v) / h) / (g * t)));
  return { mean: ys.reduce((a, b) => a + b, 0) / t, below: side(high), above: side(1 - low) };
}

describe("bounded means: the sequence from batch moments", () => {
  const rng = createRng(5);
  const draw = (n: number, mean: number) =>
    Array.from({ length: n }, () => Math.min(1, Math.max(-1, rng.normal(mean, 0.05))));
  const canary = [draw(7, 0.7), draw(1, 0.7), draw(40, 0.7), draw(300, 0.7)];
  const baseline = [draw(60, 0.72), draw(9, 0.72), draw(400, 0.72), draw(2000, 0.72)];

  function feed(): BoundedMeansState {
    let s = initialBoundedState(-1, 1);
    for (let i = 0; i < canary.length; i++) {
      s = updateBounded(s, { baseline: momentBatch(baseline[i]!), canary: momentBatch(canary[i]!) });
    }
    return s;
  }

  it("equals the per-value definition; an arm's first batch is centred at the other arm's batch", () => {
    const s = feed();
    const alpha = 1e-3;
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const c = perValueRadius(canary, -1, 1, alpha, (mean(baseline[0]!) + 1) / 2);
    const b = perValueRadius(baseline, -1, 1, alpha, (mean(canary[0]!) + 1) / 2);
    const ic = boundedArmInterval(s, "canary", alpha);
    const ib = boundedArmInterval(s, "baseline", alpha);
    expect(ic.lower).toBeCloseTo(-1 + 2 * (c.mean - c.below), 10);
    expect(ic.upper).toBeCloseTo(-1 + 2 * (c.mean + c.above), 10);
    expect(ib.lower).toBeCloseTo(-1 + 2 * (b.mean - b.below), 10);
    expect(ib.upper).toBeCloseTo(-1 + 2 * (b.mean + b.above), 10);
    // Similarity near 0.7 sits near the top of [-1, 1]: no value can hide far above it, so the upper side is the
    // narrower one.
    expect(ic.upper - (-1 + 2 * c.mean)).toBeLessThan(-1 + 2 * c.mean - ic.lower);
    // The difference: each arm at alpha/2, by interval arithmetic.
    const d = boundedContrastInterval(s, { alpha, k: 1 });
    const c2 = boundedArmInterval(s, "canary", alpha / 2);
    const b2 = boundedArmInterval(s, "baseline", alpha / 2);
    expect(d).toEqual({ lower: c2.lower - b2.upper, upper: c2.upper - b2.lower });
    // k = 0 is the canary's own mean at the whole alpha.
    expect(boundedContrastInterval(s, { alpha, k: 0 })).toEqual(ic);
  });

  it("round-trips through JSON (a restarted operator resumes it)", () => {
    const s = feed();
    const back = JSON.parse(JSON.stringify(s)) as BoundedMeansState;
    expect(boundedContrastInterval(back, { alpha: 1e-3 })).toEqual(
      boundedContrastInterval(s, { alpha: 1e-3 }),
    );
  });

  it("never gives a zero-width interval: constant values at an end, at the middle, a single value", () => {
    for (const value of [0, 1, 0.5]) {
      const s = updateBounded(initialBoundedState(0, 1), {
        baseline: momentBatch(new Array<number>(30).fill(value)),
        canary: momentBatch(new Array<number>(30).fill(value)),
      });
      const iv = boundedContrastInterval(s, { alpha: 3.5e-4 });
      expect(iv.upper - iv.lower).toBeGreaterThan(0.5);
      expect(iv.lower).toBeLessThanOrEqual(0);
      expect(iv.upper).toBeGreaterThanOrEqual(0);
    }
    const one = updateBounded(initialBoundedState(0, 1), { canary: momentBatch([0.3]) });
    const iv = boundedArmInterval(one, "canary", 0.05);
    expect(iv.lower).toBeLessThan(0.3);
    expect(iv.upper).toBeGreaterThan(0.3);
  });

  it("narrows like sigma/sqrt(n), not like the range, once the variance term dominates", () => {
    // Similarity in [-1, 1] with an sd of 0.035: the range term log(2J/alpha)/(lambda n) decays like 1/n and the
    // variance term like 1/sqrt(n). At a million values the radius is about 1.9x the z-interval's (the price of
    // validity at every look and of the grid), not the 40x the range alone would give.
    let s = initialBoundedState(-1, 1);
    const r = createRng(6);
    const batch = () => momentBatch(Array.from({ length: 10000 }, () => r.normal(0.7, 0.035)));
    for (let i = 0; i < 100; i++) s = updateBounded(s, { baseline: batch(), canary: batch() });
    const iv = boundedArmInterval(s, "canary", 0.05);
    const half = (iv.upper - iv.lower) / 2;
    const z = 1.96 * (0.035 / Math.sqrt(1e6)); // the fixed-sample z-interval, valid at one look only
    console.log(
      `bounded similarity, 1e6 values: half-width ${half.toExponential(3)} = ${(half / z).toFixed(2)}x z`,
    );
    expect(half / z).toBeLessThan(2.2);
  });

  it("values outside the declared bounds: no interval at all (never a pass), and the state says which arm", () => {
    const s = updateBounded(initialBoundedState(1, 5), {
      baseline: momentBatch([4, 4.2, 3.9]),
      canary: momentBatch([5.5, 5.2, 4.9]), // mean 5.2 > 5
    });
    expect(s.outOfBounds).toEqual({ arm: "canary", mean: expect.closeTo(5.2, 10) as number });
    expect(boundedContrastInterval(s, { alpha: 0.01 })).toEqual({ lower: -Infinity, upper: Infinity });
    expect(boundedRatioInterval(s, { alpha: 0.01 })).toEqual({ lower: -Infinity, upper: Infinity });
    // A mean inside but a spread no values inside [0, 1] can have (values 0 and 2, declared [0, 1]).
    const spread = updateBounded(initialBoundedState(0, 1), { baseline: momentBatch([0, 2, 0, 2]) });
    expect(spread.outOfBounds?.arm).toBe("baseline");
    // Later batches do not clear it.
    expect(updateBounded(s, { canary: momentBatch([4]) }).outOfBounds).toBeDefined();
  });

  it("ratio interval: every ratio of the arms' means inside their intervals", () => {
    const s = feed();
    const shifted: BoundedMeansState = { ...s, lo: 0, hi: 2 }; // the same sums read on [0, 2]: means near 1.7
    const r = boundedRatioInterval(shifted, { alpha: 0.01 });
    const c = boundedArmInterval(shifted, "canary", 0.005);
    const b = boundedArmInterval(shifted, "baseline", 0.005);
    expect(r.lower).toBeCloseTo(c.lower / b.upper, 12);
    expect(r.upper).toBeCloseTo(c.upper / b.lower, 12);
    // A baseline that may be 0 gives no bounded ratio.
    const near0 = updateBounded(initialBoundedState(-1, 1), {
      baseline: momentBatch([0.01, -0.01, 0.02]),
      canary: momentBatch([0.5, 0.6]),
    });
    expect(boundedRatioInterval(near0, { alpha: 0.01 })).toEqual({ lower: -Infinity, upper: Infinity });
  });
});
