import { describe, expect, it } from "vitest";
import { normalQuantile } from "../stats/distributions.js";
import { createRng, type Rng } from "../stats/random.js";
import {
  acceptedRankRange,
  histogramTotal,
  initialHistogramState,
  initialQuantileState,
  quantileContrastInterval,
  quantileEstimate,
  quantileInterval,
  quantileRatioInterval,
  quantileSamples,
  updateHistogram,
  updateQuantiles,
  type HistogramBucket,
  type QuantileState,
} from "./quantiles.js";
import { budgetContrast, sequentialVerdict, worseningFromContrast, worseningFromRatio } from "./verdict.js";

/** Exponential buckets bounds[j] = start·factor^j (a native-histogram-like layout), and a bucketizer. */
function layout(start: number, factor: number, count: number) {
  const bounds = Array.from({ length: count }, (_, j) => start * Math.pow(factor, j));
  const logStart = Math.log(start);
  const logFactor = Math.log(factor);
  /** Cumulative Prometheus-style buckets (`le`, count of values <= le), +Inf last. */
  const buckets = (values: readonly number[]): HistogramBucket[] => {
    const counts = new Array<number>(count + 1).fill(0);
    for (const v of values) {
      let j = v <= start ? 0 : Math.min(count, Math.ceil((Math.log(v) - logStart) / logFactor));
      while (j < count && bounds[j]! < v) j++;
      while (j > 0 && bounds[j - 1]! >= v) j--;
      counts[j]!++;
    }
    let cum = 0;
    const out: HistogramBucket[] = bounds.map((le, j) => ({ le, count: (cum += counts[j]!) }));
    out.push({ le: Infinity, count: cum + counts[count]! });
    return out;
  };
  return { bounds, buckets };
}

const draws = (rng: Rng, n: number, f: (r: Rng) => number): number[] =>
  Array.from({ length: n }, () => f(rng));

describe("histogram state", () => {
  const cumulative: HistogramBucket[] = [
    { le: 10, count: 2 },
    { le: 20, count: 5 },
    { le: 40, count: 9 },
    { le: Infinity, count: 10 },
  ];

  it("turns cumulative `le` counts into per-bucket counts; the first batch sets the layout", () => {
    const s = updateHistogram(initialHistogramState(), cumulative);
    expect(s).toEqual({ bounds: [10, 20, 40], counts: [2, 3, 4, 1] });
    expect(histogramTotal(s)).toBe(10);
    const s2 = updateHistogram(s, [...cumulative].reverse()); // order of buckets does not matter
    expect(s2.counts).toEqual([4, 6, 8, 2]);
    expect(s.counts).toEqual([2, 3, 4, 1]); // not mutated
  });

  it("rounds extrapolated counts, treats a missing +Inf as nothing above, rejects inconsistent input", () => {
    const s = updateHistogram(initialHistogramState([10, 20]), [
      { le: 10, count: 1.2 },
      { le: 20, count: 2.9 },
    ]);
    expect(s.counts).toEqual([1, 2, 0]);
    expect(() => updateHistogram(s, [{ le: 15, count: 1 }])).toThrow(/layout/);
    expect(() =>
      updateHistogram(s, [
        { le: 10, count: 3 },
        { le: 20, count: 1 },
      ]),
    ).toThrow(/decrease/);
    expect(() => updateHistogram(s, [{ le: 10, count: -1 }])).toThrow(RangeError);
    expect(() => initialHistogramState([2, 1])).toThrow(RangeError);
  });

  it("round-trips through JSON and does not depend on batching (counts are exact)", () => {
    const { buckets } = layout(1, Math.pow(2, 1 / 8), 120);
    const rng = createRng(3);
    const b = draws(rng, 600, (r) => r.lognormal(Math.log(150), 0.5));
    const c = draws(rng, 600, (r) => r.lognormal(Math.log(160), 0.5));
    const feed = (size: number): QuantileState => {
      let s = initialQuantileState();
      for (let i = 0; i < b.length; i += size) {
        s = updateQuantiles(s, {
          baseline: buckets(b.slice(i, i + size)),
          canary: buckets(c.slice(i, i + size)),
        });
      }
      return s;
    };
    const ref = feed(600);
    for (const size of [1, 13, 100]) expect(feed(size)).toEqual(ref);
    const back = JSON.parse(JSON.stringify(ref)) as QuantileState;
    expect(back).toEqual(ref);
    const opts = { p: 0.95, alpha: 0.01 };
    expect(quantileContrastInterval(back, opts)).toEqual(quantileContrastInterval(ref, opts));
  });
});

