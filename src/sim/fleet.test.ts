import { describe, expect, it } from "vitest";
import { parsePolicies } from "../adapters/files/policy-file.js";
import type { CellBatch, Look, MetricBatch } from "../core/analysis/look.js";
import { rollUp } from "../core/analysis/rollup.js";
import { planJudge } from "../core/judge/plan.js";
import { normalCdf } from "../core/stats/distributions.js";
import { createFleet, type FleetOptions } from "./fleet.js";
import { parseScenario, type Scenario } from "./scenario.js";

const POLICY = parsePolicies(
  "policy.yaml",
  `apiVersion: voicectl.dev/v1alpha1
kind: RolloutPolicy
metadata: {name: fleet-test}
spec:
  sliceBy: [language]
  metrics:
    - {name: sim, direction: higherIsBetter, aggregate: mean, critical: true, sliceBy: [voice_id], budget: {absolute: 0.01}}
    - {name: ttfa, direction: lowerIsBetter, aggregate: p95, tier: latency, budget: {relative: 0.2}}
    - {name: err, direction: lowerIsBetter, aggregate: rate, sliceBy: [], budget: {absolute: 0.001}}
    - {name: cost, direction: lowerIsBetter, aggregate: mean, tier: cost, budget: {relative: 0.1}}
`,
).policies[0]!;

const SCENARIO = `apiVersion: voicectl.dev/v1alpha1
kind: SimulationScenario
metadata: {name: fleet-test}
spec:
  policy: policy.yaml
  seed: 7
  steps: [{setWeight: 50}]
  traffic:
    requestsPerSecond: 100
    cells:
      - {labels: {voice_id: a, language: en}, share: 0.4}
      - {labels: {voice_id: b, language: en}, share: 0.3}
      - {labels: {voice_id: c, language: es}, share: 0.2}
      - {labels: {voice_id: d, language: es}, share: 0.1}
  metrics:
    sim:
      normal: {mean: 0.7, sd: 0.035}
      vary: {label: voice_id, offsets: {c: -0.05}}
    ttfa:
      lognormal: {median: 100, sigma: 0.5}
      buckets: {exponential: {start: 10, factor: 1.1, count: 50}}
    err:
      bernoulli: {p: 0.01}
    cost:
      lognormal: {median: 0.00005, sigma: 0.3}
  regressions:
    - {metric: sim, shift: -0.1, slices: {voice_id: c}, from: 10m}
  faults:
    - {kind: gap, metrics: [err], from: 5m, to: 7m}
    - {kind: gap, from: 100h, to: 101h, reason: everything is down}
`;

const MIN = 60_000;

function scenario(text = SCENARIO): Scenario {
  const r = parseScenario("scenario.yaml", text);
  expect(r.problems).toEqual([]);
  return r.scenario!;
}

function fleet(options: FleetOptions = {}, text = SCENARIO) {
  return createFleet(scenario(text), POLICY, options);
}

function cellOf(look: Look, arm: string, voice: string): CellBatch | undefined {
  return look.cells.find((c) => c.arm === arm && c.labels.voice_id === voice);
}

function moments(b: MetricBatch | undefined): { count: number; sum: number; sumSquares: number } {
  if (b?.kind !== "moments") throw new Error(`expected a moments batch, got ${b?.kind}`);
  return b;
}

function meanVar(xs: readonly number[]): { mean: number; variance: number } {
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  const variance = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (xs.length - 1);
  return { mean, variance };
}

/** K one-minute looks from `startMin` on. */
function looks(f: ReturnType<typeof fleet>, k: number, weight: number, startMin = 10): Look[] {
  return Array.from({ length: k }, (_, i) => f.look((startMin + i) * MIN, (startMin + i + 1) * MIN, weight));
}

