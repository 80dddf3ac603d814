// Both evaluation files must carry every label column the policy slices by. A file without one is a mistake
// in the file (exit 65 naming the file, the column and the policy field that slices by it), not missing data:
// judged, a canary without voice_id paused with "the canary never saw this slice" for every voice, and with
// --pair-by the canary silently took the baseline's labels.
import { describe, expect, it } from "vitest";
import { cli, scratch } from "../support/cli.js";

const POLICY = `apiVersion: voicectl.dev/v1alpha1
kind: RolloutPolicy
metadata: {name: tiny}
spec:
  sliceBy: [language]
  minSamples: 3
  metrics:
    - {name: sim, direction: higherIsBetter, aggregate: mean, critical: true, budget: {absolute: 0.05}, sliceBy: [voice_id]}
    - {name: mos, direction: higherIsBetter, aggregate: mean, budget: {absolute: 0.1}}
`;

const VOICES = ["a", "b"];
/** Rows of utterance_id, voice_id, language, sim, mos, with any of the columns left out. */
function csv(drop: string[] = []): string {
  const header = ["utterance_id", "voice_id", "language", "sim", "mos"];
  const keep = header.map((h) => !drop.includes(h));
  const rows = VOICES.flatMap((v) =>
    [0.7, 0.71, 0.72, 0.7].map((x, i) => [`u${v}${i}`, v, "en", String(x), "4.1"]),
  );
  return [header, ...rows].map((r) => r.filter((_, i) => keep[i]).join(",")).join("\n") + "\n";
}
function jsonl(drop: string[] = []): string {
  const lines = csv(drop).trim().split("\n");
  const header = lines[0]!.split(",");
  return (
    lines
      .slice(1)
      .map((l) => JSON.stringify(Object.fromEntries(l.split(",").map((v, i) => [header[i], v]))))
      .join("\n") + "\n"
  );
}

async function gate(files: Record<string, string>, b: string, c: string, ...extra: string[]) {
  const f = scratch({ "p.yaml": POLICY, ...files });
  return cli("gate", "-p", f("p.yaml"), "-b", f(b), "-c", f(c), ...extra);
}

describe("gate: a label column the policy slices by is missing from a file", () => {
  it("the same files with every label are judged (the control)", async () => {
    const r = await gate({ "b.csv": csv(), "c.csv": csv() }, "b.csv", "c.csv");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  it("a canary CSV without voice_id exits 65 naming the file, the column and the metric's sliceBy", async () => {
    const r = await gate({ "b.csv": csv(), "c.csv": csv(["voice_id"]) }, "b.csv", "c.csv");
    expect(r.code).toBe(65);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(
      /c\.csv: voice_id: no "voice_id" column in the header, but the policy slices by it \(spec\.metrics\[0\]\.sliceBy\)/,
    );
    expect(r.stderr).not.toContain("b.csv");
  });

  it("with --pair-by, the canary does not borrow the baseline's labels", async () => {
    const r = await gate(
      { "b.csv": csv(), "c.csv": csv(["voice_id"]) },
      "b.csv",
      "c.csv",
      "--pair-by",
      "utterance_id",
    );
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(/c\.csv: voice_id: no "voice_id" column in the header/);
  });

  it("a label used by spec.sliceBy, missing from both files, is named once per file", async () => {
    const r = await gate({ "b.csv": csv(["language"]), "c.csv": csv(["language"]) }, "b.csv", "c.csv");
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(
      /b\.csv: language: no "language" column in the header, but the policy slices by it \(spec\.sliceBy\)/,
    );
    expect(r.stderr).toMatch(/c\.csv: language: no "language" column/);
  });

  it("a JSON Lines file in which no row has the label", async () => {
    const r = await gate({ "b.jsonl": jsonl(["voice_id"]), "c.jsonl": jsonl() }, "b.jsonl", "c.jsonl");
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(
      /b\.jsonl: voice_id: no row has a value for "voice_id", but the policy slices by it \(spec\.metrics\[0\]\.sliceBy\)/,
    );
  });

  it("a summary file without a label column", async () => {
    const summary = (withVoice: boolean) =>
      withVoice
        ? "voice_id,language,sim,mos,n\n,,0.7,4.1,8\na,,0.7,,4\nb,,0.7,,4\n,en,,4.1,8\n"
        : "language,sim,mos,n\n,0.7,4.1,8\nen,,4.1,8\n";
    const r = await gate({ "b.csv": summary(true), "c.csv": summary(false) }, "b.csv", "c.csv", "--summary");
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(/c\.csv: voice_id: no "voice_id" column in the header/);
  });

  it("a missing metric column stays missing data, not an error: the metric is reported as nodata", async () => {
    const r = await gate({ "b.csv": csv(), "c.csv": csv(["mos"]) }, "b.csv", "c.csv", "-o", "json");
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("");
  });
});
