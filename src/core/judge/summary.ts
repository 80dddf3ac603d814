// Summary mode: each arm gives one value per slice and metric (already aggregated elsewhere); findings compare
// points. Worsening greater than the budget fails and exactly on budget passes, computed in decimal so that
// 0.71 - 0.70 is exactly 0.01.
import {
  compare,
  decimalFromNumber,
  multiply,
  parseDecimal,
  subtract,
  toNumber,
  ZERO,
  type Decimal,
} from "../decimal.js";
import type { Finding, LimitCheck, SliceLabels, Verdict } from "../types.js";
import type { JudgePlan, PlannedMetric } from "./plan.js";
import { describeFinding } from "./reason.js";
import { worstVerdict } from "./compare.js";

export interface SummaryRow {
  readonly dimension: number;
  readonly labels: SliceLabels;
  /** Metric column to its text as written in the file (a decimal), absent or "" when missing. */
  readonly values: ReadonlyMap<string, string>;
  /** The optional `n` column: samples behind the row. */
  readonly n: number | null;
}

/** Rows keyed by slice (dimension and label values). */
export type SummaryTable = ReadonlyMap<string, SummaryRow>;

/**
 * The dimension a summary row belongs to, from the labels it fills in; -1 when no dimension of the policy
 * has exactly those labels.
 */
export function summaryDimension(plan: JudgePlan, filled: readonly number[]): number {
  const want = [...filled].sort((a, b) => a - b).join(",");
  return plan.dimensions.findIndex((d) => [...d.labelIndices].sort((a, b) => a - b).join(",") === want);
}

export function summaryKey(dimension: number, labels: SliceLabels): string {
  return `${dimension}\u0001${Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join("\u0001")}`;
}

function pointVerdict(worsening: Decimal, allowed: Decimal): Verdict {
  return compare(worsening, allowed) > 0 ? "fail" : "pass";
}

function limitCheck(metric: PlannedMetric, canary: Decimal): LimitCheck | undefined {
  const limit = metric.spec.budget.limit;
  if (limit === undefined) return undefined;
  const over = compare(canary, decimalFromNumber(limit));
  const worse = metric.spec.direction === "lowerIsBetter" ? over > 0 : over < 0;
  return { limit, value: toNumber(canary), interval: null, verdict: worse ? "fail" : "pass" };
}

function summaryFinding(
  metric: PlannedMetric,
  labels: SliceLabels,
  b: SummaryRow | undefined,
  c: SummaryRow | undefined,
): Finding {
  const { spec } = metric;
  const bText = b?.values.get(metric.column) ?? "";
  const cText = c?.values.get(metric.column) ?? "";
  const bd = bText === "" ? null : parseDecimal(bText);
  const cd = cText === "" ? null : parseDecimal(cText);
  const baseline = bd ? toNumber(bd) : null;
  const canary = cd ? toNumber(cd) : null;
  const delta = baseline !== null && canary !== null ? toNumber(subtract(cd!, bd!)) : null;
  const relativeDelta = delta !== null && baseline !== 0 ? delta / baseline! : null;
  const samples = { baseline: b?.n ?? (bd ? 1 : 0), canary: c?.n ?? (cd ? 1 : 0) };
  const common = {
    metric: spec.name,
    slice: labels,
    critical: spec.critical,
    tier: spec.tier,
    direction: spec.direction,
    aggregate: spec.aggregate,
    baseline,
    canary,
    delta,
    relativeDelta,
    budget: spec.budget,
    samples,
    method: "summary" as const,
    interval: null,
    confidence: null,
  };

  let nodata: string | null = null;
  if (!b) nodata = "a new slice: the baseline never saw it";
  else if (!c) nodata = "the canary never saw this slice";
  else if (!bd || !cd)
    nodata = `no value in ${!bd && !cd ? "either file" : !bd ? "the baseline file" : "the canary file"}`;
  else if ((b.n !== null && b.n < metric.minSamples) || (c.n !== null && c.n < metric.minSamples)) {
    nodata = `fewer samples than minSamples ${metric.minSamples}`;
  }
  if (nodata !== null || !bd || !cd) {
    const f: Finding = { ...common, verdict: "nodata", worsening: null, allowed: null, reason: "" };
    return { ...f, reason: describeFinding(f, nodata) };
  }

  const lowerIsBetter = spec.direction === "lowerIsBetter";
  const absWorsening = lowerIsBetter ? subtract(cd, bd) : subtract(bd, cd);
  let verdict: Verdict;
  let worsening: number;
  let allowed: number;
  let note: string | null = null;
  if (spec.budget.relative === undefined) {
    allowed = spec.budget.absolute!;
    worsening = toNumber(absWorsening);
    verdict = pointVerdict(absWorsening, decimalFromNumber(allowed));
  } else if (compare(bd, ZERO) === 0) {
    allowed = 0;
    worsening = toNumber(absWorsening);
    verdict = pointVerdict(absWorsening, ZERO);
    note = "the baseline is 0, so a relative budget allows no worsening";
  } else if (compare(bd, ZERO) < 0) {
    allowed = spec.budget.relative;
    worsening = lowerIsBetter ? relativeDelta! : -relativeDelta!;
    verdict = "inconclusive";
    note = "a relative budget needs a positive baseline";
  } else {
    // worsening / baseline > r  <=>  worsening > r * baseline, exactly, with no division.
    allowed = spec.budget.relative;
    worsening = lowerIsBetter ? relativeDelta! : -relativeDelta!;
    verdict = pointVerdict(absWorsening, multiply(decimalFromNumber(allowed), bd));
  }
  const limit = limitCheck(metric, cd);
  if (limit) verdict = worstVerdict(verdict, limit.verdict);
  const f: Finding = { ...common, verdict, worsening, allowed, limit, reason: "" };
  return { ...f, reason: describeFinding(f, note) };
}

export function judgeSummary(plan: JudgePlan, baseline: SummaryTable, canary: SummaryTable): Finding[] {
  const findings: Finding[] = [];
  const keys = new Set([...baseline.keys(), ...canary.keys()]);
  for (const key of keys) {
    const b = baseline.get(key);
    const c = canary.get(key);
    const row = (b ?? c)!;
    for (const mi of plan.dimensions[row.dimension]!.metricIndices) {
      findings.push(summaryFinding(plan.metrics[mi]!, row.labels, b, c));
    }
  }
  // A metric that no slice row mentions is missing entirely: nodata on the aggregate.
  plan.metrics.forEach((metric) => {
    if (findings.some((f) => f.metric === metric.spec.name)) return;
    findings.push(summaryFinding(metric, {}, undefined, undefined));
  });
  return findings;
}