describe("quantile confidence sequence", () => {
  it("accepts a rank range around n·p that widens as alpha shrinks", () => {
    const r05 = acceptedRankRange(1000, 0.95, 0.05);
    const r01 = acceptedRankRange(1000, 0.95, 0.01);
    expect(r05.lower).toBeLessThan(950);
    expect(r05.upper).toBeGreaterThan(950);
    expect(r01.lower).toBeLessThan(r05.lower);
    expect(r01.upper).toBeGreaterThan(r05.upper);
    // Wider than the fixed-sample binomial range (the price of every look), but not wildly.
    const fixed = normalQuantile(0.975) * Math.sqrt(1000 * 0.95 * 0.05);
    expect(950 - r05.lower).toBeGreaterThan(fixed);
    expect(950 - r05.lower).toBeLessThan(2.5 * fixed);
  });

  it("ends on bucket edges, conservatively", () => {
    // 1000 values: 900 in (0, 10], 60 in (10, 20], 30 in (20, 40], 10 above 40.
    const s = updateHistogram(initialHistogramState(), [
      { le: 10, count: 900 },
      { le: 20, count: 960 },
      { le: 40, count: 990 },
      { le: Infinity, count: 1000 },
    ]);
    expect(acceptedRankRange(1000, 0.95, 0.05)).toEqual({ lower: 930, upper: 968 });
    // Every x <= 10 has N(x) <= 900 < 930, every x >= 40 has N(x) >= 990 > 968: the p95 is in (10, 40).
    expect(quantileInterval(s, { p: 0.95, alpha: 0.05 })).toEqual({ lower: 10, upper: 40 });
    // With 100 values the upper end is still open (N could stay below sHi even in the +Inf bucket).
    const small = updateHistogram(initialHistogramState(), [
      { le: 10, count: 90 },
      { le: 20, count: 96 },
      { le: 40, count: 99 },
      { le: Infinity, count: 100 },
    ]);
    expect(quantileInterval(small, { p: 0.95, alpha: 0.05 })).toEqual({ lower: 0, upper: Infinity });
    expect(quantileEstimate(s, 0.95)).toBeCloseTo(10 + (10 * 50) / 60, 12);
    expect(quantileInterval(initialHistogramState(), { p: 0.95, alpha: 0.05 })).toEqual({
      lower: 0,
      upper: Infinity,
    });
  });
});

