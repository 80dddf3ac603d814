// The gate benchmark's baseline: the obvious way to compute the same per-slice estimates, written as one
// would in a first script. Read each file whole, split it into lines, build one object per row, group the rows
// into an array per slice, then per slice and metric compute the mean and variance (two passes), the rate, or
// the p95 by sorting. Run as a child process by bench/gate.ts so its time and peak memory compare with the
// CLI's; prints its estimates as JSON so the benchmark can check that both computed the same numbers.
//
//   node dist/bench/naive-gate.js --policy P --baseline B --canary C [--pair-by utterance_id]
//
// The policy is read with voicectl's own loader (a few milliseconds, not what is being compared).
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { loadPolicy } from "../src/adapters/files/policy-file.js";
import { planJudge, type JudgePlan, type PlannedMetric } from "../src/core/judge/plan.js";

type Row = Record<string, string | number>;

export interface NaiveEstimate {
  readonly metric: string;
  /** `label=value` pairs joined by `,` in label-name order; "" for the aggregate. */
  readonly slice: string;
  readonly n: { baseline: number; canary: number };
  readonly baseline: number | null;
  readonly canary: number | null;
  /** Means only: the variance of the canary mean (paired: of the mean difference). */
  readonly spread: number | null;
}

function readRows(file: string, plan: JudgePlan): Row[] {
  const text = readFileSync(file, "utf8");
  const lines = text.split("\n");
  const header = lines[0]!.split(",");
  const numeric = new Set(plan.metrics.map((m) => m.column));
  const rows: Row[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === "") continue;
    const cells = line.split(",");
    const row: Row = {};
    header.forEach((h, c) => {
      const v = cells[c] ?? "";
      row[h] = numeric.has(h) ? (v === "" ? NaN : Number(v)) : v;
    });
    rows.push(row);
  }
  return rows;
}

function sliceKeyOf(labels: readonly string[], row: Row): string | null {
  const parts: string[] = [];
  for (const l of labels) {
    const v = row[l];
    if (v === undefined || v === "") return null;
    parts.push(`${l}=${v}`);
  }
  return parts.join(",");
}

function groupBy<T>(items: readonly T[], key: (t: T) => string | null): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    if (k === null) continue;
    let g = groups.get(k);
    if (!g) {
      g = [];
      groups.set(k, g);
    }
    g.push(item);
  }
  return groups;
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
function variance(xs: readonly number[]): number {
  const m = mean(xs);
  return xs.reduce((a, x) => a + (x - m) * (x - m), 0) / (xs.length - 1);
}
function quantile(xs: readonly number[], p: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const x = sorted[lo]!;
  return lo + 1 >= sorted.length ? x : x + (h - lo) * (sorted[lo + 1]! - x);
}

function valuesOf(rows: readonly Row[], column: string): number[] {
  return rows.map((r) => r[column] as number).filter((x) => !Number.isNaN(x));
}

function estimate(metric: PlannedMetric, b: number[], c: number[]): Omit<NaiveEstimate, "metric" | "slice"> {
  const n = { baseline: b.length, canary: c.length };
  if (b.length === 0 || c.length === 0) {
    return { n, baseline: b.length ? mean(b) : null, canary: c.length ? mean(c) : null, spread: null };
  }
  if (metric.kind === "values") {
    return {
      n,
      baseline: quantile(b, metric.quantile!),
      canary: quantile(c, metric.quantile!),
      spread: null,
    };
  }
  return {
    n,
    baseline: mean(b),
    canary: mean(c),
    spread: metric.kind === "moments" ? variance(c) / c.length : null,
  };
}

const dimensionLabels = (plan: JudgePlan, d: number) =>
  plan.dimensions[d]!.labelIndices.map((li) => plan.labels[li]!);

function independent(plan: JudgePlan, baseline: Row[], canary: Row[]): NaiveEstimate[] {
  const out: NaiveEstimate[] = [];
  plan.dimensions.forEach((dim, d) => {
    const labels = dimensionLabels(plan, d);
    const groupsB = groupBy(baseline, (r) => sliceKeyOf(labels, r));
    const groupsC = groupBy(canary, (r) => sliceKeyOf(labels, r));
    const keys = new Set([...groupsB.keys(), ...groupsC.keys()]);
    for (const slice of keys) {
      for (const mi of dim.metricIndices) {
        const metric = plan.metrics[mi]!;
        const b = valuesOf(groupsB.get(slice) ?? [], metric.column);
        const c = valuesOf(groupsC.get(slice) ?? [], metric.column);
        out.push({ metric: metric.spec.name, slice, ...estimate(metric, b, c) });
      }
    }
  });
  return out;
}

function paired(plan: JudgePlan, baseline: Row[], canary: Row[], pairBy: string): NaiveEstimate[] {
  const byId = new Map<string, Row>();
  for (const r of baseline) byId.set(String(r[pairBy]), r);
  const pairs: { b: Row; c: Row }[] = [];
  for (const c of canary) {
    const b = byId.get(String(c[pairBy]));
    if (b) pairs.push({ b, c });
  }
  const out: NaiveEstimate[] = [];
  plan.dimensions.forEach((dim, d) => {
    const labels = dimensionLabels(plan, d);
    const groups = groupBy(pairs, (p) => sliceKeyOf(labels, p.b));
    for (const [slice, group] of groups) {
      for (const mi of dim.metricIndices) {
        const metric = plan.metrics[mi]!;
        const col = metric.column;
        const both = group.filter(
          (p) => !Number.isNaN(p.b[col] as number) && !Number.isNaN(p.c[col] as number),
        );
        const b = both.map((p) => p.b[col] as number);
        const c = both.map((p) => p.c[col] as number);
        const e = estimate(metric, b, c);
        const spread =
          metric.kind === "moments" && both.length > 1
            ? variance(c.map((x, i) => x - b[i]!)) / both.length
            : null;
        out.push({ metric: metric.spec.name, slice, ...e, spread });
      }
    }
  });
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      policy: { type: "string" },
      baseline: { type: "string" },
      canary: { type: "string" },
      "pair-by": { type: "string" },
    },
  });
  if (!values.policy || !values.baseline || !values.canary) {
    throw new Error("usage: naive-gate --policy P --baseline B --canary C [--pair-by column]");
  }
  const plan = planJudge((await loadPolicy(values.policy)).policy);
  const baseline = readRows(values.baseline, plan);
  const canary = readRows(values.canary, plan);
  const estimates = values["pair-by"]
    ? paired(plan, baseline, canary, values["pair-by"])
    : independent(plan, baseline, canary);
  process.stdout.write(
    JSON.stringify({ rows: { baseline: baseline.length, canary: canary.length }, estimates }) + "\n",
  );
}

await main();
