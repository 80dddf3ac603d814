// From accumulated samples to findings, slice by slice: an aggregate win hides nothing (rule 6 of
// docs/decisions.md#decision-rules).
import type { Finding } from "../types.js";
import { compareSamples, samplesOf, testsOf, type ArmSamples } from "./compare.js";
import type { JudgePlan, PlannedMetric } from "./plan.js";
import type { SampleStore, SliceCell } from "./samples.js";

export interface JudgeInput {
  readonly store: SampleStore;
  /** Metric columns each file lacks altogether: judged as nodata once, on the aggregate. */
  readonly missingColumns: { readonly baseline: ReadonlySet<string>; readonly canary: ReadonlySet<string> };
}

interface Pending {
  metric: PlannedMetric;
  cell: SliceCell;
  samples: ArmSamples;
  nodata: string | null;
}

function nodataReason(metric: PlannedMetric, cell: SliceCell, s: ArmSamples): string | null {
  if (cell.rows.baseline === 0) return "a new slice: the baseline never saw it";
  if (cell.rows.canary === 0) return "the canary never saw this slice";
  const min = metric.minSamples;
  if (s.n.baseline < min || s.n.canary < min) {
    return `fewer samples than minSamples ${min} in ${s.n.baseline < min && s.n.canary < min ? "both arms" : s.n.baseline < min ? "the baseline" : "the canary"}`;
  }
  if (s.contrast === null && s.sortedCanary === undefined) return "too few samples to estimate a spread";
  return null;
}

function missingColumnReason(metric: PlannedMetric, input: JudgeInput): string | null {
  const inB = input.missingColumns.baseline.has(metric.column);
  const inC = input.missingColumns.canary.has(metric.column);
  if (!inB && !inC) return null;
  const which = inB && inC ? "both files" : inB ? "the baseline file" : "the canary file";
  return `column "${metric.column}" is missing from ${which}`;
}

export function judgeSamples(plan: JudgePlan, input: JudgeInput): Finding[] {
  const { store } = input;
  const pending: Pending[] = [];
  const reportedMissing = new Set<number>();
  for (const cell of store.cells.values()) {
    for (const mi of plan.dimensions[cell.dimension]!.metricIndices) {
      const metric = plan.metrics[mi]!;
      const missing = missingColumnReason(metric, input);
      if (missing !== null) {
        // One finding for a missing column, not one per slice.
        if (!reportedMissing.has(mi)) {
          reportedMissing.add(mi);
          const aggregate = store.cells.get("0");
          pending.push({
            metric,
            cell: aggregate ?? cell,
            samples: samplesOf(metric, aggregate ?? cell, mi, store.paired),
            nodata: missing,
          });
        }
        continue;
      }
      const samples = samplesOf(metric, cell, mi, store.paired);
      pending.push({ metric, cell, samples, nodata: nodataReason(metric, cell, samples) });
    }
  }
  // Metrics no row ever carried still get their nodata finding.
  plan.metrics.forEach((metric, mi) => {
    if (reportedMissing.has(mi) || pending.some((p) => p.metric === metric)) return;
    reportedMissing.add(mi);
    const cell: SliceCell = {
      dimension: 0,
      labels: {},
      rows: { baseline: 0, canary: 0 },
      baseline: [],
      canary: [],
      paired: [],
    };
    pending.push({
      metric,
      cell,
      samples: samplesOf(metric, cell, mi, store.paired),
      nodata: missingColumnReason(metric, input) ?? "no rows in either file",
    });
  });

  // Family-wise control over critical tests (Bonferroni holds under any dependence between slices):
  // the chance that any critical finding falsely fails stays at or under 1 - confidence.
  const { confidence, familywise } = plan.policy.spec;
  const criticalTests = pending.reduce(
    (m, p) => m + (p.metric.spec.critical && p.nodata === null ? testsOf(p.metric) : 0),
    0,
  );
  const criticalConfidence =
    familywise === "bonferroni" && criticalTests > 1 ? 1 - (1 - confidence) / criticalTests : confidence;

  return pending.map((p) =>
    compareSamples(
      p.metric,
      p.cell.labels,
      p.samples,
      p.metric.spec.critical ? criticalConfidence : confidence,
      p.nodata,
    ),
  );
}
