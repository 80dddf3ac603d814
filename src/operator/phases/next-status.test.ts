import { describe, expect, it } from "vitest";
import { passAt, sceneOf, startAt, storeStatus } from "../../../test/support/reconciler-harness.js";
import { initialOnlineState } from "../../core/analysis/online.js";
import { initialStatus, type RolloutStatus } from "../../core/rollout/machine.js";
import type { Pin } from "../pinning.js";
import { toTime } from "../status.js";
import type { AnalysisPass } from "./analysis.js";
import { analysisStatus, assembleStatus } from "./next-status.js";
import { pinsInStatus } from "./pins.js";
import type { Transition } from "./transition.js";
import { readWorld } from "./world.js";

const running: RolloutStatus = { ...initialStatus(0), canaryWeight: 25 };
const transitionTo = (next: RolloutStatus): Transition => ({ next, names: new Map(), results: new Map() });
const lookOf = (looks: number, restarted: boolean): AnalysisPass => ({
  stored: { state: { ...initialOnlineState(), looks }, lastLookAt: 120_000 },
  observation: null,
  restarted,
  lostLooks: restarted ? 7 : 0,
  analysisMs: 3,
});
const PIN: Pin = {
  label: "voice_id",
  value: "mia-chen",
  header: "x-voice-id",
  at: toTime(0),
  reason: "worse",
};

describe("phase 8: the next status", () => {
  it("status.analysis counts the stored looks and says where the state is kept", async () => {
    const pass = await passAt(sceneOf());
    const a = analysisStatus(
      pass,
      { terminalBefore: false },
      { look: lookOf(3, false), transition: transitionTo(running) },
    );
    expect(a).toEqual({ looks: 3, lastLookAt: toTime(120_000), restarts: 0, configMap: "tts-analysis" });
    expect(pass.events).toEqual([]);
  });

  it("a state found lost is counted and announced", async () => {
    const scene = sceneOf();
    storeStatus(scene, { analysis: { looks: 7, lastLookAt: toTime(0), restarts: 1 } });
    const pass = await passAt(scene);
    const a = analysisStatus(
      pass,
      { terminalBefore: false },
      { look: lookOf(0, true), transition: transitionTo(running) },
    );
    expect(a?.restarts).toBe(2);
    expect(pass.events.map((e) => e.reason)).toEqual(["AnalysisRestarted"]);
    expect(pass.events[0]?.message).toMatch(/lost after 7 looks/);
  });

  it("a retry after a rollback starts a new analysis", async () => {
    const scene = sceneOf();
    storeStatus(scene, { analysis: { looks: 9, lastLookAt: toTime(0), restarts: 0 } });
    const pass = await passAt(scene);
    const a = analysisStatus(
      pass,
      { terminalBefore: true },
      { look: null, transition: transitionTo(running) },
    );
    expect(a).toEqual({ looks: 0, lastLookAt: toTime(pass.now), restarts: 0, configMap: "tts-analysis" });
  });

  it("pins stay in status while the rollout runs and go, announced, when it ends", async () => {
    const scene = sceneOf();
    storeStatus(scene, { pins: [PIN] });
    const pass = await passAt(scene);
    const pinning = { pins: [PIN], added: [], observation: null };
    const kept = pinsInStatus(pass, "Progressing", { phase: "Progressing" }, pinning);
    expect(kept.status.pins).toEqual([PIN]);
    expect(pass.events).toEqual([]);
    const ended = pinsInStatus(pass, "Promoted", { phase: "Promoted", pins: [PIN] }, pinning);
    expect(ended.pins).toEqual([]);
    expect(ended.status).not.toHaveProperty("pins");
    expect(pass.events.map((e) => e.message)).toEqual([
      "pins removed as the rollout ended: voice_id=mia-chen",
    ]);
  });

  it("the whole status: the transition in the CRD's shape, with the pool record and this pass's reasons", async () => {
    const scene = sceneOf({ spec: { nodePool: { name: "l4", maxSurgeGPUs: 4 } } });
    const pass = await passAt(scene);
    const start = startAt(initialStatus(0));
    const world = await readWorld(pass, start.before, false);
    pass.events.push({ type: "Normal", reason: "WeightSet", message: "step 1: canary weight 25%" });
    const next = await assembleStatus(pass, start, world, {
      look: lookOf(1, false),
      transition: transitionTo(running),
      pausedFor: undefined,
      poolCondition: undefined,
      pinning: { pins: [], added: [], observation: null },
      canaryReady: true,
    });
    expect(next.status).toMatchObject({
      phase: "Progressing",
      canaryWeight: 25,
      pool: { stableReplicasAtStart: 2 },
      analysis: { looks: 1 },
    });
    expect(next.scaleDownAt).toBeNull();
    expect(next.pins).toEqual([]);
  });
});
