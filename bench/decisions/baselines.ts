// The two ways canaries are judged today, implemented here for comparison only
// (docs/statistics.md#online-analysis-many-looks):
//
// - threshold: what Argo Rollouts' and Flagger's metric checks do. Every interval, a query over that
//   interval's data gives one value per arm; the canary fails when it is worse than the baseline by more than
//   the budget. No statistics. A slice with no data in an interval is skipped, generously (real controllers
//   error on empty results). `failureLimit` failed checks in a row fail the metric (Argo's default is 1).
// - kayenta: Spinnaker's Kayenta, re-run every interval over the whole window so far. Each arm's series has
//   one point per interval (not per request); a Mann-Whitney test at 98% confidence, and a tolerance rule:
//   the metric fails only when the test rejects AND the point medians differ by more than the budget.
//
// Both feed the same state machine as voicectl (critical fail: rollback; other fail: pause; a step moves on
// when everything passes), so only the judging differs.
import type { Look, MetricBatch } from "../../src/core/analysis/look.js";
import { rollUp } from "../../src/core/analysis/rollup.js";
import { decide } from "../../src/core/judge/decide.js";
import { planJudge, type JudgePlan, type PlannedMetric } from "../../src/core/judge/plan.js";
import type { Policy } from "../../src/core/policy/schema.js";
import { normalCdf } from "../../src/core/stats/distributions.js";
import { sliceKey, type Finding, type SliceLabels, type Verdict } from "../../src/core/types.js";
import type { Analyzer } from "../../src/sim/run.js";

