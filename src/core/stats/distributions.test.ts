import { describe, expect, it } from "vitest";
import {
  binomialCdf,
  logBeta,
  logGamma,
  normalCdf,
  normalQuantile,
  regularizedIncompleteBeta,
  studentTCdf,
  studentTQuantile,
} from "./distributions.js";

/** |actual − expected| <= tol · max(1, |expected|)-style check, but purely relative for tiny values. */
function expectRel(actual: number, expected: number, tol: number): void {
  const scale = Math.abs(expected) > 0 ? Math.abs(expected) : 1;
  expect(Math.abs(actual - expected) / scale).toBeLessThanOrEqual(tol);
}

/** Independent check of the t CDF: Simpson's rule on the density (no incomplete beta involved). */
function tCdfBySimpson(t: number, df: number): number {
  const c = Math.exp(logGamma((df + 1) / 2) - logGamma(df / 2)) / Math.sqrt(df * Math.PI);
  const f = (x: number): number => c * Math.pow(1 + (x * x) / df, -(df + 1) / 2);
  const m = 4000;
  const h = t / m;
  let s = f(0) + f(t);
  for (let i = 1; i < m; i++) s += (i % 2 === 1 ? 4 : 2) * f(i * h);
  return 0.5 + (s * h) / 3;
}

describe("normal", () => {
  // Values: Abramowitz & Stegun table 26.1 / R pnorm, qnorm.
  it.each([
    [0, 0.5],
    [1, 0.8413447460685429],
    [1.96, 0.9750021048517795],
    [-1, 0.15865525393145707],
    [-3, 0.0013498980316300946],
    [-5, 2.866515718791939e-7],
    [-10, 7.619853024160527e-24],
  ])("normalCdf(%d) = %d", (x, p) => {
    expectRel(normalCdf(x), p, 1e-9);
  });

  it.each([
    [0.5, 0],
    [0.9, 1.2815515655446004],
    [0.975, 1.959963984540054],
    [0.995, 2.5758293035489004],
    [0.999, 3.090232306167814],
    [0.025, -1.959963984540054],
    [1e-10, -6.361340902404056],
  ])("normalQuantile(%d) = %d", (p, z) => {
    expect(Math.abs(normalQuantile(p) - z)).toBeLessThan(1e-9);
  });

  it("published short forms: z(0.975)=1.959964, z(0.999)=3.090232", () => {
    expect(normalQuantile(0.975)).toBeCloseTo(1.959964, 6);
    expect(normalQuantile(0.999)).toBeCloseTo(3.090232, 6);
  });

  it("is symmetric and round-trips", () => {
    for (const x of [-8, -4.2, -1.3, -0.01, 0.5, 2.7, 6.1]) {
      expect(normalCdf(-x)).toBeCloseTo(1 - normalCdf(x), 15);
      const p = normalCdf(x);
      // Relative precision holds in the lower tail; the upper tail is limited by 1 − p in doubles.
      expect(Math.abs(normalQuantile(p) - x)).toBeLessThan(x < 0 ? 1e-9 : 1e-7);
    }
    expect(normalQuantile(0)).toBe(-Infinity);
    expect(normalQuantile(1)).toBe(Infinity);
    expect(normalQuantile(1.5)).toBeNaN();
  });
});

