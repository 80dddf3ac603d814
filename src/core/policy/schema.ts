// The one schema of a RolloutPolicy (docs/architecture.md#one-schema): the CLI reads policy files with it,
// the operator reads the custom resource with it, and the JSON Schema / CRD OpenAPI are generated from it.
import { z } from "zod";
import { DEFAULT_AGGREGATE_SHARE } from "../sequential/alpha-split.js";
import { checkTemplate } from "./promql.js";

export const API_VERSION = "voicectl.dev/v1alpha1";
export const POLICY_KIND = "RolloutPolicy";

const labelName = z
  .string()
  .regex(
    /^[A-Za-z_][A-Za-z0-9_]*$/,
    "expected a label name (letters, digits, underscore; not starting with a digit)",
  );

/** A slice dimension: one label (`voice_id`) or a combination judged together (`[product, tenant]`). */
export const sliceDimensionSchema = z.union([labelName, z.array(labelName).min(1)]);

export const budgetSchema = z
  .strictObject({
    absolute: z
      .number()
      .finite()
      .nonnegative()
      .optional()
      .describe("Worsening allowed in the metric's own units (canary against baseline)."),
    relative: z
      .number()
      .finite()
      .nonnegative()
      .optional()
      .describe("Worsening allowed as a fraction of the baseline: 0.15 allows 15% worse."),
    limit: z
      .number()
      .finite()
      .optional()
      .describe(
        "A bound on the canary's own value whatever the baseline: at most this for lowerIsBetter, at least for higherIsBetter.",
      ),
  })
  .superRefine((b, ctx) => {
    if ((b.absolute === undefined) === (b.relative === undefined)) {
      ctx.addIssue({
        code: "custom",
        message: "expected exactly one of `absolute` or `relative`",
        input: b,
      });
    }
  });

export const sourceSchema = z
  .strictObject({
    histogram: z
      .string()
      .regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/, "expected a Prometheus metric name")
      .optional()
      .describe(
        "Mean and quantile metrics: a histogram following docs/metrics.md (its _bucket, _sum and _count).",
      ),
    query: z
      .string()
      .optional()
      .describe(
        "Mean and quantile metrics: a PromQL template returning bucket counts by le, version and {{sliceLabels}} over {{window}}.",
      ),
    events: z
      .string()
      .optional()
      .describe(
        'Rate metrics: a counter selector (e.g. voice_requests_total{outcome!="ok"}) or a PromQL template counting events.',
      ),
    requests: z
      .string()
      .optional()
      .describe("Rate metrics: a counter selector or a PromQL template counting requests."),
    scale: z
      .number()
      .positive()
      .optional()
      .describe("Multiply values by this to get the metric's units (seconds to ms: 1000)."),
  })
  .describe(
    "Where online analysis reads this metric in Prometheus (default: the series of docs/metrics.md).",
  );

export const metricSchema = z.strictObject({
  name: z
    .string()
    .min(1)
    .describe("The metric's name; also the column in evaluation files unless `column` is given."),
  column: z.string().min(1).optional().describe("Column in evaluation files, when it differs from the name."),
  description: z.string().optional(),
  direction: z.enum(["lowerIsBetter", "higherIsBetter"]),
  aggregate: z
    .enum(["mean", "p50", "p90", "p95", "p99", "rate"])
    .describe(
      "How per-utterance values become one value per arm: a mean, a quantile, or a rate of 0/1 values.",
    ),
  critical: z
    .boolean()
    .default(false)
    .describe("A fail of a critical metric in any slice rolls back; any other fail pauses."),
  tier: z
    .enum(["latency", "quality", "cost"])
    .default("quality")
    .describe("Reports list latency before quality before cost."),
  budget: budgetSchema,
  required: z
    .boolean()
    .default(true)
    .describe("A required metric with no data pauses the rollout; an optional one is reported only."),
  sliceBy: z
    .array(sliceDimensionSchema)
    .optional()
    .describe(
      "Slice dimensions for this metric, replacing spec.sliceBy (e.g. speaker similarity per voice).",
    ),
  minSamples: z.number().int().positive().optional().describe("Overrides spec.minSamples for this metric."),
  bounds: z
    .array(z.number().finite())
    .length(2, "expected [lo, hi]")
    .optional()
    .describe(
      "Mean metrics: [lo, hi], the range every value lies in (similarity [-1, 1], MOS [1, 5], a ratio [0, 1]). Online analysis then uses a confidence sequence valid at any sample size.",
    ),
  source: sourceSchema.optional(),
  scorer: z
    .string()
    .optional()
    .describe("The scorer model that produced the values (e.g. a pinned speaker-embedding model)."),
});

