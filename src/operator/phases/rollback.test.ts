import { describe, expect, it } from "vitest";
import { CANARY, MIN, passAt, sceneOf, STABLE } from "../../../test/support/reconciler-harness.js";
import type { VoiceRolloutStatus } from "../../core/resource/voicerollout.js";
import { initialStatus, type RolloutStatus } from "../../core/rollout/machine.js";
import { toTime } from "../status.js";
import { scaleAfterRollback } from "./rollback.js";
import { readWorld } from "./world.js";

const rolledBack: RolloutStatus = { ...initialStatus(0), phase: "RolledBack" };
const degradedAt = (ms: number): VoiceRolloutStatus => ({
  phase: "RolledBack",
  conditions: [
    { type: "Degraded", status: "True", reason: "RolledBack", message: "m", lastTransitionTime: toTime(ms) },
  ],
});

describe("after a rollback", () => {
  it("the canary keeps its replicas until spec.rollback.scaleDownDelay has passed, and says when that is", async () => {
    const scene = sceneOf();
    scene.ports.workloads.set(CANARY, { replicas: 2, readyReplicas: 2 });
    const t0 = scene.ports.clock.now();
    scene.ports.clock.advance(2 * MIN);
    const pass = await passAt(scene);
    const world = await readWorld(pass, rolledBack, true);
    const after = await scaleAfterRollback(pass, world, rolledBack, degradedAt(t0), undefined);
    expect(after.scaleDownAt).toBe(t0 + 5 * MIN);
    expect(scene.ports.workloads.scales).toEqual([]);
    expect(after.status.canaryScaledDownAt).toBeUndefined();
  });

  it("then goes to zero, once, recorded in status and announced", async () => {
    const scene = sceneOf();
    scene.ports.workloads.set(CANARY, { replicas: 2, readyReplicas: 2 });
    const t0 = scene.ports.clock.now();
    scene.ports.clock.advance(5 * MIN);
    const pass = await passAt(scene);
    const world = await readWorld(pass, rolledBack, true);
    const after = await scaleAfterRollback(pass, world, rolledBack, degradedAt(t0), undefined);
    expect(scene.ports.workloads.scales).toEqual([{ name: CANARY.name, replicas: 0 }]);
    expect(after).toMatchObject({ scaleDownAt: null, status: { canaryScaledDownAt: toTime(t0 + 5 * MIN) } });
    expect(pass.events.map((e) => e.reason)).toEqual(["CanaryScaledDown"]);

    const again = await scaleAfterRollback(pass, world, rolledBack, after.status, t0 + 5 * MIN);
    expect(again.scaleDownAt).toBeNull();
    expect(scene.ports.workloads.scales).toHaveLength(1);
  });

  it("under a surge budget the stable gets back the replicas it gave up; without one it is never scaled", async () => {
    const spec = { canary: { deployment: CANARY.name }, nodePool: { name: "l4", maxSurgeGPUs: 4 } };
    const scene = sceneOf({ spec, stableReplicas: 4 });
    scene.ports.workloads.set(CANARY, { replicas: 4, readyReplicas: 4 });
    scene.ports.rollouts.put({
      ...scene.ports.rollouts.peek(scene.ref)!,
      status: { pool: { stableReplicasAtStart: 8 } },
    });
    const pass = await passAt(scene);
    const world = await readWorld(pass, rolledBack, true);
    await scaleAfterRollback(pass, world, rolledBack, degradedAt(0), undefined);
    expect(scene.ports.workloads.scales[0]).toEqual({ name: STABLE.name, replicas: 8 });
    expect(pass.events[0]?.reason).toBe("StableRestored");

    const plain = sceneOf({ stableReplicas: 4 });
    const plainPass = await passAt(plain);
    await scaleAfterRollback(
      plainPass,
      await readWorld(plainPass, rolledBack, true),
      rolledBack,
      degradedAt(0),
      undefined,
    );
    expect(plain.ports.workloads.scales.filter((s) => s.name === STABLE.name)).toEqual([]);
  });

  it("a rollout that did not roll back is not scaled", async () => {
    const scene = sceneOf();
    scene.ports.workloads.set(CANARY, { replicas: 2, readyReplicas: 2 });
    scene.ports.clock.advance(10 * MIN);
    const pass = await passAt(scene);
    const promoted: RolloutStatus = { ...rolledBack, phase: "Promoted" };
    const after = await scaleAfterRollback(
      pass,
      await readWorld(pass, promoted, true),
      promoted,
      {},
      undefined,
    );
    expect(after.scaleDownAt).toBeNull();
    expect(scene.ports.workloads.scales).toEqual([]);
  });
});
