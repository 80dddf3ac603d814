// Fuzzes the RolloutPolicy reader through the CLI's own entry points (parsePolicies, which loadPolicy and
// `voicectl policy validate` call, and loadPolicy itself for byte-level damage): every generated input is
// either a policy or a typed user error naming the file and a line or field path (test/support/fuzz.ts).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadPolicy, parsePolicies } from "../../src/adapters/files/policy-file.js";
import { InvalidInputError } from "../../src/core/errors.js";
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

const SEEDS = [
  ...readdirSync("policies").map((f) => join("policies", f)),
  "examples/rollouts/policy.yaml",
].map((file) => ({ file, text: readFileSync(file, "utf8") }));

/** What loadPolicy does with a text, without the file: refuse with every problem, or one policy. */
function loadText(file: string, text: string): void {
  const { policies, problems } = parsePolicies(file, text);
  if (problems.length > 0) throw new InvalidInputError(problems);
  const bad = nonFinite(policies);
  if (bad.length > 0) throw new Error(`accepted a non-finite number: ${bad.join(", ")}`);
}

describe("fuzzing RolloutPolicy files", () => {
  it("the seeds are valid policies (so mutations start from something the reader accepts)", () => {
    for (const s of SEEDS) expect(parsePolicies(s.file, s.text).problems).toEqual([]);
  });

  it("a wrong value or a deletion at every field path of every shipped policy", async () => {
    const { cases, failures } = await fuzzFieldPaths(SEEDS, loadText, 1);
    expect(cases).toBeGreaterThan(300);
    expect(failures.slice(0, 5)).toEqual([]);
  });

  it("text mutations: truncations, specials, nesting, alias bombs, payloads, duplicate keys, BOM and CRLF", async () => {
    const failures = await fuzzTextMutations(SEEDS, loadText, fuzzRuns(400));
    expect(failures.slice(0, 5)).toEqual([]);
  });

  it("byte mutations through loadPolicy: invalid UTF-8, NUL, UTF-16, split characters", async () => {
    const runs = fuzzRuns(200);
    const seed = fuzzSeed();
    const path = fuzzDir();
    const failures: string[] = [];
    for (let i = 0; i < runs; i++) {
      const rng = new Rng(seed + 7919 * i);
      const s = rng.pick(SEEDS);
      const { bytes, how } = mutateBytes(rng, Buffer.from(s.text));
      const file = writeCase(path(`p${i % 16}.yaml`), bytes);
      const failure = await checkOutcome(file, () => loadPolicy(file));
      if (failure) failures.push(`seed ${seed + 7919 * i} (${s.file}: ${how}): ${failure}`);
    }
    expect(failures.slice(0, 5)).toEqual([]);
  });
});
