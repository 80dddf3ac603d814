// The sentence behind every verdict: metric, slice, values, interval, budget, samples. "Rolled back" with no
// why is a defect (docs/decisions.md#reasons); these sentences end up in reports, Events and status.
import { formatInterval, formatNumber, formatPercent, formatWorsening, worseningUnit } from "../format.js";
import { formatSlice, type Finding } from "../types.js";

function value(f: Finding, x: number | null): string {
  return f.aggregate === "rate" ? formatPercent(x) : formatNumber(x);
}

/**
 * Roughly how many samples per arm an inconclusive interval needs to clear the budget, if the estimate
 * stayed where it is: widths shrink as 1/sqrt(n). Null when the estimate sits on the budget.
 */
export function samplesToSettle(f: Finding): number | null {
  if (!f.interval || f.worsening === null || f.allowed === null) return null;
  const half = (f.interval.upper - f.interval.lower) / 2;
  const gap = Math.abs(f.allowed - f.worsening);
  if (!Number.isFinite(half) || gap === 0) return null;
  const n = Math.min(f.samples.baseline, f.samples.canary);
  const needed = Math.ceil(n * (half / gap) ** 2);
  return needed > n ? Number(needed.toPrecision(2)) : null;
}

export function describeFinding(f: Finding, note: string | null): string {
  const who = `${f.metric} (${f.aggregate}) in ${formatSlice(f.slice)}`;
  const n = `n=${f.samples.baseline}/${f.samples.canary}`;
  if (f.verdict === "nodata") return `${who}: no data: ${note ?? "no samples"} (${n})`;

  const unit = worseningUnit(f);
  const moved = `${value(f, f.baseline)} -> ${value(f, f.canary)}`;
  const worse =
    f.worsening === null
      ? ""
      : `worsening ${formatWorsening(f.worsening, unit)}` +
        (f.interval ? ` ${formatInterval(f.interval.lower, f.interval.upper, unit)}` : "");
  const allowed = `budget ${formatWorsening(f.allowed, unit)}`;
  let judged: string;
  switch (f.verdict) {
    case "fail":
      judged = `${worse}, over ${allowed}`;
      break;
    case "pass":
      judged = `${worse}, within ${allowed}`;
      break;
    default:
      judged = f.interval ? `${worse} straddles ${allowed}` : `${worse}, cannot be judged against ${allowed}`;
      if (f.interval) {
        const needed = samplesToSettle(f);
        if (needed !== null) judged += `; about ${needed} samples per arm would settle it`;
      }
  }
  const parts = [`${who}: ${moved}`, judged];
  if (f.limit && f.limit.verdict !== "pass") {
    parts.push(
      `limit ${value(f, f.limit.limit)}: ${f.limit.verdict === "fail" ? "exceeded" : "not shown to hold"}`,
    );
  }
  if (note) parts.push(note);
  parts.push(n + (f.critical ? ", critical" : ""));
  return parts.join("; ");
}
