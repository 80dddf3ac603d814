import { describe, expect, it } from "vitest";
import type { VoiceRolloutStatus } from "../core/resource/voicerollout.js";
import { voiceRolloutStatusSchema } from "../core/resource/voicerollout.js";
import { initialStatus, type Phase, type RolloutStatus } from "../core/rollout/machine.js";
import type { Finding } from "../core/types.js";
import {
  conditionsFor,
  crdStatus,
  fromTime,
  machineStatus,
  MAX_STATUS_FINDINGS,
  POLICY_UNAVAILABLE,
  sameStatus,
  statusFindings,
  toTime,
} from "./status.js";

const T0 = Date.UTC(2026, 0, 15, 9, 0, 0);
const MIN = 60_000;

function finding(i: number, verdict: Finding["verdict"], critical = false): Finding {
  return {
    metric: "speaker_similarity",
    slice: { voice_id: `voice-${String(i).padStart(3, "0")}` },
    verdict,
    critical,
    tier: "quality",
    direction: "higherIsBetter",
    aggregate: "mean",
    baseline: 0.74,
    canary: 0.7,
    delta: -0.04,
    relativeDelta: null,
    worsening: verdict === "nodata" ? null : 0.04,
    interval: { lower: 0.03, upper: Infinity },
    allowed: 0.01,
    budget: { absolute: 0.01 },
    confidence: 0.99,
    samples: { baseline: 400, canary: 40 },
    method: "mixture-cs",
    reason: `speaker_similarity in voice_id=voice-${i}: ${verdict}`,
  };
}

const status = (patch: Partial<RolloutStatus>): RolloutStatus => ({ ...initialStatus(T0), ...patch });

describe("status conversion", () => {
  it("round-trips the machine's status through the CRD status, times as RFC 3339", () => {
    const s = status({
      phase: "Paused",
      stepIndex: 2,
      stepStartedAt: T0 + 5 * MIN,
      canaryWeight: 25,
      pause: {
        kind: "approval",
        reason: "step 3/4 (pause until approved): waiting for approval",
        since: T0 + 6 * MIN,
      },
      lastDecision: { decision: "pause", at: T0 + 7 * MIN, summary: "pause: cost", reasons: [] },
      history: [{ kind: "approve", user: "ana@example.com", at: T0 + 3 * MIN, reason: "ok", stepIndex: 1 }],
      message: "waiting",
    });
    const crd = crdStatus({ machine: s, previous: undefined, generation: 3, now: T0 + 7 * MIN });
    expect(voiceRolloutStatusSchema.parse(crd)).toEqual(crd);
    expect(crd).toMatchObject({
      currentStepIndex: 2,
      stepStartedAt: "2026-01-15T09:05:00.000Z",
      observedGeneration: 3,
      pause: { kind: "approval", since: "2026-01-15T09:06:00.000Z" },
      history: [{ action: "approve", user: "ana@example.com", at: "2026-01-15T09:03:00.000Z", step: 1 }],
    });
    expect(machineStatus(crd, T0 + 8 * MIN)).toEqual(s);
  });

  it("a status never reconciled has no machine status", () => {
    expect(machineStatus(undefined, T0)).toBeNull();
    expect(machineStatus({}, T0)).toBeNull();
  });

  it("shows at most 20 non-passing findings, failures first, with no infinite numbers", () => {
    const findings = [
      ...Array.from({ length: 30 }, (_, i) => finding(i, "nodata")),
      finding(99, "pass"),
      finding(100, "fail", true),
    ];
    const shown = statusFindings(findings);
    expect(shown).toHaveLength(MAX_STATUS_FINDINGS);
    expect(shown[0]).toMatchObject({ verdict: "fail", critical: true, slice: { voice_id: "voice-100" } });
    expect(shown.some((f) => f.verdict === "pass")).toBe(false);
    expect(JSON.parse(JSON.stringify(shown))).toEqual(shown);
  });

  it("keeps a decision's stored findings while the decision is the same one", () => {
    const decision = { decision: "pause" as const, at: T0, summary: "pause", reasons: [finding(1, "fail")] };
    const first = crdStatus({
      machine: status({ lastDecision: decision }),
      previous: undefined,
      generation: 1,
      now: T0,
    });
    expect(first.lastDecision?.findings).toHaveLength(1);
    // Read back, the machine's record has no findings; written again, the stored ones stay.
    const again = crdStatus({
      machine: machineStatus(first, T0)!,
      previous: first,
      generation: 1,
      now: T0 + MIN,
    });
    expect(again.lastDecision).toEqual(first.lastDecision);
    const newer = crdStatus({
      machine: status({ lastDecision: { ...decision, at: T0 + MIN, reasons: [] } }),
      previous: first,
      generation: 1,
      now: T0 + MIN,
    });
    expect(newer.lastDecision?.findings).toEqual([]);
  });

  it("names the command behind each new history entry and keeps the names of older ones", () => {
    const h1 = { kind: "approve" as const, user: "a", at: T0, reason: "r", stepIndex: 1 };
    const h2 = { kind: "abort" as const, user: "b", at: T0 + MIN, reason: "r2", stepIndex: 3 };
    const first = crdStatus({
      machine: status({ history: [h1] }),
      previous: undefined,
      generation: 1,
      now: T0,
      commandNames: new Map([[0, "approve-1"]]),
    });
    const second = crdStatus({
      machine: status({ history: [h1, h2] }),
      previous: first,
      generation: 1,
      now: T0 + MIN,
      commandNames: new Map([[1, "abort-1"]]),
    });
    expect(second.history?.map((h) => h.command)).toEqual(["approve-1", "abort-1"]);
  });

  it("compares statuses regardless of key order and absent fields", () => {
    const a: VoiceRolloutStatus = { phase: "Progressing", canaryWeight: 10 };
    const b: VoiceRolloutStatus = { canaryWeight: 10, phase: "Progressing", message: undefined };
    expect(sameStatus(a, b)).toBe(true);
    expect(sameStatus(a, { ...a, canaryWeight: 20 })).toBe(false);
  });

  it("reads times back, and refuses what is not one", () => {
    expect(fromTime(toTime(T0 + 123))).toBe(T0 + 123);
    expect(fromTime("yesterday")).toBeNull();
    expect(fromTime(undefined)).toBeNull();
  });
});

