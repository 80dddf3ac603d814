import { describe, expect, it } from "vitest";
import type { Finding } from "../types.js";
import {
  initialStatus,
  reconcileRollout,
  type AnalysisObservation,
  type Command,
  type Observations,
  type RolloutStatus,
} from "./machine.js";
import { parseDuration, stepsSchema, type Step } from "./plan.js";

const PLAN: Step[] = stepsSchema.parse([
  { setWeight: 10 },
  { analysis: { minDuration: "5m", maxDuration: "20m" } },
  { pause: {} },
  { setWeight: 50 },
  { pause: { duration: "1m" } },
]);

const MIN = 60_000;

function finding(verdict: Finding["verdict"], critical: boolean, metric = "speaker_similarity"): Finding {
  return {
    metric,
    slice: { voice_id: "mia-chen" },
    verdict,
    critical,
    tier: "quality",
    direction: "higherIsBetter",
    aggregate: "mean",
    baseline: 0.74,
    canary: verdict === "fail" ? 0.7 : 0.74,
    delta: null,
    relativeDelta: null,
    worsening: null,
    interval: null,
    allowed: 0.01,
    budget: { absolute: 0.01 },
    confidence: 0.99,
    samples: { baseline: 500, canary: 500 },
    method: "welch-t",
    reason: `${metric} in voice_id=mia-chen: ${verdict}`,
  };
}

const look = (at: number, ...findings: Finding[]): AnalysisObservation => ({
  at,
  findings,
  decision: findings.some((f) => f.verdict === "fail" && f.critical)
    ? "rollback"
    : findings.every((f) => f.verdict === "pass")
      ? "promote"
      : "pause",
  summary: "",
});

const ready = (analysis: AnalysisObservation | null = null): Observations => ({
  canaryReady: true,
  analysis,
});

/** Drive the machine through a sequence of ticks and return every status and action. */
function drive(
  ticks: { at: number; obs: Observations; commands?: Command[] }[],
  start: RolloutStatus = initialStatus(0),
) {
  let status = start;
  const actions = [];
  for (const t of ticks) {
    const r = reconcileRollout(PLAN, status, t.obs, t.commands ?? [], t.at);
    status = r.status;
    actions.push(...r.actions);
  }
  return {
    status,
    actions,
    weights: actions
      .filter((a) => a.type === "setWeight")
      .map((a) => (a.type === "setWeight" ? a.weight : -1)),
  };
}

const approve: Command = { kind: "approve", user: "oncall@example.com", reason: "checked the voice by ear" };