describe("gamma and beta functions", () => {
  it.each([
    [0.5, 0.5723649429247001], // ln sqrt(pi)
    [1, 0],
    [1.5, -0.12078223763524522], // ln(sqrt(pi)/2)
    [0.1, 2.252712651734206],
    [10, Math.log(362880)],
    [100, 359.1342053695754],
    [1e6, 12815504.56914761],
  ])("logGamma(%d)", (x, expected) => {
    expect(Math.abs(logGamma(x) - expected)).toBeLessThan(1e-12 * Math.max(1, Math.abs(expected)));
  });

  it("logBeta matches closed forms, including large arguments", () => {
    expect(logBeta(2, 3)).toBeCloseTo(Math.log(1 / 12), 13);
    expect(logBeta(0.5, 0.5)).toBeCloseTo(Math.log(Math.PI), 13);
    expect(logBeta(1e6, 1)).toBeCloseTo(-Math.log(1e6), 11); // B(a,1) = 1/a
    expect(logBeta(1, 3e7)).toBeCloseTo(-Math.log(3e7), 11);
    expect(logBeta(20, 30)).toBeCloseTo(logGamma(20) + logGamma(30) - logGamma(50), 10);
    expect(logBeta(3.3, 17.5)).toBeCloseTo(logBeta(17.5, 3.3), 14);
  });

  // Closed forms of I_x(a, b).
  it.each([
    ["I_x(1,1) = x", 0.37, 1, 1, 0.37],
    ["I_x(a,1) = x^a", 0.6, 3.5, 1, Math.pow(0.6, 3.5)],
    ["I_x(1,b) = 1-(1-x)^b", 0.2, 1, 7.25, 1 - Math.pow(0.8, 7.25)],
    ["I_1/2(a,a) = 1/2", 0.5, 12.3, 12.3, 0.5],
    ["I_x(1/2,1/2) = 2/pi asin sqrt x", 0.1, 0.5, 0.5, (2 / Math.PI) * Math.asin(Math.sqrt(0.1))],
    // I_x(2,3) = P[Bin(4, x) >= 2] = 1 - (1-x)^4 - 4x(1-x)^3
    ["I_x(2,3)", 0.3, 2, 3, 1 - Math.pow(0.7, 4) - 4 * 0.3 * Math.pow(0.7, 3)],
    ["I_x(500,500) tail", 0.45, 500, 500, binomialTailAtLeast(500, 999, 0.45)],
  ])("%s", (_name, x, a, b, expected) => {
    expectRel(regularizedIncompleteBeta(x, a, b), expected, 1e-10);
  });

  it("handles the ends of [0, 1]", () => {
    expect(regularizedIncompleteBeta(0, 2, 3)).toBe(0);
    expect(regularizedIncompleteBeta(1, 2, 3)).toBe(1);
  });
});

describe("Student t", () => {
  // Published tables (e.g. Fisher & Yates; NIST/SEMATECH e-Handbook 1.3.6.7.2) at 4-5 decimals,
  // and R's qt for the extra digits.
  it.each([
    [0.975, 1, 12.7062],
    [0.975, 2, 4.3027],
    [0.975, 5, 2.5706],
    [0.975, 10, 2.2281],
    [0.95, 20, 1.7247],
    [0.995, 30, 2.75],
    [0.9, 4, 1.5332],
    [0.999, 3, 10.2145],
    [0.975, 100, 1.984],
    [0.975, 1000, 1.9623],
  ])("t(%d, %d) = %d", (p, df, t) => {
    expect(Math.abs(studentTQuantile(p, df) - t)).toBeLessThan(6e-5);
  });

  it.each([
    [0.975, 1, 12.706204736174707],
    [0.975, 10, 2.2281388519649385],
    [0.995, 30, 2.749995653567],
  ])("t(%d, %d) to 1e-9", (p, df, t) => {
    expect(Math.abs(studentTQuantile(p, df) - t)).toBeLessThan(1e-9);
  });

  it("closed forms for df = 1 (Cauchy) and df = 2 agree with the incomplete-beta CDF", () => {
    for (const t of [-30, -2.5, -0.3, 0, 0.7, 4, 100]) {
      expectRel(studentTCdf(t, 1), 0.5 + Math.atan(t) / Math.PI, 1e-12);
      expectRel(studentTCdf(t, 2), 0.5 + t / (2 * Math.sqrt(2 + t * t)), 1e-12);
    }
  });

  // Non-integer df (as from Welch–Satterthwaite): checked against direct numerical integration.
  it.each([
    [1.7, 2.5],
    [2.2, 7.3],
    [0.8, 15.7],
    [3.1, 41.6],
  ])("CDF at t=%d, df=%d matches numerical integration", (t, df) => {
    expect(Math.abs(studentTCdf(t, df) - tCdfBySimpson(t, df))).toBeLessThan(1e-10);
  });

  it("non-integer df quantiles lie between neighbouring integer df", () => {
    const q = studentTQuantile(0.975, 7.3);
    expect(q).toBeLessThan(studentTQuantile(0.975, 7));
    expect(q).toBeGreaterThan(studentTQuantile(0.975, 8));
  });

  it("converges to the normal for large df; Infinity is the normal", () => {
    const z = normalQuantile(0.975);
    expect(studentTQuantile(0.975, Infinity)).toBe(z);
    expect(studentTCdf(1.3, Infinity)).toBe(normalCdf(1.3));
    // t_{0.975, df} ≈ z + z(z²+1)/(4 df) (Hill 1970).
    expect(Math.abs(studentTQuantile(0.975, 1e6) - (z + (z * (z * z + 1)) / 4e6))).toBeLessThan(1e-10);
    expect(Math.abs(studentTQuantile(0.975, 1e12) - z)).toBeLessThan(1e-11);
    expect(Math.abs(studentTQuantile(0.975, 5e7) - studentTQuantile(0.975, 2e8))).toBeLessThan(1e-7);
  });

  it("is symmetric and round-trips, including tiny df and deep tails", () => {
    for (const df of [0.3, 1, 2, 3.5, 9, 49, 1234.5, 1e7]) {
      for (const p of [1e-8, 0.001, 0.05, 0.3, 0.5, 0.8, 0.995]) {
        const t = studentTQuantile(p, df);
        // 1 − p itself carries a relative error up to 1e-16/p, hence the looser symmetry tolerance.
        expectRel(studentTQuantile(1 - p, df), -t, 1e-7);
        expectRel(studentTCdf(t, df), p, 1e-9);
        expect(studentTCdf(-t, df)).toBeCloseTo(1 - studentTCdf(t, df), 14);
      }
    }
  });
});

