import { describe, expect, it } from "vitest";
import { commandOf, pausedOn } from "../../../test/support/reconciler-harness.js";
import type { VoiceRolloutStatus } from "../../core/resource/voicerollout.js";
import { initialStatus, type RolloutStatus } from "../../core/rollout/machine.js";
import { ROUTE_CHANGED_BY_HAND } from "../status.js";
import { actionableOf, sortCommands, toCommand } from "./commands.js";
import type { RouteFound } from "./route-check.js";

const progressing: RolloutStatus = { ...initialStatus(0), canaryWeight: 25 };
const paused: RolloutStatus = {
  ...progressing,
  phase: "Paused",
  pause: { kind: "approval", reason: "changed by hand", since: 0 },
};
const pausedByHand = pausedOn(ROUTE_CHANGED_BY_HAND);

const agrees = (stored: RolloutStatus): RouteFound => ({
  stored,
  route: { kind: "agrees" },
  handEdited: null,
});
const byHand = (stored: RolloutStatus): RouteFound => ({
  stored,
  route: { kind: "byHand", routed: 60, written: 25 },
  handEdited: 60,
});

describe("phase 2: sorting commands", () => {
  it("a command already named in status history is a repeat: marked, never given to the machine again", () => {
    const previous: VoiceRolloutStatus = {
      history: [
        { action: "approve", user: "a", at: "2026-12-04T00:00:00Z", reason: "ok", step: 1, command: "c1" },
      ],
    };
    const sorted = sortCommands(
      [commandOf("c1", "approve"), commandOf("c2", "abort")],
      previous,
      agrees(progressing),
    );
    expect(sorted.repeats.map((c) => c.metadata.name)).toEqual(["c1"]);
    expect(sorted.fresh.map((c) => c.metadata.name)).toEqual(["c2"]);
    expect(sorted.routeApproval).toBeUndefined();
    expect(sorted.routeBack).toBe(false);
  });

  it("while paused on a hand edit, the first approval answers the edit and later ones are ignored", () => {
    const pending = [commandOf("a1", "approve"), commandOf("p1", "promote"), commandOf("a2", "approve")];
    const sorted = sortCommands(pending, pausedByHand, byHand(paused));
    expect(sorted.pausedByHand).toBe(true);
    expect(sorted.routeApproval?.metadata.name).toBe("a1");
    expect(sorted.extraApprovals.map((c) => c.metadata.name)).toEqual(["a2"]);
    expect(sorted.fresh.map((c) => c.metadata.name)).toEqual(["p1"]);
    expect(sorted.routeBack).toBe(true);
  });

  it("an approval given before the hand-edit pause was announced waits: not the machine's, not the edit's", () => {
    const sorted = sortCommands([commandOf("a1", "approve")], undefined, byHand(progressing));
    expect(sorted.pausedByHand).toBe(false);
    expect(sorted.routeApproval).toBeUndefined();
    expect(sorted.fresh).toEqual([]);
    expect(sorted.routeBack).toBe(false);
  });

  it("a route the person put back while paused on their edit counts as set back", () => {
    const sorted = sortCommands([], pausedByHand, agrees(paused));
    expect(sorted.routeBack).toBe(true);
    expect(sorted.routeApproval).toBeUndefined();
  });

  it("a hold lets only an abort or a retry through to the machine", () => {
    const fresh = [
      commandOf("ap", "approve"),
      commandOf("ab", "abort"),
      commandOf("pr", "promote"),
      commandOf("re", "retry"),
    ];
    expect(actionableOf(fresh, true).commands.map((c) => c.metadata.name)).toEqual(["ab", "re"]);
    const open = actionableOf(fresh, false);
    expect(open.commands.map((c) => c.metadata.name)).toEqual(["ap", "ab", "pr", "re"]);
    expect(open.machine.map((c) => c.kind)).toEqual(["approve", "abort", "promote", "retry"]);
  });

  it("the machine's command keeps what each action carries: promote's full, approve's accept", () => {
    expect(toCommand(commandOf("p", "promote", { full: true }))).toEqual({
      kind: "promote",
      user: "oncall@example.com",
      reason: "test",
      full: true,
    });
    expect(toCommand(commandOf("a", "approve", { accept: [{ metric: "cost" }] }))).toMatchObject({
      kind: "approve",
      accept: [{ metric: "cost" }],
    });
    expect(toCommand(commandOf("a", "approve", { accept: [] }))).not.toHaveProperty("accept");
  });
});
