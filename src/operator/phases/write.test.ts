import { describe, expect, it } from "vitest";
import { passAt, sceneOf } from "../../../test/support/reconciler-harness.js";
import type { VoiceRolloutStatus } from "../../core/resource/voicerollout.js";
import { ConflictError } from "../ports.js";
import { writeStatus } from "./write.js";

const next: VoiceRolloutStatus = { phase: "Progressing", canaryWeight: 25, message: "step 1" };

describe("phase 9: the status write", () => {
  it("a status that says what is stored is not written", async () => {
    const scene = sceneOf();
    scene.ports.rollouts.put({ ...scene.ports.rollouts.peek(scene.ref)!, status: next });
    const pass = await passAt(scene);
    expect(await writeStatus(pass, { ...next })).toBe(pass.rollout);
    expect(scene.ports.rollouts.statusWrites).toBe(0);
  });

  it("writes the status and returns the rollout as stored", async () => {
    const scene = sceneOf();
    const stored = await writeStatus(await passAt(scene), next);
    expect(stored?.status).toEqual(next);
    expect(scene.ports.rollouts.peek(scene.ref)?.metadata.resourceVersion).toBe(
      stored?.metadata.resourceVersion,
    );
  });

  it("a race lost to a metadata-only change is written again on the fresh version", async () => {
    const scene = sceneOf();
    const pass = await passAt(scene);
    scene.ports.rollouts.touch(scene.ref);
    const stored = await writeStatus(pass, next);
    expect(stored?.status).toEqual(next);
    expect(scene.ports.rollouts.statusWrites).toBe(1);
  });

  it("a race lost to another status write is not overwritten: the pass decides again", async () => {
    const scene = sceneOf();
    const pass = await passAt(scene);
    const theirs: VoiceRolloutStatus = { phase: "Paused", message: "someone else's" };
    scene.ports.rollouts.put({ ...scene.ports.rollouts.peek(scene.ref)!, status: theirs });
    expect(await writeStatus(pass, next)).toBeNull();
    expect(scene.ports.rollouts.peek(scene.ref)?.status).toEqual(theirs);
  });

  it("a writer of metadata that wins every race is given up on after five tries", async () => {
    const scene = sceneOf();
    const pass = await passAt(scene);
    const conflict = new ConflictError("modified");
    scene.ports.rollouts.faults.failNext("updateStatus", conflict, 5);
    expect(await writeStatus(pass, next)).toBeNull();
    expect(scene.ports.rollouts.statusWrites).toBe(0);
  });

  it("any other failure is the pass's to fail", async () => {
    const scene = sceneOf();
    scene.ports.rollouts.faults.failNext("updateStatus", new Error("apiserver down"));
    await expect(writeStatus(await passAt(scene), next)).rejects.toThrow("apiserver down");
  });
});
