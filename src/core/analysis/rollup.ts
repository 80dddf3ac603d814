// Cells (full label combinations) rolled up into the policy's slices: a cell's samples count in the
// aggregate and in each slice whose labels it carries. Sums, bucket counts and event counts simply add.
import { dimensionLabels, metricDimensions } from "../policy/schema.js";
import type { JudgePlan } from "../judge/plan.js";
import type { SliceLabels } from "../types.js";
import type { Arm, Look, MetricBatch } from "./look.js";

export interface SliceIncrement {
  readonly metricIndex: number;
  readonly slice: SliceLabels;
  baseline?: MetricBatch;
  canary?: MetricBatch;
}

function add(a: MetricBatch | undefined, b: MetricBatch): MetricBatch {
  if (!a) return b;
  if (a.kind === "moments" && b.kind === "moments") {
    return {
      kind: "moments",
      count: a.count + b.count,
      sum: a.sum + b.sum,
      sumSquares: a.sumSquares + b.sumSquares,
      ...(a.computed === true && b.computed === true ? { computed: true } : {}),
    };
  }
  if (a.kind === "rate" && b.kind === "rate") {
    return { kind: "rate", requests: a.requests + b.requests, events: a.events + b.events };
  }
  if (a.kind === "histogram" && b.kind === "histogram") {
    if (a.buckets.length !== b.buckets.length || a.buckets.some((x, i) => x.le !== b.buckets[i]!.le)) {
      throw new RangeError("cells of one metric report different histogram bucket layouts");
    }
    return {
      kind: "histogram",
      buckets: a.buckets.map((x, i) => ({ le: x.le, count: x.count + b.buckets[i]!.count })),
    };
  }
  throw new RangeError(`cannot add a ${b.kind} batch to a ${a.kind} batch`);
}

export function rollUp(plan: JudgePlan, look: Look): SliceIncrement[] {
  const out = new Map<string, SliceIncrement>();
  const dims = plan.metrics.map(
    (m) =>
      [
        [],
        ...metricDimensions(plan.policy.spec, m.spec).map((d) => [...dimensionLabels(d)].sort()),
      ] as string[][],
  );
  for (const cell of look.cells) {
    const arm: Arm = cell.arm;
    plan.metrics.forEach((metric, mi) => {
      const batch = cell.metrics[metric.spec.name];
      if (!batch) return;
      for (const labels of dims[mi]!) {
        if (labels.some((l) => !cell.labels[l])) continue; // the cell does not name this slice
        const slice: Record<string, string> = {};
        for (const l of labels) slice[l] = cell.labels[l]!;
        const k = `${mi}\u0001${labels.map((l) => slice[l]).join("\u0001")}\u0001${labels.join(",")}`;
        let inc = out.get(k);
        if (!inc) {
          inc = { metricIndex: mi, slice };
          out.set(k, inc);
        }
        inc[arm] = add(inc[arm], batch);
      }
    });
  }
  return [...out.values()];
}
