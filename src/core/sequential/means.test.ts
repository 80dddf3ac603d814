import { describe, expect, it } from "vitest";
import { normalQuantile } from "../stats/distributions.js";
import { createRng, type Rng } from "../stats/random.js";
import {
  ASYMPTOTIC_ALPHA_DIVISOR,
  initialMeansState,
  meansContrastInterval,
  meansRatioInterval,
  meansSamples,
  momentBatch,
  updateMeans,
  type MeansState,
} from "./means.js";
import { mixtureRho2, normalMixtureMultiplier, optimalMixtureRatio } from "./mixture.js";
import { budgetContrast, sequentialVerdict, worseningFromContrast } from "./verdict.js";

const draws = (rng: Rng, n: number, f: (r: Rng) => number): number[] =>
  Array.from({ length: n }, () => f(rng));

describe("normal-mixture tuning", () => {
  it.each([0.05, 0.01, 0.001])("x* solves x = -2 log a + log(1 + x) (alpha %s)", (alpha) => {
    const x = optimalMixtureRatio(alpha);
    expect(x).toBeCloseTo(-2 * Math.log(alpha) + Math.log1p(x), 10);
    // Waudby-Smith et al.'s closed form is the first fixed-point iterate: close, slightly below.
    const closed = -2 * Math.log(alpha) + Math.log(-2 * Math.log(alpha) + 1);
    expect(closed).toBeLessThan(x);
    expect(closed / x).toBeGreaterThan(0.95);
  });

  it("rho tuned for t* gives the narrowest interval at t*", () => {
    const alpha = 0.05;
    const tStar = 400;
    const width = (rho2: number): number => normalMixtureMultiplier(tStar, rho2, alpha);
    const best = width(mixtureRho2(alpha, tStar));
    for (const f of [0.25, 0.5, 0.9, 1.1, 2, 4])
      expect(best).toBeLessThan(width(mixtureRho2(alpha, tStar * f)));
    // Compared with a fixed-sample z (1.96), the price of looking at every sample is about 1.6x at t*.
    expect(best / normalQuantile(0.975)).toBeGreaterThan(1.4);
    expect(best / normalQuantile(0.975)).toBeLessThan(1.8);
  });
});

