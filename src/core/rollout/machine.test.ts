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
    expect(r.status.message).toContain(
      "unsettled evidence neither promotes nor rolls back, so a person decides: approve or abort it",
    );
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

const REF = { name: "tts", namespace: "voice-prod" };
const abortAfter = (ms: number) => ({
  approval: { deadlineMs: ms, onDeadline: "Abort" as const },
  ref: REF,
});
const escalateAfter = (ms: number) => ({
  approval: { deadlineMs: ms, onDeadline: "Escalate" as const },
  ref: REF,
});

/** A ttfa_p95 finding with a relative budget of +10%, worsening by `worsening` (a fraction of the baseline). */
function ttfa(verdict: Finding["verdict"], worsening: number, slice = { voice_id: "mia-chen" }): Finding {
  return {
    ...finding(verdict, false, "ttfa_p95"),
    slice,
    aggregate: "p95",
    direction: "lowerIsBetter",
    baseline: 400,
    canary: 400 * (1 + worsening),
    worsening,
    allowed: 0.1,
    budget: { relative: 0.1 },
    reason: `ttfa_p95 (p95) in voice_id=${slice.voice_id}: worsening +${(worsening * 100).toFixed(1)}%`,
  };
}

const HOUR = 60 * MIN;

describe("approval deadline", () => {
  const pausedAtApproval = (options: Parameters<typeof reconcileRollout>[5]) => {
    // Promote the analysis step away so the plan stops at its pause until approved (step 3 of 5).
    let s = reconcileRollout(PLAN, initialStatus(0), ready(), [], 0, options).status;
    s = reconcileRollout(
      PLAN,
      s,
      ready(),
      [{ kind: "promote", user: "u", reason: "skip", full: false }],
      MIN,
      options,
    ).status;
    return s;
  };

  it("a pause for a person records its deadline and says in words what happens then", () => {
    const s = pausedAtApproval(abortAfter(4 * HOUR));
    expect(s.phase).toBe("Paused");
    expect(s.pause).toMatchObject({ kind: "approval", since: MIN, deadline: MIN + 4 * HOUR });
    expect(s.message).toContain("waits for a person for up to 4h, then it rolls back");
  });

  it("Abort: past the deadline the rollout rolls back (weight 0) naming the pause it waited on", () => {
    const s = pausedAtApproval(abortAfter(4 * HOUR));
    const early = reconcileRollout(PLAN, s, ready(), [], MIN + 4 * HOUR - 1, abortAfter(4 * HOUR));
    expect(early.status.phase).toBe("Paused");
    const r = reconcileRollout(PLAN, s, ready(), [], MIN + 4 * HOUR, abortAfter(4 * HOUR));
    expect(r.status.phase).toBe("RolledBack");
    expect(r.actions).toContainEqual({ type: "setWeight", weight: 0 });
    const event = r.actions.find((a) => a.type === "event" && a.reason === "ApprovalExpired");
    expect(event).toMatchObject({ severity: "Warning" });
    expect(r.status.message).toContain("no approval within 4h at step 3 of 5 (pause until approved)");
  });

  it("an approval that arrives in the pass the deadline passes wins over it", () => {
    const s = pausedAtApproval(abortAfter(HOUR));
    const r = reconcileRollout(PLAN, s, ready(), [approve], MIN + 2 * HOUR, abortAfter(HOUR));
    expect(r.status.phase).toBe("Progressing");
    expect(r.status.stepIndex).toBe(4);
  });

  it("Escalate: stays paused, raises ApprovalOverdue once, and an approval still resumes it", () => {
    const s = pausedAtApproval(escalateAfter(HOUR));
    expect(s.message).toContain("then it escalates (ApprovalOverdue) and keeps waiting");
    const over = reconcileRollout(PLAN, s, ready(), [], MIN + HOUR, escalateAfter(HOUR));
    expect(over.status.phase).toBe("Paused");
    expect(over.status.canaryWeight).toBe(10);
    expect(over.status.pause?.escalatedAt).toBe(MIN + HOUR);
    expect(over.actions.filter((a) => a.type === "event").map((a) => a.type === "event" && a.reason)).toEqual(
      ["ApprovalOverdue"],
    );
    const again = reconcileRollout(PLAN, over.status, ready(), [], MIN + 2 * HOUR, escalateAfter(HOUR));
    expect(again.actions).toEqual([]);
    const resumed = reconcileRollout(
      PLAN,
      over.status,
      ready(),
      [approve],
      MIN + 3 * HOUR,
      escalateAfter(HOUR),
    );
    expect(resumed.status.phase).toBe("Progressing");
    expect(resumed.status.pause).toBeNull();
  });

  it("a pause step's own deadline wins over the spec's; a timed pause has none", () => {
    const plan: Step[] = stepsSchema.parse([
      { setWeight: 10 },
      { pause: { deadline: "30m" } },
      { pause: { duration: "10h" } },
    ]);
    const s = reconcileRollout(plan, initialStatus(0), ready(), [], 0, abortAfter(4 * HOUR)).status;
    expect(s.pause?.deadline).toBe(30 * MIN);
    expect(reconcileRollout(plan, s, ready(), [], 30 * MIN, abortAfter(4 * HOUR)).status.phase).toBe(
      "RolledBack",
    );
    const timed = reconcileRollout(plan, s, ready(), [approve], MIN, abortAfter(4 * HOUR)).status;
    const later = reconcileRollout(plan, timed, ready(), [], 9 * HOUR, abortAfter(4 * HOUR)).status;
    expect(later.phase).toBe("Progressing");
  });

  it("a deadline on a timed pause is refused by the schema", () => {
    expect(stepsSchema.safeParse([{ pause: { duration: "5m", deadline: "1h" } }]).success).toBe(false);
  });
});

