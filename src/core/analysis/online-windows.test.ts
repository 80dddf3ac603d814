import { describe, expect, it } from "vitest";
import { makePolicy, type MetricInput } from "../../../test/support/policy.js";
import { moments } from "../../../test/support/batches.js";
import { planJudge } from "../judge/plan.js";
import { stepsSchema } from "../rollout/plan.js";
import { createRng, type Rng } from "../stats/random.js";
import type { Finding } from "../types.js";
import type { CellBatch, Look } from "./look.js";
import { analyzeLook, initialOnlineState, type OnlineState } from "./online.js";
import {
  LEGACY_SPLIT,
  intersect,
  recentWindowAlpha,
  rolloutWindowAlpha,
  STEP_SHARE,
  stepWindowAlpha,
  trafficSteps,
  windowSplit,
} from "./windows.js";

const SIM: MetricInput = {
  name: "sim",
  direction: "higherIsBetter",
  critical: true,
  budget: { absolute: 0.01 },
};
const COST: MetricInput = { name: "cost", tier: "cost", budget: { relative: 0.1 } };
const POLICY = makePolicy([SIM, COST], { minSamples: 30, alpha: 0.05 });
const PLAN = planJudge(POLICY);
const MIN = 60_000;

/** One look at `weight`: canary requests in proportion to it, the canary's similarity shifted by `shift`. */
function lookAt(rng: Rng, at: number, weight: number, shift = 0): Look {
  const n = 4000;
  const cell = (arm: "baseline" | "canary", count: number, mean: number): CellBatch => {
    const values = Array.from({ length: count }, () => mean + rng.normal(0, 0.035));
    const sum = values.reduce((a, b) => a + b, 0);
    return {
      arm,
      labels: {},
      metrics: {
        sim: { kind: "moments", count, sum, sumSquares: values.reduce((a, b) => a + b * b, 0) },
        cost: moments(count, 0.0001, 0.00001),
      },
    };
  };
  const canary = Math.round((n * weight) / 100);
  return {
    at,
    canaryWeight: weight,
    cells: [cell("baseline", n - canary, 0.72), cell("canary", canary, 0.72 + shift)],
  };
}

const of = (findings: readonly Finding[], kind: "rollout" | "step", metric = "sim") =>
  findings.find((f) => f.metric === metric && f.window?.kind === kind)!;

