import { describe, expect, it } from "vitest";
import { MIN, passAt, sceneOf, SIMILARITY_POLICY } from "../../../test/support/reconciler-harness.js";
import { initialOnlineState } from "../../core/analysis/online.js";
import { initialStatus } from "../../core/rollout/machine.js";
import { lookAtCanary } from "./analysis.js";

const at25 = { ...initialStatus(0), canaryWeight: 25 };

describe("phase 4: the analysis look", () => {
  it("a rollout that had ended takes no look and drops a state a dead pass left behind", async () => {
    const scene = sceneOf();
    await scene.ports.analysis.save(scene.ports.rollouts.peek(scene.ref)!, {
      state: initialOnlineState(),
      lastLookAt: 0,
    });
    const looked = await lookAtCanary(await passAt(scene), SIMILARITY_POLICY, at25, true);
    expect(looked).toBeNull();
    expect(scene.ports.analysis.has(scene.ref)).toBe(false);
    expect(scene.ports.metrics.looks).toEqual([]);
  });

  it("without a usable policy nothing is looked at or judged", async () => {
    const scene = sceneOf();
    expect(await lookAtCanary(await passAt(scene), null, at25, false)).toBeNull();
    expect(scene.ports.analysis.saves).toBe(0);
  });

  it("a look is taken once an interval has passed, saved before the status, and not taken twice", async () => {
    const scene = sceneOf();
    const first = await lookAtCanary(await passAt(scene), SIMILARITY_POLICY, at25, false);
    expect(first?.observation).toBeNull(); // a new rollout starts its window now
    expect(scene.ports.analysis.saves).toBe(1);

    scene.ports.clock.advance(MIN);
    const second = await lookAtCanary(await passAt(scene), SIMILARITY_POLICY, at25, false);
    expect(second?.stored.state.looks).toBe(1);
    expect(scene.ports.metrics.looks).toEqual([
      { from: first!.stored.lastLookAt, to: first!.stored.lastLookAt + MIN, weight: 25 },
    ]);
    expect(second?.observation?.decision).toBeDefined();
    expect(scene.ports.analysis.saves).toBe(2);

    const again = await lookAtCanary(await passAt(scene), SIMILARITY_POLICY, at25, false);
    expect(again?.stored.state.looks).toBe(1);
    expect(scene.ports.analysis.saves).toBe(2);
  });
});
