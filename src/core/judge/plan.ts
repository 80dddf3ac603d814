// What the judge needs from a policy, precomputed once: the labels that name slices, the slice dimensions
// (the aggregate first), and for each metric the dimensions it is judged on and how its values accumulate.
import {
  dimensionLabels,
  metricColumn,
  metricDimensions,
  type MetricSpec,
  type Policy,
} from "../policy/schema.js";

export type AccumulatorKind = "moments" | "rate" | "values";

export interface PlannedMetric {
  readonly spec: MetricSpec;
  readonly column: string;
  readonly kind: AccumulatorKind;
  /** Quantile level for p50..p99 aggregates. */
  readonly quantile: number | null;
  readonly minSamples: number;
}

export interface PlannedDimension {
  /** Indices into `JudgePlan.labels`; empty for the aggregate. */
  readonly labelIndices: readonly number[];
  /** Indices into `JudgePlan.metrics` judged on this dimension. */
  readonly metricIndices: readonly number[];
}

export interface JudgePlan {
  readonly policy: Policy;
  /** Every label that names a slice, in first-seen order. */
  readonly labels: readonly string[];
  /** The aggregate is dimension 0. */
  readonly dimensions: readonly PlannedDimension[];
  readonly metrics: readonly PlannedMetric[];
}

const QUANTILES: Readonly<Record<string, number>> = { p50: 0.5, p90: 0.9, p95: 0.95, p99: 0.99 };

export function planJudge(policy: Policy): JudgePlan {
  const labels: string[] = [];
  const labelIndex = (name: string): number => {
    const i = labels.indexOf(name);
    if (i >= 0) return i;
    labels.push(name);
    return labels.length - 1;
  };
  const dimKeys = new Map<string, number>([["", 0]]);
  const dims: { labelIndices: number[]; metricIndices: number[] }[] = [
    { labelIndices: [], metricIndices: [] },
  ];
  const metrics: PlannedMetric[] = policy.spec.metrics.map((spec, mi) => {
    dims[0]!.metricIndices.push(mi);
    for (const d of metricDimensions(policy.spec, spec)) {
      const names = [...dimensionLabels(d)].sort();
      const key = names.join("\u0001");
      let di = dimKeys.get(key);
      if (di === undefined) {
        di = dims.length;
        dimKeys.set(key, di);
        dims.push({ labelIndices: names.map(labelIndex), metricIndices: [] });
      }
      const dim = dims[di]!;
      if (!dim.metricIndices.includes(mi)) dim.metricIndices.push(mi);
    }
    const quantile = QUANTILES[spec.aggregate] ?? null;
    return {
      spec,
      column: metricColumn(spec),
      kind: spec.aggregate === "mean" ? "moments" : spec.aggregate === "rate" ? "rate" : "values",
      quantile,
      minSamples: spec.minSamples ?? policy.spec.minSamples,
    };
  });
  return { policy, labels, dimensions: dims, metrics };
}
