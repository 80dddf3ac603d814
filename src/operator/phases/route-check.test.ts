import { describe, expect, it } from "vitest";
import { CANARY, passAt, sceneOf, type Scene } from "../../../test/support/reconciler-harness.js";
import { RouteChangedByHandError } from "../ports.js";
import { reconcile } from "../reconciler.js";
import { checkRouteFirst, restartAfterRepair } from "./route-check.js";

/** A scene one pass in: status and route at the first step's 25%. */
async function atFirstStep(): Promise<Scene> {
  const scene = sceneOf();
  await reconcile(scene.ref, scene.ports);
  scene.ports.workloads.setReady(CANARY, 2);
  await reconcile(scene.ref, scene.ports);
  expect(scene.ports.router.weightOf(scene.ref)).toBe(25);
  return scene;
}

/** A pass that wrote status at 25% and died before its route write: the route still carries 0%. */
async function diedBeforeRouteWrite(): Promise<Scene> {
  const scene = sceneOf();
  await reconcile(scene.ref, scene.ports);
  scene.ports.workloads.setReady(CANARY, 2);
  scene.ports.router.faults.failNext("setCanaryWeight");
  await expect(reconcile(scene.ref, scene.ports)).rejects.toThrow(/injected/);
  expect(scene.ports.rollouts.peek(scene.ref)?.status?.canaryWeight).toBe(25);
  expect(scene.ports.router.weightOf(scene.ref)).toBe(0);
  return scene;
}

describe("phase 1: the route as found", () => {
  it("a route carrying the status's weight agrees and is not written", async () => {
    const scene = await atFirstStep();
    const writes = scene.ports.router.writes.length;
    const found = await checkRouteFirst(await passAt(scene));
    expect(found).toMatchObject({ route: { kind: "agrees" }, handEdited: null });
    expect(found?.stored.canaryWeight).toBe(25);
    expect(scene.ports.router.writes).toHaveLength(writes);
  });

  it("finishes our own unfinished write before anything else", async () => {
    const scene = await diedBeforeRouteWrite();
    const found = await checkRouteFirst(await passAt(scene));
    expect(found?.route).toEqual({ kind: "unfinished", routed: 0 });
    expect(scene.ports.router.weightOf(scene.ref)).toBe(25);
  });

  it("a route changed by hand is noticed, named by its writer, and left alone", async () => {
    const scene = await atFirstStep();
    scene.ports.router.setWeight(scene.ref, 60, "kubectl-patch");
    const found = await checkRouteFirst(await passAt(scene));
    expect(found?.route).toEqual({ kind: "byHand", routed: 60, written: 25, by: "kubectl-patch" });
    expect(found?.handEdited).toBe(60);
    expect(scene.ports.router.weightOf(scene.ref)).toBe(60);
  });

  it("ends the pass (null) when someone changes the route between the read and the repair", async () => {
    const scene = await diedBeforeRouteWrite();
    scene.ports.router.faults.failNext("setCanaryWeight", new RouteChangedByHandError("edited", 70, 0));
    expect(await checkRouteFirst(await passAt(scene))).toBeNull();
  });

  it("any other router failure is the pass's to fail", async () => {
    const scene = await diedBeforeRouteWrite();
    scene.ports.router.faults.failNext("setCanaryWeight", new Error("apiserver down"));
    await expect(checkRouteFirst(await passAt(scene))).rejects.toThrow("apiserver down");
  });

  it("after a repair the step's clock and the analysis window start again, and the repair is announced", async () => {
    const scene = await diedBeforeRouteWrite();
    scene.ports.clock.advance(90_000);
    const pass = await passAt(scene);
    const found = (await checkRouteFirst(pass))!;
    const before = await restartAfterRepair(pass, found, false);
    expect(before.stepStartedAt).toBe(pass.now);
    expect(scene.ports.analysis.peek(scene.ref)?.lastLookAt).toBe(pass.now);
    expect(pass.events.map((e) => e.reason)).toEqual(["RouteRepaired"]);
    expect(pass.events[0]?.message).toMatch(/carried canary weight 0%, status records 25%/);
  });

  it("without a repair nor a route set back, the status stands as stored", async () => {
    const scene = await atFirstStep();
    const started = scene.ports.rollouts.peek(scene.ref)?.status;
    scene.ports.clock.advance(90_000);
    const pass = await passAt(scene);
    const found = (await checkRouteFirst(pass))!;
    const saves = scene.ports.analysis.saves;
    const before = await restartAfterRepair(pass, found, false);
    expect(before).toEqual(found.stored);
    expect(before.stepStartedAt).toBeLessThan(pass.now);
    expect(scene.ports.analysis.saves).toBe(saves);
    expect(pass.events).toEqual([]);
    expect(started?.canaryWeight).toBe(25);
  });

  it("a route set back after a hand edit restarts the step but is not a repair", async () => {
    const scene = await atFirstStep();
    scene.ports.clock.advance(90_000);
    const pass = await passAt(scene);
    const found = (await checkRouteFirst(pass))!;
    const before = await restartAfterRepair(pass, found, true);
    expect(before.stepStartedAt).toBe(pass.now);
    expect(pass.events).toEqual([]);
  });
});
