import { describe, expect, it } from "vitest";
import {
  CANARY,
  passAt,
  sceneOf,
  STABLE,
  startAt,
  storeStatus,
} from "../../../test/support/reconciler-harness.js";
import { initialStatus, type RolloutStatus } from "../../core/rollout/machine.js";
import { RouteChangedByHandError } from "../ports.js";
import { followStatus } from "./follow.js";
import type { Pass, Start } from "./pass.js";
import type { World } from "./world.js";
import { readWorld } from "./world.js";

const at = (canaryWeight: number, o: Partial<RolloutStatus> = {}): RolloutStatus => ({
  ...initialStatus(0),
  canaryWeight,
  ...o,
});
/** From `before`, the route changed by hand to `handEdited` when given. */
const startOf = (before: RolloutStatus, handEdited: number | null = null) =>
  handEdited === null
    ? startAt(before)
    : startAt(before, {
        found: { stored: before, route: { kind: "byHand", routed: handEdited, written: 0 }, handEdited },
      });
const noSizing = { surgeTarget: null, poolProblem: null };

/** The phase on the scene's rollout as read, with no pins. */
const follow = (
  pass: Pass,
  world: World,
  start: Start,
  next: RolloutStatus,
  o: { handPause?: RolloutStatus; sizing?: Parameters<typeof followStatus>[5] } = {},
) =>
  followStatus(
    pass,
    pass.rollout,
    start,
    world,
    { handPause: o.handPause ?? null },
    o.sizing ?? noSizing,
    next,
    [],
  );

/** Under a surge budget of 4 GPUs, the stable at its N = 8 replicas, as status.pool records. */
function surgeScene() {
  const spec = { canary: { deployment: CANARY.name }, nodePool: { name: "l4", maxSurgeGPUs: 4 } };
  const scene = sceneOf({ spec, stableReplicas: 8 });
  storeStatus(scene, { pool: { stableReplicasAtStart: 8 } });
  return scene;
}

describe("phase 10: the world follows the status", () => {
  it("the route takes the status's weight", async () => {
    const scene = sceneOf();
    const pass = await passAt(scene);
    const world = await readWorld(pass, at(0), false);
    const r = await follow(pass, world, startOf(at(0)), at(25));
    expect(r.routeRefused).toBe(false);
    expect(scene.ports.router.writes.map((w) => w.weight)).toEqual([25]);
  });

  it("a route changed by hand is left alone while the rollout is paused on it", async () => {
    const scene = sceneOf();
    scene.ports.router.setWeight(scene.ref, 60);
    const pass = await passAt(scene);
    const paused = at(25, { phase: "Paused", pause: { kind: "approval", reason: "edit", since: 0 } });
    const world = await readWorld(pass, paused, false);
    await follow(pass, world, startOf(paused, 60), paused, { handPause: paused });
    expect(scene.ports.router.weightOf(scene.ref)).toBe(60);
    expect(scene.ports.router.calls).toBe(0);
  });

  it("an edit made during the pass is refused by the router, not overwritten", async () => {
    const scene = sceneOf();
    scene.ports.router.faults.failNext("setCanaryWeight", new RouteChangedByHandError("edited", 70, 0));
    const pass = await passAt(scene);
    const world = await readWorld(pass, at(0), false);
    const r = await follow(pass, world, startOf(at(0)), at(25));
    expect(r.routeRefused).toBe(true);
  });

  it("under a surge budget the stable gives up only what the canary's next size needs, after the route", async () => {
    const scene = surgeScene();
    const pass = await passAt(scene);
    const world = await readWorld(pass, at(25), false);
    // The canary goes to 4 for 50% next; 8 + 4 GPUs is the budget's limit with the stable at 8, so it holds.
    await follow(pass, world, startOf(at(25)), at(25), { sizing: { surgeTarget: 50, poolProblem: null } });
    expect(scene.ports.workloads.scales).toEqual([]);
    // At 50% the canary's full size (8) needs the stable down to 4, its floor for the 50% it still serves.
    await follow(pass, world, startOf(at(50)), at(50), { sizing: { surgeTarget: 100, poolProblem: null } });
    expect(scene.ports.workloads.scales).toEqual([{ name: STABLE.name, replicas: 4 }]);
    expect(pass.events.map((e) => e.reason)).toEqual(["StableScaledDown"]);
  });

  it("a step waiting for the pool takes no replica from the stable", async () => {
    const scene = surgeScene();
    const pass = await passAt(scene);
    const world = await readWorld(pass, at(50), false);
    const sizing = { surgeTarget: 100, poolProblem: { reason: "InsufficientGPUs", message: "m" } };
    await follow(pass, world, startOf(at(50)), at(50), { sizing });
    expect(scene.ports.workloads.scales).toEqual([]);
  });
});