describe("means state", () => {
  const rng = createRng(1);
  const b = draws(rng, 200, (r) => r.normal(0.72, 0.035));
  const c = draws(rng, 150, (r) => r.normal(0.7, 0.035));

  function feed(batchSize: number): MeansState {
    let s = initialMeansState();
    for (let i = 0; i < Math.max(b.length, c.length); i += batchSize) {
      s = updateMeans(s, {
        baseline: momentBatch(b.slice(i, i + batchSize)),
        canary: momentBatch(c.slice(i, i + batchSize)),
      });
    }
    return s;
  }

  it("round-trips through JSON and gives the same interval", () => {
    const s = feed(25);
    const back = JSON.parse(JSON.stringify(s)) as MeansState;
    expect(back).toEqual(s);
    expect(meansContrastInterval(back, { alpha: 0.01 })).toEqual(meansContrastInterval(s, { alpha: 0.01 }));
  });

  it("does not depend on how the values were batched", () => {
    const ref = feed(1000);
    for (const size of [1, 7, 50]) {
      const s = feed(size);
      expect(s.baseline.n).toBe(ref.baseline.n);
      expect(s.canary.n).toBe(ref.canary.n);
      expect(s.baseline.mean).toBeCloseTo(ref.baseline.mean, 12);
      expect(s.canary.mean).toBeCloseTo(ref.canary.mean, 12);
      expect(s.baseline.m2 / ref.baseline.m2).toBeCloseTo(1, 9);
      expect(s.canary.m2 / ref.canary.m2).toBeCloseTo(1, 9);
    }
  });

  it("returns a new state and leaves the old one untouched", () => {
    const s0 = Object.freeze(feed(1000));
    const before = JSON.stringify(s0);
    const s1 = updateMeans(s0, { canary: { count: 2, sum: 1.4, sumSquares: 0.98 } });
    expect(JSON.stringify(s0)).toBe(before);
    expect(s1.canary.n).toBe(s0.canary.n + 2);
    expect(s1.baseline).toBe(s0.baseline);
  });

  it("matches the two-sample formula: estimate +- sqrt(W) * multiplier(t_eff), variances floored, at alpha/2", () => {
    const s = feed(1000);
    const k = 1.1;
    const pooled = (s.canary.m2 + s.baseline.m2) / (s.canary.n + s.baseline.n - 2);
    const vC = Math.max(s.canary.m2 / (s.canary.n - 1), pooled);
    const vB = Math.max(s.baseline.m2 / (s.baseline.n - 1), pooled);
    const w = vC / s.canary.n + (k * k * vB) / s.baseline.n;
    const tEff = (vC + k * k * vB) / w;
    const level = 0.05 / ASYMPTOTIC_ALPHA_DIVISOR;
    const radius = Math.sqrt(w) * normalMixtureMultiplier(tEff, mixtureRho2(level, 300), level);
    const iv = meansContrastInterval(s, { alpha: 0.05, k, targetSamples: 300 });
    const est = s.canary.mean - k * s.baseline.mean;
    expect(iv.lower).toBeCloseTo(est - radius, 12);
    expect(iv.upper).toBeCloseTo(est + radius, 12);
    expect(tEff).toBeGreaterThan(150);
    expect(tEff).toBeLessThan(200);
  });

  it("is [-inf, inf] until both arms have two samples; rejects bad batches", () => {
    const s = updateMeans(initialMeansState(), {
      baseline: momentBatch([1, 2, 3]),
      canary: momentBatch([1]),
    });
    expect(meansContrastInterval(s, { alpha: 0.05 })).toEqual({ lower: -Infinity, upper: Infinity });
    expect(meansRatioInterval(s, { alpha: 0.05 })).toEqual({ lower: -Infinity, upper: Infinity });
    expect(() => updateMeans(s, { canary: { count: 1.5, sum: 1, sumSquares: 1 } })).toThrow(RangeError);
    expect(() => updateMeans(s, { canary: { count: 1, sum: NaN, sumSquares: 1 } })).toThrow(RangeError);
    expect(() => meansContrastInterval(s, { alpha: 0 })).toThrow(RangeError);
  });

  it("ratio interval (Fieller inversion) agrees with the k-contrast at the budget", () => {
    const s = feed(1000);
    const ratio = meansRatioInterval(s, { alpha: 0.05, targetSamples: 300 });
    const est = s.canary.mean / s.baseline.mean;
    expect(ratio.lower).toBeLessThan(est);
    expect(ratio.upper).toBeGreaterThan(est);
    // At k = ratio end, 0 is (just) on the edge of the contrast interval.
    for (const k of [ratio.lower, ratio.upper]) {
      const iv = meansContrastInterval(s, { alpha: 0.05, k, targetSamples: 300 });
      expect(Math.min(Math.abs(iv.lower), Math.abs(iv.upper))).toBeLessThan(1e-9);
    }
    const inside = meansContrastInterval(s, { alpha: 0.05, k: est, targetSamples: 300 });
    expect(inside.lower).toBeLessThan(0);
    expect(inside.upper).toBeGreaterThan(0);
  });
});

/**
 * A/A: both arms from the same distribution, 100 looks. The fraction of runs in which the interval EVER
 * excludes the true contrast (0) is the time-uniform error; the naive fixed-sample Welch z interval re-checked
 * at every look is shown for contrast.
 */
function aa(
  seed: number,
  draw: (r: Rng) => number,
  runs: number,
  looks: number,
  batch: number,
  alpha: number,
): { sequential: number; fixed: number } {
  const rng = createRng(seed);
  const z = normalQuantile(1 - alpha / 2);
  let sequential = 0;
  let fixed = 0;
  for (let r = 0; r < runs; r++) {
    let s = initialMeansState();
    let seqMiss = false;
    let fixedMiss = false;
    for (let l = 0; l < looks; l++) {
      s = updateMeans(s, {
        baseline: momentBatch(draws(rng, batch, draw)),
        canary: momentBatch(draws(rng, batch, draw)),
      });
      const iv = meansContrastInterval(s, { alpha, targetSamples: 500 });
      if (iv.lower > 0 || iv.upper < 0) seqMiss = true;
      const se = Math.sqrt(
        s.canary.m2 / (s.canary.n - 1) / s.canary.n + s.baseline.m2 / (s.baseline.n - 1) / s.baseline.n,
      );
      if (Math.abs(s.canary.mean - s.baseline.mean) > z * se) fixedMiss = true;
    }
    if (seqMiss) sequential++;
    if (fixedMiss) fixed++;
  }
  return { sequential: sequential / runs, fixed: fixed / runs };
}