describe("online analysis: rollout and step windows", () => {
  it("a regression that starts in the final step fails in the step window while the rollout window still passes", () => {
    const rng = createRng(3);
    let state = initialOnlineState({ trafficSteps: 4, startedAt: 0 });
    let t = 0;
    // 40 clean minutes at 10%, 25% and 50%: both windows pass.
    for (const [weight, looks] of [
      [10, 10],
      [25, 15],
      [50, 15],
    ] as const) {
      for (let i = 0; i < looks; i++)
        state = analyzeLook(POLICY, state, lookAt(rng, (t += MIN), weight), PLAN).state;
    }
    const before = analyzeLook(POLICY, state, lookAt(rng, (t += MIN), 50), PLAN);
    expect(of(before.findings, "rollout").verdict).toBe("pass");
    state = before.state;
    // At 80% the canary's similarity drops by 0.02, twice the budget.
    const stepStart = t;
    let failedAt: { step: Finding; rollout: Finding } | null = null;
    for (let i = 0; i < 3 && failedAt === null; i++) {
      const r = analyzeLook(POLICY, state, lookAt(rng, (t += MIN), 80, -0.02), PLAN);
      state = r.state;
      if (of(r.findings, "step").verdict === "fail")
        failedAt = { step: of(r.findings, "step"), rollout: of(r.findings, "rollout") };
    }
    expect(failedAt).not.toBeNull();
    expect(failedAt!.rollout.verdict).toBe("pass");
    // The finding names its window, and the reason says since when.
    expect(failedAt!.step.window).toEqual({ kind: "step", since: stepStart, weight: 80 });
    expect(failedAt!.step.reason).toContain("step window since 00:41 at 80%");
    expect(failedAt!.rollout.reason).toContain("rollout window since 00:00");
  });

  it("without step windows (a state stored before them) the same late regression is missed", () => {
    const rng = createRng(3);
    const legacy = { tests: {}, declared: null, late: { critical: 0, other: 0 }, looks: 0 } as OnlineState;
    let state = legacy;
    let t = 0;
    for (const [weight, looks] of [
      [10, 10],
      [25, 15],
      [50, 16],
    ] as const)
      for (let i = 0; i < looks; i++)
        state = analyzeLook(POLICY, state, lookAt(rng, (t += MIN), weight), PLAN).state;
    const verdicts: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = analyzeLook(POLICY, state, lookAt(rng, (t += MIN), 80, -0.02), PLAN);
      state = r.state;
      verdicts.push(of(r.findings, "rollout").verdict);
      expect(r.findings.some((f) => f.window?.kind === "step")).toBe(false);
    }
    // The diluted rollout window does not fail within the 3 minutes the step window needed (above).
    expect(verdicts).toEqual(["pass", "pass", "pass"]);
  });

  it("a step window restarts when the weight changes: its own samples, index and start", () => {
    const rng = createRng(4);
    let state = initialOnlineState({ trafficSteps: 2, startedAt: 0 });
    for (let i = 1; i <= 3; i++) state = analyzeLook(POLICY, state, lookAt(rng, i * MIN, 10), PLAN).state;
    expect(state.step).toMatchObject({ index: 1, weight: 10, since: 0, looks: 3 });
    const r = analyzeLook(POLICY, state, lookAt(rng, 4 * MIN, 50), PLAN);
    expect(r.state.step).toMatchObject({ index: 2, weight: 50, since: 3 * MIN, looks: 1 });
    // 4000 requests a look: 2000 canary at 50%, 400 a look at 10% before.
    expect(of(r.findings, "step").samples).toEqual({ baseline: 2000, canary: 2000 });
    expect(of(r.findings, "rollout").samples).toEqual({ baseline: 3 * 3600 + 2000, canary: 3 * 400 + 2000 });
    // Its tests were made at the second step's alpha (half of alpha over 2 steps), fixed with them: each family's
    // one declared test gets 90% of it (10% kept for slices appearing later).
    const alpha = stepWindowAlpha(0.05, r.state.split!, 2);
    expect(alpha).toBeCloseTo((0.05 * STEP_SHARE) / 2, 12);
    expect(r.state.step!.alpha).toBe(alpha);
    expect(Object.values(r.state.step!.tests).map((x) => x.alpha)).toEqual([alpha * 0.9, alpha * 0.9]);
  });

  it("no step window before the canary takes traffic", () => {
    const rng = createRng(5);
    const r = analyzeLook(POLICY, initialOnlineState({ trafficSteps: 2 }), lookAt(rng, MIN, 0), PLAN);
    expect(r.state.step).toBeNull();
    expect(r.findings.every((f) => f.window?.kind === "rollout")).toBe(true);
  });

  it("the rollout window and all step windows together spend at most each family's alpha", () => {
    for (const steps of [1, 2, 3, 7]) {
      const split = windowSplit(steps);
      let sum = rolloutWindowAlpha(0.05, split);
      for (let k = 1; k <= steps + 5; k++) sum += stepWindowAlpha(0.05, split, k);
      // However many recent windows each step restarts (a series summing to 1 per step).
      for (let k = 1; k <= steps + 5; k++)
        for (let j = 1; j <= 100_000; j++) sum += recentWindowAlpha(0.05, split, k, j);
      expect(sum).toBeLessThanOrEqual(0.05 * (1 + 1e-12));
      expect(sum).toBeGreaterThan(0.05 * (1 - 1e-4)); // and nearly nothing is left unspent
    }
    // Steps not known: the series 6/(π² k²) never exceeds the step share.
    const open = windowSplit(null);
    let sum = rolloutWindowAlpha(0.05, open);
    for (let k = 1; k <= 100_000; k++) sum += stepWindowAlpha(0.05, open, k);
    for (let k = 1; k <= 1000; k++)
      for (let j = 1; j <= 1000; j++) sum += recentWindowAlpha(0.05, open, k, j);
    expect(sum).toBeLessThanOrEqual(0.05);
    expect(sum).toBeGreaterThan(0.0498);
    // A plan without traffic steps spends it all on the rollout window.
    expect(rolloutWindowAlpha(0.05, windowSplit(0))).toBe(0.05);
    expect(stepWindowAlpha(0.05, windowSplit(0), 1)).toBe(0);
    expect(recentWindowAlpha(0.05, windowSplit(0), 1, 1)).toBe(0);
  });

  it("the stored tests' levels of both windows sum to at most alpha per family", () => {
    const rng = createRng(6);
    let state = initialOnlineState({ trafficSteps: 3, startedAt: 0 });
    let t = 0;
    const levels: number[] = [];
    for (const weight of [10, 25, 50]) {
      for (let i = 0; i < 2; i++)
        state = analyzeLook(POLICY, state, lookAt(rng, (t += MIN), weight), PLAN).state;
      levels.push(
        ...Object.values(state.step!.tests)
          .filter((x) => x.critical)
          .map((x) => x.alpha),
      );
    }
    levels.push(
      ...Object.values(state.tests)
        .filter((x) => x.critical)
        .map((x) => x.alpha),
    );
    expect(levels.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(0.05 * (1 + 1e-12));
  });

  it("the step window's running interval only narrows from look to look", () => {
    const rng = createRng(7);
    let state = initialOnlineState({ trafficSteps: 1, startedAt: 0 });
    let last = { lower: -Infinity, upper: Infinity };
    const verdicts: string[] = [];
    for (let i = 1; i <= 30; i++) {
      const r = analyzeLook(POLICY, state, lookAt(rng, i * MIN, 20), PLAN);
      state = r.state;
      const step = of(r.findings, "step");
      if (step.interval === null) continue;
      expect(step.interval.lower).toBeGreaterThanOrEqual(last.lower);
      expect(step.interval.upper).toBeLessThanOrEqual(last.upper);
      last = step.interval;
      verdicts.push(step.verdict);
    }
    // Once passed, it stays passed: the verdict never goes back to inconclusive.
    const first = verdicts.indexOf("pass");
    expect(first).toBeGreaterThanOrEqual(0);
    expect(verdicts.slice(first).every((v) => v === "pass")).toBe(true);
  });

  it("intersect: a disjoint interval refutes the fixed parameter and starts again", () => {
    expect(intersect({ lower: 0, upper: 2 }, { lower: 1, upper: 3 })).toEqual({
      interval: { lower: 1, upper: 2 },
      reset: false,
    });
    expect(intersect({ lower: 0, upper: 1 }, { lower: 2, upper: 3 })).toEqual({
      interval: { lower: 2, upper: 3 },
      reset: true,
    });
    expect(intersect(undefined, { lower: 2, upper: 3 }).interval).toEqual({ lower: 2, upper: 3 });
  });

  it("a state stored before windows loads: one rollout window at the whole alpha, no step window", () => {
    const rng = createRng(8);
    // The shape written by the previous release: no split, since, lastAt or step.
    const legacy = JSON.parse(
      JSON.stringify({ tests: {}, declared: null, late: { critical: 0, other: 0 }, looks: 0 }),
    ) as OnlineState;
    let state = analyzeLook(POLICY, legacy, lookAt(rng, MIN, 10), PLAN).state;
    const restored = JSON.parse(JSON.stringify(state)) as OnlineState;
    const r = analyzeLook(POLICY, restored, lookAt(rng, 2 * MIN, 50), PLAN);
    state = r.state;
    expect(state.split).toBeUndefined();
    expect(state.step).toBeUndefined();
    expect(Object.values(state.tests).find((x) => x.critical)!.alpha).toBeCloseTo(0.05 * 0.9, 12);
    expect(r.findings.every((f) => f.window?.kind === "rollout")).toBe(true);
    expect(LEGACY_SPLIT).toEqual({ rollout: 1, step: 0, steps: null });
  });

  it("trafficSteps counts each move to a new positive weight", () => {
    const plan = stepsSchema.parse([
      { setWeight: 10 },
      { analysis: { minDuration: "1m", maxDuration: "2m" } },
      { pause: {} },
      { setWeight: 10 },
      { setWeight: 50 },
      { analysis: { minDuration: "1m", maxDuration: "2m" } },
      { setWeight: 100 },
    ]);
    expect(trafficSteps(plan)).toBe(3);
  });
});