/** One interval's value of a batch: a mean, a rate, or a quantile interpolated as histogram_quantile does. */
export function pointValue(batch: MetricBatch | undefined, quantile: number | null): number | null {
  if (!batch) return null;
  if (batch.kind === "moments") return batch.count > 0 ? batch.sum / batch.count : null;
  if (batch.kind === "rate") return batch.requests > 0 ? batch.events / batch.requests : null;
  const b = batch.buckets;
  const total = b.at(-1)?.count ?? 0;
  if (total === 0 || quantile === null) return null;
  const rank = quantile * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const { le, count } of b) {
    if (count >= rank) {
      if (!Number.isFinite(le)) return prevLe; // Prometheus returns the last finite bound
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(count - prevCount, 1e-12);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

/** Worsening of canary against baseline in the budget's units (positive = worse). */
function worsening(metric: PlannedMetric, b: number, c: number): number | null {
  const lower = metric.spec.direction === "lowerIsBetter";
  if (metric.spec.budget.relative !== undefined) {
    if (b === 0) return lower ? c - b : b - c;
    return lower ? c / b - 1 : 1 - c / b;
  }
  return lower ? c - b : b - c;
}

function allowed(metric: PlannedMetric, b: number): number {
  const { relative, absolute } = metric.spec.budget;
  return relative !== undefined ? (b === 0 ? 0 : relative) : absolute!;
}

function finding(
  metric: PlannedMetric,
  slice: SliceLabels,
  verdict: Verdict,
  b: number | null,
  c: number | null,
  reason: string,
): Finding {
  return {
    metric: metric.spec.name,
    slice,
    verdict,
    critical: metric.spec.critical,
    tier: metric.spec.tier,
    direction: metric.spec.direction,
    aggregate: metric.spec.aggregate,
    baseline: b,
    canary: c,
    delta: b !== null && c !== null ? c - b : null,
    relativeDelta: null,
    worsening: b !== null && c !== null ? worsening(metric, b, c) : null,
    interval: null,
    allowed: b !== null ? allowed(metric, b) : null,
    budget: metric.spec.budget,
    confidence: null,
    samples: { baseline: 0, canary: 0 },
    method: "none",
    reason,
  };
}

/** Findings for every (metric, slice) ever seen, carried between looks. */
class FindingTable {
  readonly byKey = new Map<string, Finding>();
  set(f: Finding): void {
    this.byKey.set(`${f.metric}\u0001${sliceKey(f.slice)}`, f);
  }
  result(policy: Policy) {
    const findings = [...this.byKey.values()];
    const d = decide(findings, policy);
    return { findings, decision: d.decision, summary: d.summary };
  }
}

export function thresholdAnalyzer(policy: Policy, failureLimit = 1): Analyzer {
  const plan: JudgePlan = planJudge(policy);
  const table = new FindingTable();
  const failures = new Map<string, number>();
  return {
    look(look: Look) {
      for (const inc of rollUp(plan, look)) {
        const metric = plan.metrics[inc.metricIndex]!;
        if (look.unavailable?.[metric.spec.name] !== undefined) continue;
        const b = pointValue(inc.baseline, metric.quantile);
        const c = pointValue(inc.canary, metric.quantile);
        const k = `${metric.spec.name}\u0001${sliceKey(inc.slice)}`;
        if (b === null || c === null) {
          if (!table.byKey.has(k))
            table.set(finding(metric, inc.slice, "pass", b, c, "no data this interval"));
          continue;
        }
        const w = worsening(metric, b, c)!;
        const failed = w > allowed(metric, b);
        const streak = failed ? (failures.get(k) ?? 0) + 1 : 0;
        failures.set(k, streak);
        const verdict: Verdict = streak >= failureLimit ? "fail" : "pass";
        table.set(
          finding(
            metric,
            inc.slice,
            verdict,
            b,
            c,
            `${metric.spec.name} ${sliceKey(inc.slice)}: ${b} -> ${c} (threshold check)`,
          ),
        );
      }
      return table.result(policy);
    },
  };
}

/** Mann-Whitney U, two-sided p-value by the normal approximation with a tie correction. */
export function mannWhitneyP(x: readonly number[], y: readonly number[]): number {
  const n1 = x.length;
  const n2 = y.length;
  const all = [...x.map((v) => ({ v, g: 0 })), ...y.map((v) => ({ v, g: 1 }))].sort((a, b) => a.v - b.v);
  const ranks = new Array<number>(all.length);
  let tie = 0;
  for (let i = 0; i < all.length;) {
    let j = i;
    while (j + 1 < all.length && all[j + 1]!.v === all[i]!.v) j++;
    const r = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[k] = r;
    const t = j - i + 1;
    tie += t * t * t - t;
    i = j + 1;
  }
  let r1 = 0;
  all.forEach((e, i) => {
    if (e.g === 0) r1 += ranks[i]!;
  });
  const u = r1 - (n1 * (n1 + 1)) / 2;
  const n = n1 + n2;
  const sd = Math.sqrt(((n1 * n2) / 12) * (n + 1 - tie / (n * (n - 1))));
  if (sd === 0) return 1;
  const z = (Math.abs(u - (n1 * n2) / 2) - 0.5) / sd;
  return 2 * (1 - normalCdf(Math.max(z, 0)));
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export function kayentaAnalyzer(policy: Policy, confidence = 0.98, minPoints = 3): Analyzer {
  const plan: JudgePlan = planJudge(policy);
  const table = new FindingTable();
  const series = new Map<string, { b: number[]; c: number[] }>();
  return {
    look(look: Look) {
      for (const inc of rollUp(plan, look)) {
        const metric = plan.metrics[inc.metricIndex]!;
        if (look.unavailable?.[metric.spec.name] !== undefined) continue;
        const k = `${metric.spec.name}\u0001${sliceKey(inc.slice)}`;
        const s = series.get(k) ?? { b: [], c: [] };
        series.set(k, s);
        const b = pointValue(inc.baseline, metric.quantile);
        const c = pointValue(inc.canary, metric.quantile);
        if (b !== null) s.b.push(b);
        if (c !== null) s.c.push(c);
        if (s.b.length < minPoints || s.c.length < minPoints) {
          if (!table.byKey.has(k)) table.set(finding(metric, inc.slice, "pass", b, c, "too few points"));
          continue;
        }
        const mb = median(s.b);
        const mc = median(s.c);
        const rejects = mannWhitneyP(s.c, s.b) < 1 - confidence;
        const w = worsening(metric, mb, mc)!;
        const verdict: Verdict = rejects && w > allowed(metric, mb) ? "fail" : "pass";
        table.set(
          finding(
            metric,
            inc.slice,
            verdict,
            mb,
            mc,
            `${metric.spec.name} ${sliceKey(inc.slice)}: ${mb} -> ${mc} (Mann-Whitney)`,
          ),
        );
      }
      return table.result(policy);
    },
  };
}
