// A report that fits a pull-request comment or a CI job summary (GitHub-flavoured markdown).
import type { GateReport } from "../../core/judge/report.js";
import type { Decision } from "../../core/types.js";
import { HEADERS, findingCells, headlineFindings } from "./columns.js";

const ICON: Record<Decision, string> = {
  promote: ":white_check_mark:",
  pause: ":pause_button:",
  rollback: ":x:",
};

const escape = (s: string) =>
  s.replace(/\\/g, "\\\\").replace(/\|/g, "\\|").replace(/</g, "&lt;").replace(/\n/g, " ");

function table(rows: readonly string[][]): string {
  const head = `| ${HEADERS.join(" | ")} |`;
  const rule = `|${HEADERS.map(() => "---").join("|")}|`;
  return [head, rule, ...rows.map((r) => `| ${r.map(escape).join(" | ")} |`)].join("\n");
}

export function renderMarkdown(report: GateReport): string {
  const c = report.counts;
  const out = [
    `### ${ICON[report.decision]} voicectl gate: **${report.decision}** (policy \`${escape(report.policy)}\`)`,
    "",
    `${report.findings.length} findings: ${c.fail} fail, ${c.inconclusive} inconclusive, ${c.nodata} nodata, ${c.pass} pass.`,
    "",
  ];
  if (report.reasons.length > 0) {
    out.push("**Why**", "");
    for (const f of report.reasons.slice(0, 20)) out.push(`- ${escape(f.reason)}`);
    if (report.reasons.length > 20) out.push(`- and ${report.reasons.length - 20} more`);
    out.push("");
  }
  for (const note of report.notes) out.push(`> ${escape(note)}`, "");
  out.push(table(headlineFindings(report.findings).map(findingCells)), "");
  out.push(
    `<details><summary>All ${report.findings.length} findings</summary>`,
    "",
    table(report.findings.map(findingCells)),
    "",
    "</details>",
    "",
  );
  return out.join("\n");
}