describe("conditions", () => {
  it.each<[Phase, Record<string, string>]>([
    ["Progressing", { Progressing: "True", Paused: "False", Completed: "False", Degraded: "False" }],
    ["Paused", { Progressing: "False", Paused: "True", Completed: "False", Degraded: "False" }],
    ["Promoted", { Progressing: "False", Paused: "False", Completed: "True", Degraded: "False" }],
    ["RolledBack", { Progressing: "False", Paused: "False", Completed: "False", Degraded: "True" }],
    ["Failed", { Progressing: "False", Paused: "False", Completed: "False", Degraded: "True" }],
  ])("%s", (phase, expected) => {
    const pause = phase === "Paused" ? { kind: "analysis" as const, reason: "cost fails", since: T0 } : null;
    const conditions = conditionsFor(status({ phase, pause }), undefined, T0, 2);
    expect(Object.fromEntries(conditions.map((c) => [c.type, c.status]))).toEqual(expected);
    expect(conditions.every((c) => c.observedGeneration === 2)).toBe(true);
  });

  it("moves lastTransitionTime only when a condition's status changes", () => {
    const first = conditionsFor(status({ phase: "Progressing", message: "a" }), undefined, T0, 1);
    const same = conditionsFor(status({ phase: "Progressing", message: "b" }), first, T0 + MIN, 1);
    expect(same.map((c) => c.lastTransitionTime)).toEqual(first.map((c) => c.lastTransitionTime));
    expect(same.find((c) => c.type === "Progressing")?.message).toBe("b");
    const paused = conditionsFor(
      status({ phase: "Paused", pause: { kind: "approval", reason: "waiting", since: T0 + 2 * MIN } }),
      same,
      T0 + 2 * MIN,
      1,
    );
    const at = (type: string) => paused.find((c) => c.type === type)?.lastTransitionTime;
    expect(at("Paused")).toBe(toTime(T0 + 2 * MIN));
    expect(at("Progressing")).toBe(toTime(T0 + 2 * MIN));
    expect(at("Degraded")).toBe(toTime(T0));
    expect(paused.find((c) => c.type === "Paused")?.reason).toBe("AwaitingApproval");
  });

  it("a pause for an unusable policy says so in the Paused condition", () => {
    const s = status({
      phase: "Paused",
      pause: { kind: "analysis", reason: "RolloutPolicy studio cannot be used", since: T0 },
    });
    const paused = conditionsFor(s, undefined, T0, 1, POLICY_UNAVAILABLE).find((c) => c.type === "Paused");
    expect(paused).toMatchObject({
      reason: POLICY_UNAVAILABLE,
      message: "RolloutPolicy studio cannot be used",
    });
  });
});

