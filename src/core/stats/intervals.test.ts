import { describe, expect, it } from "vitest";
import type { Interval } from "../types.js";
import { binomialCdf, normalQuantile, studentTQuantile } from "./distributions.js";
import {
  differenceInterval,
  meanInterval,
  proportionDifferenceInterval,
  quantileEstimate,
  quantileInterval,
  ratioInterval,
  welchDf,
  wilsonInterval,
  type ContrastInput,
} from "./intervals.js";
import {
  addPair,
  addValue,
  emptyCoMoments,
  emptyMoments,
  sampleCovariance,
  sampleVariance,
} from "./moments.js";
import { createRng, type Rng } from "./random.js";

const REPS = 4000;
const CONF = 0.95;
// Binomial sd of a 95% coverage estimate over 4000 replications is 0.0034; [0.93, 0.97] is about ±6 sd.
const LOW = 0.93;
const HIGH = 0.97;

/** Observed coverage figures, printed with STATS_VERBOSE=1 (for reports). */
const observed: Record<string, number> = {};
function record(name: string, value: number): number {
  observed[name] = value;
  if (process.env["STATS_VERBOSE"]) console.log(`coverage ${name}: ${value.toFixed(4)}`);
  return value;
}

function covers(iv: Interval | null, truth: number): boolean {
  return iv !== null && iv.lower <= truth && truth <= iv.upper;
}

function coverage(seed: number, trial: (rng: Rng) => boolean): number {
  const rng = createRng(seed);
  let hits = 0;
  for (let i = 0; i < REPS; i++) if (trial(rng)) hits++;
  return hits / REPS;
}

/** Independent-arms contrast (Welch) from two samples. */
function welchInput(c: number[], b: number[]): ContrastInput {
  const mc = emptyMoments();
  const mb = emptyMoments();
  for (const x of c) addValue(mc, x);
  for (const x of b) addValue(mb, x);
  const varMeanC = sampleVariance(mc) / mc.n;
  const varMeanB = sampleVariance(mb) / mb.n;
  return {
    meanC: mc.mean,
    meanB: mb.mean,
    varMeanC,
    varMeanB,
    covMeans: 0,
    df: welchDf(varMeanC, mc.n, varMeanB, mb.n),
  };
}

/** Paired contrast from (canary, baseline) pairs. */
function pairedInput(pairs: [number, number][]): ContrastInput {
  const m = emptyCoMoments();
  for (const [c, b] of pairs) addPair(m, c, b);
  return {
    meanC: m.meanC,
    meanB: m.meanB,
    varMeanC: m.m2C / (m.n - 1) / m.n,
    varMeanB: m.m2B / (m.n - 1) / m.n,
    covMeans: sampleCovariance(m) / m.n,
    df: m.n - 1,
  };
}

function draw(n: number, f: () => number): number[] {
  return Array.from({ length: n }, f);
}

describe("welchDf", () => {
  it("equals 2n − 2 for equal variances and sizes, and lies within [min n − 1, nC + nB − 2]", () => {
    expect(welchDf(0.1, 20, 0.1, 20)).toBeCloseTo(38, 12);
    // s² = 1 (n = 10) and s² = 4 (n = 20): (0.1 + 0.2)² / (0.01/9 + 0.04/19) = 27.98...
    expect(welchDf(1 / 10, 10, 4 / 20, 20)).toBeCloseTo(0.09 / (0.01 / 9 + 0.04 / 19), 12);
    expect(welchDf(1 / 10, 10, 4 / 20, 20)).toBeCloseTo(27.9816, 3);
    for (const [vc, nc, vb, nb] of [
      [5, 8, 0.01, 200],
      [0.3, 50, 0.2, 30],
    ] as const) {
      const df = welchDf(vc, nc, vb, nb);
      expect(df).toBeGreaterThanOrEqual(Math.min(nc, nb) - 1);
      expect(df).toBeLessThanOrEqual(nc + nb - 2);
    }
    expect(welchDf(0, 10, 0, 12)).toBe(20);
    expect(welchDf(0.1, 1, 0.1, 10)).toBeNaN();
  });
});