describe("createFleet: determinism", () => {
  it("gives the same looks for the same seed, whatever was asked before, and others for another seed", () => {
    const a = fleet();
    const b = fleet();
    const first = a.look(0, MIN, 50);
    b.look(5 * MIN, 6 * MIN, 25); // another look first: must not change the next
    expect(b.look(0, MIN, 50)).toEqual(first);
    expect(a.look(0, MIN, 50)).toEqual(first);
    expect(fleet({ seed: 8 }).look(0, MIN, 50)).not.toEqual(first);
    expect(createFleet(scenario(), POLICY, 7).look(0, MIN, 50)).toEqual(first); // 7 is the scenario's seed
    expect(a.seed).toBe(7);
  });

  it("reports the time and weight, and rejects impossible arguments", () => {
    const look = fleet().look(2 * MIN, 3 * MIN, 25);
    expect(look.at).toBe(3 * MIN);
    expect(look.canaryWeight).toBe(25);
    expect(look.unavailable).toBeUndefined();
    expect(() => fleet().look(MIN, MIN, 5)).toThrow(RangeError);
    expect(() => fleet().look(0, MIN, 101)).toThrow(RangeError);
  });
});

describe("createFleet: traffic", () => {
  it("sends the canary nothing at weight 0 and the baseline nothing at weight 100", () => {
    const f = fleet({ resolution: "cells" });
    expect(f.look(0, MIN, 0).cells.every((c) => c.arm === "baseline")).toBe(true);
    expect(f.look(0, MIN, 100).cells.every((c) => c.arm === "canary")).toBe(true);
    expect(f.look(0, MIN, 0).cells).toHaveLength(4);
  });

  it("draws Poisson request counts with mean rps × share × arm share × seconds", () => {
    const f = fleet({ resolution: "cells" });
    const k = 300;
    const all = looks(f, k, 30);
    for (const [voice, share] of [
      ["a", 0.4],
      ["d", 0.1],
    ] as const) {
      for (const [arm, armShare] of [
        ["baseline", 0.7],
        ["canary", 0.3],
      ] as const) {
        const counts = all.map((l) => {
          const b = cellOf(l, arm, voice)?.metrics.err;
          return b?.kind === "rate" ? b.requests : 0;
        });
        const lambda = 100 * share * armShare * 60;
        const { mean, variance } = meanVar(counts);
        expect(Math.abs(mean - lambda)).toBeLessThan(5 * Math.sqrt(lambda / k));
        expect(Math.abs(variance / lambda - 1)).toBeLessThan(0.3); // Poisson: variance = mean
      }
    }
  });

  it("carries every metric on the same requests, in full cells or grouped by the policy's slice labels", () => {
    const full = fleet({ resolution: "cells" }).look(20 * MIN, 21 * MIN, 40);
    const grouped = fleet().look(20 * MIN, 21 * MIN, 40);
    // Full cells: every cell has every label and every metric.
    expect(full.cells).toHaveLength(8);
    for (const c of full.cells) {
      expect(Object.keys(c.labels).sort()).toEqual(["language", "voice_id"]);
      expect(Object.keys(c.metrics).sort()).toEqual(["cost", "err", "sim", "ttfa"]);
    }
    // Grouped: similarity per voice, latency and cost per language, errors on all traffic only.
    const shapes = grouped.cells.map(
      (c) => `${c.arm} ${JSON.stringify(c.labels)} ${Object.keys(c.metrics).sort()}`,
    );
    expect(shapes.sort()).toEqual(
      [
        'baseline {"voice_id":"a","language":"en"} sim',
        'baseline {"voice_id":"b","language":"en"} sim',
        'baseline {"voice_id":"c","language":"es"} sim',
        'baseline {"voice_id":"d","language":"es"} sim',
        'baseline {"language":"en"} cost,ttfa',
        'baseline {"language":"es"} cost,ttfa',
        "baseline {} err",
        'canary {"voice_id":"a","language":"en"} sim',
        'canary {"voice_id":"b","language":"en"} sim',
        'canary {"voice_id":"c","language":"es"} sim',
        'canary {"voice_id":"d","language":"es"} sim',
        'canary {"language":"en"} cost,ttfa',
        'canary {"language":"es"} cost,ttfa',
        "canary {} err",
      ].sort(),
    );
    // The same requests: per arm, the similarity counts, the histogram totals and the error requests agree.
    for (const look of [full, grouped]) {
      for (const arm of ["baseline", "canary"]) {
        const cells = look.cells.filter((c) => c.arm === arm);
        let sim = 0;
        let ttfa = 0;
        let err = 0;
        for (const c of cells) {
          if (c.metrics.sim) sim += moments(c.metrics.sim).count;
          const t = c.metrics.ttfa;
          if (t?.kind === "histogram") ttfa += t.buckets.at(-1)!.count;
          const e = c.metrics.err;
          if (e?.kind === "rate") err += e.requests;
        }
        expect(sim).toBeGreaterThan(1000);
        expect(ttfa).toBe(sim);
        expect(err).toBe(sim);
        // ...and they are the requests the look says it served (counted once, not once per group).
        expect(look.requests[arm as "baseline" | "canary"]).toBe(sim);
      }
    }
  });

  it("rolls up in the analysis: one bucket layout per metric, every policy slice present", () => {
    const look = fleet().look(20 * MIN, 21 * MIN, 40);
    const increments = rollUp(planJudge(POLICY), look);
    const slices = increments.map(
      (i) => `${POLICY.spec.metrics[i.metricIndex]!.name} ${JSON.stringify(i.slice)}`,
    );
    expect(slices.sort()).toEqual(
      [
        "sim {}",
        'sim {"voice_id":"a"}',
        'sim {"voice_id":"b"}',
        'sim {"voice_id":"c"}',
        'sim {"voice_id":"d"}',
        "ttfa {}",
        'ttfa {"language":"en"}',
        'ttfa {"language":"es"}',
        "err {}",
        "cost {}",
        'cost {"language":"en"}',
        'cost {"language":"es"}',
      ].sort(),
    );
    expect(increments.every((i) => i.baseline && i.canary)).toBe(true);
  });
});

