// One pass of generated malformed files through the CLI itself (`voicectl policy validate`, `voicectl gate`,
// `voicectl rollout start -f`): the exit code is a decision or a user error's (64, 65, 66), never 70, and
// stderr carries no "internal error" and no stack trace. The readers' own suites run many more cases.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { cli } from "../support/cli.js";
import {
  fuzzDir,
  fuzzRuns,
  fuzzSeed,
  mutateBytes,
  mutateTable,
  mutateYaml,
  Rng,
  writeCase,
} from "../support/fuzz.js";

const POLICY = readFileSync("policies/voice-studio.yaml", "utf8");
const ROLLOUT = readFileSync("examples/rollouts/rollout.yaml", "utf8");
const EVAL = (arm: string) =>
  readFileSync(`examples/eval/clone-drift/${arm}.csv`, "utf8").split("\n").slice(0, 61).join("\n") + "\n";

function problemWith(r: { code: number; stderr: string }, allowed: readonly number[]): string | null {
  if (!allowed.includes(r.code)) return `exit ${r.code}: ${r.stderr.slice(0, 300)}`;
  if (/internal error/.test(r.stderr)) return `internal error: ${r.stderr.slice(0, 300)}`;
  if (/^\s+at /m.test(r.stderr)) return `stack trace: ${r.stderr.slice(0, 300)}`;
  return null;
}

describe("fuzzing through the CLI", () => {
  it("policy validate, gate and rollout start exit 0-2 or 64/65/66, never with an internal error", async () => {
    const runs = fuzzRuns(90);
    const seed = fuzzSeed();
    const path = fuzzDir();
    const failures: string[] = [];
    const baseline = writeCase(path("baseline.csv"), EVAL("baseline"));
    for (let i = 0; i < runs; i++) {
      const rng = new Rng(seed + 31 * i);
      const bytes = rng.int(4) === 0;
      let how: string;
      let args: string[];
      let allowed: number[];
      switch (i % 3) {
        case 0: {
          const m = bytes ? mutateBytes(rng, Buffer.from(POLICY)) : mutateYaml(rng, POLICY);
          how = m.how;
          const file = writeCase(path("policy.yaml"), "bytes" in m ? m.bytes : m.text);
          args = ["policy", "validate", file];
          allowed = [0, 65, 66];
          break;
        }
        case 1: {
          const m = bytes
            ? mutateBytes(rng, Buffer.from(EVAL("canary")))
            : mutateTable(rng, EVAL("canary"), "csv");
          how = m.how;
          const canary = writeCase(path("canary.csv"), "bytes" in m ? m.bytes : m.text);
          args = ["gate", "-p", "policies/voice-studio.yaml", "-b", baseline, "-c", canary];
          if (rng.int(2) === 0) args.push("--pair-by", "utterance_id");
          allowed = [0, 1, 2, 65, 66];
          break;
        }
        default: {
          const m = bytes ? mutateBytes(rng, Buffer.from(ROLLOUT)) : mutateYaml(rng, ROLLOUT);
          how = m.how;
          const file = writeCase(path("rollout.yaml"), "bytes" in m ? m.bytes : m.text);
          // A valid file goes on to the kubeconfig, which is missing: 66, before any cluster is contacted.
          args = ["rollout", "start", "-f", file, "--kubeconfig", path("no-such-kubeconfig")];
          allowed = [64, 65, 66];
        }
      }
      const r = await cli(...args);
      const failure = problemWith(r, allowed);
      if (failure) failures.push(`seed ${seed + 31 * i} (${args[0]} ${args[1]}: ${how}): ${failure}`);
    }
    expect(failures.slice(0, 5)).toEqual([]);
  });

  it("missing, unreadable and wrong-kind files exit 66 or 65", async () => {
    const path = fuzzDir();
    const dir = path("");
    expect((await cli("policy", "validate", path("missing.yaml"))).code).toBe(66);
    expect((await cli("rollout", "start", "-f", dir)).code).toBe(66);
    const policy = writeCase(path("p.yaml"), POLICY);
    expect((await cli("rollout", "start", "-f", policy, "--kubeconfig", path("none"))).code).toBe(65);
    const txt = writeCase(path("b.txt"), "a,b\n1,2\n");
    const r = await cli("gate", "-p", policy, "-b", txt, "-c", txt);
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(/unknown file type "\.txt"/);
  });
});