describe("differenceInterval and meanInterval", () => {
  it("computes (meanC − meanB) ± t · se by hand", () => {
    const iv = differenceInterval(
      { meanC: 10, meanB: 8, varMeanC: 0.5, varMeanB: 0.5, covMeans: 0, df: 10 },
      CONF,
    );
    // se = 1, t(0.975, 10) = 2.2281389
    expect(iv.lower).toBeCloseTo(2 - 2.2281389, 6);
    expect(iv.upper).toBeCloseTo(2 + 2.2281389, 6);
    // Covariance narrows the interval: var = 0.5 + 0.5 − 2·0.375 = 0.25.
    const paired = differenceInterval(
      { meanC: 10, meanB: 8, varMeanC: 0.5, varMeanB: 0.5, covMeans: 0.375, df: 10 },
      CONF,
    );
    expect(paired.upper - paired.lower).toBeCloseTo(2 * 2.2281389 * 0.5, 6);
    const m = meanInterval(3, 0.04, 30, 0.99);
    expect(m.lower).toBeCloseTo(3 - 2.7499957 * 0.2, 6);
    expect(m.upper).toBeCloseTo(3 + 2.7499957 * 0.2, 6);
  });

  it("is the whole line without a variance estimate", () => {
    expect(
      differenceInterval({ meanC: 1, meanB: 0, varMeanC: NaN, varMeanB: 0.1, covMeans: 0, df: NaN }, CONF),
    ).toEqual({
      lower: -Infinity,
      upper: Infinity,
    });
    expect(meanInterval(1, NaN, NaN, CONF)).toEqual({ lower: -Infinity, upper: Infinity });
  });

  it("Welch interval covers the true difference of normal samples (n = 50 per arm, unequal sd)", () => {
    const cov = coverage(101, (r) => {
      const c = draw(50, () => r.normal(1, 1));
      const b = draw(50, () => r.normal(0, 2));
      return covers(differenceInterval(welchInput(c, b), CONF), 1);
    });
    expect(record("welch-normal", cov)).toBeGreaterThanOrEqual(LOW);
    expect(cov).toBeLessThanOrEqual(HIGH);
  });

  it("Welch interval covers the true difference of lognormal latencies (n = 50 per arm)", () => {
    // TTFA-like: lognormal, sigma 0.5 (docs/budgets.md#typical-values). True means e^(mu + sigma²/2).
    const truth = Math.exp(0.1 + 0.125) - Math.exp(0.125);
    const cov = coverage(102, (r) => {
      const c = draw(50, () => r.lognormal(0.1, 0.5));
      const b = draw(50, () => r.lognormal(0, 0.5));
      return covers(differenceInterval(welchInput(c, b), CONF), truth);
    });
    expect(record("welch-lognormal", cov)).toBeGreaterThanOrEqual(LOW);
    expect(cov).toBeLessThanOrEqual(HIGH);
  });

  it("paired interval covers the true difference (n = 35 utterances, shared utterance effect)", () => {
    // Speaker-similarity-like: utterance effect sd 0.035 shared, per-arm noise 0.01, drop −0.02.
    const cov = coverage(103, (r) => {
      const pairs = draw(35, () => r.normal(0.72, 0.035)).map((u): [number, number] => [
        u - 0.02 + r.normal(0, 0.01),
        u + r.normal(0, 0.01),
      ]);
      return covers(differenceInterval(pairedInput(pairs), CONF), -0.02);
    });
    expect(record("paired", cov)).toBeGreaterThanOrEqual(LOW);
    expect(cov).toBeLessThanOrEqual(HIGH);
  });

  it("one-sample t interval covers the mean", () => {
    const cov = coverage(104, (r) => {
      const m = emptyMoments();
      for (let i = 0; i < 12; i++) addValue(m, r.normal(4, 0.2));
      return covers(meanInterval(m.mean, sampleVariance(m) / m.n, m.n - 1, CONF), 4);
    });
    expect(record("mean-t", cov)).toBeGreaterThanOrEqual(LOW);
    expect(cov).toBeLessThanOrEqual(HIGH);
  });
});