describe("approvals that stick: accepted findings", () => {
  const TWO: Step[] = stepsSchema.parse([
    { setWeight: 10 },
    { analysis: { minDuration: "5m", maxDuration: "20m" } },
    { setWeight: 50 },
    { analysis: { minDuration: "5m", maxDuration: "20m" } },
  ]);
  const o = abortAfter(4 * HOUR);
  const step = (s: RolloutStatus, at: number, findings: Finding[], commands: Command[] = []) =>
    reconcileRollout(TWO, s, ready(look(at, ...findings)), commands, at, o);

  function pausedOnTtfa() {
    const s = reconcileRollout(TWO, initialStatus(0), ready(), [], 0, o).status;
    return step(s, MIN, [ttfa("fail", 0.279), finding("pass", true)]);
  }

  it("a non-critical pause says why it is not a rollback and offers abort beside approve", () => {
    const r = pausedOnTtfa();
    expect(r.status.phase).toBe("Paused");
    expect(r.status.pause?.reason).toContain(
      'ttfa_p95 is non-critical, so paused rather than rolled back: voicectl rollout approve tts -n voice-prod --reason "..." --accept ttfa_p95,voice_id=mia-chen or voicectl rollout abort tts -n voice-prod --reason "..."',
    );
    expect(r.status.pause?.reason).toMatch(/^step 2 of 4 \(analysis 5m\.\.20m\)/);
  });

  it("without --accept the next analysis step pauses again for the same finding", () => {
    const approved = step(pausedOnTtfa().status, 2 * MIN, [ttfa("fail", 0.279)], [approve]).status;
    expect(approved.stepIndex).toBe(3);
    const again = step(approved, 3 * MIN, [ttfa("fail", 0.28), finding("pass", true)]);
    expect(again.status.phase).toBe("Paused");
  });

  it("an accepted finding no longer pauses: the next step passes and the promotion says who pushed it", () => {
    const accept: Command = { ...approve, accept: [{ metric: "ttfa_p95" }] } as Command;
    const a = step(pausedOnTtfa().status, 2 * MIN, [ttfa("fail", 0.279)], [accept]);
    expect(a.status.accepted).toEqual([
      expect.objectContaining({ metric: "ttfa_p95", slice: {}, upTo: null, worseningAtApproval: 0.279 }),
    ]);
    expect(a.status.history.at(-1)).toMatchObject({
      kind: "approve",
      accepted: ["ttfa_p95 in (all) (worsening +27.9% when accepted) accepted for the rest of the rollout"],
      over: ["ttfa_p95 in voice_id=mia-chen"],
    });
    const event = a.actions.find((x) => x.type === "event" && x.reason === "Approved");
    expect(event && event.type === "event" && event.message).toContain("accepting ttfa_p95 in (all)");
    // The next analysis step: ttfa still fails (worse, even: no margin was stated), everything else passes.
    let s = step(a.status, 3 * MIN, [ttfa("fail", 0.35), finding("pass", true)]).status;
    expect(s.phase).toBe("Progressing");
    const done = step(s, 9 * MIN, [ttfa("fail", 0.35), finding("pass", true)]);
    s = done.status;
    expect(s.phase).toBe("Promoted");
    const promoted = done.actions.find((x) => x.type === "event" && x.reason === "Promoted");
    expect(promoted && promoted.type === "event" && promoted.message).toBe(
      "promoted with 1 approval over failing findings (ttfa_p95 in voice_id=mia-chen); the canary takes 100% of traffic",
    );
    const passed = done.actions.find((x) => x.type === "event" && x.reason === "AnalysisPassed");
    expect(passed && passed.type === "event" && passed.message).toContain(
      "1 of 2 findings pass; 1 failing within what approvers accepted (ttfa_p95 in voice_id=mia-chen)",
    );
  });

  it("with a margin, the finding pauses again once it worsens past it, saying what was accepted", () => {
    const accept = { ...approve, accept: [{ metric: "ttfa_p95", margin: "5%" }] } as Command;
    const a = step(pausedOnTtfa().status, 2 * MIN, [ttfa("fail", 0.279)], [accept]).status;
    expect(a.accepted[0]?.upTo).toBeCloseTo(0.329, 6);
    const within = step(a, 3 * MIN, [ttfa("fail", 0.32), finding("pass", true)]).status;
    expect(within.phase).toBe("Progressing");
    const worse = step(within, 4 * MIN, [ttfa("fail", 0.34), finding("pass", true)]).status;
    expect(worse.phase).toBe("Paused");
    expect(worse.pause?.reason).toContain("worse than accepted by oncall@example.com at step 2 of 4");
    expect(worse.pause?.reason).toContain("accepted up to a worsening of +32.9% (margin 5%)");
  });

  it("an acceptance limited to one slice does not cover another", () => {
    const accept = {
      ...approve,
      accept: [{ metric: "ttfa_p95", slice: { voice_id: "mia-chen" } }],
    } as Command;
    const a = step(pausedOnTtfa().status, 2 * MIN, [ttfa("fail", 0.279)], [accept]).status;
    const other = step(a, 3 * MIN, [ttfa("fail", 0.279), ttfa("fail", 0.3, { voice_id: "leo" })]).status;
    expect(other.phase).toBe("Paused");
    expect(other.pause?.reason).toContain("voice_id=leo");
  });

  it("a critical finding is never accepted: its failure rolls back whatever was accepted", () => {
    const accept = { ...approve, accept: [{ metric: "speaker_similarity" }] } as Command;
    const a = step(pausedOnTtfa().status, 2 * MIN, [ttfa("fail", 0.279)], [accept]).status;
    const r = step(a, 3 * MIN, [finding("fail", true)]);
    expect(r.status.phase).toBe("RolledBack");
  });

  it("a retry starts without the earlier attempt's acceptances", () => {
    const accept = { ...approve, accept: [{ metric: "ttfa_p95" }] } as Command;
    const a = step(pausedOnTtfa().status, 2 * MIN, [ttfa("fail", 0.279)], [accept]).status;
    const rolled = step(a, 3 * MIN, [], [{ kind: "abort", user: "u", reason: "r" }]).status;
    const retried = step(rolled, 4 * MIN, [], [{ kind: "retry", user: "u", reason: "r" }]).status;
    expect(retried.accepted).toEqual([]);
  });

  it("a promotion with every step passed says so", () => {
    let s = reconcileRollout(TWO, initialStatus(0), ready(), [], 0, o).status;
    s = step(s, 6 * MIN, [finding("pass", true)]).status;
    const r = step(s, 12 * MIN, [finding("pass", true)]);
    expect(r.status.message).toBe(
      "promoted with all steps passed: the canary takes all traffic and becomes the new stable",
    );
  });
});