export const policySpecSchema = z.strictObject({
  sliceBy: z
    .array(sliceDimensionSchema)
    .default([])
    .describe("Each value of each label is judged as its own slice, plus the aggregate."),
  minSamples: z
    .number()
    .int()
    .positive()
    .default(30)
    .describe("Samples per arm and slice below which a finding is nodata."),
  confidence: z
    .number()
    .gt(0.5)
    .lt(1)
    .default(0.95)
    .describe("Two-sided confidence level of the gate's intervals."),
  familywise: z
    .enum(["bonferroni", "none"])
    .default("bonferroni")
    .describe(
      "Control the chance of any false rollback across all critical findings (bonferroni), or test each alone (none).",
    ),
  alpha: z
    .number()
    .gt(0)
    .lt(0.5)
    .default(0.01)
    .describe("Online analysis: false-rollback rate of a whole rollout."),
  alphaSplit: z
    .strictObject({
      aggregate: z
        .number({ error: "expected a number between 0 and 1 (exclusive): the all-traffic findings' share" })
        .gt(0, "expected a share above 0: all-traffic findings need some alpha to be judged")
        .lt(1, "expected a share below 1: per-slice findings need some alpha to be judged")
        .default(DEFAULT_AGGREGATE_SHARE)
        .describe(
          "Share of each family's alpha for the all-traffic findings; per-slice findings get the rest (weighted Bonferroni).",
        ),
    })
    .default({ aggregate: DEFAULT_AGGREGATE_SHARE })
    .describe(
      "Online analysis: how each family's alpha is weighted between all-traffic and per-slice findings.",
    ),
  metrics: z.array(metricSchema).min(1, "expected at least one metric"),
});

export const policySchema = z
  .strictObject({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal(POLICY_KIND),
    metadata: z.looseObject({
      name: z
        .string()
        .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "expected a DNS label (lower case letters, digits, '-')"),
      namespace: z.string().optional(),
    }),
    spec: policySpecSchema,
  })
  .superRefine((p, ctx) => {
    const seen = new Map<string, number>();
    p.spec.metrics.forEach((m, i) => {
      const first = seen.get(m.name);
      if (first !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["spec", "metrics", i, "name"],
          message: `metric name "${m.name}" is already used by spec.metrics[${first}]`,
          input: m.name,
        });
      } else {
        seen.set(m.name, i);
      }
      if (m.source) checkSource(m, i, ctx);
      if (m.bounds?.length === 2) checkBoundsField(m, i, ctx);
      if (
        m.aggregate === "rate" &&
        m.budget.limit !== undefined &&
        (m.budget.limit < 0 || m.budget.limit > 1)
      ) {
        ctx.addIssue({
          code: "custom",
          path: ["spec", "metrics", i, "budget", "limit"],
          message: "expected a rate limit between 0 and 1 (rates are fractions: 0.002 is 0.2%)",
          input: m.budget.limit,
        });
      }
    });
  });

function checkBoundsField(m: z.infer<typeof metricSchema>, i: number, ctx: z.RefinementCtx): void {
  const [lo = NaN, hi = NaN] = m.bounds!;
  const at = ["spec", "metrics", i, "bounds"];
  if (m.aggregate !== "mean") {
    ctx.addIssue({
      code: "custom",
      path: at,
      message: `bounds apply to mean metrics, not ${m.aggregate}`,
      input: m.bounds,
    });
  } else if (!(lo < hi)) {
    ctx.addIssue({
      code: "custom",
      path: at,
      message: `expected [lo, hi] with lo < hi, got [${lo}, ${hi}]`,
      input: m.bounds,
    });
  }
}

function checkSource(m: z.infer<typeof metricSchema>, i: number, ctx: z.RefinementCtx): void {
  const source = m.source!;
  const at = (field: string) => ["spec", "metrics", i, "source", field];
  const issue = (field: string, message: string) =>
    ctx.addIssue({ code: "custom", path: at(field), message, input: source });
  if (m.aggregate === "rate") {
    if (source.histogram !== undefined || source.query !== undefined) {
      issue(
        source.histogram !== undefined ? "histogram" : "query",
        "a rate metric reads `events` and `requests` counters, not a histogram",
      );
    }
    if (source.events === undefined || source.requests === undefined) {
      issue(
        source.events === undefined ? "events" : "requests",
        "a rate metric needs both `events` and `requests`",
      );
    }
  } else {
    if (source.events !== undefined || source.requests !== undefined) {
      issue(
        source.events !== undefined ? "events" : "requests",
        `a ${m.aggregate} metric reads a histogram (\`histogram\` or \`query\`), not counters`,
      );
    }
    if ((source.histogram === undefined) === (source.query === undefined)) {
      issue("histogram", "expected exactly one of `histogram` or `query`");
    }
  }
  for (const field of ["query", "events", "requests"] as const) {
    const template = source[field];
    if (template === undefined) continue;
    for (const problem of checkTemplate(isCounterSelector(template) ? `${template} + 0` : template))
      issue(field, problem);
  }
}

/** A bare counter selector (`name` or `name{matchers}`), which voicectl wraps in increase() and sum by. */
export function isCounterSelector(text: string): boolean {
  return /^\s*[a-zA-Z_:][a-zA-Z0-9_:]*\s*(\{[^{}]*\})?\s*$/.test(text);
}

export type Policy = z.infer<typeof policySchema>;
export type PolicySpec = z.infer<typeof policySpecSchema>;
export type MetricSpec = z.infer<typeof metricSchema>;
export type SliceDimension = z.infer<typeof sliceDimensionSchema>;

/** The labels of a slice dimension, as a list. */
export function dimensionLabels(d: SliceDimension): readonly string[] {
  return typeof d === "string" ? [d] : d;
}

/** The column in evaluation files that holds a metric. */
export function metricColumn(m: MetricSpec): string {
  return m.column ?? m.name;
}

/** The slice dimensions a metric is judged on. */
export function metricDimensions(policy: PolicySpec, m: MetricSpec): readonly SliceDimension[] {
  return m.sliceBy ?? policy.sliceBy;
}