describe("A/A: lognormal TTFA, p95 from exponential buckets", () => {
  // 400 runs x 100 looks of 50 requests per arm (up to 5000 per arm), alpha 0.05, buckets of factor 2^(1/16)
  // (Prometheus native-histogram schema 4) placed so that the true p95 is itself a bucket bound: then the count
  // N(q) below the true quantile is observed exactly, and "an interval excludes q" can be checked at rank level,
  // free of the bucket widening (which only makes the value intervals more conservative).
  // Each end of an arm's sequence is a one-sided bound at alpha (onesided.ts), so each end may miss in at most
  // alpha of runs; the contrast's ends spend alpha over both arms.
  // Measured: contrast interval ever excluding 0 (either end): 0.000 (bucket widening: conservative); one arm's
  // sequence ever too low / too high at rank level (alpha 0.05 each): 0.0125 / 0.02; the fixed-sample binomial
  // interval re-checked at every look: 0.34.
  it("the contrast never (<= alpha) excludes 0, each end of one arm's sequence <= alpha, fixed-sample far above", () => {
    const alpha = 0.05;
    const p = 0.95;
    const mu = Math.log(150);
    const sigma = 0.5;
    const q = Math.exp(mu + sigma * normalQuantile(p));
    const factor = Math.pow(2, 1 / 16);
    const below = 100;
    const { bounds, buckets } = layout(q / Math.pow(factor, below), factor, 2 * below + 1);
    expect(bounds[below]! / q).toBeCloseTo(1, 12);
    const rng = createRng(41);
    const zFixed = normalQuantile(1 - alpha / 2);
    const runs = 400;
    let contrastMiss = 0;
    let armLow = 0;
    let armHigh = 0;
    let fixedMiss = 0;
    for (let run = 0; run < runs; run++) {
      let s = initialQuantileState();
      let c = false;
      let lowMiss = false;
      let highMiss = false;
      let f = false;
      for (let look = 0; look < 100; look++) {
        s = updateQuantiles(s, {
          baseline: buckets(draws(rng, 50, (r) => r.lognormal(mu, sigma))),
          canary: buckets(draws(rng, 50, (r) => r.lognormal(mu, sigma))),
        });
        const iv = quantileContrastInterval(s, { p, alpha });
        if (iv.lower > 0 || iv.upper < 0) c = true;
        const n = histogramTotal(s.canary);
        let rank = 0; // N(q): values <= q, exact because q is a bound
        for (let j = 0; j <= below; j++) rank += s.canary.counts[j]!;
        const ranks = acceptedRankRange(n, p, alpha);
        if (rank < ranks.lower) lowMiss = true;
        if (rank > ranks.upper) highMiss = true;
        const half = zFixed * Math.sqrt(n * p * (1 - p));
        if (Math.abs(rank - n * p) > half) f = true;
      }
      if (c) contrastMiss++;
      if (lowMiss) armLow++;
      if (highMiss) armHigh++;
      if (f) fixedMiss++;
    }
    const res = {
      contrast: contrastMiss / runs,
      low: armLow / runs,
      high: armHigh / runs,
      fixed: fixedMiss / runs,
    };
    console.log(
      `quantiles A/A: contrast ${res.contrast}, one arm too low ${res.low} / too high ${res.high}, fixed-sample one arm ${res.fixed}`,
    );
    expect(res.contrast).toBeLessThanOrEqual(alpha);
    expect(res.low).toBeLessThanOrEqual(alpha + 0.01);
    expect(res.high).toBeLessThanOrEqual(alpha + 0.01);
    expect(res.fixed).toBeGreaterThan(0.2);
  });
});

describe("power: TTFA p95 +25% against a +10% budget", () => {
  // Canary latencies are the baseline's times 1.25 (every quantile +25%). Buckets of factor 2^(1/32)
  // (native-histogram schema 5): bucket resolution alone caps the provable ratio at 1.25/f^2 = 1.197.
  // Measured (50 runs, looks every 200 requests per arm, alpha 0.05): median 4200 requests per arm to a fail
  // (max 10400). With schema-4 buckets (2^(1/16)) the median is ~11000: bucket resolution matters.
  it("fails within a median of <= 6000 requests per arm; both formulations agree", () => {
    const alpha = 0.05;
    const { buckets } = layout(1, Math.pow(2, 1 / 32), 32 * 15);
    const rng = createRng(7);
    const mu = Math.log(150);
    const budget = { relative: 0.1 };
    const { k, allowed } = budgetContrast("lowerIsBetter", budget);
    const detections: number[] = [];
    for (let run = 0; run < 50; run++) {
      let s = initialQuantileState();
      let at = Infinity;
      while (quantileSamples(s).canary < 40000) {
        s = updateQuantiles(s, {
          baseline: buckets(draws(rng, 200, (r) => r.lognormal(mu, 0.5))),
          canary: buckets(draws(rng, 200, (r) => r.lognormal(mu + Math.log(1.25), 0.5))),
        });
        const opts = { p: 0.95, alpha };
        const samples = quantileSamples(s);
        const byRatio = sequentialVerdict({
          interval: worseningFromRatio(quantileRatioInterval(s, opts), "lowerIsBetter"),
          allowed: budget.relative,
          samples,
          minSamples: 30,
        });
        const byContrast = sequentialVerdict({
          interval: worseningFromContrast(quantileContrastInterval(s, { ...opts, k }), "lowerIsBetter"),
          allowed,
          samples,
          minSamples: 30,
        });
        expect(byContrast).toBe(byRatio);
        if (byRatio === "fail") {
          at = samples.canary;
          break;
        }
      }
      detections.push(at);
    }
    detections.sort((a, b) => a - b);
    console.log(`quantiles power: median ${detections[25]}, max ${detections[49]} requests per arm`);
    expect(detections[25]).toBeLessThanOrEqual(6000);
    expect(detections[49]).toBeLessThan(40000);
  });
});