describe("a step judges what it observed", () => {
  const TWO: Step[] = stepsSchema.parse([
    { setWeight: 25 },
    { analysis: { minDuration: "5m", maxDuration: "20m" } },
    { setWeight: 50 },
    { analysis: { minDuration: "5m", maxDuration: "20m" } },
  ]);
  const run = (s: RolloutStatus, at: number, obs: AnalysisObservation | null, commands: Command[] = []) =>
    reconcileRollout(TWO, s, ready(obs), commands, at);
  const approveIt: Command = { kind: "approve", user: "ana", reason: "known" };
  const windowed = (f: Finding, kind: "rollout" | "step", since: number): Finding => ({
    ...f,
    window: { kind, since },
  });

  it("an approval's weight change is not paused again by the analysis from before the step", () => {
    let s = run(initialStatus(0), 0, null).status;
    const atPause = look(3 * MIN, finding("fail", false, "cost"), finding("pass", true));
    s = run(s, 3 * MIN, atPause).status;
    expect(s.phase).toBe("Paused");
    // Approved at 4m with the 25% look of 4m: on to 50% and the second analysis step.
    const seen = look(4 * MIN, finding("fail", false, "cost"), finding("pass", true));
    s = run(s, 4 * MIN, seen, [approveIt]).status;
    expect([s.phase, s.canaryWeight, s.stepIndex]).toEqual(["Progressing", 50, 3]);
    // 8 ms later nothing new was seen: the step has not observed anything yet.
    s = run(s, 4 * MIN + 8, seen).status;
    expect(s.phase).toBe("Progressing");
    // The first look of the step still fails: a fail in the rollout window pauses.
    s = run(s, 5 * MIN, look(5 * MIN, finding("fail", false, "cost"), finding("pass", true))).status;
    expect(s.phase).toBe("Paused");
  });

  it("an all-pass analysis from before the step does not count towards it", () => {
    let s = run(initialStatus(0), 0, null).status;
    s = run(s, 6 * MIN, look(6 * MIN, finding("pass", true))).status;
    expect(s.stepIndex).toBe(3); // passed step 2 at 6m, now analysing at 50%
    // Nothing new arrives for the whole step: it runs out of time as if no analysis had come.
    s = run(s, 27 * MIN, look(6 * MIN, finding("pass", true))).status;
    expect(s.phase).toBe("Paused");
    expect(s.pause?.reason).toContain("no analysis result arrived");
  });

  it("an intermediate step advances on the rollout window while its step window is unsettled", () => {
    let s = run(initialStatus(0), 0, null).status;
    const obs = look(
      6 * MIN,
      windowed(finding("pass", true), "rollout", 0),
      windowed(finding("inconclusive", true), "step", 0),
    );
    s = run(s, 6 * MIN, obs).status;
    expect(s.stepIndex).toBe(3);
  });

  it("the final step promotes only once its own window passes every critical finding", () => {
    let s = run(initialStatus(0), 0, null).status;
    s = run(s, 6 * MIN, look(6 * MIN, windowed(finding("pass", true), "rollout", 0))).status;
    const unsettled = look(
      12 * MIN,
      windowed(finding("pass", true), "rollout", 0),
      windowed(finding("inconclusive", true), "step", 6 * MIN),
    );
    s = run(s, 12 * MIN, unsettled).status;
    expect([s.phase, s.stepIndex]).toEqual(["Progressing", 3]);
    const passed = look(
      13 * MIN,
      windowed(finding("pass", true), "rollout", 0),
      windowed(finding("pass", true), "step", 6 * MIN),
      // A non-critical step finding need not have settled; it only must not fail.
      windowed(finding("inconclusive", false, "cost"), "step", 6 * MIN),
    );
    s = run(s, 13 * MIN, passed).status;
    expect(s.phase).toBe("Promoted");
  });

  it("a fail in the step window pauses (non-critical) or rolls back (critical) while the rollout window passes", () => {
    let s = run(initialStatus(0), 0, null).status;
    const nonCritical = look(
      3 * MIN,
      windowed(finding("pass", false, "cost"), "rollout", 0),
      windowed(finding("fail", false, "cost"), "step", 0),
    );
    expect(run(s, 3 * MIN, nonCritical).status.phase).toBe("Paused");
    const critical = look(
      3 * MIN,
      windowed(finding("pass", true), "rollout", 0),
      windowed(finding("fail", true), "step", 0),
    );
    s = run(s, 3 * MIN, critical).status;
    expect(s.phase).toBe("RolledBack");
  });
});

