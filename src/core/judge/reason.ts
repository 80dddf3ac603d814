// The sentence behind every verdict: metric, slice, values, interval, budget, samples. "Rolled back" with no
// why is a defect (design.md section 4); these sentences end up in reports, Events and status.
import { formatInterval, formatNumber, formatPercent, formatWorsening, isRelative } from "../format.js";
import { formatSlice, type Finding } from "../types.js";

function value(f: Finding, x: number | null): string {
  return f.aggregate === "rate" ? formatPercent(x) : formatNumber(x);
}

export function describeFinding(f: Finding, note: string | null): string {
  const who = `${f.metric} (${f.aggregate}) in ${formatSlice(f.slice)}`;
  const n = `n=${f.samples.baseline}/${f.samples.canary}`;
  if (f.verdict === "nodata") return `${who}: no data: ${note ?? "no samples"} (${n})`;

  const relative = isRelative(f);
  const moved = `${value(f, f.baseline)} -> ${value(f, f.canary)}`;
  const worse =
    f.worsening === null ? "" : `worsening ${formatWorsening(f.worsening, relative)}` +
      (f.interval ? ` ${formatInterval(f.interval.lower, f.interval.upper, relative)}` : "");
  const allowed = `budget ${formatWorsening(f.allowed, relative)}`;
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
  }
  const parts = [`${who}: ${moved}`, judged];
  if (f.limit && f.limit.verdict !== "pass") {
    parts.push(`limit ${value(f, f.limit.limit)}: ${f.limit.verdict === "fail" ? "exceeded" : "not shown to hold"}`);
  }
  if (note) parts.push(note);
  parts.push(n + (f.critical ? ", critical" : ""));
  return parts.join("; ");
}
