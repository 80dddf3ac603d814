import { describe, expect, it } from "vitest";
import { makePolicy, type MetricInput } from "../../../test/support/policy.js";
import { planJudge } from "./plan.js";
import { buildReport } from "./report.js";
import { judgeSummary, summaryDimension, summaryKey, type SummaryRow } from "./summary.js";

type Row = { labels?: Record<string, string>; n?: number; [metric: string]: unknown };

function table(plan: ReturnType<typeof planJudge>, rows: Row[]): Map<string, SummaryRow> {
  const out = new Map<string, SummaryRow>();
  for (const { labels = {}, n, ...values } of rows) {
    const filled = Object.keys(labels).map((l) => plan.labels.indexOf(l));
    const dimension = summaryDimension(plan, filled);
    if (dimension < 0) throw new Error("test row names no dimension");
    out.set(summaryKey(dimension, labels), {
      dimension,
      labels,
      n: n ?? null,
      values: new Map(Object.entries(values).map(([k, v]) => [k, String(v)])),
    });
  }
  return out;
}

function gate(metrics: MetricInput[], baseline: Row[], canary: Row[], spec: Record<string, unknown> = {}) {
  const policy = makePolicy(metrics, { minSamples: 30, ...spec });
  const plan = planJudge(policy);
  return buildReport(policy, "summary", judgeSummary(plan, table(plan, baseline), table(plan, canary)), []);
}

const similarity: MetricInput = {
  name: "sim",
  direction: "higherIsBetter",
  critical: true,
  budget: { absolute: 0.01 },
  sliceBy: ["voice_id"],
};
const ttfa: MetricInput = {
  name: "ttfa",
  aggregate: "p95",
  critical: true,
  tier: "latency",
  budget: { relative: 0.15 },
};
const cost: MetricInput = { name: "cost", tier: "cost", budget: { relative: 0.1 } };

describe("summary mode: points compared exactly", () => {
  it.each([
    // [case, metric, baseline value, canary value, expected verdict]
    ["exactly on an absolute budget passes (0.71 - 0.70 is not > 0.01)", similarity, 0.71, 0.7, "pass"],
    ["just over an absolute budget fails", similarity, 0.71, 0.6999, "fail"],
    ["an improvement passes", similarity, 0.7, 0.75, "pass"],
    ["exactly on a relative budget passes (240 * 1.15 = 276)", ttfa, 240, 276, "pass"],
    ["just over a relative budget fails", ttfa, 240, 276.01, "fail"],
    [
      "on budget where floats would say otherwise (4.2 -> 4.1, budget 0.1)",
      { ...similarity, budget: { absolute: 0.1 } },
      4.2,
      4.1,
      "pass",
    ],
    [
      "a zero baseline with a relative budget: any worsening fails, not divided by",
      { ...ttfa, name: "errors", aggregate: "rate" },
      0,
      0.001,
      "fail",
    ],
    [
      "a zero baseline with a relative budget: no worsening passes",
      { ...ttfa, name: "errors", aggregate: "rate" },
      0,
      0,
      "pass",
    ],
    [
      "a limit is checked on the canary's own value",
      { ...ttfa, budget: { relative: 0.15, limit: 350 } },
      310,
      351,
      "fail",
    ],
    ["exactly on the limit passes", { ...ttfa, budget: { relative: 0.15, limit: 350 } }, 310, 350, "pass"],
    [
      "a higher-is-better limit is a floor",
      { ...similarity, budget: { absolute: 0.05, limit: 0.7 } },
      0.72,
      0.69,
      "fail",
    ],
  ] as const)("%s", (_case, metric, b, c, verdict) => {
    const report = gate([metric], [{ [metric.name]: b }], [{ [metric.name]: c }]);
    const aggregate = report.findings.find((f) => Object.keys(f.slice).length === 0)!;
    expect(aggregate.verdict).toBe(verdict);
    expect(aggregate.method).toBe("summary");
  });

  it("a zero baseline says so instead of a relative change", () => {
    const report = gate(
      [{ ...ttfa, name: "errors", aggregate: "rate" }],
      [{ errors: 0 }],
      [{ errors: 0.002 }],
    );
    const f = report.findings[0]!;
    expect(f.relativeDelta).toBeNull();
    expect(f.reason).toContain("the baseline is 0, so a relative budget allows no worsening");
  });

  it("one cohort regressing 11% while the aggregate improves 4% fails on the cohort", () => {
    const m: MetricInput = { ...cost, critical: true, budget: { relative: 0.05 }, sliceBy: ["tenant"] };
    const report = gate(
      [m],
      [
        { cost: 100 },
        { labels: { tenant: "callvault" }, cost: 100 },
        { labels: { tenant: "acme" }, cost: 100 },
      ],
      [
        { cost: 96 },
        { labels: { tenant: "callvault" }, cost: 111 },
        { labels: { tenant: "acme" }, cost: 90 },
      ],
    );
    expect(report.decision).toBe("rollback");
    expect(report.reasons.map((f) => f.slice)).toEqual([{ tenant: "callvault" }]);
    expect(report.findings.find((f) => Object.keys(f.slice).length === 0)!.verdict).toBe("pass");
  });

  it("a slice only the canary has is reported as nodata, not skipped", () => {
    const report = gate(
      [similarity],
      [{ sim: 0.7 }, { labels: { voice_id: "mia" }, sim: 0.7 }],
      [
        { sim: 0.7 },
        { labels: { voice_id: "mia" }, sim: 0.7 },
        { labels: { voice_id: "new-voice" }, sim: 0.6 },
      ],
    );
    const f = report.findings.find((x) => x.slice["voice_id"] === "new-voice")!;
    expect(f.verdict).toBe("nodata");
    expect(f.reason).toContain("the baseline never saw it");
    expect(report.decision).toBe("pause");
  });

  it("a slice only the baseline has is nodata too", () => {
    const report = gate(
      [similarity],
      [{ sim: 0.7 }, { labels: { voice_id: "gone" }, sim: 0.7 }],
      [{ sim: 0.7 }],
    );
    expect(report.findings.find((x) => x.slice["voice_id"] === "gone")!.reason).toContain(
      "the canary never saw this slice",
    );
  });

  it("fewer samples than minSamples in the n column is nodata", () => {
    const report = gate([similarity], [{ sim: 0.7, n: 29 }], [{ sim: 0.7, n: 500 }]);
    expect(report.findings[0]!.verdict).toBe("nodata");
    expect(report.findings[0]!.reason).toContain("minSamples 30");
  });

  it("without an n column minSamples does not apply", () => {
    expect(gate([similarity], [{ sim: 0.7 }], [{ sim: 0.7 }]).decision).toBe("promote");
  });

  it("a metric neither file has is nodata and pauses", () => {
    const report = gate([similarity, cost], [{ sim: 0.7 }], [{ sim: 0.7 }]);
    expect(report.decision).toBe("pause");
    expect(report.reasons[0]!.metric).toBe("cost");
    expect(report.reasons[0]!.verdict).toBe("nodata");
  });
});
