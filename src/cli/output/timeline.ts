// The simulated rollout as people follow one: a row whenever something happens (a step, a weight change, an
// event, a verdict that changed), and the outcome with its reasons at the top.
import { formatSlice } from "../../core/types.js";
import type { SimulationResult, TimelineEntry } from "../../sim/run.js";

const clock = (ms: number) => {
  const m = Math.floor(ms / 60_000);
  return `${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
};

function changesText(e: TimelineEntry): string[] {
  const out: string[] = [];
  const passes = e.changes.filter((c) => c.to === "pass").length;
  for (const c of e.changes) {
    if (c.to === "pass") continue;
    // A test starting up (no verdict or nodata, then inconclusive or nodata) is not news.
    if ((c.from === null || c.from === "nodata") && (c.to === "inconclusive" || c.to === "nodata")) continue;
    out.push(`${c.metric} ${formatSlice(c.slice)}: ${c.from ?? "new"} -> ${c.to}`);
  }
  if (passes > 0) out.push(`${passes} finding${passes > 1 ? "s" : ""} now pass`);
  return out;
}

export function renderTimeline(result: SimulationResult, seed: number): string {
  const out: string[] = [];
  out.push(
    `SCENARIO ${result.scenario} (policy ${result.policy}, seed ${seed}): ${result.decision.toUpperCase()} at ${clock(result.endedAt)} after ${result.looks} looks`,
  );
  out.push(`  ${result.message}`);
  // The message already states the reason that ended the rollout; list the other causes (the findings
  // that were only still open are in the JSON output).
  const others = result.reasons.filter((f) => f.cause && !result.message.includes(f.reason));
  for (const f of others.slice(0, 5)) out.push(`  - ${f.reason}`);
  if (others.length > 5) out.push(`  - and ${others.length - 5} more`);
  out.push("");
  const rows: string[][] = [["TIME", "STEP", "WEIGHT", "SAMPLES b/c", "PASSING", "WHAT HAPPENED"]];
  let lastStep = -1;
  for (const e of result.timeline) {
    const happened = [...e.events, ...changesText(e)];
    if (happened.length === 0 && e.stepIndex === lastStep) continue;
    lastStep = e.stepIndex;
    const first = happened.shift() ?? e.message;
    rows.push([
      clock(e.at),
      e.step,
      `${e.weight}%`,
      `${e.samples.baseline}/${e.samples.canary}`,
      e.findings.total > 0 ? `${e.findings.pass}/${e.findings.total}` : "-",
      first,
    ]);
    for (const more of happened) rows.push(["", "", "", "", "", more]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows)
    out.push(
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
        .join("  ")
        .trimEnd(),
    );
  return out.join("\n") + "\n";
}
