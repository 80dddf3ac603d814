// JUnit XML for CI dashboards: one test suite per metric, one test case per finding. Anything that blocks a
// promotion (fail, inconclusive, nodata) is a <failure> whose type says which.
import type { GateReport } from "../../core/judge/report.js";
import { formatSlice, type Finding } from "../../core/types.js";

const xml = (s: string) =>
  s
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");

function testcase(f: Finding): string {
  const open = `    <testcase classname="voicectl.${xml(f.metric)}" name="${xml(formatSlice(f.slice))}">`;
  if (f.verdict === "pass") return `${open}</testcase>`;
  const type = f.verdict + (f.critical ? "-critical" : "");
  return `${open}\n      <failure type="${type}" message="${xml(f.reason)}">${xml(f.reason)}</failure>\n    </testcase>`;
}

export function renderJunit(report: GateReport): string {
  const byMetric = new Map<string, Finding[]>();
  for (const f of report.findings) {
    const list = byMetric.get(f.metric) ?? [];
    list.push(f);
    byMetric.set(f.metric, list);
  }
  const failures = report.findings.filter((f) => f.verdict !== "pass").length;
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="voicectl gate: ${xml(report.decision)}" tests="${report.findings.length}" failures="${failures}">`,
  ];
  for (const [metric, list] of byMetric) {
    const f = list.filter((x) => x.verdict !== "pass").length;
    out.push(
      `  <testsuite name="${xml(`${report.policy}/${metric}`)}" tests="${list.length}" failures="${f}">`,
    );
    out.push(...list.map(testcase));
    out.push("  </testsuite>");
  }
  out.push("</testsuites>", "");
  return out.join("\n");
}