describe("a rollback at the deadline", () => {
  it("names the pause it waited on without offering the commands nobody ran", () => {
    const o = { approval: { deadlineMs: HOUR, onDeadline: "Abort" as const }, ref: REF };
    const plan: Step[] = stepsSchema.parse([{ setWeight: 10 }, { pause: {} }]);
    const s = reconcileRollout(plan, initialStatus(0), ready(), [], 0, o).status;
    expect(s.pause?.reason).toContain("voicectl rollout abort tts -n voice-prod");
    const r = reconcileRollout(plan, s, ready(), [], HOUR, o).status;
    expect(r.message).toBe(
      "rolled back: no approval within 1h at step 2 of 2 (pause until approved); it was paused for: step 2 of 2 (pause until approved): waiting for approval",
    );
  });
});

describe("what a promotion says it was pushed over", () => {
  const TWO: Step[] = stepsSchema.parse([
    { setWeight: 10 },
    { analysis: { minDuration: "5m", maxDuration: "20m" } },
  ]);
  it("names the failing findings an approval went over, not the unsettled ones beside them", () => {
    let s = reconcileRollout(TWO, initialStatus(0), ready(), [], 0).status;
    const findings = [ttfa("fail", 0.279), ttfa("inconclusive", 0.12, { voice_id: "leo" })];
    s = reconcileRollout(TWO, s, ready(look(MIN, ...findings)), [], MIN).status;
    expect(s.phase).toBe("Paused");
    const r = reconcileRollout(TWO, s, ready(look(2 * MIN, ...findings)), [approve], 2 * MIN);
    expect(r.status.message).toBe(
      "promoted with 1 approval over failing findings (ttfa_p95 in voice_id=mia-chen): the canary takes all traffic and becomes the new stable",
    );
  });

  it("says 'findings that had not passed' when the step was pushed over unsettled evidence only", () => {
    let s = reconcileRollout(TWO, initialStatus(0), ready(), [], 0).status;
    const findings = [ttfa("inconclusive", 0.12)];
    s = reconcileRollout(TWO, s, ready(look(21 * MIN, ...findings)), [], 21 * MIN).status;
    expect(s.phase).toBe("Paused");
    const r = reconcileRollout(TWO, s, ready(look(22 * MIN, ...findings)), [approve], 22 * MIN);
    expect(r.status.message).toContain(
      "promoted with 1 approval over findings that had not passed (ttfa_p95 in voice_id=mia-chen (inconclusive))",
    );
  });
});
