// The inputs the fuzzers found or aimed at, kept as plain cases: each failed before its fix (noted per case),
// and each names the reader's behaviour now.
import { describe, expect, it } from "vitest";
import {
  continueCsvRecord,
  MAX_QUOTED_FIELD,
  readEvalFile,
  splitCsvLine,
  type Cell,
} from "../../src/adapters/files/eval-reader.js";
import { parsePolicies } from "../../src/adapters/files/policy-file.js";
import { parseRolloutFile } from "../../src/cli/commands/rollout/file.js";
import { InvalidInputError } from "../../src/core/errors.js";
import { cli } from "../support/cli.js";
import { fuzzDir, writeCase } from "../support/fuzz.js";

const ROLLOUT = `apiVersion: voicectl.dev/v1alpha1
kind: VoiceRollout
metadata: { name: tts }
spec:
  stable: { deployment: tts-v41 }
  canary: { deployment: tts-v42 }
  policyRef: { name: tts-studio }
  traffic: { gatewayAPI: { httpRoute: tts } }
  analysis: { interval: 1m }
  steps: [{ setWeight: 10 }, { pause: {} }]
`;

/** Nine levels of ten aliases each: 10^9 nodes if expanded (a billion laughs). */
const BOMB =
  "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" +
  Array.from({ length: 8 }, (_, i) => `a${i + 1}: &a${i + 1} [${Array(10).fill(`*a${i}`).join(", ")}]`).join(
    "\n",
  ) +
  "\n";

function problemsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (e) {
    if (e instanceof InvalidInputError)
      return e.problems.map((p) => `${p.line ?? ""}:${p.path ?? ""}: ${p.message}`);
    throw e;
  }
  return [];
}

describe("YAML readers (policies, rollout files)", () => {
  it("an alias bomb is a problem at its document, not a ReferenceError (was: exit 70, internal error)", async () => {
    const { problems } = parsePolicies("p.yaml", BOMB);
    expect(problems).toEqual([
      expect.objectContaining({
        file: "p.yaml",
        line: 1,
        message: expect.stringMatching(/aliases expand to too many/),
      }),
    ]);
    const file = writeCase(fuzzDir()("r.yaml"), ROLLOUT + BOMB);
    const r = await cli("rollout", "start", "-f", file, "--kubeconfig", "/nonexistent");
    expect(r.code).toBe(65);
    expect(r.stderr).not.toMatch(/internal error/);
  });

  it("an unknown field with a long name is named by its length (was: the whole key echoed)", () => {
    const key = "transcript_" + "x".repeat(900); // under YAML's 1024-character limit for a key
    const messages = problemsOf(() =>
      parseRolloutFile("r.yaml", ROLLOUT.replace("  steps:", `  ${key}: 1\n  steps:`)),
    );
    expect(messages).toEqual([`10:spec: unknown field <text of ${key.length} characters>`]);
  });

  it("a short unknown field is still named", () => {
    expect(
      problemsOf(() => parseRolloutFile("r.yaml", ROLLOUT.replace("  steps:", "  stpes: 1\n  steps:"))),
    ).toEqual(['10:spec: unknown field "stpes"']);
  });

  it("nesting past the parser's stack is a problem, not a RangeError", () => {
    const deep = "[".repeat(20000) + "]".repeat(20000);
    const messages = problemsOf(() => parseRolloutFile("r.yaml", deep));
    expect(messages.length).toBeGreaterThan(0);
    expect(messages.join("\n")).not.toMatch(/\[\[\[\[/);
  });

  it("a thousand problems in one file are listed up to fifty, the rest counted", () => {
    const { problems } = parsePolicies("p.yaml", "a: ".repeat(1000) + "1\n");
    expect(problems).toHaveLength(51);
    expect(problems[50]!.message).toMatch(/^and \d+ more problems like these$/);
  });

  // Fails until durationSchema (src/core/rollout/plan.ts) refuses durations that are not finite: 400 digits of
  // seconds parse to Infinity ms, the schema accepts them, and the reconciler then sets nextLookAt to Infinity
  // (no look is ever taken). Fix: `.refine((d) => Number.isFinite(parseDuration(d)!), ...)` with a sane bound.
  it("a duration too large to be a number of milliseconds is refused", () => {
    const huge = "9".repeat(400) + "s";
    const messages = problemsOf(() =>
      parseRolloutFile("r.yaml", ROLLOUT.replace("interval: 1m", `interval: ${huge}`)),
    );
    expect(messages).toEqual([expect.stringMatching(/^9:spec\.analysis\.interval: /)]);
  });
});

describe("CSV and JSON Lines readers", () => {
  it("a quoted field over several lines is one cell, its line breaks kept", () => {
    const open = splitCsvLine('u1,"first line');
    expect(Array.isArray(open)).toBe(false);
    const middle = continueCsvRecord(open as Exclude<typeof open, string[]>, 'say ""hi""');
    const done = continueCsvRecord(middle as Exclude<typeof middle, string[]>, 'last",0.7');
    expect(done).toEqual(["u1", 'first line\nsay "hi"\nlast', "0.7"]);
  });

  it("an unclosed quote early in a long file is one problem at its line (was: quadratic, 37 s for 40,000 lines)", async () => {
    const lines = ["utterance_id,voice_id,sim", 'u0,"mia-chen,0.7'];
    for (let i = 1; i < 200_000; i++) lines.push(`u${i},mia-chen,0.7`);
    const file = writeCase(fuzzDir()("b.csv"), lines.join("\n") + "\n");
    const err = await readEvalFile(file, ["sim"], () => {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as InvalidInputError).problems).toEqual([
      expect.objectContaining({ line: 2, message: expect.stringMatching(/runs on past \d+ characters/) }),
    ]);
  });

  it("a quoted field shorter than the bound but never closed is reported as such", async () => {
    const file = writeCase(fuzzDir()("b.csv"), 'id,sim\nu0,"0.7\nu1,0.8\n');
    const err = await readEvalFile(file, ["sim"], () => {}).catch((e: unknown) => e);
    expect((err as InvalidInputError).message).toMatch(/b\.csv:2: a quoted field is never closed/);
    expect(MAX_QUOTED_FIELD).toBeGreaterThan(1000);
  });

  it("rows after a closed multi-line cell are read as usual", async () => {
    const file = writeCase(fuzzDir()("b.csv"), 'id,note,sim\nu0,"two\nlines",0.7\nu1,x,0.8\n');
    const seen: [Cell[], number][] = [];
    await readEvalFile(file, ["id", "note", "sim"], (cells, line) => seen.push([[...cells], line]));
    expect(seen).toEqual([
      [["u0", "two\nlines", "0.7"], 2],
      [["u1", "x", "0.8"], 4],
    ]);
  });

  it("invalid JSON is reported without V8's excerpt of the line (a transcript stays out of messages)", async () => {
    const file = writeCase(fuzzDir()("b.jsonl"), '{"sim": 0.7}\nhello world, this is a transcript\n');
    const err = await readEvalFile(file, ["sim"], () => {}).catch((e: unknown) => e);
    expect((err as InvalidInputError).message).toBe(`${file}:2: not valid JSON: Unexpected token 'h'`);
  });
});
