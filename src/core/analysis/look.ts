// What one look of online analysis takes in: new samples since the last look, per cell (a full label
// combination such as {voice_id, language, tenant}) and arm. Requests, not minutes
// (docs/statistics.md#inputs-are-requests-not-minutes): sums for means, Prometheus bucket counts for
// quantiles, request and event counts for rates. The simulator and the Prometheus source
// (src/adapters/prometheus/source.ts) both produce looks.
import type { HistogramBucket } from "../sequential/quantiles.js";

export type Arm = "baseline" | "canary";

/** The increment of one metric in one cell since the last look. */
export type MetricBatch =
  /**
   * For `mean` metrics. `computed`: every value is known exactly rather than sampled (cost, computed from GPUs
   * held, their price and the audio generated): its mean has no sampling error to bound.
   */
  | {
      readonly kind: "moments";
      readonly count: number;
      readonly sum: number;
      readonly sumSquares: number;
      readonly computed?: boolean;
    }
  /** For quantile metrics: cumulative counts per upper bound `le` (Prometheus semantics, +Infinity last). */
  | { readonly kind: "histogram"; readonly buckets: readonly HistogramBucket[] }
  /** For `rate` metrics: requests served and the events among them. */
  | { readonly kind: "rate"; readonly requests: number; readonly events: number };

export interface CellBatch {
  readonly arm: Arm;
  /** Every label the source knows for this cell; the analysis rolls cells up into the policy's slices. */
  readonly labels: Readonly<Record<string, string>>;
  /** By policy metric name. A metric absent here had no samples in this cell this look. */
  readonly metrics: Readonly<Record<string, MetricBatch>>;
}

export interface Look {
  /** When the look was taken (ms since the epoch, or since the start in simulation). */
  readonly at: number;
  /** The canary's traffic weight while these samples were collected: rate tests segment by it. */
  readonly canaryWeight: number;
  readonly cells: readonly CellBatch[];
  /** Metrics whose source failed for this look (a gap), with the reason. Their tests learn nothing new. */
  readonly unavailable?: Readonly<Record<string, string>> | undefined;
}
