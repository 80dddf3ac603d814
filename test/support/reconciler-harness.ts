// The in-memory scene a reconciler test starts from: one VoiceRollout on its canary and stable Deployments,
// a RolloutPolicy judging speaker similarity, a route at 0%, and a look script where the canary serves as
// the stable does unless a test shifts it. Shared by the reconciler's tests and its phases' tests.
import type { z } from "zod";
import type { CellBatch, Look } from "../../src/core/analysis/look.js";
import {
  voiceRolloutSpecSchema,
  type VoiceRollout,
  type VoiceRolloutCommand,
  type VoiceRolloutStatus,
} from "../../src/core/resource/voicerollout.js";
import type { RolloutStatus } from "../../src/core/rollout/machine.js";
import { silentLogger } from "../../src/operator/log.js";
import { memoryPorts, type LookScript, type MemoryPorts } from "../../src/operator/memory.js";
import type { SortedCommands } from "../../src/operator/phases/commands.js";
import { passOf, type Pass, type Start } from "../../src/operator/phases/pass.js";
import type { RolloutRef } from "../../src/operator/ports.js";
import { moments } from "./batches.js";
import { makePolicy, type MetricInput } from "./policy.js";

export const NS = "voice";
export const CANARY: RolloutRef = { namespace: NS, name: "tts-v42" };
export const STABLE: RolloutRef = { namespace: NS, name: "tts-v41" };
export const POLICY_REF: RolloutRef = { namespace: NS, name: "studio" };
export const MIN = 60_000;

export const SIMILARITY: MetricInput = {
  name: "speaker_similarity",
  direction: "higherIsBetter",
  critical: true,
  budget: { absolute: 0.01 },
};
export const SIMILARITY_POLICY = makePolicy([SIMILARITY], { minSamples: 30, alpha: 0.05 });

/** One look of speaker similarity: the canary's mean moved by `shift` (0: it serves as the stable does). */
export function similarityLook(to: number, weight: number, shift = 0, requests = 2000): Look {
  const cell = (arm: "baseline" | "canary"): CellBatch => ({
    arm,
    labels: { voice_id: "mia-chen" },
    metrics: { speaker_similarity: moments(requests, 0.72 + (arm === "canary" ? shift : 0), 0.035) },
  });
  // No canary traffic at weight 0: the canary arm has no samples.
  return {
    at: to,
    canaryWeight: weight,
    cells: weight > 0 ? [cell("baseline"), cell("canary")] : [cell("baseline")],
  };
}

export type SpecInput = Partial<z.input<typeof voiceRolloutSpecSchema>>;
export type StepInput = VoiceRollout["spec"]["steps"][number];
/** An analysis step short enough for a test. */
export const ANALYSE: StepInput = { analysis: { minDuration: "2m", maxDuration: "10m" } };

/** A VoiceRollout named `name` moving CANARY over STABLE, its spec defaulted by the real schema. */
export function rolloutOf(name: string, spec: SpecInput = {}): VoiceRollout {
  return {
    apiVersion: "voicectl.dev/v1alpha1",
    kind: "VoiceRollout",
    metadata: { namespace: NS, name },
    spec: voiceRolloutSpecSchema.parse({
      stable: { deployment: STABLE.name },
      canary: { deployment: CANARY.name, replicas: 2 },
      policyRef: { name: POLICY_REF.name },
      traffic: { gatewayAPI: { httpRoute: "tts" } },
      analysis: { interval: "1m" },
      steps: [{ setWeight: 25 }, { pause: {} }, { setWeight: 50 }],
      ...spec,
    }),
  };
}

export interface Scene {
  readonly ports: MemoryPorts;
  readonly ref: RolloutRef;
}

/**
 * The rollout stored with its policy (its canary's scale-down 5m after a rollback unless `spec` says), a canary
 * at 0 replicas, a ready stable and a route at 0%.
 */
export function sceneOf(
  options: { name?: string; spec?: SpecInput; look?: LookScript; stableReplicas?: number } = {},
): Scene {
  const ref: RolloutRef = { namespace: NS, name: options.name ?? "tts" };
  const ports = memoryPorts(options.look ?? ((_from, to, weight) => similarityLook(to, weight)));
  ports.rollouts.put(rolloutOf(ref.name, { rollback: { scaleDownDelay: "5m" }, ...options.spec }));
  ports.policies.set(POLICY_REF, SIMILARITY_POLICY);
  ports.workloads.set(CANARY, { replicas: 0 });
  const stable = options.stableReplicas ?? 2;
  ports.workloads.set(STABLE, { replicas: stable, readyReplicas: stable });
  ports.router.setWeight(ref, 0);
  return { ports, ref };
}

/** A phase's Pass over the rollout as stored now. */
export async function passAt(scene: Scene): Promise<Pass> {
  const rollout = await scene.ports.rollouts.get(scene.ref);
  if (!rollout) throw new Error(`no rollout ${scene.ref.name}`);
  return passOf(scene.ref, scene.ports, rollout, scene.ports.clock.now(), silentLogger);
}

/** Stores `status` on the scene's rollout, as an earlier pass would have written it. */
export function storeStatus(scene: Scene, status: VoiceRolloutStatus): void {
  const r = scene.ports.rollouts.peek(scene.ref)!;
  scene.ports.rollouts.put({ ...r, status });
}

/** Pending commands of a pass with none: nothing repeated, answered or fresh. */
export const NO_COMMANDS: SortedCommands = {
  repeats: [],
  pausedByHand: false,
  routeApproval: undefined,
  extraApprovals: [],
  fresh: [],
  routeBack: false,
};

/** Where a phase's pass starts: from `before`, the route agreeing with it and no commands, unless told. */
export function startAt(before: RolloutStatus, o: Partial<Start> = {}): Start {
  return {
    found: { stored: before, route: { kind: "agrees" }, handEdited: null },
    commands: NO_COMMANDS,
    before,
    terminalBefore: false,
    ...o,
  };
}

/** A VoiceRolloutCommand for rollout tts, as `voicectl rollout <action>` creates it. */
export function commandOf(
  name: string,
  action: VoiceRolloutCommand["spec"]["action"],
  extra: Partial<VoiceRolloutCommand["spec"]> = {},
): VoiceRolloutCommand {
  return {
    apiVersion: "voicectl.dev/v1alpha1",
    kind: "VoiceRolloutCommand",
    metadata: { namespace: NS, name },
    spec: { rollout: "tts", action, user: "oncall@example.com", reason: "test", full: false, ...extra },
  };
}

/** A stored status paused with a Paused condition of `reason` (and any further conditions). */
export function pausedOn(reason: string, ...more: { type: string; reason: string }[]): VoiceRolloutStatus {
  const at = "2026-12-04T00:00:00Z";
  return {
    phase: "Paused",
    conditions: [{ type: "Paused", reason }, ...more].map((c) => ({
      ...c,
      status: c.type === "Paused" ? ("True" as const) : ("False" as const),
      message: reason,
      lastTransitionTime: at,
    })),
  };
}