describe("createFleet: batches match their distributions", () => {
  const k = 400;
  const all = looks(fleet({ resolution: "cells" }), k, 50, 200);

  it("moments of normal values are exact: the mean ~ Normal(μ, σ²/n), (n − 1)s²/σ² ~ χ²(n − 1)", () => {
    for (const [voice, mu] of [
      ["a", 0.7],
      ["c", 0.65], // its fixed per-voice offset
    ] as const) {
      const sigma = 0.035;
      const z: number[] = [];
      const u: number[] = [];
      for (const look of all) {
        const { count: n, sum, sumSquares } = moments(cellOf(look, "baseline", voice)!.metrics.sim);
        const mean = sum / n;
        const ss = sumSquares - n * mean * mean; // (n − 1)s²
        z.push(((mean - mu) * Math.sqrt(n)) / sigma);
        u.push((ss / sigma ** 2 - (n - 1)) / Math.sqrt(2 * (n - 1)));
      }
      for (const xs of [z, u]) {
        const { mean, variance } = meanVar(xs);
        expect(Math.abs(mean)).toBeLessThan(5 / Math.sqrt(k));
        expect(Math.abs(variance - 1)).toBeLessThan(0.3);
      }
    }
  });

  it("moments of lognormal values have the lognormal's mean and variance (CLT)", () => {
    const mu = Math.log(0.00005);
    const s2 = 0.3 ** 2;
    const mean = Math.exp(mu + s2 / 2);
    const variance = Math.expm1(s2) * mean * mean;
    let n = 0;
    let sum = 0;
    const variances: number[] = [];
    for (const look of all) {
      const b = moments(cellOf(look, "canary", "b")!.metrics.cost);
      n += b.count;
      sum += b.sum;
      variances.push((b.sumSquares - (b.sum * b.sum) / b.count) / (b.count - 1));
    }
    expect(Math.abs(sum / n - mean)).toBeLessThan(5 * Math.sqrt(variance / n));
    expect(Math.abs(meanVar(variances).mean / variance - 1)).toBeLessThan(0.02);
  });

  it("histogram counts follow the CDF (chi-square goodness of fit) and give the right p95", () => {
    const grouped = looks(fleet(), k, 50, 200);
    let les: number[] = [];
    let counts: number[] = [];
    for (const look of grouped) {
      const b = look.cells.find((c) => c.arm === "baseline" && c.labels.language === "en" && c.metrics.ttfa)!
        .metrics.ttfa!;
      if (b.kind !== "histogram") throw new Error("expected a histogram");
      les = b.buckets.map((x) => x.le);
      const cumulative = b.buckets.map((x) => x.count);
      expect(cumulative.every((c, i) => i === 0 || c >= cumulative[i - 1]!)).toBe(true);
      const per = cumulative.map((c, i) => c - (i === 0 ? 0 : cumulative[i - 1]!));
      counts = counts.length === 0 ? per : counts.map((c, i) => c + per[i]!);
    }
    expect(les).toHaveLength(51);
    expect(les.at(-1)).toBe(Infinity);
    expect(les[0]).toBe(10);
    const total = counts.reduce((s, c) => s + c, 0);
    const cdf = (x: number) => (x === Infinity ? 1 : normalCdf((Math.log(x) - Math.log(100)) / 0.5));
    const expected = les.map((le, i) => total * (cdf(le) - (i === 0 ? 0 : cdf(les[i - 1]!))));
    let stat = 0;
    let df = -1;
    for (let i = 0; i < les.length; i++) {
      if (expected[i]! < 5) continue; // the far tails: nearly empty
      stat += (counts[i]! - expected[i]!) ** 2 / expected[i]!;
      df++;
    }
    expect(df).toBeGreaterThan(30);
    expect(stat).toBeLessThan(df + 5 * Math.sqrt(2 * df) + 6);
    // The empirical p95 lies in the bucket holding the true one.
    const p95 = 100 * Math.exp(0.5 * 1.6448536269514722);
    let acc = 0;
    const j = counts.findIndex((c) => (acc += c) >= 0.95 * total);
    expect(les[j]!).toBeGreaterThanOrEqual(p95);
    expect(les[j - 1]!).toBeLessThan(p95);
  });

  it("rate events ~ Binomial(requests, p)", () => {
    let requests = 0;
    let events = 0;
    for (const look of all) {
      for (const c of look.cells) {
        const b = c.metrics.err;
        if (b?.kind !== "rate") continue;
        expect(b.events).toBeLessThanOrEqual(b.requests);
        requests += b.requests;
        events += b.events;
      }
    }
    expect(requests).toBeGreaterThan(2_000_000);
    expect(Math.abs(events / requests - 0.01)).toBeLessThan(5 * Math.sqrt((0.01 * 0.99) / requests));
  });

  it("gives each value of a `vary` label its own seeded baseline, with the given spread", () => {
    const text = SCENARIO.replace(
      / {4}cells:\n(.*\n){4}/,
      "    generate: {voices: 400, languages: [en, es], skew: 0}\n",
    )
      .replace("normal: {mean: 0.7, sd: 0.035}", "normal: {mean: 0.7, sd: 0.0001}")
      .replace("vary: {label: voice_id, offsets: {c: -0.05}}", "vary: {label: voice_id, sd: 0.03}")
      .replace(/ {2}regressions:\n.*\n/, "");
    const baselines = (seed: number) => {
      const look = createFleet(scenario(text), POLICY, seed).look(0, MIN, 0);
      return look.cells
        .filter((c) => c.metrics.sim)
        .map((c) => {
          const m = moments(c.metrics.sim);
          return m.sum / m.count;
        });
    };
    const one = baselines(1);
    expect(one).toHaveLength(400);
    const { mean, variance } = meanVar(one);
    expect(Math.abs(mean - 0.7)).toBeLessThan(0.006);
    expect(Math.abs(Math.sqrt(variance) / 0.03 - 1)).toBeLessThan(0.15);
    expect(baselines(1)).toEqual(one);
    expect(baselines(2)).not.toEqual(one);
  });
});

