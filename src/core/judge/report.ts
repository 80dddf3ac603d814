// What a gate run reports: the decision with its reasons and every finding, in report order.
import type { Policy } from "../policy/schema.js";
import type { Decision, Finding, Verdict } from "../types.js";
import { compareFindings, decide } from "./decide.js";

/** How the findings were made: the gate's three ways, or live traffic read from Prometheus. */
export type GateMode = "independent" | "paired" | "summary" | "live";

export interface GateReport {
  readonly decision: Decision;
  readonly summary: string;
  readonly policy: string;
  readonly mode: GateMode;
  readonly confidence: number | null;
  readonly counts: Readonly<Record<Verdict, number>>;
  /** The findings behind the decision, most severe first. */
  readonly reasons: readonly Finding[];
  readonly findings: readonly Finding[];
  /** Facts about the inputs worth knowing (unmatched pairs, say); never payloads. */
  readonly notes: readonly string[];
}

export function buildReport(
  policy: Policy,
  mode: GateMode,
  findings: readonly Finding[],
  notes: readonly string[],
): GateReport {
  const sorted = [...findings].sort(compareFindings);
  const result = decide(sorted, policy);
  const counts: Record<Verdict, number> = { pass: 0, fail: 0, inconclusive: 0, nodata: 0 };
  for (const f of sorted) counts[f.verdict] += 1;
  return {
    decision: result.decision,
    summary: result.summary,
    policy: policy.metadata.name,
    mode,
    // Live findings each carry their own level (anytime-valid, family-wise): no single confidence applies.
    confidence: mode === "summary" || mode === "live" ? null : policy.spec.confidence,
    counts,
    reasons: result.reasons,
    findings: sorted,
    notes,
  };
}
