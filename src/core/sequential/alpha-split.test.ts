import { RECENT_SHARE, STEP_SHARE } from "../analysis/windows.js";
import { describe, expect, it } from "vitest";
import { makePolicy, type MetricInput } from "../../../test/support/policy.js";
import { parsePolicies } from "../../adapters/files/policy-file.js";
import type { CellBatch, Look } from "../analysis/look.js";
import { analyzeLook, initialOnlineState, type OnlineState } from "../analysis/online.js";
import { createRng, type Rng } from "../stats/random.js";
import { declaredLevels, type DeclaredTest } from "./alpha-split.js";
import { testAlpha } from "./verdict.js";

const tests = (critical: boolean, aggregates: number, slices: number): DeclaredTest[] => [
  ...Array.from({ length: aggregates }, () => ({ critical, aggregate: true })),
  ...Array.from({ length: slices }, () => ({ critical, aggregate: false })),
];

describe("declaredLevels: weighted Bonferroni", () => {
  it("the declared levels of each family sum to (1 - lateShare) alpha, so with the late reserve to <= alpha", () => {
    const rng = createRng(3);
    for (let round = 0; round < 50; round++) {
      const w = 0.01 + 0.98 * rng.next();
      const mix = [
        ...tests(true, 1 + Math.floor(6 * rng.next()), Math.floor(300 * rng.next())),
        ...tests(false, 1 + Math.floor(3 * rng.next()), Math.floor(20 * rng.next())),
      ];
      const level = declaredLevels({ alpha: 0.01, aggregateShare: w }, mix);
      for (const critical of [true, false]) {
        const family = mix.filter((t) => t.critical === critical);
        const declared = family.reduce((sum, t) => sum + level(critical, t.aggregate), 0);
        expect(declared).toBeLessThanOrEqual(0.009 * (1 + 1e-12));
        expect(declared).toBeCloseTo(0.009, 12);
        let late = 0;
        for (let j = 1; j <= 10_000; j++) late += testAlpha({ alpha: 0.01, declaredTests: family.length }, j);
        expect(declared + late).toBeLessThanOrEqual(0.01);
      }
    }
  });

  it("gives the all-traffic tests the weight w and the slices 1 - w, each split equally", () => {
    const level = declaredLevels({ alpha: 0.01, aggregateShare: 0.5 }, tests(true, 5, 300));
    expect(level(true, true)).toBeCloseTo((0.009 * 0.5) / 5, 15);
    expect(level(true, false)).toBeCloseTo((0.009 * 0.5) / 300, 15);
    // Plain Bonferroni would give every one of the 305 tests 0.009/305: 30 times less to each aggregate.
    expect(level(true, true) / (0.009 / 305)).toBeCloseTo(30.5, 9);
  });

  it("a family with no per-slice (or no all-traffic) test gives the other kind the whole declared share", () => {
    const level = declaredLevels({ alpha: 0.01, aggregateShare: 0.3 }, [
      ...tests(true, 4, 0),
      ...tests(false, 0, 7),
    ]);
    expect(level(true, true)).toBeCloseTo(0.009 / 4, 15);
    expect(level(false, false)).toBeCloseTo(0.009 / 7, 15);
    expect(() => level(true, false)).toThrow(RangeError);
  });

  it("refuses weights that would leave one kind nothing", () => {
    for (const w of [0, 1, -0.1, 1.5, NaN])
      expect(() => declaredLevels({ alpha: 0.01, aggregateShare: w }, tests(true, 1, 1))).toThrow(RangeError);
  });
});

// Online: 20 voices, every voice's similarity 0.018 worse than the baseline against a 0.01 budget (a regression
// of all traffic). The same looks are judged with w = 0.9 and w = 0.1: the aggregate finding fails no later with
// more weight, strictly earlier in some rollouts, and the per-voice findings the other way round.
const SIM: MetricInput = {
  name: "sim",
  direction: "higherIsBetter",
  critical: true,
  budget: { absolute: 0.01 },
  sliceBy: ["voice_id"],
};

function moments(rng: Rng, n: number, mean: number) {
  let sum = 0;
  let sumSquares = 0;
  for (let i = 0; i < n; i++) {
    const x = mean + rng.normal(0, 0.035);
    sum += x;
    sumSquares += x * x;
  }
  return { kind: "moments" as const, count: n, sum, sumSquares };
}