describe("createFleet: regressions and faults", () => {
  const simMean = (look: Look, arm: string, voice: string) => {
    const m = moments(cellOf(look, arm, voice)!.metrics.sim);
    return m.sum / m.count;
  };

  it("changes only the canary arm of the matching cells, from the regression's time", () => {
    const f = fleet();
    const before = f.look(8 * MIN, 9 * MIN, 50);
    const after = f.look(11 * MIN, 12 * MIN, 50);
    const across = f.look(9.5 * MIN, 10.5 * MIN, 50); // split at 10m: half of it regressed
    expect(simMean(before, "canary", "c")).toBeCloseTo(0.65, 2);
    expect(simMean(after, "canary", "c")).toBeCloseTo(0.55, 2);
    expect(simMean(across, "canary", "c")).toBeCloseTo(0.6, 2);
    for (const look of [before, after, across]) {
      expect(simMean(look, "baseline", "c")).toBeCloseTo(0.65, 2);
      expect(simMean(look, "canary", "a")).toBeCloseTo(0.7, 2);
      expect(simMean(look, "baseline", "a")).toBeCloseTo(0.7, 2);
    }
  });

  it("applies spec.canary to the canary in every cell, and regressions on top", () => {
    const text = SCENARIO.replace(
      "  regressions:\n",
      "  canary:\n    sim: {shift: 0.02}\n    ttfa: {factor: 2}\n  regressions:\n",
    );
    const f = fleet({}, text);
    const look = f.look(30 * MIN, 31 * MIN, 50);
    expect(simMean(look, "canary", "a")).toBeCloseTo(0.72, 2);
    expect(simMean(look, "canary", "c")).toBeCloseTo(0.57, 2);
    expect(simMean(look, "baseline", "a")).toBeCloseTo(0.7, 2);
    const median = (arm: string) => {
      const b = look.cells.find((c) => c.arm === arm && c.labels.language === "en" && c.metrics.ttfa)!.metrics
        .ttfa!;
      if (b.kind !== "histogram") throw new Error("expected a histogram");
      const total = b.buckets.at(-1)!.count;
      return b.buckets.find((x) => x.count >= total / 2)!.le;
    };
    expect(median("canary") / median("baseline")).toBeGreaterThan(1.6);
    expect(median("canary") / median("baseline")).toBeLessThan(2.5);
  });

  it("lists metrics of a gap in `unavailable` and gives them no batches, for every overlapping look", () => {
    const f = fleet();
    expect(f.look(4 * MIN, 5 * MIN, 50).unavailable).toBeUndefined();
    for (const [from, to] of [
      [5, 6],
      [6.5, 7.5],
      [4.5, 5.5],
    ] as const) {
      const look = f.look(from * MIN, to * MIN, 50);
      expect(look.unavailable).toEqual({ err: "simulated gap 5m..7m: the metrics source returned no data" });
      expect(look.cells.some((c) => c.metrics.err)).toBe(false);
      expect(look.cells.some((c) => c.metrics.sim)).toBe(true);
      expect(look.cells.some((c) => c.metrics.ttfa)).toBe(true);
    }
    expect(f.look(7 * MIN, 8 * MIN, 50).unavailable).toBeUndefined();
    const down = f.look(100 * 60 * MIN, (100 * 60 + 1) * MIN, 50);
    expect(down.unavailable).toEqual({
      sim: "everything is down",
      ttfa: "everything is down",
      err: "everything is down",
      cost: "everything is down",
    });
    expect(down.cells).toEqual([]);
  });
});