describe("ratioInterval (Fieller)", () => {
  /** Textbook form (Finney 1978): with g = t²·vB/mB², independent of the quadratic-root code. */
  function fiellerTextbook(x: ContrastInput, confidence: number): Interval {
    const t = studentTQuantile((1 + confidence) / 2, x.df);
    const r = x.meanC / x.meanB;
    const g = (t * t * x.varMeanB) / (x.meanB * x.meanB);
    const centre = r - (g * x.covMeans) / x.varMeanB;
    const half =
      (t / Math.abs(x.meanB)) *
      Math.sqrt(
        x.varMeanC -
          2 * r * x.covMeans +
          r * r * x.varMeanB -
          g * (x.varMeanC - (x.covMeans * x.covMeans) / x.varMeanB),
      );
    return { lower: (centre - half) / (1 - g), upper: (centre + half) / (1 - g) };
  }

  it.each([
    [{ meanC: 12, meanB: 10, varMeanC: 0.3, varMeanB: 0.2, covMeans: 0, df: 98 }],
    [{ meanC: 0.7, meanB: 0.72, varMeanC: 4e-5, varMeanB: 3.5e-5, covMeans: 3e-5, df: 34 }],
    [{ meanC: -3, meanB: -5, varMeanC: 1, varMeanB: 1.5, covMeans: -0.4, df: 12.7 }],
  ])("matches the textbook formula and the defining equality at its ends", (x) => {
    const iv = ratioInterval(x, CONF);
    expect(iv).not.toBeNull();
    const ref = fiellerTextbook(x, CONF);
    expect(iv!.lower).toBeCloseTo(ref.lower, 10);
    expect(iv!.upper).toBeCloseTo(ref.upper, 10);
    const t2 = studentTQuantile(0.975, x.df) ** 2;
    for (const rho of [iv!.lower, iv!.upper]) {
      const lhs = (x.meanC - rho * x.meanB) ** 2;
      const rhs = t2 * (x.varMeanC - 2 * rho * x.covMeans + rho * rho * x.varMeanB);
      expect(lhs).toBeCloseTo(rhs, 10);
    }
    expect(iv!.lower).toBeLessThanOrEqual(x.meanC / x.meanB);
    expect(iv!.upper).toBeGreaterThanOrEqual(x.meanC / x.meanB);
  });

  it("returns null when the baseline mean is not significantly different from 0", () => {
    // meanB² = 1 <= t²·varMeanB ≈ 4.2 · 0.5: the ratio is unbounded, a relative budget cannot be judged.
    expect(
      ratioInterval({ meanC: 2, meanB: 1, varMeanC: 0.1, varMeanB: 0.5, covMeans: 0, df: 20 }, CONF),
    ).toBeNull();
    expect(
      ratioInterval({ meanC: 2, meanB: 0, varMeanC: 0.1, varMeanB: 0, covMeans: 0, df: 20 }, CONF),
    ).toBeNull();
  });

  it("covers the true ratio of independent arms (n = 50 per arm)", () => {
    const cov = coverage(201, (r) => {
      const c = draw(50, () => r.normal(12, 3));
      const b = draw(50, () => r.normal(10, 4));
      return covers(ratioInterval(welchInput(c, b), CONF), 1.2);
    });
    expect(record("fieller-welch", cov)).toBeGreaterThanOrEqual(LOW);
    expect(cov).toBeLessThanOrEqual(HIGH);
  });

  it("covers the true ratio of lognormal latency means (n = 50 per arm)", () => {
    const cov = coverage(202, (r) => {
      const c = draw(50, () => r.lognormal(Math.log(150) + 0.1, 0.5));
      const b = draw(50, () => r.lognormal(Math.log(150), 0.5));
      return covers(ratioInterval(welchInput(c, b), CONF), Math.exp(0.1));
    });
    expect(record("fieller-lognormal", cov)).toBeGreaterThanOrEqual(LOW);
    expect(cov).toBeLessThanOrEqual(HIGH);
  });

  it("covers the true ratio of paired data (n = 40)", () => {
    const cov = coverage(203, (r) => {
      const pairs = draw(40, () => r.normal(100, 20)).map((u): [number, number] => [
        1.1 * u + r.normal(0, 5),
        u + r.normal(0, 5),
      ]);
      return covers(ratioInterval(pairedInput(pairs), CONF), 1.1);
    });
    expect(record("fieller-paired", cov)).toBeGreaterThanOrEqual(LOW);
    expect(cov).toBeLessThanOrEqual(HIGH);
  });
});

