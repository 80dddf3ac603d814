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

/** Whether a finding's worsening is a fraction of the baseline (a relative budget, baseline not zero). */
export function isRelative(f: Pick<Finding, "budget" | "baseline">): boolean {
  return f.budget.relative !== undefined && f.baseline !== 0;
}

/** A worsening (or allowed worsening) in the budget's units, signed: `+0.031`, `+18.2%`. */
export function formatWorsening(x: number | null, relative: boolean): string {
  if (x === null) return "-";
  const text = relative ? formatPercent(x) : formatNumber(x);
  return x > 0 && !text.startsWith("+") ? `+${text}` : text;
}

export function formatBudget(b: Budget, aggregateIsRate = false): string {
  const parts: string[] = [];
  if (b.absolute !== undefined) parts.push(aggregateIsRate ? `+${formatPercent(b.absolute)} pts` : `+${formatNumber(b.absolute)}`);
  if (b.relative !== undefined) parts.push(`+${formatPercent(b.relative)}`);
  if (b.limit !== undefined) parts.push(`limit ${formatNumber(b.limit)}`);
  return parts.join(", ");
}

export function formatInterval(lower: number, upper: number, relative: boolean): string {
  const f = relative ? formatPercent : formatNumber;
  return `[${f(lower)}, ${f(upper)}]`;
}
