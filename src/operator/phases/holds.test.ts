import { describe, expect, it } from "vitest";
import {
  commandOf,
  NO_COMMANDS,
  passAt,
  pausedOn,
  sceneOf,
  SIMILARITY_POLICY,
  startAt,
  storeStatus,
} from "../../../test/support/reconciler-harness.js";
import { initialStatus, type RolloutStatus } from "../../core/rollout/machine.js";
import { POLICY_UNAVAILABLE, ROUTE_CHANGED_BY_HAND } from "../status.js";
import { applyHolds } from "./holds.js";

const NOW = 0;
const progressing: RolloutStatus = { ...initialStatus(NOW), canaryWeight: 25, stepIndex: 1 };
const approval = commandOf("fix-route", "approve", { reason: "my edit, sorry" });
const problem = "RolloutPolicy studio cannot be used: not found";
const pausedForPolicy = (since: number): RolloutStatus => ({
  ...progressing,
  phase: "Paused",
  pause: { kind: "analysis", reason: problem, since },
});

describe("phase 5: holds", () => {
  it("a policy that cannot be used pauses the rollout, once, and names the policy", async () => {
    const pass = await passAt(sceneOf());
    const held = applyHolds(pass, startAt(progressing), { policy: null, policyProblem: problem });
    expect(held.status).toMatchObject({ phase: "Paused", pause: { kind: "analysis", reason: problem } });
    expect(held.pausedFor).toBe(POLICY_UNAVAILABLE);
    expect(pass.events).toEqual([{ type: "Warning", reason: POLICY_UNAVAILABLE, message: problem }]);
  });

  it("the same problem on a later pass keeps the pause as it was, without a second Warning", async () => {
    const scene = sceneOf();
    storeStatus(scene, pausedOn(POLICY_UNAVAILABLE));
    const pass = await passAt(scene);
    const before = pausedForPolicy(-5000);
    const held = applyHolds(pass, startAt(before), { policy: null, policyProblem: problem });
    expect(held.status).toBe(before);
    expect(held.pausedFor).toBe(POLICY_UNAVAILABLE);
    expect(pass.events).toEqual([]);
  });

  it("a policy usable again resumes the rollout by itself", async () => {
    const scene = sceneOf();
    storeStatus(scene, pausedOn(POLICY_UNAVAILABLE));
    const pass = await passAt(scene);
    const before = pausedForPolicy(0);
    const held = applyHolds(pass, startAt(before), { policy: SIMILARITY_POLICY, policyProblem: null });
    expect(held.status).toMatchObject({ phase: "Progressing", pause: null });
    expect(held.pausedFor).toBeUndefined();
    expect(pass.events.map((e) => e.reason)).toEqual(["PolicyAvailable"]);
  });

  it("a route changed by hand pauses for an approval, ahead of the policy's pause", async () => {
    const pass = await passAt(sceneOf());
    const start = startAt(progressing, {
      found: {
        stored: progressing,
        route: { kind: "byHand", routed: 60, written: 25, by: "kubectl-patch" },
        handEdited: 60,
      },
    });
    const held = applyHolds(pass, start, { policy: null, policyProblem: problem });
    expect(held.handPause).toBe(held.status);
    expect(held.status).toMatchObject({ phase: "Paused", pause: { kind: "approval" } });
    expect(held.status.message).toMatch(
      /HTTPRoute tts was changed by kubectl-patch \(not voicectl\): canary weight 60%, expected 25%/,
    );
    expect(held.pausedFor).toBe(ROUTE_CHANGED_BY_HAND);
    expect(pass.events.map((e) => e.reason)).toEqual([POLICY_UNAVAILABLE, ROUTE_CHANGED_BY_HAND]);
  });

  it("the approval that answers a hand edit resumes the step and is recorded in history", async () => {
    const scene = sceneOf();
    storeStatus(scene, pausedOn(ROUTE_CHANGED_BY_HAND));
    const pass = await passAt(scene);
    const before: RolloutStatus = {
      ...progressing,
      phase: "Paused",
      pause: { kind: "approval", reason: "edit", since: 0 },
    };
    const start = startAt(before, {
      found: { stored: before, route: { kind: "byHand", routed: 60, written: 25 }, handEdited: 60 },
      commands: { ...NO_COMMANDS, pausedByHand: true, routeApproval: approval, routeBack: true },
    });
    const held = applyHolds(pass, start, { policy: null, policyProblem: null });
    expect(held.handPause).toBeNull();
    expect(held.status).toMatchObject({ phase: "Progressing", pause: null });
    expect(held.status.history).toEqual([
      { kind: "approve", user: "oncall@example.com", at: pass.now, reason: "my edit, sorry", stepIndex: 1 },
    ]);
    expect(pass.events.map((e) => e.reason)).toEqual(["RouteRestored"]);
    expect(pass.events[0]?.message).toMatch(/set back as approved by oncall@example.com: my edit, sorry/);
  });

  it("a rollout that had ended is held by nothing", async () => {
    const pass = await passAt(sceneOf());
    const ended: RolloutStatus = { ...progressing, phase: "RolledBack" };
    const held = applyHolds(pass, startAt(ended, { terminalBefore: true }), {
      policy: null,
      policyProblem: problem,
    });
    expect(held).toEqual({ status: ended, pausedFor: undefined, handPause: null });
    expect(pass.events).toEqual([]);
  });
});