describe("status for on-call: deadlines, acceptances, one step numbering, one unit", () => {
  it("round-trips a pause's deadline and escalation, the acceptances and history's accepted/over", () => {
    const s = status({
      phase: "Paused",
      stepIndex: 3,
      pause: {
        kind: "analysis",
        reason: "step 4 of 4: ttfa_p95",
        since: T0 + MIN,
        deadline: T0 + 4 * 60 * MIN + MIN,
        escalatedAt: T0 + 4 * 60 * MIN + MIN,
      },
      history: [
        {
          kind: "approve",
          user: "ana",
          at: T0,
          reason: "ok",
          stepIndex: 1,
          accepted: ["ttfa_p95 in (all) accepted for the rest of the rollout"],
          over: ["ttfa_p95 in voice_id=mia"],
        },
      ],
      accepted: [
        {
          metric: "ttfa_p95",
          slice: { voice_id: "mia" },
          worseningAtApproval: 0.279,
          upTo: 0.329,
          unit: "relative",
          margin: "5%",
          user: "ana",
          at: T0,
          stepIndex: 1,
        },
      ],
    });
    const crd = crdStatus({
      machine: s,
      previous: undefined,
      generation: 1,
      now: T0 + 5 * 60 * MIN,
      stepCount: 4,
    });
    expect(voiceRolloutStatusSchema.safeParse(crd).success).toBe(true);
    expect(crd.step).toBe("4/4");
    expect(crd.currentStepIndex).toBe(3);
    expect(crd.pause?.deadline).toBe(toTime(T0 + 4 * 60 * MIN + MIN));
    expect(crd.acceptedFindings?.[0]).toMatchObject({ metric: "ttfa_p95", upTo: 0.329, step: 1 });
    expect(machineStatus(crd, T0)).toEqual(s);
    const overdue = crd.conditions?.find((c) => c.type === "ApprovalOverdue");
    expect(overdue).toMatchObject({ status: "True", reason: "ApprovalOverdue" });
  });

  it("status.step counts from 1 and reads N/N once every step is done", () => {
    const at = (stepIndex: number) =>
      crdStatus({ machine: status({ stepIndex }), previous: undefined, generation: 1, now: T0, stepCount: 4 })
        .step;
    expect([at(0), at(1), at(3), at(4)]).toEqual(["1/4", "2/4", "4/4", "4/4"]);
  });

  it("ApprovalOverdue is absent on a rollout never overdue, and False once the pause is answered", () => {
    const quiet = crdStatus({ machine: status({}), previous: undefined, generation: 1, now: T0 });
    expect(quiet.conditions?.map((c) => c.type)).not.toContain("ApprovalOverdue");
    const escalated = crdStatus({
      machine: status({
        phase: "Paused",
        pause: { kind: "approval", reason: "r", since: T0, deadline: T0 + MIN, escalatedAt: T0 + MIN },
      }),
      previous: undefined,
      generation: 1,
      now: T0 + MIN,
    });
    const answered = crdStatus({
      machine: status({}),
      previous: escalated,
      generation: 1,
      now: T0 + 2 * MIN,
    });
    expect(answered.conditions?.find((c) => c.type === "ApprovalOverdue")).toMatchObject({
      status: "False",
      reason: "Answered",
      lastTransitionTime: toTime(T0 + 2 * MIN),
    });
  });

  it("the Paused condition's time is the current pause's, even when one pause follows another", () => {
    const first = crdStatus({
      machine: status({ phase: "Paused", pause: { kind: "analysis", reason: "cost", since: T0 + MIN } }),
      previous: undefined,
      generation: 1,
      now: T0 + MIN,
    });
    const second = crdStatus({
      machine: status({ phase: "Paused", pause: { kind: "analysis", reason: "ttfa", since: T0 + 9 * MIN } }),
      previous: first,
      generation: 1,
      now: T0 + 9 * MIN,
    });
    expect(first.conditions?.find((c) => c.type === "Paused")?.lastTransitionTime).toBe(toTime(T0 + MIN));
    expect(second.conditions?.find((c) => c.type === "Paused")?.lastTransitionTime).toBe(
      toTime(T0 + 9 * MIN),
    );
  });

  it("a status finding carries the unit of its worsening, so 0.279 of a relative budget reads +27.9%", () => {
    const relative: Finding = {
      ...finding(1, "fail"),
      budget: { relative: 0.1 },
      worsening: 0.279,
      allowed: 0.1,
    };
    expect(statusFindings([relative])[0]).toMatchObject({ unit: "relative", worsening: 0.279 });
    expect(statusFindings([finding(2, "fail")])[0]).toMatchObject({ unit: "metric" });
  });
});
