import { describe, expect, it } from "vitest";
import {
  commandOf,
  NO_COMMANDS,
  passAt,
  rolloutOf,
  sceneOf,
  startAt,
} from "../../../test/support/reconciler-harness.js";
import { initialStatus, type RolloutStatus } from "../../core/rollout/machine.js";
import { actionableOf } from "./commands.js";
import { machineOptions, transition } from "./transition.js";

describe("phase 7: the transition", () => {
  it("a ready canary takes the first step's weight, and the machine's Events join the pass's", async () => {
    const pass = await passAt(sceneOf());
    const before = initialStatus(pass.now);
    const t = transition(
      pass,
      startAt(before),
      { fatal: undefined },
      before,
      true,
      null,
      actionableOf([], false),
    );
    expect(t.next.canaryWeight).toBe(25);
    expect(pass.events.map((e) => e.reason)).toContain("WeightSet");
    expect(t.names.size).toBe(0);
  });

  it("each applied command is matched to its history record by name; one with nothing to act on is ignored", async () => {
    const pass = await passAt(sceneOf());
    const before = initialStatus(pass.now);
    // Listed approve first: the machine applies aborts first, and the match follows its order.
    const approve = commandOf("ok", "approve");
    const abort = commandOf("stop", "abort");
    const actionable = actionableOf([approve, abort], false);
    const t = transition(pass, startAt(before), { fatal: undefined }, before, true, null, actionable);
    expect(t.next.phase).toBe("RolledBack");
    expect([...t.names]).toEqual([[0, "stop"]]);
    expect(t.results.get(abort)).toBe("applied at step 1");
    expect(t.results.get(approve)).toBe("ignored: nothing to approve while the rollout is Progressing");
  });

  it("the approval answering a hand edit is named at the record the hold added; later approvals are ignored", async () => {
    const pass = await passAt(sceneOf());
    const first = commandOf("fix", "approve");
    const second = commandOf("fix-too", "approve");
    const before = initialStatus(pass.now);
    const status: RolloutStatus = {
      ...before,
      history: [{ kind: "approve", user: "oncall@example.com", at: pass.now, reason: "fix", stepIndex: 0 }],
    };
    const start = startAt(before, {
      commands: { ...NO_COMMANDS, routeApproval: first, extraApprovals: [second], routeBack: true },
    });
    const t = transition(pass, start, { fatal: undefined }, status, true, null, actionableOf([], false));
    expect([...t.names]).toEqual([[0, "fix"]]);
    expect(t.results.get(first)).toBe("applied: the route set back to 0% at step 1");
    expect(t.results.get(second)).toBe("ignored: fix already set the route back");
  });

  it("a missing canary is fatal to the rollout", async () => {
    const pass = await passAt(sceneOf());
    const before = initialStatus(pass.now);
    const t = transition(
      pass,
      startAt(before),
      { fatal: "no canary" },
      before,
      false,
      null,
      actionableOf([], false),
    );
    expect(t.next.phase).toBe("Failed");
  });

  it("machineOptions defaults a rollout without spec.approval to a 4h deadline, then an abort", () => {
    const r = rolloutOf("tts");
    const { approval: _dropped, ...spec } = r.spec;
    const options = machineOptions({ ...r, spec: spec as typeof r.spec });
    expect(options.approval).toEqual({ deadlineMs: 4 * 3_600_000, onDeadline: "Abort" });
    expect(options.ref).toEqual({ name: "tts", namespace: "voice" });
  });
});