function look(rng: Rng, at: number): Look {
  const cells: CellBatch[] = [];
  for (let v = 0; v < 20; v++) {
    for (const arm of ["baseline", "canary"] as const)
      cells.push({
        arm,
        labels: { voice_id: `v${v}` },
        metrics: { sim: moments(rng, 40, arm === "canary" ? 0.702 : 0.72) },
      });
  }
  return { at, canaryWeight: 50, cells };
}

/** Looks until the first fail of the aggregate finding and of any per-voice finding (Infinity: never). */
function firstFails(w: number, seed: number, looks: number) {
  const policy = makePolicy([SIM], { minSamples: 30, alpha: 0.01, alphaSplit: { aggregate: w } });
  const rng = createRng(seed);
  let state: OnlineState = initialOnlineState();
  const first = { aggregate: Infinity, slice: Infinity };
  for (let i = 1; i <= looks; i++) {
    const r = analyzeLook(policy, state, look(rng, i));
    state = r.state;
    for (const f of r.findings) {
      if (f.verdict !== "fail") continue;
      const kind = Object.keys(f.slice).length === 0 ? "aggregate" : "slice";
      first[kind] = Math.min(first[kind], i);
    }
  }
  return first;
}

describe("alphaSplit in online analysis", () => {
  it("moves detection power to the all-traffic finding as its weight grows", () => {
    let earlierAggregate = 0;
    let earlierSlice = 0;
    for (let seed = 1; seed <= 6; seed++) {
      const heavy = firstFails(0.9, seed, 12);
      const light = firstFails(0.1, seed, 12);
      expect(heavy.aggregate).toBeLessThanOrEqual(light.aggregate);
      expect(light.slice).toBeLessThanOrEqual(heavy.slice);
      if (heavy.aggregate < light.aggregate) earlierAggregate++;
      if (light.slice < heavy.slice) earlierSlice++;
    }
    expect(earlierAggregate).toBeGreaterThan(0);
    expect(earlierSlice).toBeGreaterThan(0);
  });

  it("stores each test's weighted level with it", () => {
    const policy = makePolicy([SIM], { minSamples: 30, alpha: 0.01, alphaSplit: { aggregate: 0.4 } });
    const state = analyzeLook(policy, initialOnlineState(), look(createRng(1), 1)).state;
    const levels = Object.values(state.tests).map((t) => [Object.keys(t.slice).length === 0, t.alpha]);
    // The rollout window's tests: what the step and recent windows leave of alpha, 90% of it declared.
    const declared = 0.01 * (1 - STEP_SHARE - RECENT_SHARE) * 0.9;
    expect(levels.filter(([all]) => all)).toEqual([[true, expect.closeTo(declared * 0.4, 15)]]);
    expect(levels.filter(([all]) => !all)).toHaveLength(20);
    for (const [, a] of levels.filter(([all]) => !all)) expect(a).toBeCloseTo((declared * 0.6) / 20, 15);
  });
});

describe("spec.alphaSplit in a policy file", () => {
  const file = (split: string) => `apiVersion: voicectl.dev/v1alpha1
kind: RolloutPolicy
metadata: { name: p }
spec:
  alphaSplit: ${split}
  metrics:
    - { name: sim, direction: higherIsBetter, aggregate: mean, budget: { absolute: 0.01 } }
`;

  it("defaults to half for all-traffic findings", () => {
    const { policies, problems } = parsePolicies("p.yaml", file("{}"));
    expect(problems).toEqual([]);
    expect(policies[0]!.spec.alphaSplit).toEqual({ aggregate: 0.5 });
  });

  it.each([
    ["{ aggregate: 1 }", "spec.alphaSplit.aggregate", "per-slice findings need some alpha"],
    ["{ aggregate: 0 }", "spec.alphaSplit.aggregate", "all-traffic findings need some alpha"],
    ["{ aggregate: half }", "spec.alphaSplit.aggregate", "expected a number between 0 and 1"],
    ["{ slices: 0.5 }", "spec.alphaSplit", "slices"],
  ])("%s: names the file, the field and what was expected", (split, path, expected) => {
    const { problems } = parsePolicies("p.yaml", file(split));
    expect(problems).toHaveLength(1);
    const text = JSON.stringify(problems[0]);
    expect(text).toContain("p.yaml");
    expect(text).toContain(path);
    expect(text).toContain(expected);
  });
});
