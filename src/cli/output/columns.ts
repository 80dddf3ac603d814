// The columns every tabular report shows for a finding, as text; table and markdown lay them out.
import {
  formatBudget,
  formatInterval,
  formatNumber,
  formatPercent,
  formatWorsening,
  worseningUnit,
} from "../../core/format.js";
import { formatSlice, type Finding } from "../../core/types.js";

export const HEADERS = [
  "verdict",
  "metric",
  "slice",
  "baseline",
  "canary",
  "worsening",
  "interval",
  "budget",
  "n",
] as const;

export function findingCells(f: Finding): string[] {
  const rate = f.aggregate === "rate";
  const value = (x: number | null) => (rate ? formatPercent(x) : formatNumber(x));
  const unit = worseningUnit(f);
  return [
    f.verdict + (f.critical ? " (critical)" : ""),
    `${f.metric} ${f.aggregate}`,
    formatSlice(f.slice),
    value(f.baseline),
    value(f.canary),
    formatWorsening(f.worsening, unit),
    f.interval ? formatInterval(f.interval.lower, f.interval.upper, unit) : "-",
    formatBudget(f.budget, rate),
    `${f.samples.baseline}/${f.samples.canary}`,
  ];
}

/** Findings a person should see first: every one that did not pass, and the aggregates. */
export function headlineFindings(findings: readonly Finding[]): Finding[] {
  return findings.filter((f) => f.verdict !== "pass" || Object.keys(f.slice).length === 0);
}