describe("A/A: error at any look stays under alpha", () => {
  const alpha = 0.05;
  // Measured (seeds as below, 500 runs x 100 looks of 10 per arm, so up to 1000 per arm):
  //   speaker similarity, normal(0.72, 0.035):  sequential 0.022, fixed-sample re-checked 0.392
  //   TTFA, lognormal(log 150 ms, 0.5):         sequential 0.018, fixed-sample re-checked 0.346
  it.each([
    ["normal similarity", 11, (r: Rng) => r.normal(0.72, 0.035)],
    ["lognormal TTFA", 12, (r: Rng) => r.lognormal(Math.log(150), 0.5)],
  ] as const)(
    "%s: sequential <= alpha, fixed-sample CI re-checked every look far above",
    (name, seed, draw) => {
      const res = aa(seed, draw, 500, 100, 10, alpha);
      console.log(
        `means A/A ${name}: ever excluded 0 — sequential ${res.sequential}, fixed-sample ${res.fixed}`,
      );
      expect(res.sequential).toBeLessThanOrEqual(alpha + 0.01);
      expect(res.fixed).toBeGreaterThan(0.25);
    },
  );
});

describe("power: a clone-drift regression is caught", () => {
  // Speaker similarity of one voice drops by 0.03 (sd 0.035 per utterance); the critical budget allows 0.01.
  // Measured (200 runs, looks every 5 per arm): alpha 0.05 median 75 per arm to a fail verdict (p90 120, max 205);
  // alpha 0.01 median 95 (p90 155, max 265).
  it.each([
    [0.05, 120],
    [0.01, 150],
  ])("alpha %s: fail within a median of <= %s samples per arm", (alpha, medianMax) => {
    const rng = createRng(21);
    const budget = { absolute: 0.01 };
    const { k, allowed } = budgetContrast("higherIsBetter", budget);
    const detections: number[] = [];
    for (let run = 0; run < 200; run++) {
      let s = initialMeansState();
      let at = Infinity;
      while (s.canary.n < 1000) {
        s = updateMeans(s, {
          baseline: momentBatch(draws(rng, 5, (r) => r.normal(0.72, 0.035))),
          canary: momentBatch(draws(rng, 5, (r) => r.normal(0.69, 0.035))),
        });
        const interval = worseningFromContrast(
          meansContrastInterval(s, { alpha, k, targetSamples: 500 }),
          "higherIsBetter",
        );
        if (sequentialVerdict({ interval, allowed, samples: meansSamples(s), minSamples: 30 }) === "fail") {
          at = s.canary.n;
          break;
        }
      }
      detections.push(at);
    }
    detections.sort((a, b) => a - b);
    const median = detections[100]!;
    console.log(
      `means power alpha ${alpha}: median ${median}, p90 ${detections[180]}, max ${detections[199]} per arm`,
    );
    expect(median).toBeLessThanOrEqual(medianMax);
    expect(detections[199]).toBeLessThan(1000);
  });
});

