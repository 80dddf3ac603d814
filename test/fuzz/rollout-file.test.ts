// Fuzzes the VoiceRollout file reader that `voicectl rollout start -f` runs before anything reaches the
// cluster (loadRolloutFile / parseRolloutFile): every generated input is a rollout whose numbers and durations
// are finite, or a typed user error naming the file and a line or field path (test/support/fuzz.ts).
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { loadRolloutFile, parseRolloutFile } from "../../src/cli/commands/rollout/file.js";
import { parseDuration } from "../../src/core/rollout/plan.js";
import {
  checkOutcome,
  fuzzDir,
  fuzzFieldPaths,
  fuzzRuns,
  fuzzSeed,
  fuzzTextMutations,
  mutateBytes,
  nonFinite,
  Rng,
  writeCase,
} from "../support/fuzz.js";

// The shipped example, and one with every optional part (Istio routes, pinning, a tainted pool, pauses).
const FULL = `apiVersion: voicectl.dev/v1alpha1
kind: VoiceRollout
metadata:
  name: tts-full
  namespace: voice-prod
  labels: { team: voice }
  annotations: { owner: "oncall@voice.example" }
  uid: 1234
spec:
  stable: { deployment: tts-v41, version: v41 }
  canary: { deployment: tts-v42, version: v42, replicas: 3 }
  policyRef: { name: tts-studio }
  traffic:
    istio: { virtualService: tts, routes: [primary, secondary] }
    pinning: { label: voice_id, header: x-voice-id, maxPins: 2 }
  nodePool:
    name: h100
    selector: { gpu: h100 }
    tolerations: [{ key: nvidia.com/gpu, operator: Exists, effect: NoSchedule, tolerationSeconds: 30 }]
    gpusPerReplica: 2
    pricePerGPUHour: 2.5
    maxSurgeGPUs: 4
  analysis: { interval: 30s }
  rollback: { scaleDownDelay: 1m }
  steps:
    - setWeight: 5
    - analysis: { minDuration: 1.5m, maxDuration: 1h }
    - pause: { duration: 90s }
    - pause: {}
    - setWeight: 100
status:
  phase: Progressing
`;
const SEEDS = [
  { file: "examples/rollouts/rollout.yaml", text: readFileSync("examples/rollouts/rollout.yaml", "utf8") },
  { file: "full.yaml", text: FULL },
];

/** The durations of a parsed spec, each of which the operator turns into timers. */
function durations(spec: ReturnType<typeof parseRolloutFile>["spec"]): string[] {
  const out = [spec.analysis.interval, spec.rollback.scaleDownDelay];
  for (const step of spec.steps) {
    if ("pause" in step && step.pause.duration) out.push(step.pause.duration);
    if ("analysis" in step) out.push(step.analysis.minDuration, step.analysis.maxDuration);
  }
  return out;
}

function loadText(file: string, text: string): void {
  const r = parseRolloutFile(file, text);
  const bad = nonFinite(r.spec);
  if (bad.length > 0) throw new Error(`accepted a non-finite number: ${bad.join(", ")}`);
  for (const d of durations(r.spec)) {
    const ms = parseDuration(d);
    if (ms === null || !Number.isFinite(ms))
      throw new Error(`accepted a duration of ${ms} ms: ${d.slice(0, 40)}`);
  }
}

describe("fuzzing VoiceRollout files", () => {
  it("the seeds are valid rollouts", () => {
    for (const s of SEEDS) expect(() => loadText(s.file, s.text)).not.toThrow();
  });

  it("a wrong value or a deletion at every field path", async () => {
    const { cases, failures } = await fuzzFieldPaths(SEEDS, loadText, 2);
    expect(cases).toBeGreaterThan(100);
    expect(failures.slice(0, 5)).toEqual([]);
  });

  it("text mutations: truncations, specials, nesting, alias bombs, payloads, duplicate keys, BOM and CRLF", async () => {
    const failures = await fuzzTextMutations(SEEDS, loadText, fuzzRuns(300));
    expect(failures.slice(0, 5)).toEqual([]);
  });

  it("JSON instead of YAML, and byte mutations through loadRolloutFile", async () => {
    const runs = fuzzRuns(150);
    const seed = fuzzSeed();
    const path = fuzzDir();
    const failures: string[] = [];
    for (let i = 0; i < runs; i++) {
      const rng = new Rng(seed + 104729 * i);
      const s = rng.pick(SEEDS);
      const source = rng.int(3) === 0 ? JSON.stringify(parse(s.text), null, rng.int(2) * 2) : s.text;
      const { bytes, how } = mutateBytes(rng, Buffer.from(source));
      const file = writeCase(path(`r${i % 16}.yaml`), bytes);
      const failure = await checkOutcome(file, () => loadRolloutFile(file));
      if (failure) failures.push(`seed ${seed + 104729 * i} (${s.file}: ${how}): ${failure}`);
    }
    expect(failures.slice(0, 5)).toEqual([]);
  });
});