/** Binomial pmf in log space (independent of the incomplete beta). */
function binomialPmf(j: number, n: number, p: number): number {
  return Math.exp(
    logGamma(n + 1) - logGamma(j + 1) - logGamma(n - j + 1) + j * Math.log(p) + (n - j) * Math.log1p(-p),
  );
}

/** P[X >= k] for X ~ Bin(n, p) by direct summation of the upper tail (no 1 − cdf cancellation). */
function binomialTailAtLeast(k: number, n: number, p: number): number {
  let s = 0;
  for (let j = k; j <= n; j++) s += binomialPmf(j, n, p);
  return s;
}

/** P[X <= k] by direct summation of the pmf. */
function binomialCdfBySum(k: number, n: number, p: number): number {
  let s = 0;
  for (let j = 0; j <= k; j++) s += binomialPmf(j, n, p);
  return s;
}

describe("binomialCdf", () => {
  it.each([
    [3, 10, 0.3, 0.6496107184],
    [0, 10, 0.3, 0.0282475249], // 0.7^10
    [5, 20, 0.5, 0.0206947327], // sign-test table
    [6, 20, 0.5, 0.0576591492],
  ])("P[Bin(%d; n=%d, p=%d)] = %d (published)", (k, n, p, expected) => {
    expect(binomialCdf(k, n, p)).toBeCloseTo(expected, 9);
  });

  it.each([
    [0, 30, 0.99],
    [28, 30, 0.99],
    [7, 50, 0.1],
    [190, 200, 0.95],
    [5, 2000, 0.004],
    [12, 2000, 0.004],
    [100, 1000, 0.1],
    [4900, 10000, 0.5],
  ])("matches direct summation at k=%d, n=%d, p=%d", (k, n, p) => {
    expectRel(binomialCdf(k, n, p), binomialCdfBySum(k, n, p), 1e-9);
  });

  it("handles edges", () => {
    expect(binomialCdf(-1, 10, 0.3)).toBe(0);
    expect(binomialCdf(10, 10, 0.3)).toBe(1);
    expect(binomialCdf(3.7, 10, 0.3)).toBe(binomialCdf(3, 10, 0.3));
    expect(binomialCdf(0, 10, 0)).toBe(1);
    expect(binomialCdf(9, 10, 1)).toBe(0);
  });
});
