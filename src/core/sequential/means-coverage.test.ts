// A/A coverage of the mean test at the levels critical findings actually get (1e-3, and 3.5e-4: alpha 0.01
// shared by 26 critical tests), with a 10/90 canary split and skewed values: where the asymptotic sequence
// failed (issue 14: 14.5x alpha at 1e-3 with lognormal sigma 1). The simulation is bench/means-coverage/aa.ts;
// bench/means-coverage/run.ts runs it with 10x the runs and 3x the looks and bench/RESULTS.md records the figures.
//
// What a run of N can show: a valid method's miss count is Binomial(N, <= alpha), so each test asserts the count
// is at most the 99.9% quantile of Binomial(N, alpha). A valid method fails such a test with probability < 0.1%;
// the old sequence (rate 15x alpha) would fail it almost surely. N = 2000 cannot by itself prove a rate below
// 3.5e-4 (0 misses bound the rate by 1.5e-3 at 95%); the bench's larger runs narrow that.
import { describe, expect, it } from "vitest";
import {
  betaRatio,
  lognormal,
  simulateAa,
  skewedSimilarity,
  type AaResult,
} from "../../../bench/means-coverage/aa.js";

const ALPHAS = [1e-3, 3.5e-4] as const;
const RUNS = 2000;
const LOOKS = 60; // canary 30 at the first look, +5 per look (baseline 9x): 325 / 2925 values at the last

function report(results: AaResult[]): void {
  for (const r of results) {
    console.log(
      `means A/A ${r.population} alpha ${r.alpha}: ${r.misses}/${r.runs} runs ever excluded the truth ` +
        `(rate ${r.rate}, 95% upper bound ${r.upper95.toPrecision(2)}; limit ${r.limit})`,
    );
  }
}

describe("mean test A/A coverage at the alphas critical findings use (10/90 split, skewed values)", () => {
  it.each([
    ["bounded: Beta(0.5, 5) ratio", betaRatio, 31],
    ["bounded: skewed similarity", skewedSimilarity, 32],
    ["unbounded: lognormal sigma 1", lognormal(1), 33],
    ["unbounded: lognormal sigma 1.5", lognormal(1.5), 34],
  ] as const)("%s: misses within Binomial(N, alpha)'s 99.9% quantile", (_name, population, seed) => {
    const results = simulateAa({ population, alphas: ALPHAS, runs: RUNS, looks: LOOKS, seed });
    report(results);
    for (const r of results) expect(r.misses).toBeLessThanOrEqual(r.limit);
  });

  // Not A/A: a canary 30% worse has a larger variance than the pooled floor, so the asymptotic sequence is on its
  // own there (measured 0.35x alpha at 1e-3 in the bench; a canary 50% worse is NOT covered, see bench/RESULTS.md).
  it("unbounded: lognormal sigma 1, canary 30% worse: misses within Binomial(N, alpha)'s 99.9% quantile", () => {
    const results = simulateAa({
      population: lognormal(1),
      alphas: ALPHAS,
      runs: RUNS,
      looks: LOOKS,
      seed: 35,
      canaryScale: 1.3,
    });
    report(results);
    for (const r of results) expect(r.misses).toBeLessThanOrEqual(r.limit);
  });
});
