import { describe, expect, it } from "vitest";
import { makePolicy, type MetricInput } from "../../../test/support/policy.js";
import { planJudge } from "../judge/plan.js";
import { mustPass } from "../rollout/machine.js";
import { stepsSchema } from "../rollout/plan.js";
import { createRng, type Rng } from "../stats/random.js";
import type { Finding } from "../types.js";
import type { CellBatch, Look } from "./look.js";
import { analyzeLook, decideOnline, initialOnlineState, type OnlineState } from "./online.js";
import { RECENT_MS, recentWindowAlpha, windowSplit } from "./windows.js";

const SIM: MetricInput = {
  name: "sim",
  direction: "higherIsBetter",
  critical: true,
  budget: { absolute: 0.01 },
};
const POLICY = makePolicy([SIM], { minSamples: 30, alpha: 0.05 });
const PLAN = planJudge(POLICY);
const MIN = 60_000;

/** One look at `weight`: canary requests in proportion to it, the canary's similarity shifted by `shift`. */
function lookAt(rng: Rng, at: number, weight: number, shift = 0): Look {
  const n = 4000;
  const cell = (arm: "baseline" | "canary", count: number, mean: number): CellBatch => {
    const values = Array.from({ length: count }, () => mean + rng.normal(0, 0.035));
    return {
      arm,
      labels: {},
      metrics: {
        sim: {
          kind: "moments",
          count,
          sum: values.reduce((a, b) => a + b, 0),
          sumSquares: values.reduce((a, b) => a + b * b, 0),
        },
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

const of = (findings: readonly Finding[], kind: "rollout" | "step" | "recent") =>
  findings.find((f) => f.metric === "sim" && f.window?.kind === kind);

describe("online analysis: the recent window", () => {
  it("a regression starting late in the final step fails in the recent window while the step window still passes", () => {
    const rng = createRng(11);
    let state = initialOnlineState({ trafficSteps: 2, startedAt: 0 });
    let t = 0;
    for (let i = 0; i < 10; i++) state = analyzeLook(POLICY, state, lookAt(rng, (t += MIN), 10), PLAN).state;
    // The final step: ten clean minutes, by which its step window passes.
    for (let i = 0; i < 10; i++) state = analyzeLook(POLICY, state, lookAt(rng, (t += MIN), 50), PLAN).state;
    const clean = analyzeLook(POLICY, state, lookAt(rng, (t += MIN), 50), PLAN);
    expect(of(clean.findings, "step")?.verdict).toBe("pass");
    state = clean.state;
    // Then the canary's similarity drops by 0.03, three times the budget.
    let failed: { step: Finding | undefined; rollout: Finding | undefined; decision: string } | null = null;
    for (let i = 0; i < 12 && failed === null; i++) {
      const r = analyzeLook(POLICY, state, lookAt(rng, (t += MIN), 50, -0.03), PLAN);
      state = r.state;
      if (of(r.findings, "recent")?.verdict === "fail")
        failed = {
          step: of(r.findings, "step"),
          rollout: of(r.findings, "rollout"),
          decision: r.decision.decision,
        };
    }
    expect(failed).not.toBeNull();
    // The step's clean minutes still carry its window, and dilute the rollout window more.
    expect(failed!.step?.verdict).toBe("pass");
    expect(failed!.rollout?.verdict).not.toBe("fail");
    // A critical metric's fail in the recent window rolls back, as in any window.
    expect(failed!.decision).toBe("rollback");
  });

  it("restarts every RECENT_MS and at every new step, each window at its own alpha", () => {
    const rng = createRng(12);
    let state: OnlineState = initialOnlineState({ trafficSteps: 2, startedAt: 0 });
    const split = state.split!;
    let t = 0;
    const seen: { step: number; index: number; since: number; alpha: number; looks: number }[] = [];
    for (const weight of [10, 50]) {
      for (let i = 0; i < 12; i++) {
        state = analyzeLook(POLICY, state, lookAt(rng, (t += MIN), weight), PLAN).state;
        const r = state.recent!;
        seen.push({ step: r.step, index: r.index, since: r.since, alpha: r.alpha, looks: r.looks });
      }
    }
    // Step 1 started at 0, step 2 at 12 minutes: a recent window every RECENT_MS within each, numbered from 1.
    const starts = [...new Map(seen.map((s) => [`${s.step}/${s.index}`, s])).values()];
    const expected: [number, number, number][] = [];
    for (const [step, from] of [
      [1, 0],
      [2, 12 * MIN],
    ] as const)
      for (let k = 1; (k - 1) * RECENT_MS < 12 * MIN; k++)
        expected.push([step, k, from + (k - 1) * RECENT_MS]);
    expect(starts.map((s) => [s.step, s.index, s.since])).toEqual(expected);
    expect(starts.length).toBeGreaterThan(2);
    for (const s of starts) expect(s.alpha).toBe(recentWindowAlpha(0.05, split, s.step, s.index));
    // A window holds only its own looks (one a minute here).
    expect(Math.max(...seen.map((s) => s.looks))).toBe(RECENT_MS / MIN);
  });

  it("the recent windows' alpha, with the other windows', sums to at most alpha however long a step runs", () => {
    for (const steps of [1, 3, null]) {
      const split = windowSplit(steps);
      expect(split.rollout + split.step + (split.recent ?? 0)).toBeCloseTo(1, 12);
      let recent = 0;
      for (let k = 1; k <= 300; k++)
        for (let j = 1; j <= 3000; j++) recent += recentWindowAlpha(0.05, split, k, j);
      expect(recent).toBeLessThanOrEqual(0.05 * split.recent!);
    }
  });

  it("a recent-window pass never counts toward promotion", () => {
    const rng = createRng(13);
    let state = initialOnlineState({ trafficSteps: 1, startedAt: 0 });
    let t = 0;
    let findings: Finding[] = [];
    for (let i = 0; i < 20; i++) {
      const r = analyzeLook(POLICY, state, lookAt(rng, (t += MIN), 50), PLAN);
      state = r.state;
      findings = r.findings;
    }
    // Clean all along: the recent window shows nothing (it only ever fails).
    expect(findings.some((f) => f.window?.kind === "recent")).toBe(false);
    // Were a passing recent finding handed on, the final step would still not rest on it...
    const recentPass: Finding = {
      ...of(findings, "step")!,
      window: { kind: "recent", since: 0, weight: 50 },
    };
    const plan = stepsSchema.parse([
      { setWeight: 50 },
      { analysis: { minDuration: "10m", maxDuration: "20m" } },
    ]);
    expect(mustPass(plan, 1, [recentPass])).toEqual([]);
    // ...nor would an unsettled one hold the decision up.
    const open = { ...recentPass, verdict: "inconclusive" as const };
    expect(decideOnline([of(findings, "rollout")!, open], POLICY).decision).toBe(
      decideOnline([of(findings, "rollout")!], POLICY).decision,
    );
  });

  it("a recent-window fail rolls back a critical metric and pauses on a non-critical one", () => {
    const rng = createRng(15);
    let state = initialOnlineState({ trafficSteps: 1, startedAt: 0 });
    let t = 0;
    let findings: Finding[] = [];
    for (let i = 0; i < 12; i++) {
      const r = analyzeLook(POLICY, state, lookAt(rng, (t += MIN), 50), PLAN);
      state = r.state;
      findings = r.findings;
    }
    const passing = findings.filter((f) => f.window?.kind !== "recent");
    expect(decideOnline(passing, POLICY).decision).toBe("promote");
    const fail: Finding = {
      ...of(findings, "step")!,
      verdict: "fail",
      window: { kind: "recent", since: t - MIN, weight: 50 },
    };
    expect(decideOnline([...passing, fail], POLICY).decision).toBe("rollback");
    expect(decideOnline([...passing, { ...fail, critical: false }], POLICY).decision).toBe("pause");
  });

  it("a state stored before recent windows loads and makes none, however the canary drifts", () => {
    const rng = createRng(14);
    const fresh = initialOnlineState({ trafficSteps: 2, startedAt: 0 });
    // As stored before: no recent window and no recent share in the split.
    const { recent: _recent, ...stored } = fresh;
    const { recent: _share, recentMs: _ms, ...oldSplit } = fresh.split!;
    let state: OnlineState = JSON.parse(JSON.stringify({ ...stored, split: oldSplit })) as OnlineState;
    let t = 0;
    for (let i = 0; i < 15; i++) {
      const r = analyzeLook(POLICY, state, lookAt(rng, (t += MIN), 50, i >= 8 ? -0.03 : 0), PLAN);
      state = r.state;
      expect(r.findings.some((f) => f.window?.kind === "recent")).toBe(false);
    }
    expect(state.recent).toBeUndefined();
    expect(state.step).not.toBeNull();
  });
});
