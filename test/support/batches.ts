// Metric batches for tests and benches that drive the reconciler with scripted looks.
import type { MetricBatch } from "../../src/core/analysis/look.js";

/** A moments batch with exactly this mean and standard deviation, so looks are deterministic. */
export function moments(count: number, mean: number, sd: number): MetricBatch {
  return {
    kind: "moments",
    count,
    sum: count * mean,
    sumSquares: (count - 1) * sd * sd + count * mean * mean,
  };
}
