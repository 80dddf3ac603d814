import { describe, expect, it } from "vitest";
import { voiceRolloutSpecSchema, type VoiceRollout } from "../core/resource/voicerollout.js";
import { changedByHandReason, checkRoute } from "./route-edits.js";

describe("checkRoute: our unfinished write or a person's edit", () => {
  it.each([
    // weight on the route, voicectl's record, status -> what it is
    [25, 25, 25, { kind: "agrees" }],
    [null, 25, 25, { kind: "agrees" }],
    // A pass died between writing status 50 and the route: the route still has our 25.
    [25, 25, 50, { kind: "unfinished", routed: 25 }],
    // The owner's route before voicectl ever wrote to it.
    [30, null, 0, { kind: "unfinished", routed: 30 }],
    // Someone set 80 where voicectl wrote 25.
    [80, 25, 25, { kind: "byHand", routed: 80, written: 25 }],
    // ...even when status had moved on to 50 before the route write.
    [80, 25, 50, { kind: "byHand", routed: 80, written: 25 }],
    // ...and when the person set it back to what status says, there is nothing to do.
    [50, 25, 50, { kind: "agrees" }],
  ] as const)("route %s, written %s, status %s", (weight, written, status, expected) => {
    expect(checkRoute({ weight, written }, status)).toEqual(expected);
  });
});

describe("a route changed by another controller names it", () => {
  const rollout: VoiceRollout = {
    apiVersion: "voicectl.dev/v1alpha1",
    kind: "VoiceRollout",
    metadata: { namespace: "voice", name: "tts" },
    spec: voiceRolloutSpecSchema.parse({
      stable: { deployment: "tts-v41" },
      canary: { deployment: "tts-v42" },
      policyRef: { name: "p" },
      traffic: { gatewayAPI: { httpRoute: "tts" } },
      steps: [{ setWeight: 25 }, { analysis: { minDuration: "1m", maxDuration: "5m" } }],
    }),
  };

  it("carries the field manager of an edit, and only of an edit", () => {
    expect(checkRoute({ weight: 80, written: 25, changedBy: "kustomize-controller" }, 25)).toEqual({
      kind: "byHand",
      routed: 80,
      written: 25,
      by: "kustomize-controller",
    });
    expect(checkRoute({ weight: 25, written: 25, changedBy: "kustomize-controller" }, 25)).toEqual({
      kind: "agrees",
    });
  });

  it("says which controller in the pause's reason, and 'by hand' when the route does not say", () => {
    expect(changedByHandReason(rollout, 80, 25, 1, "kustomize-controller")).toBe(
      "HTTPRoute tts was changed by kustomize-controller (not voicectl): canary weight 80%, expected 25%; approve to set it back and run step 2 again, or abort to roll back",
    );
    expect(changedByHandReason(rollout, 80, 25, 1)).toBe(
      "HTTPRoute tts was changed by hand: canary weight 80%, expected 25%; approve to set it back and run step 2 again, or abort to roll back",
    );
  });
});