describe("quantileEstimate (Hyndman–Fan type 7)", () => {
  const oneToTen = Float64Array.from({ length: 10 }, (_, i) => i + 1);
  // R: quantile(1:10, p) with the default type 7.
  it.each([
    [0, 1],
    [0.25, 3.25],
    [0.5, 5.5],
    [0.9, 9.1],
    [0.95, 9.55],
    [0.99, 9.91],
    [1, 10],
  ])("quantile(1:10, %d) = %d", (p, q) => {
    expect(quantileEstimate(oneToTen, p)).toBeCloseTo(q, 12);
  });

  it("handles n = 1 and two values", () => {
    expect(quantileEstimate(Float64Array.of(7), 0.95)).toBe(7);
    expect(quantileEstimate(Float64Array.of(1, 2), 0.25)).toBeCloseTo(1.25, 12);
  });
});

describe("quantileInterval (order statistics)", () => {
  const ranks = (n: number): Float64Array => Float64Array.from({ length: n }, (_, i) => i + 1);

  it("picks the published sign-test ranks for the median, n = 20 (x(6), x(15), coverage 0.9586)", () => {
    // P[Bin(20, 1/2) <= 5] = 0.0207 <= 0.025 < P[... <= 6] = 0.0577 (Hahn & Meeker 1991, table A.15 style).
    expect(quantileInterval(ranks(20), 0.5, CONF)).toEqual({ lower: 6, upper: 15 });
  });

  it("returns an unbounded upper side for p99 at n = 30 and a bounded lower side", () => {
    const iv = quantileInterval(ranks(30), 0.99, CONF);
    expect(iv.upper).toBe(Infinity);
    expect(Number.isFinite(iv.lower)).toBe(true);
    // And a bounded upper side once n is large enough: 1 − 0.99^n <= 0.025 fails until n >= 367 (P[Y = n] = 0.99^n).
    expect(quantileInterval(ranks(400), 0.99, CONF).upper).toBeLessThan(Infinity);
    expect(quantileInterval(ranks(2), 0.5, CONF)).toEqual({ lower: -Infinity, upper: Infinity });
  });

  it("brackets n·p ± z·sqrt(n·p·q) for large n", () => {
    const n = 200_000;
    const iv = quantileInterval(ranks(n), 0.99, CONF);
    const centre = n * 0.99;
    const half = normalQuantile(0.975) * Math.sqrt(n * 0.99 * 0.01);
    expect(Math.abs(iv.lower - (centre - half))).toBeLessThan(3);
    expect(Math.abs(iv.upper - (centre + half))).toBeLessThan(3);
  });

  it.each([0.5, 0.9, 0.95, 0.99])(
    "chooses the tightest equal-tailed ranks for every n <= 300 (p = %d)",
    (p) => {
      const tail = (1 - CONF) / 2;
      for (let n = 1; n <= 300; n++) {
        const { lower, upper } = quantileInterval(ranks(n), p, CONF);
        // With data 1..n the bounds are the ranks themselves.
        if (lower === -Infinity) expect(binomialCdf(0, n, p)).toBeGreaterThan(tail);
        else {
          expect(binomialCdf(lower - 1, n, p)).toBeLessThanOrEqual(tail);
          expect(binomialCdf(lower, n, p)).toBeGreaterThan(tail); // no larger rank would do
        }
        if (upper === Infinity) expect(1 - binomialCdf(n - 1, n, p)).toBeGreaterThan(tail);
        else {
          expect(1 - binomialCdf(upper - 1, n, p)).toBeLessThanOrEqual(tail);
          expect(1 - binomialCdf(upper - 2, n, p)).toBeGreaterThan(tail); // no smaller rank would do
        }
      }
    },
  );

  it("covers the true p95 of lognormal(0, 0.5) latencies at n = 200", () => {
    const truth = Math.exp(0.5 * normalQuantile(0.95));
    const cov = coverage(301, (r) => {
      const xs = Float64Array.from({ length: 200 }, () => r.lognormal(0, 0.5)).sort();
      return covers(quantileInterval(xs, 0.95, CONF), truth);
    });
    expect(record("quantile-p95-n200", cov)).toBeGreaterThanOrEqual(0.94);
  });

  it("covers the true p99 at n = 1000", () => {
    const truth = Math.exp(0.5 * normalQuantile(0.99));
    const cov = coverage(302, (r) => {
      const xs = Float64Array.from({ length: 1000 }, () => r.lognormal(0, 0.5)).sort();
      return covers(quantileInterval(xs, 0.99, CONF), truth);
    });
    expect(record("quantile-p99-n1000", cov)).toBeGreaterThanOrEqual(0.94);
  });
});

