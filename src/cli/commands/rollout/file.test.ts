import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { InvalidInputError } from "../../../core/errors.js";
import { parseRolloutFile } from "./file.js";

function problems(text: string): string[] {
  try {
    parseRolloutFile("bad.yaml", text);
  } catch (e) {
    if (e instanceof InvalidInputError) return e.message.split("\n");
    throw e;
  }
  throw new Error("expected the file to be refused");
}

const GOOD = `apiVersion: voicectl.dev/v1alpha1
kind: VoiceRollout
metadata:
  name: tts
spec:
  stable: { deployment: tts-v41 }
  canary: { deployment: tts-v42 }
  policyRef: { name: tts-studio }
  traffic: { gatewayAPI: { httpRoute: tts } }
  steps:
    - setWeight: 10
    - pause: {}
`;

describe("parseRolloutFile", () => {
  it("accepts the shipped example, defaults applied", () => {
    const f = parseRolloutFile(
      "examples/rollouts/rollout.yaml",
      readFileSync("examples/rollouts/rollout.yaml", "utf8"),
    );
    expect(f.name).toBe("tts");
    expect(f.namespace).toBeUndefined();
    expect(f.spec.policyRef.name).toBe("tts-studio");
    expect(f.spec.steps).toHaveLength(8);
  });

  it("accepts JSON, and keeps only what matters of a kubectl get -o yaml's metadata and status", () => {
    const doc = {
      apiVersion: "voicectl.dev/v1alpha1",
      kind: "VoiceRollout",
      metadata: {
        name: "tts",
        namespace: "voice-prod",
        uid: "x",
        resourceVersion: "12",
        labels: { team: "studio" },
      },
      spec: {
        stable: { deployment: "tts-v41" },
        canary: { deployment: "tts-v42" },
        policyRef: { name: "tts-studio" },
        traffic: { gatewayAPI: { httpRoute: "tts" } },
        steps: [{ setWeight: 100 }],
      },
      status: { phase: "Progressing" },
    };
    const f = parseRolloutFile("r.json", JSON.stringify(doc, null, 2));
    expect(f.namespace).toBe("voice-prod");
    expect(f.labels).toEqual({ team: "studio" });
    expect(f.spec.analysis.interval).toBe("1m");
  });

  it.each([
    [
      "a step that is none of setWeight, pause, analysis",
      GOOD.replace("    - pause: {}", "    - wait: 5m"),
      /^bad\.yaml:12:7: spec\.steps\[1\]: /,
    ],
    [
      "a weight over 100",
      GOOD.replace("setWeight: 10", "setWeight: 150"),
      /^bad\.yaml:11:18: spec\.steps\[0\]/,
    ],
    [
      "a misspelt field, on its line",
      GOOD.replace("  policyRef:", "  policyref: { name: x }\n  policyRef:"),
      /^bad\.yaml:8:\d+: spec: unknown field "policyref"$/,
    ],
    [
      "a missing required field, at its parent",
      GOOD.replace("  traffic: { gatewayAPI: { httpRoute: tts } }\n", ""),
      /^bad\.yaml:6:3: spec\.traffic: required field "traffic" is missing: expected a mapping \(key: value\)$/,
    ],
    [
      "a bad duration",
      GOOD.replace("    - pause: {}", "    - analysis: { minDuration: 10 minutes, maxDuration: 30m }"),
      /spec\.steps\[1\]/,
    ],
    ["another kind", GOOD.replace("kind: VoiceRollout", "kind: Rollout"), /^bad\.yaml:2:7: kind: /],
    [
      "a pause step whose pause is a number",
      GOOD.replace("    - pause: {}", "    - pause: 5"),
      /^bad\.yaml:12:14: spec\.steps\[1\]\.pause: expected a mapping \(key: value\), found 5$/,
    ],
    [
      "a step of no known kind",
      GOOD.replace("    - pause: {}", "    - wait: 5m"),
      /^bad\.yaml:12:7: spec\.steps\[1\]: expected a mapping with one of the fields "setWeight", "pause", "analysis", found a mapping with the field "wait"$/,
    ],
    [
      "a policy where a rollout goes",
      readFileSync("policies/voice-studio.yaml", "utf8"),
      /^bad\.yaml:5:7: kind: this is a RolloutPolicy; a rollout is expected here \(kind: VoiceRollout\)$/,
    ],
    [
      "an upper-case name",
      GOOD.replace("name: tts\n", "name: TTS\n"),
      /metadata\.name: expected a lowercase DNS name/,
    ],
  ])("refuses %s, naming file, line and field", (_what, text, pattern) => {
    const found = problems(text);
    expect(
      found.some((p) => pattern.test(p)),
      found.join("\n"),
    ).toBe(true);
  });

  it("reports every problem at once", () => {
    const text = GOOD.replace("setWeight: 10", "setWeight: -1").replace(
      "deployment: tts-v41",
      "deployment: Tts",
    );
    expect(problems(text)).toHaveLength(2);
  });

  it("refuses a file with no rollout, or with two", () => {
    expect(problems("# nothing here\n")).toEqual(["bad.yaml: no VoiceRollout document in the file"]);
    expect(problems(`${GOOD}---\n${GOOD}`)).toEqual([
      "bad.yaml: expected one VoiceRollout document, found 2",
    ]);
  });

  it("locates a later problem at a field, for checks against the cluster", () => {
    const f = parseRolloutFile("r.yaml", GOOD);
    expect(f.problemAt(["spec", "policyRef", "name"], "no such policy")).toEqual({
      file: "r.yaml",
      line: 8,
      column: 22,
      path: "spec.policyRef.name",
      message: "no such policy",
    });
  });
});
