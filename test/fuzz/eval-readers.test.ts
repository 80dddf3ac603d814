// Fuzzes the evaluation readers through the gate's own entry point (runGate: loadPolicy, then the CSV / JSON
// Lines readers and the independent, paired or summary loaders, then the judge), starting from the shipped
// examples: every generated pair of files ends in a report or a typed user error naming one of the files and
// a line or column, with no cell text echoed back (test/support/fuzz.ts).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { EXAMPLES } from "../../examples/eval/generate.js";
import { loadPolicy } from "../../src/adapters/files/policy-file.js";
import { runGate } from "../../src/cli/commands/gate.js";
import { planJudge } from "../../src/core/judge/plan.js";
import {
  checkOutcome,
  fuzzDir,
  fuzzRuns,
  fuzzSeed,
  mutateBytes,
  mutateTable,
  Rng,
  writeCase,
} from "../support/fuzz.js";

type Mode = "independent" | "paired" | "summary";

interface Seed {
  readonly name: string;
  readonly policy: string;
  readonly format: "csv" | "jsonl";
  readonly mode: Mode;
  readonly pairBy?: string | undefined;
  readonly baseline: string;
  readonly canary: string;
}

/** The header and the first rows of a shipped example: enough for every slice rule, small enough to be fast. */
function head(file: string, format: "csv" | "jsonl", rows: number): string {
  const lines = readFileSync(file, "utf8").split("\n");
  return lines.slice(0, rows + (format === "csv" ? 1 : 0)).join("\n") + "\n";
}

/** Rows of a head as records, to build summary files from. */
function records(text: string, format: "csv" | "jsonl"): Record<string, string>[] {
  const lines = text.trim().split("\n");
  if (format === "jsonl")
    return lines.map((l) =>
      Object.fromEntries(Object.entries(JSON.parse(l) as object).map(([k, v]) => [k, String(v)])),
    );
  const header = lines[0]!.split(",");
  return lines.slice(1).map((l) => Object.fromEntries(l.split(",").map((v, i) => [header[i]!, v])));
}

/** A summary file (one row per slice of every dimension, means and n) from the rows of a head. */
async function summaryOf(policyFile: string, text: string, format: "csv" | "jsonl"): Promise<string> {
  const plan = planJudge((await loadPolicy(policyFile)).policy);
  const rows = records(text, format);
  const columns = [...new Set(plan.metrics.map((m) => m.column))];
  const out: Record<string, string>[] = [];
  for (const d of plan.dimensions) {
    const groups = new Map<string, Record<string, string>[]>();
    for (const r of rows) {
      const key = d.labelIndices.map((li) => r[plan.labels[li]!] ?? "").join("\u0001");
      groups.set(key, [...(groups.get(key) ?? []), r]);
    }
    for (const group of groups.values()) {
      const row: Record<string, string> = {};
      for (const li of d.labelIndices) row[plan.labels[li]!] = group[0]![plan.labels[li]!] ?? "";
      for (const c of columns) {
        const xs = group.map((r) => Number(r[c])).filter((x) => Number.isFinite(x));
        if (xs.length > 0) row[c] = (xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(6);
      }
      row.n = String(group.length);
      out.push(row);
    }
  }
  if (format === "jsonl") return out.map((r) => JSON.stringify(r)).join("\n") + "\n";
  const header = [...plan.labels, ...columns, "n"];
  return [header.join(","), ...out.map((r) => header.map((h) => r[h] ?? "").join(","))].join("\n") + "\n";
}

async function seeds(): Promise<Seed[]> {
  const out: Seed[] = [];
  for (const e of EXAMPLES) {
    const policy = `policies/${e.policy}.yaml`;
    const format = e.format as "csv" | "jsonl";
    const dir = `examples/eval/${e.name}`;
    const baseline = head(`${dir}/baseline.${format}`, format, 60);
    const canary = head(`${dir}/canary.${format}`, format, 60);
    out.push({ name: e.name, policy, format, mode: "independent", baseline, canary });
    if (e.pairBy)
      out.push({ name: e.name, policy, format, mode: "paired", pairBy: e.pairBy, baseline, canary });
    out.push({
      name: e.name,
      policy,
      format,
      mode: "summary",
      baseline: await summaryOf(policy, baseline, format),
      canary: await summaryOf(policy, canary, format),
    });
  }
  return out;
}

function gate(seed: Seed, baseline: string, canary: string) {
  return () =>
    runGate({ policy: seed.policy, baseline, canary, pairBy: seed.pairBy, summary: seed.mode === "summary" });
}

describe("fuzzing the evaluation readers", () => {
  it("the seeds are read and judged without a problem", async () => {
    const path = fuzzDir();
    for (const s of await seeds()) {
      const b = writeCase(path(`b.${s.format}`), s.baseline);
      const c = writeCase(path(`c.${s.format}`), s.canary);
      await expect(gate(s, b, c)(), `${s.name} ${s.mode}`).resolves.toBeDefined();
    }
  });

  it("text mutations of either file or both: cells, quotes, headers, line ends, mixed JSON types", async () => {
    const all = await seeds();
    const runs = fuzzRuns(400);
    const seed = fuzzSeed();
    const path = fuzzDir();
    const failures: string[] = [];
    for (let i = 0; i < runs; i++) {
      const rng = new Rng(seed + i);
      const s = rng.pick(all);
      const which = rng.int(3); // 0: baseline, 1: canary, 2: both
      const how: string[] = [];
      const mutate = (text: string) => {
        const r = mutateTable(rng, text, s.format);
        how.push(r.how);
        return r.text;
      };
      const b = writeCase(path(`b${i % 8}.${s.format}`), which !== 1 ? mutate(s.baseline) : s.baseline);
      const c = writeCase(path(`c${i % 8}.${s.format}`), which !== 0 ? mutate(s.canary) : s.canary);
      const failure = await checkOutcome([b, c], gate(s, b, c));
      if (failure) failures.push(`seed ${seed + i} (${s.name} ${s.mode}: ${how.join("; ")}): ${failure}`);
    }
    expect(failures.slice(0, 5)).toEqual([]);
  });

  it("byte mutations: invalid UTF-8, NUL, UTF-16, split characters", async () => {
    const all = await seeds();
    const runs = fuzzRuns(100);
    const seed = fuzzSeed();
    const path = fuzzDir();
    const failures: string[] = [];
    for (let i = 0; i < runs; i++) {
      const rng = new Rng(seed + 15485863 * i);
      const s = rng.pick(all);
      const { bytes, how } = mutateBytes(rng, Buffer.from(s.canary));
      const b = writeCase(path(`b${i % 8}.${s.format}`), s.baseline);
      const c = writeCase(path(`c${i % 8}.${s.format}`), bytes);
      const failure = await checkOutcome([b, c], gate(s, b, c));
      if (failure) failures.push(`seed ${seed + 15485863 * i} (${s.name} ${s.mode}: ${how}): ${failure}`);
    }
    expect(failures.slice(0, 5)).toEqual([]);
  });
});