describe("proportions", () => {
  // Newcombe (1998), Statistics in Medicine 17:857, table I (Wilson score, 95%).
  it.each([
    [81, 263, 0.2553, 0.3662],
    [15, 148, 0.0624, 0.1605],
    [0, 20, 0, 0.1611],
    [1, 29, 0.0061, 0.1718],
    [5, 10, 0.2366, 0.7634],
  ])("Wilson %d/%d = [%d, %d]", (x, n, lo, hi) => {
    const iv = wilsonInterval(x, n, CONF);
    expect(iv.lower).toBeCloseTo(lo, 4);
    expect(iv.upper).toBeCloseTo(hi, 4);
  });

  it("Wilson with n = 0 knows nothing", () => {
    expect(wilsonInterval(0, 0, CONF)).toEqual({ lower: 0, upper: 1 });
  });

  it.each([
    // Hand-computed: p̃ = (x+1)/(n+2), se² = Σ p̃(1−p̃)/(n+2) (k² on the baseline term).
    [0, 10, 0, 10, 1, -0.22115031502926, 0.22115031502926],
    [56, 70, 48, 80, 1, 0.0524529266380537, 0.3357584554757674],
    [3, 1000, 1, 1000, 1.2, -0.0035257657639767, 0.0067193785384278],
  ])("Agresti–Caffo %d/%d vs %d/%d, k = %d", (xC, nC, xB, nB, k, lo, hi) => {
    const iv = proportionDifferenceInterval(xC, nC, xB, nB, k, CONF);
    expect(iv.lower).toBeCloseTo(lo, 12);
    expect(iv.upper).toBeCloseTo(hi, 12);
  });

  it("zero counts give a finite interval containing 0, inside [−k, 1]", () => {
    for (const n of [1, 5, 100, 100_000]) {
      const iv = proportionDifferenceInterval(0, n, 0, n, 1, CONF);
      expect(Number.isFinite(iv.lower) && Number.isFinite(iv.upper)).toBe(true);
      expect(iv.lower).toBeLessThan(0);
      expect(iv.upper).toBeGreaterThan(0);
      expect(iv.lower).toBeGreaterThanOrEqual(-1);
      expect(iv.upper).toBeLessThanOrEqual(1);
    }
  });

  function binomialDraw(r: Rng, n: number, p: number): number {
    let x = 0;
    for (let i = 0; i < n; i++) if (r.bernoulli(p)) x++;
    return x;
  }

  it("Agresti–Caffo covers a difference of rare proportions (0.002 vs 0.004, n = 2000)", () => {
    const cov = coverage(401, (r) => {
      const xC = binomialDraw(r, 2000, 0.002);
      const xB = binomialDraw(r, 2000, 0.004);
      return covers(proportionDifferenceInterval(xC, 2000, xB, 2000, 1, CONF), 0.002 - 0.004);
    });
    expect(record("agresti-caffo-rare", cov)).toBeGreaterThanOrEqual(LOW);
  });

  it("Agresti–Caffo covers pC − k·pB for a relative budget (k = 1.5, 0.006 vs 0.004, n = 2000)", () => {
    const cov = coverage(402, (r) => {
      const xC = binomialDraw(r, 2000, 0.006);
      const xB = binomialDraw(r, 2000, 0.004);
      return covers(proportionDifferenceInterval(xC, 2000, xB, 2000, 1.5, CONF), 0.006 - 1.5 * 0.004);
    });
    expect(record("agresti-caffo-k1.5", cov)).toBeGreaterThanOrEqual(LOW);
  });

  it("Wilson covers a rare proportion (0.003, n = 1000)", () => {
    const cov = coverage(403, (r) => covers(wilsonInterval(binomialDraw(r, 1000, 0.003), 1000, CONF), 0.003));
    expect(record("wilson-rare", cov)).toBeGreaterThanOrEqual(LOW);
  });
});