describe("rollout state machine", () => {
  it("walks the plan to promotion when analysis passes and the pause is approved", () => {
    const r = drive([
      { at: 0, obs: ready() },
      { at: 2 * MIN, obs: ready(look(2 * MIN, finding("pass", true))) },
      { at: 6 * MIN, obs: ready(look(6 * MIN, finding("pass", true))) },
      { at: 7 * MIN, obs: ready(look(7 * MIN, finding("pass", true))), commands: [approve] },
      { at: 8 * MIN + 1, obs: ready(look(8 * MIN, finding("pass", true))) },
    ]);
    expect(r.weights).toEqual([10, 50, 100]);
    expect(r.status.phase).toBe("Promoted");
    expect(r.status.history).toEqual([
      expect.objectContaining({
        kind: "approve",
        user: "oncall@example.com",
        reason: "checked the voice by ear",
        stepIndex: 2,
      }),
    ]);
  });

  it("does not move on before minDuration even when everything passes", () => {
    const r = drive([
      { at: 0, obs: ready() },
      { at: 4 * MIN, obs: ready(look(4 * MIN, finding("pass", true))) },
    ]);
    expect(r.status.stepIndex).toBe(1);
    expect(r.status.phase).toBe("Progressing");
  });

  it("never shifts traffic to a canary that is not ready", () => {
    const r = drive([{ at: 0, obs: { canaryReady: false, analysis: null } }]);
    expect(r.weights).toEqual([]);
    expect(r.status.message).toContain("waiting for the canary's replicas to be ready");
    expect(drive([{ at: MIN, obs: ready() }], r.status).weights).toEqual([10]);
  });

  it("rolls back at once on a critical failure, naming it", () => {
    const r = drive([
      { at: 0, obs: ready() },
      { at: MIN, obs: ready(look(MIN, finding("fail", true))) },
    ]);
    expect(r.status.phase).toBe("RolledBack");
    expect(r.weights).toEqual([10, 0]);
    expect(r.status.message).toContain("critical regression: speaker_similarity in voice_id=mia-chen: fail");
    expect(r.status.lastDecision?.reasons.map((f) => f.verdict)).toEqual(["fail"]);
  });

  it("pauses on a non-critical failure, and an approval resumes", () => {
    const paused = drive([
      { at: 0, obs: ready() },
      { at: MIN, obs: ready(look(MIN, finding("fail", false, "cost"))) },
    ]);
    expect(paused.status.phase).toBe("Paused");
    expect(paused.status.pause).toEqual(expect.objectContaining({ kind: "analysis" }));
    const resumed = drive(
      [{ at: 2 * MIN, obs: ready(look(2 * MIN, finding("fail", false, "cost"))), commands: [approve] }],
      paused.status,
    );
    expect(resumed.status.stepIndex).toBe(2); // on to the approval pause
  });

  it("a critical failure during a pause still rolls back, even with an approval arriving at the same time", () => {
    const paused = drive([
      { at: 0, obs: ready() },
      { at: MIN, obs: ready(look(MIN, finding("fail", false, "cost"))) },
    ]);
    const r = drive(
      [{ at: 2 * MIN, obs: ready(look(2 * MIN, finding("fail", true))), commands: [approve] }],
      paused.status,
    );
    expect(r.status.phase).toBe("RolledBack");
    expect(r.weights).toEqual([0]);
  });

  it("an abort rolls back with who and why recorded", () => {
    const r = drive([
      { at: 0, obs: ready() },
      { at: MIN, obs: ready(), commands: [{ kind: "abort", user: "sam", reason: "customer complaint" }] },
    ]);
    expect(r.status.phase).toBe("RolledBack");
    expect(r.status.message).toBe("aborted by sam: customer complaint");
    expect(r.status.history[0]).toEqual(
      expect.objectContaining({ kind: "abort", user: "sam", reason: "customer complaint" }),
    );
  });

  it("pauses when the analysis runs out of time unsettled; missing data never promotes", () => {
    const r = drive([
      { at: 0, obs: ready() },
      { at: 10 * MIN, obs: ready(look(10 * MIN, finding("nodata", true))) },
      { at: 21 * MIN, obs: ready(look(21 * MIN, finding("nodata", true))) },
    ]);
    expect(r.status.phase).toBe("Paused");
    expect(r.status.message).toContain("analysis ran out of time unsettled");
    expect(r.weights).toEqual([10]);
  });

  it("pauses when no analysis arrives at all by maxDuration", () => {
    const r = drive([
      { at: 0, obs: ready() },
      { at: 21 * MIN, obs: ready() },
    ]);
    expect(r.status.phase).toBe("Paused");
    expect(r.status.message).toContain("no analysis result arrived");
  });

  it("promote skips the current step; promote --full skips them all", () => {
    const start = drive([{ at: 0, obs: ready() }]).status;
    const one = drive(
      [{ at: MIN, obs: ready(), commands: [{ kind: "promote", user: "u", reason: "r", full: false }] }],
      start,
    );
    expect(one.status.stepIndex).toBe(2);
    const full = drive(
      [{ at: MIN, obs: ready(), commands: [{ kind: "promote", user: "u", reason: "r", full: true }] }],
      start,
    );
    expect(full.status.phase).toBe("Promoted");
    expect(full.weights).toEqual([100]);
  });

  it("retry starts a rolled-back rollout again from the first step, keeping the history", () => {
    const rolled = drive([
      { at: 0, obs: ready() },
      { at: MIN, obs: ready(), commands: [{ kind: "abort", user: "a", reason: "x" }] },
    ]);
    const r = drive(
      [{ at: 2 * MIN, obs: ready(), commands: [{ kind: "retry", user: "b", reason: "fixed" }] }],
      rolled.status,
    );
    expect(r.status.phase).toBe("Progressing");
    expect(r.weights).toEqual([10]);
    expect(r.status.history.map((h) => h.kind)).toEqual(["abort", "retry"]);
  });

  it("is idempotent: the same inputs again produce no new actions", () => {
    const first = reconcileRollout(PLAN, initialStatus(0), ready(), [], 0);
    const again = reconcileRollout(PLAN, first.status, ready(), [], 0);
    expect(first.actions.some((a) => a.type === "setWeight")).toBe(true);
    expect(again.actions).toEqual([]);
  });

  it("ignores commands that do not apply (approve while progressing, abort after promotion)", () => {
    const r = drive([{ at: 0, obs: ready(), commands: [approve] }]);
    expect(r.status.history).toEqual([]);
    const done = drive([
      { at: 0, obs: ready(), commands: [{ kind: "promote", user: "u", reason: "r", full: true }] },
    ]);
    const after = drive(
      [{ at: MIN, obs: ready(), commands: [{ kind: "abort", user: "u", reason: "late" }] }],
      done.status,
    );
    expect(after.status.phase).toBe("Promoted");
  });

  it("a fatal observation fails the rollout and sends traffic back to stable", () => {
    const r = drive([
      { at: 0, obs: ready() },
      { at: MIN, obs: { canaryReady: true, analysis: null, fatal: "canary Deployment tts-v42 was deleted" } },
    ]);
    expect(r.status.phase).toBe("Failed");
    expect(r.weights).toEqual([10, 0]);
  });
});

describe("plan schema", () => {
  it.each([
    ["90s", 90_000],
    ["10m", 600_000],
    ["1.5h", 5_400_000],
    ["250ms", 250],
    ["10", null],
    ["m", null],
  ])("parseDuration(%j) = %j", (text, ms) => expect(parseDuration(text)).toBe(ms));

  it("rejects a maxDuration shorter than minDuration and unknown step kinds", () => {
    expect(stepsSchema.safeParse([{ analysis: { minDuration: "10m", maxDuration: "5m" } }]).success).toBe(
      false,
    );
    expect(stepsSchema.safeParse([{ setWeight: 120 }]).success).toBe(false);
    expect(stepsSchema.safeParse([{ wait: "5m" }]).success).toBe(false);
  });
});
