import { describe, expect, it } from "vitest";
import { policySchema } from "./schema.js";

const policy = (metric: Record<string, unknown>) => ({
  apiVersion: "voicectl.dev/v1alpha1",
  kind: "RolloutPolicy",
  metadata: { name: "p" },
  spec: {
    metrics: [
      {
        name: "speaker_similarity",
        direction: "higherIsBetter",
        aggregate: "mean",
        budget: { absolute: 0.01 },
        ...metric,
      },
    ],
  },
});

const issues = (metric: Record<string, unknown>) => {
  const r = policySchema.safeParse(policy(metric));
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
};

describe("metric bounds", () => {
  it("accepts [lo, hi] on a mean metric", () => {
    expect(issues({ bounds: [-1, 1] })).toEqual([]);
  });

  it("names the field and what was expected", () => {
    expect(issues({ bounds: [1, 1] })).toEqual([
      "spec.metrics.0.bounds: expected [lo, hi] with lo < hi, got [1, 1]",
    ]);
    expect(issues({ bounds: [0] })).toEqual(["spec.metrics.0.bounds: expected [lo, hi]"]);
    expect(issues({ aggregate: "p95", bounds: [0, 1] })).toEqual([
      "spec.metrics.0.bounds: bounds apply to mean metrics, not p95",
    ]);
  });
});
