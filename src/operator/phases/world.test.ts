import { describe, expect, it } from "vitest";
import { CANARY, passAt, sceneOf, STABLE } from "../../../test/support/reconciler-harness.js";
import { initialStatus } from "../../core/rollout/machine.js";
import { readWorld } from "./world.js";

const start = initialStatus(0);

describe("phase 3: what the rollout acts on", () => {
  it("a missing policy is a problem that names it; a missing canary is fatal", async () => {
    const scene = sceneOf({ spec: { policyRef: { name: "gone" } } });
    scene.ports.workloads.delete(CANARY);
    const world = await readWorld(await passAt(scene), start, false);
    expect(world.policy).toBeNull();
    expect(world.policyProblem).toMatch(/^RolloutPolicy gone cannot be used: /);
    expect(world.canary).toBeNull();
    expect(world.fatal).toMatch(/canary Deployment tts-v42 does not exist/);
  });

  it("with spec.canary.replicas the canary's size is that, and the stable is not read", async () => {
    const scene = sceneOf();
    const world = await readWorld(await passAt(scene), start, false);
    expect(world.policy?.spec.metrics.map((m) => m.name)).toEqual(["speaker_similarity"]);
    expect(world.policyProblem).toBeNull();
    expect(world.wanted).toBe(2);
    expect(world.stable).toBeNull();
    expect(world.budget).toBeUndefined();
    expect(world.poolRecord).toBeUndefined();
  });

  it("without spec.canary.replicas a canary at zero takes the stable's count", async () => {
    const scene = sceneOf({ spec: { canary: { deployment: CANARY.name } }, stableReplicas: 6 });
    const world = await readWorld(await passAt(scene), start, false);
    expect(world.stable?.replicas).toBe(6);
    expect(world.wanted).toBe(6);
  });

  it("under a surge budget N is read at weight 0 and recorded, and GPUs per replica come from the pool", async () => {
    const scene = sceneOf({
      spec: {
        canary: { deployment: CANARY.name },
        nodePool: { name: "l4", gpusPerReplica: 2, maxSurgeGPUs: 4 },
      },
      stableReplicas: 8,
    });
    scene.ports.workloads.set(STABLE, { replicas: 8, readyReplicas: 8, gpusPerReplica: 0 });
    scene.ports.workloads.set(CANARY, { replicas: 0, gpusPerReplica: 0 });
    const world = await readWorld(await passAt(scene), start, false);
    expect(world).toMatchObject({ budget: 4, n: 8, nKnown: true, wanted: 8, canaryGpus: 2, stableGpus: 2 });
    expect(world.poolRecord).toEqual({ stableReplicasAtStart: 8 });
  });

  it("under a surge budget N is not re-read mid-rollout when its record is lost", async () => {
    const scene = sceneOf({
      spec: { canary: { deployment: CANARY.name }, nodePool: { name: "l4", maxSurgeGPUs: 4 } },
      stableReplicas: 6,
    });
    const world = await readWorld(await passAt(scene), { ...start, canaryWeight: 25 }, false);
    expect(world.nKnown).toBe(false);
    expect(world.poolRecord).toBeUndefined();
  });
});
