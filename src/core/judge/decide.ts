// The decision rules of docs/decisions.md#decision-rules, over findings from the gate or from an online
// analysis.
import type { Policy } from "../policy/schema.js";
import { TIER_ORDER, VERDICT_ORDER, formatSlice, type DecisionResult, type Finding } from "../types.js";

/** Findings in report order: failures first, critical before not, latency before quality before cost. */
export function compareFindings(a: Finding, b: Finding): number {
  return (
    VERDICT_ORDER[a.verdict] - VERDICT_ORDER[b.verdict] ||
    Number(b.critical) - Number(a.critical) ||
    TIER_ORDER[a.tier] - TIER_ORDER[b.tier] ||
    a.metric.localeCompare(b.metric) ||
    Object.keys(a.slice).length - Object.keys(b.slice).length ||
    formatSlice(a.slice).localeCompare(formatSlice(b.slice))
  );
}

export function decide(findings: readonly Finding[], policy: Policy): DecisionResult {
  const required = new Map(policy.spec.metrics.map((m) => [m.name, m.required]));
  const criticalFails = findings.filter((f) => f.verdict === "fail" && f.critical);
  if (criticalFails.length > 0) {
    const reasons = [...criticalFails].sort(compareFindings);
    return { decision: "rollback", reasons, summary: summarise("rollback", reasons) };
  }
  // Rules 3 to 5: a non-critical fail, missing data or unsettled evidence pauses for a person.
  // An optional metric's missing or unsettled data is reported but holds nothing up; a critical metric is
  // always required, so missing critical data never promotes.
  const blocking = findings.filter(
    (f) => f.verdict === "fail" || (f.verdict !== "pass" && (f.critical || (required.get(f.metric) ?? true))),
  );
  if (blocking.length > 0) {
    const reasons = [...blocking].sort(compareFindings);
    return { decision: "pause", reasons, summary: summarise("pause", reasons) };
  }
  return {
    decision: "promote",
    reasons: [],
    summary: `promote: all ${findings.length} findings pass`,
  };
}

function summarise(decision: string, reasons: readonly Finding[]): string {
  const first = reasons[0]!;
  const more = reasons.length > 1 ? ` (and ${reasons.length - 1} more)` : "";
  return `${decision}: ${first.reason}${more}`;
}