describe("issue 14 reproductions", () => {
  it("skewed arms: the interval at alpha 3.5e-4 covers the true difference 0 (was [-1.3826, -0.0624])", () => {
    // Both arms lognormal(0, 1); the canary drew none of the rare large values, so its mean and its sample
    // variance are both low. The asymptotic sequence with the canary's own variance excluded 0.
    const s: MeansState = {
      baseline: { n: 540, mean: 1.794962165834487, m2: 3962.3299436084344 },
      canary: { n: 60, mean: 1.0724920648233294, m2: 28.761772485595564 },
    };
    const iv = meansContrastInterval(s, { alpha: 3.5e-4, k: 1 });
    expect(iv.lower).toBeLessThan(0);
    expect(iv.upper).toBeGreaterThan(0);
  });

  it("30 identical values per arm never give a zero-width interval, so no budget passes on them", () => {
    // A 0/1 metric declared as a mean, 30 zeros per arm: the plug-in variance is 0 in both arms. The old sequence
    // returned [0, 0], which passed any budget (and a canary at 3x a 0.1% baseline shows 30 zeros 97% of the time).
    const zeros = momentBatch(new Array<number>(30).fill(0));
    const verdictOf = (s: MeansState) =>
      sequentialVerdict({
        interval: worseningFromContrast(meansContrastInterval(s, { alpha: 3.5e-4, k: 1 }), "lowerIsBetter"),
        allowed: 0.002,
        samples: meansSamples(s),
        minSamples: 30,
      });
    // Without bounds nothing bounds the mean: no interval at all.
    const unbounded = updateMeans(initialMeansState(), { baseline: zeros, canary: zeros });
    const iv = meansContrastInterval(unbounded, { alpha: 3.5e-4, k: 1 });
    expect(iv).toEqual({ lower: -Infinity, upper: Infinity });
    expect(verdictOf(unbounded)).toBe("inconclusive");
    // Declared bounds [0, 1]: a finite interval, wide at 30 values per arm, never a point.
    const bounded = updateMeans(initialMeansState([0, 1]), {
      baseline: zeros,
      canary: zeros,
    });
    const ib = meansContrastInterval(bounded, { alpha: 3.5e-4, k: 1 });
    expect(ib.upper - ib.lower).toBeGreaterThan(0.5);
    expect(verdictOf(bounded)).toBe("inconclusive");
    // The same for the canary's own mean (a limit) and the ratio (a relative budget).
    expect(meansContrastInterval(unbounded, { alpha: 0.01, k: 0 }).upper).toBe(Infinity);
    expect(meansRatioInterval(unbounded, { alpha: 0.01 }).upper).toBe(Infinity);
  });

  it("computed values (a cost known exactly) are compared as points, sampled ones never", () => {
    // Cost per audio second is computed from GPUs held, their price and the audio generated: every request of a
    // look carries the same known value, so an arm has no spread and its mean has no sampling error.
    const cost = (value: number, count: number) => ({
      count,
      sum: value * count,
      sumSquares: value * value * count,
      computed: true,
    });
    let s = updateMeans(initialMeansState(), { baseline: cost(1.035e-7, 5000), canary: cost(1.031e-7, 800) });
    const d = meansContrastInterval(s, { alpha: 3.5e-4, k: 1 });
    expect(d.upper).toBe(d.lower);
    expect(d.lower).toBeCloseTo(1.031e-7 - 1.035e-7, 18);
    expect(meansRatioInterval(s, { alpha: 3.5e-4 }).lower).toBeCloseTo(1.031 / 1.035, 12);
    // Values change between looks (replicas scale): still exact, the mean of what was computed.
    s = updateMeans(s, { baseline: cost(1.2e-7, 5000), canary: cost(1.1e-7, 800) });
    const r = meansRatioInterval(s, { alpha: 3.5e-4 });
    expect(r.upper - r.lower).toBe(0);
    expect(r.lower).toBeCloseTo((1.031e-7 + 1.1e-7) / 2 / ((1.035e-7 + 1.2e-7) / 2), 12);
    // One sampled batch makes the arm an estimate again: an interval with width, no longer a point.
    const mixed = updateMeans(s, { canary: momentBatch(new Array<number>(30).fill(1.1e-7)) });
    const m = meansContrastInterval(mixed, { alpha: 3.5e-4, k: 1 });
    expect(m.upper - m.lower).toBeGreaterThan(0);
    // And a sampled arm without any spread gets no interval at all, as above, also when rounding leaves a
    // trace of spread (30 values of 1e-7 or 0.1 sum to an m2 of about 1e-29 or 1e-17, not 0).
    const flat = updateMeans(initialMeansState(), {
      baseline: cost(1e-7, 100),
      canary: momentBatch(new Array<number>(30).fill(1e-7)),
    });
    expect(meansContrastInterval(flat, { alpha: 3.5e-4, k: 1 })).toEqual({
      lower: -Infinity,
      upper: Infinity,
    });
    const tenths = momentBatch(new Array<number>(30).fill(0.1));
    const flatTenths = updateMeans(initialMeansState(), { baseline: tenths, canary: tenths });
    expect(meansContrastInterval(flatTenths, { alpha: 3.5e-4, k: 1 })).toEqual({
      lower: -Infinity,
      upper: Infinity,
    });
    // A zero computed baseline cannot anchor a ratio.
    const zero = updateMeans(initialMeansState(), { baseline: cost(0, 10), canary: cost(1e-7, 10) });
    expect(meansRatioInterval(zero, { alpha: 0.01 })).toEqual({ lower: -Infinity, upper: Infinity });
  });
});
