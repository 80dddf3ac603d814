import { describe, expect, it } from "vitest";
import {
  CANARY,
  passAt,
  pausedOn,
  sceneOf,
  STABLE,
  startAt,
  storeStatus,
  type SpecInput,
} from "../../../test/support/reconciler-harness.js";
import { initialStatus, type RolloutStatus } from "../../core/rollout/machine.js";
import { INSUFFICIENT_GPUS, POOL_CAPACITY, ROUTE_CHANGED_BY_HAND, SURGE_BUDGET_EXCEEDED } from "../status.js";
import { actionableOf } from "./commands.js";
import type { Held } from "./holds.js";
import { poolHold, sizeCanary, type Sizing } from "./pool.js";
import { reconcile } from "../reconciler.js";
import { readWorld } from "./world.js";

const POOL = { "voicectl.dev/pool": "l4" };
const heldAt = (status: RolloutStatus): Held => ({ status, pausedFor: undefined, handPause: null });

/** Pool l4 of `nodes` one-GPU nodes, the stable placed on it with `stable` replicas. */
function poolScene(nodes: number, stable: number, spec: SpecInput) {
  const scene = sceneOf({ spec, stableReplicas: stable });
  for (let i = 0; i < nodes; i++) scene.ports.pools.addNode({ name: `l4-${i}`, labels: POOL, gpus: 1 });
  scene.ports.pools.place(STABLE, POOL);
  scene.ports.pools.place(CANARY, POOL);
  return scene;
}

async function size(scene: ReturnType<typeof sceneOf>, before: RolloutStatus) {
  const pass = await passAt(scene);
  const start = startAt(before);
  const world = await readWorld(pass, before, false);
  const sizing = await sizeCanary(pass, start, world, heldAt(before), actionableOf([], false), null);
  return { pass, start, world, sizing };
}

