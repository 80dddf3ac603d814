// The report for people at a terminal. Colour only when stdout is a terminal and NO_COLOR is not set.
import type { GateReport } from "../../core/judge/report.js";
import type { Decision, Verdict } from "../../core/types.js";
import { HEADERS, findingCells, headlineFindings } from "./columns.js";

const ANSI = {
  red: "\u001b[31m",
  green: "\u001b[32m",
  yellow: "\u001b[33m",
  bold: "\u001b[1m",
  reset: "\u001b[0m",
};

const VERDICT_COLOUR: Record<Verdict, string> = {
  fail: ANSI.red,
  nodata: ANSI.yellow,
  inconclusive: ANSI.yellow,
  pass: ANSI.green,
};
const DECISION_COLOUR: Record<Decision, string> = {
  rollback: ANSI.red,
  pause: ANSI.yellow,
  promote: ANSI.green,
};

export function renderTable(report: GateReport, opts: { colour: boolean; all: boolean }): string {
  const paint = (colour: string, text: string) => (opts.colour ? `${colour}${text}${ANSI.reset}` : text);
  const shown = opts.all ? [...report.findings] : headlineFindings(report.findings);
  const rows = shown.map(findingCells);
  const widths = HEADERS.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();

  const out: string[] = [];
  const MODES = {
    summary: "summary values",
    paired: "paired by utterance",
    independent: "independent samples",
    live: "live traffic, anytime-valid intervals",
  } as const;
  const mode = MODES[report.mode];
  out.push(
    `${paint(ANSI.bold + DECISION_COLOUR[report.decision], `DECISION: ${report.decision.toUpperCase()}`)}  (policy ${report.policy}, ${mode}${report.confidence !== null ? `, ${report.confidence * 100}% intervals` : ""})`,
  );
  for (const f of report.reasons.slice(0, 10)) out.push(`  - ${f.reason}`);
  if (report.reasons.length > 10) out.push(`  - and ${report.reasons.length - 10} more (see the table)`);
  for (const note of report.notes) out.push(`  note: ${note}`);
  out.push("");
  out.push(line(HEADERS.map((h) => h.toUpperCase())));
  rows.forEach((r, i) => {
    const verdict = shown[i]!.verdict;
    const text = line(r);
    out.push(
      opts.colour ? paint(VERDICT_COLOUR[verdict], r[0]!.padEnd(widths[0]!)) + text.slice(widths[0]!) : text,
    );
  });
  const c = report.counts;
  const hidden = report.findings.length - shown.length;
  out.push("");
  out.push(
    `${report.findings.length} findings: ${c.fail} fail, ${c.inconclusive} inconclusive, ${c.nodata} nodata, ${c.pass} pass` +
      (hidden > 0 ? ` (${hidden} passing slices not shown; --all shows them)` : ""),
  );
  return out.join("\n") + "\n";
}
