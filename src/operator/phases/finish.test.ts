import { describe, expect, it } from "vitest";
import { MIN, NO_COMMANDS, passAt, sceneOf, startAt } from "../../../test/support/reconciler-harness.js";
import { initialOnlineState } from "../../core/analysis/online.js";
import { initialStatus, type RolloutStatus } from "../../core/rollout/machine.js";
import { POLICY_UNAVAILABLE } from "../status.js";
import { decisionsOf, finish, requeueAfter, type Deadlines } from "./finish.js";

describe("phase 11: what is told and tidied", () => {
  it("records every Event, one lost Event failing nothing, then marks repeats and results", async () => {
    const scene = sceneOf();
    const a = scene.ports.rollouts.addCommand("voice", "again", { rollout: "tts", action: "approve" });
    const b = scene.ports.rollouts.addCommand("voice", "stop", { rollout: "tts", action: "abort" });
    let calls = 0;
    const events = {
      record: async (...args: Parameters<typeof scene.ports.events.record>) => {
        if (calls++ === 0) throw new Error("event sink down");
        await scene.ports.events.record(...args);
      },
    };
    const pass = { ...(await passAt(scene)), ports: { ...scene.ports, events } };
    pass.events.push(
      { type: "Normal", reason: "First", message: "1" },
      { type: "Normal", reason: "Second", message: "2" },
    );
    const before = initialStatus(0);
    const start = startAt(before, { commands: { ...NO_COMMANDS, repeats: [a] } });
    await finish(pass, pass.rollout, start, {
      next: before,
      names: new Map(),
      results: new Map([[b, "applied at step 1"]]),
    });
    expect(scene.ports.events.reasons()).toEqual(["Second"]);
    expect(scene.ports.rollouts.command("voice", "again")?.status?.result).toBe(
      "applied (recorded in status history)",
    );
    expect(scene.ports.rollouts.command("voice", "stop")?.status?.result).toBe("applied at step 1");
  });

  it("a rollout that ended this pass drops its analysis state; one that had ended already is left to the drop at its start", async () => {
    const scene = sceneOf();
    await scene.ports.analysis.save(scene.ports.rollouts.peek(scene.ref)!, {
      state: initialOnlineState(),
      lastLookAt: 0,
    });
    const pass = await passAt(scene);
    const before = initialStatus(0);
    const ended: RolloutStatus = { ...before, phase: "Promoted" };
    const none = { names: new Map(), results: new Map() };
    await finish(pass, pass.rollout, startAt(ended, { terminalBefore: true }), { next: ended, ...none });
    expect(scene.ports.analysis.has(scene.ref)).toBe(true);
    await finish(pass, pass.rollout, startAt(before), { next: ended, ...none });
    expect(scene.ports.analysis.has(scene.ref)).toBe(false);
  });
});

describe("when to look again", () => {
  const base: Deadlines = {
    steps: [{ setWeight: 25 }, { analysis: { minDuration: "2m", maxDuration: "10m" } }],
    status: initialStatus(0),
    now: 0,
    nextLookAt: null,
    waitingForCanary: false,
    policyProblem: false,
    scaleDownAt: null,
    resyncMs: 5 * MIN,
    pollMs: 15_000,
  };

  it("the soonest of a look, a step's end, a poll and a scale-down; never later than the resync", () => {
    expect(requeueAfter(base)).toBe(5 * MIN);
    expect(requeueAfter({ ...base, nextLookAt: MIN })).toBe(MIN);
    expect(requeueAfter({ ...base, nextLookAt: MIN, waitingForCanary: true })).toBe(15_000);
    expect(requeueAfter({ ...base, scaleDownAt: 30_000, nextLookAt: MIN })).toBe(30_000);
    const analysing: RolloutStatus = { ...initialStatus(0), stepIndex: 1, stepStartedAt: -90_000 };
    expect(requeueAfter({ ...base, status: analysing })).toBe(30_000); // minDuration 2m, 1.5m in
  });

  it("a pause for a person is looked at again at its deadline; times already past are not waited for", () => {
    const paused: RolloutStatus = {
      ...initialStatus(0),
      phase: "Paused",
      pause: { kind: "approval", reason: "r", since: 0, deadline: 2 * MIN },
    };
    expect(requeueAfter({ ...base, status: paused })).toBe(2 * MIN);
    expect(requeueAfter({ ...base, status: paused, nextLookAt: -1 })).toBe(2 * MIN);
  });

  it("decisions for the metric come from the Events, a pause by its kind", () => {
    const paused: RolloutStatus = {
      ...initialStatus(0),
      phase: "Paused",
      pause: { kind: "analysis", reason: "r", since: 0 },
    };
    const events = ["Promoted", "RolledBack", "Paused", POLICY_UNAVAILABLE, "WeightSet"].map((reason) => ({
      type: "Normal" as const,
      reason,
      message: "",
    }));
    expect(decisionsOf(paused, events)).toEqual([
      { decision: "promote", reason: "Promoted" },
      { decision: "rollback", reason: "RolledBack" },
      { decision: "pause", reason: "analysis" },
      { decision: "pause", reason: POLICY_UNAVAILABLE },
    ]);
  });
});