describe("phase 6: the canary against its pool", () => {
  it("without a surge budget the canary takes its full size when the pool has the GPUs, and says it fits", async () => {
    const scene = poolScene(6, 4, { nodePool: { name: "l4", gpusPerReplica: 1 } });
    const { sizing } = await size(scene, initialStatus(0));
    expect(scene.ports.workloads.scales).toEqual([{ name: CANARY.name, replicas: 2 }]);
    expect(sizing.poolProblem).toBeNull();
    expect(sizing.canaryReady).toBe(false); // scaled this pass, not ready yet
    expect(sizing.poolCondition).toMatchObject({ type: POOL_CAPACITY, status: "True", reason: "Fits" });
  });

  it("a pool without the GPUs scales nothing and says what is missing", async () => {
    const scene = poolScene(5, 4, { nodePool: { name: "l4", gpusPerReplica: 1 } });
    const { sizing } = await size(scene, initialStatus(0));
    expect(scene.ports.workloads.scales).toEqual([]);
    expect(sizing.poolProblem?.reason).toBe(INSUFFICIENT_GPUS);
    expect(sizing.poolProblem?.message).toMatch(
      /^pool l4 has 1 free nvidia.com\/gpu, the canary needs 2 more/,
    );
  });

  it("under a surge budget the canary is sized for the weight the dry run reaches, not its full size", async () => {
    const scene = poolScene(12, 8, {
      canary: { deployment: CANARY.name },
      nodePool: { name: "l4", gpusPerReplica: 1, maxSurgeGPUs: 4 },
      steps: [{ setWeight: 25 }, { pause: { duration: "5m" } }, { setWeight: 100 }],
    });
    const { sizing } = await size(scene, initialStatus(0));
    expect(sizing.surgeTarget).toBe(25);
    expect(scene.ports.workloads.scales).toEqual([{ name: CANARY.name, replicas: 2 }]);
    expect(sizing.poolProblem).toBeNull();
  });

  it("a step the surge budget cannot fit is a problem naming the GPUs it needs", async () => {
    const scene = poolScene(12, 8, {
      canary: { deployment: CANARY.name },
      nodePool: { name: "l4", gpusPerReplica: 1, maxSurgeGPUs: 2 },
      steps: [{ setWeight: 100 }],
    });
    const { sizing } = await size(scene, initialStatus(0));
    expect(sizing.poolProblem?.reason).toBe(SURGE_BUDGET_EXCEEDED);
    expect(sizing.poolProblem?.message).toMatch(
      /raising the canary to 100% needs 8 GPUs beyond the stable's 8 replicas.*maxSurgeGPUs is 2$/,
    );
    expect(scene.ports.workloads.scales).toEqual([]);
  });

  it("the pool's problem pauses the rollout with a pause that ends by itself", async () => {
    const scene = poolScene(5, 4, { nodePool: { name: "l4", gpusPerReplica: 1 } });
    const { pass, start, world, sizing } = await size(scene, initialStatus(0));
    const held = poolHold(pass, start, world, heldAt(start.before), sizing);
    expect(held.status).toMatchObject({ phase: "Paused", pause: { kind: "duration" } });
    expect(held.pausedFor).toBe(INSUFFICIENT_GPUS);
    expect(held.poolCondition).toMatchObject({ status: "False", reason: INSUFFICIENT_GPUS });
    expect(pass.events.map((e) => e.reason)).toEqual([INSUFFICIENT_GPUS]);
  });

  it("a pool pause resumes once the GPUs are there, and a hand edit's pause outranks the pool's", async () => {
    const scene = poolScene(6, 4, { nodePool: { name: "l4", gpusPerReplica: 1 } });
    storeStatus(scene, pausedOn(INSUFFICIENT_GPUS, { type: POOL_CAPACITY, reason: INSUFFICIENT_GPUS }));
    const before: RolloutStatus = {
      ...initialStatus(0),
      phase: "Paused",
      pause: { kind: "duration", reason: "m", since: 0 },
    };
    const pass = await passAt(scene);
    const noProblem: Sizing = {
      canaryReady: true,
      surgeTarget: null,
      poolProblem: null,
      waitForStable: false,
      poolCondition: undefined,
    };
    const resumed = poolHold(
      pass,
      startAt(before),
      { pool: pass.rollout.spec.nodePool },
      heldAt(before),
      noProblem,
    );
    expect(resumed.status).toMatchObject({ phase: "Progressing", pause: null });
    expect(resumed.poolCondition).toMatchObject({ status: "True", reason: "Fits" });
    expect(pass.events.map((e) => e.reason)).toEqual(["PoolCapacityAvailable"]);

    const handPause: RolloutStatus = { ...before, pause: { kind: "approval", reason: "edit", since: 0 } };
    const byHand = poolHold(
      pass,
      startAt(before),
      { pool: pass.rollout.spec.nodePool },
      { status: handPause, pausedFor: ROUTE_CHANGED_BY_HAND, handPause },
      { ...noProblem, poolProblem: { reason: INSUFFICIENT_GPUS, message: "m2" } },
    );
    expect(byHand.status).toBe(handPause);
    expect(byHand.pausedFor).toBe(ROUTE_CHANGED_BY_HAND);
  });
});

describe("a raise followed by a pause for approval, under a surge budget", () => {
  it("sizes the canary for the raise: the pause after it is reached at the raised weight", async () => {
    const scene = poolScene(12, 8, {
      canary: { deployment: CANARY.name },
      nodePool: { name: "l4", gpusPerReplica: 1, maxSurgeGPUs: 4 },
      steps: [{ setWeight: 25 }, { pause: {} }, { setWeight: 100 }],
    });
    const { sizing } = await size(scene, initialStatus(0));
    expect(sizing.surgeTarget).toBe(25);
    expect(scene.ports.workloads.scales).toEqual([{ name: CANARY.name, replicas: 2 }]);
  });

  it("so the rollout reaches the pause instead of waiting forever for a canary nobody scales", async () => {
    const scene = poolScene(12, 8, {
      canary: { deployment: CANARY.name },
      nodePool: { name: "l4", gpusPerReplica: 1, maxSurgeGPUs: 4 },
      steps: [{ setWeight: 25 }, { pause: {} }, { setWeight: 100 }],
    });
    for (let i = 0; i < 3; i++) {
      const r = await reconcile(scene.ref, scene.ports);
      const replicas = scene.ports.workloads.replicasOf(CANARY);
      if (replicas) scene.ports.workloads.setReady(CANARY, replicas);
      scene.ports.clock.advance(r.requeueAfterMs ?? 0);
    }
    expect(scene.ports.rollouts.peek(scene.ref)?.status).toMatchObject({ phase: "Paused", canaryWeight: 25 });
    expect(scene.ports.router.weightOf(scene.ref)).toBe(25);
  });
});
