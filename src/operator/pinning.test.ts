import { describe, expect, it } from "vitest";
import { makePolicy, SIMILARITY } from "../../test/support/policy.js";
import type { CellBatch, Look } from "../core/analysis/look.js";
import { voiceRolloutSpecSchema, type VoiceRolloutStatus } from "../core/resource/voicerollout.js";
import type { AnalysisObservation } from "../core/rollout/machine.js";
import type { Finding } from "../core/types.js";
import { memoryPorts } from "./memory.js";
import { applyPinning, type PinningSpec } from "./pinning.js";
import type { RolloutRef } from "./ports.js";
import { reconcile } from "./reconciler.js";
import { moments } from "../../test/support/batches.js";

const SPEC: PinningSpec = { label: "voice_id", header: "x-voice-id", maxPins: 1 };

function finding(voice: string | null, verdict: Finding["verdict"], critical = true): Finding {
  return {
    metric: "speaker_similarity",
    slice: voice === null ? {} : { voice_id: voice },
    verdict,
    critical,
    tier: "quality",
    direction: "higherIsBetter",
    aggregate: "mean",
    baseline: 0.72,
    canary: 0.69,
    delta: -0.03,
    relativeDelta: null,
    worsening: 0.03,
    interval: { lower: 0.02, upper: 0.04 },
    allowed: 0.01,
    budget: { absolute: 0.01 },
    confidence: 0.95,
    samples: { baseline: 1000, canary: 100 },
    method: "mixture-cs",
    reason: `speaker similarity ${verdict}`,
  };
}

const observation = (findings: Finding[]): AnalysisObservation => ({
  at: 0,
  findings,
  decision: findings.some((f) => f.critical && f.verdict === "fail") ? "rollback" : "promote",
  summary: "s",
});
const redecide = (fs: readonly Finding[]) => ({
  decision: fs.some((f) => f.critical && f.verdict === "fail") ? ("rollback" as const) : ("promote" as const),
  summary: "re",
});

describe("applyPinning", () => {
  it("pins a critical failure in one value and leaves its findings out of the judgement", () => {
    const r = applyPinning(
      SPEC,
      [],
      observation([finding("mia", "fail"), finding("noah", "pass")]),
      "T",
      redecide,
    );
    expect(r.added.map((p) => p.value)).toEqual(["mia"]);
    expect(r.observation?.findings.map((f) => f.slice)).toEqual([{ voice_id: "noah" }]);
    expect(r.observation?.decision).toBe("promote");
  });

  it.each([
    ["a second value beyond maxPins", [finding("mia", "fail"), finding("noah", "fail")], ["mia"], "rollback"],
    ["a failure on the aggregate", [finding(null, "fail")], [], "rollback"],
    ["a non-critical failure", [finding("mia", "fail", false)], [], "promote"],
  ] as const)("does not pin %s", (_name, findings, pinned, decision) => {
    const r = applyPinning(SPEC, [], observation([...findings]), "T", redecide);
    expect(r.pins.map((p) => p.value)).toEqual(pinned);
    expect(r.observation?.decision).toBe(decision);
  });

  it("keeps earlier pins without adding them again, and does nothing without a pinning spec", () => {
    const first = applyPinning(SPEC, [], observation([finding("mia", "fail")]), "T1", redecide);
    const again = applyPinning(SPEC, first.pins, observation([finding("mia", "fail")]), "T2", redecide);
    expect(again.added).toEqual([]);
    expect(again.pins).toEqual(first.pins);
    const none = applyPinning(undefined, [], observation([finding("mia", "fail")]), "T", redecide);
    expect(none.observation?.decision).toBe("rollback");
  });
});

// The reconciler with pinning: one voice of three drifts; it is pinned and the rollout promotes.
const NS = "voice";
const REF: RolloutRef = { namespace: NS, name: "tts" };

describe("reconcile with spec.traffic.pinning", () => {
  it("pins the drifting voice to stable, goes on for everyone else, and unpins when the rollout ends", async () => {
    // Six voices: mia's drop of 0.05 moves the aggregate by 0.008, inside the 0.01 budget, so only her slice fails.
    const voices = ["mia", "noah", "ava", "ethan", "grace", "omar"];
    let pinned: readonly string[] = [];
    const ports = memoryPorts((_from, to, weight): Look => {
      const cells: CellBatch[] = [];
      for (const v of voices) {
        cells.push({
          arm: "baseline",
          labels: { voice_id: v },
          metrics: { speaker_similarity: moments(3000, 0.72, 0.035) },
        });
        // A pinned voice's requests go to stable: the canary sees none of them.
        if (weight > 0 && !pinned.includes(v))
          cells.push({
            arm: "canary",
            labels: { voice_id: v },
            metrics: { speaker_similarity: moments(3000, v === "mia" ? 0.67 : 0.72, 0.035) },
          });
      }
      return { at: to, canaryWeight: weight, cells };
    });
    ports.rollouts.put({
      apiVersion: "voicectl.dev/v1alpha1",
      kind: "VoiceRollout",
      metadata: { namespace: NS, name: REF.name },
      spec: voiceRolloutSpecSchema.parse({
        stable: { deployment: "tts-v41" },
        canary: { deployment: "tts-v42", replicas: 1 },
        policyRef: { name: "studio" },
        traffic: { gatewayAPI: { httpRoute: "tts" }, pinning: { label: "voice_id", header: "x-voice-id" } },
        steps: [{ setWeight: 20 }, { analysis: { minDuration: "3m", maxDuration: "30m" } }],
      }),
    });
    ports.policies.set({ namespace: NS, name: "studio" }, makePolicy([SIMILARITY], { minSamples: 30 }));
    ports.workloads.set({ namespace: NS, name: "tts-v42" }, { replicas: 1, readyReplicas: 1 });
    ports.workloads.set({ namespace: NS, name: "tts-v41" }, { replicas: 2, readyReplicas: 2 });
    ports.router.setWeight(REF, 0);

    const status = (): VoiceRolloutStatus => ports.rollouts.peek(REF)!.status ?? {};
    let sawPin = false;
    for (let i = 0; i < 200 && status().phase !== "Promoted"; i++) {
      const r = await reconcile(REF, ports);
      pinned = (await ports.router.pinnedValues(ports.rollouts.peek(REF)!)) ?? [];
      if (status().pins?.length) {
        sawPin = true;
        expect(status().pins?.map((p) => [p.value, p.header])).toEqual([["mia", "x-voice-id"]]);
        expect(pinned).toEqual(["mia"]);
      }
      expect([status().phase, status().message]).not.toContain("RolledBack");
      ports.clock.advance(Math.max(1000, r.requeueAfterMs ?? 60_000));
    }
    expect(sawPin).toBe(true);
    expect(status().phase).toBe("Promoted");
    // The pin ends with the rollout, in status and on the route.
    expect(status().pins).toBeUndefined();
    expect(await ports.router.pinnedValues(ports.rollouts.peek(REF)!)).toEqual([]);
    expect(ports.events.events.map((e) => e.reason)).toEqual(expect.arrayContaining(["Pinned", "Unpinned"]));
  });
});
