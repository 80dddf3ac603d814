// Number formatting shared by reasons and reports: a few significant digits, no exponent for everyday values.
import type { Budget, Finding } from "./types.js";

export function formatNumber(x: number | null | undefined, digits = 4): string {
  if (x === null || x === undefined || Number.isNaN(x)) return "-";
  if (!Number.isFinite(x)) return x > 0 ? "+inf" : "-inf";
  if (x === 0) return "0";
  const abs = Math.abs(x);
  if (abs >= 1e6 || abs < 1e-5) return x.toExponential(digits - 1);
  return String(Number(x.toPrecision(digits)));
}

export function formatPercent(x: number | null | undefined, digits = 3): string {
  if (x === null || x === undefined || Number.isNaN(x)) return "-";
  if (!Number.isFinite(x)) return x > 0 ? "+inf%" : "-inf%";
  return `${formatNumber(x * 100, digits)}%`;
}

/**
 * The units of a finding's worsening: a fraction of the baseline (relative budget, baseline not zero),
 * percentage points (absolute budget on a rate), or the metric's own units.
 */
export type WorseningUnit = "relative" | "points" | "metric";

export function worseningUnit(f: Pick<Finding, "budget" | "baseline" | "aggregate">): WorseningUnit {
  if (f.budget.relative !== undefined && f.baseline !== 0) return "relative";
  return f.aggregate === "rate" ? "points" : "metric";
}

function amount(x: number, unit: WorseningUnit): string {
  if (unit === "relative") return formatPercent(x);
  if (unit === "points") return `${formatNumber(x * 100, 3)} pts`;
  return formatNumber(x);
}

/** A worsening (or allowed worsening) in the budget's units, signed: `+0.031`, `+18.2%`, `+0.12 pts`. */
export function formatWorsening(x: number | null, unit: WorseningUnit): string {
  if (x === null) return "-";
  const text = amount(x, unit);
  return x > 0 && !text.startsWith("+") ? `+${text}` : text;
}

export function formatBudget(b: Budget, aggregateIsRate = false): string {
  const parts: string[] = [];
  if (b.absolute !== undefined)
    parts.push(formatWorsening(b.absolute, aggregateIsRate ? "points" : "metric"));
  if (b.relative !== undefined) parts.push(`+${formatPercent(b.relative)}`);
  if (b.limit !== undefined)
    parts.push(`limit ${aggregateIsRate ? formatPercent(b.limit) : formatNumber(b.limit)}`);
  return parts.join(", ");
}

export function formatInterval(lower: number, upper: number, unit: WorseningUnit): string {
  return `[${amount(lower, unit)}, ${amount(upper, unit)}]`;
}
