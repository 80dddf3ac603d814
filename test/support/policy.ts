// Builders for test policies: a few fields in, a fully defaulted Policy out (through the real schema).
import { policySchema, type Policy } from "../../src/core/policy/schema.js";

export interface MetricInput {
  name: string;
  direction?: "lowerIsBetter" | "higherIsBetter";
  aggregate?: "mean" | "p50" | "p90" | "p95" | "p99" | "rate";
  critical?: boolean;
  tier?: "latency" | "quality" | "cost";
  budget: { absolute?: number; relative?: number; limit?: number };
  sliceBy?: (string | string[])[];
  required?: boolean;
  minSamples?: number;
  column?: string;
  scorer?: string;
}

export function makePolicy(metrics: MetricInput[], spec: Record<string, unknown> = {}): Policy {
  return policySchema.parse({
    apiVersion: "voicectl.dev/v1alpha1",
    kind: "RolloutPolicy",
    metadata: { name: "test" },
    spec: {
      sliceBy: [],
      minSamples: 2,
      ...spec,
      metrics: metrics.map((m) => ({ direction: "lowerIsBetter", aggregate: "mean", ...m })),
    },
  });
}

/** The metrics of docs/budgets.md#typical-values, as a studio-like policy would judge them. */
export const SIMILARITY: MetricInput = {
  name: "speaker_similarity",
  direction: "higherIsBetter",
  critical: true,
  tier: "quality",
  budget: { absolute: 0.01 },
  sliceBy: ["voice_id"],
};
export const TTFA: MetricInput = {
  name: "ttfa_ms",
  aggregate: "p95",
  critical: true,
  tier: "latency",
  budget: { relative: 0.15 },
};
export const COST: MetricInput = { name: "cost", tier: "cost", budget: { relative: 0.1 } };
export const MOS: MetricInput = {
  name: "mos",
  direction: "higherIsBetter",
  critical: true,
  budget: { absolute: 0.1 },
  sliceBy: ["language"],
};
