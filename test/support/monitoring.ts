// The chart's monitoring files (charts/voicectl/files/alerts.yaml and dashboard.json) and what they may
// query: the operator's own metrics (src/operator/metrics.ts, read from a live registry, not a list copied
// here) and the metric contract's series (the "Series" table of docs/metrics.md).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parser } from "@prometheus-io/lezer-promql";
import { parse } from "yaml";
import { OperatorMetrics } from "../../src/operator/metrics.js";

const ROOT = process.cwd();
export const ALERTS_FILE = join(ROOT, "charts/voicectl/files/alerts.yaml");
export const DASHBOARD_FILE = join(ROOT, "charts/voicectl/files/dashboard.json");

export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}
export interface RuleGroup {
  readonly name: string;
  readonly interval?: string;
  readonly rules: readonly AlertRule[];
}

export function alertGroups(text = readFileSync(ALERTS_FILE, "utf8")): RuleGroup[] {
  return (parse(text) as { groups: RuleGroup[] }).groups;
}

/** Series names with a histogram's _bucket, _sum and _count. */
function withHistogramSeries(name: string, type: string): string[] {
  return type === "histogram" ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name];
}

/** Every series name the operator exports, from a fresh registry of src/operator/metrics.ts. */
export async function operatorSeries(): Promise<Set<string>> {
  const json = await new OperatorMetrics().registry.getMetricsAsJSON();
  return new Set(json.flatMap((m) => withHistogramSeries(m.name, String(m.type))));
}

/** The series of the metric contract: rows of docs/metrics.md's table whose first cells are `name` | type. */
export function contractSeries(markdown = readFileSync(join(ROOT, "docs/metrics.md"), "utf8")): Set<string> {
  const out = new Set<string>();
  for (const m of markdown.matchAll(/^\|\s*`([a-z_:][a-z0-9_:]*)`\s*\|\s*(histogram|counter|gauge)\s*\|/gm))
    for (const s of withHistogramSeries(m[1]!, m[2]!)) out.add(s);
  return out;
}

export interface PromqlCheck {
  /** Syntax errors, as "at column N (near ...)". */
  readonly errors: string[];
  /** Metric names of the vector selectors. */
  readonly metrics: string[];
}

/** Parse PromQL with Prometheus' own grammar; the metric names it selects. */
export function checkPromql(expr: string): PromqlCheck {
  const errors: string[] = [];
  const metrics: string[] = [];
  parser.parse(expr).iterate({
    enter: (node) => {
      if (node.type.isError) {
        errors.push(
          `syntax error at column ${node.from + 1} (near "${expr.slice(node.from, node.from + 12)}")`,
        );
      } else if (node.name === "Identifier" && node.node.parent?.name === "VectorSelector") {
        metrics.push(expr.slice(node.from, node.to));
      }
    },
  });
  return { errors, metrics };
}

/**
 * Grafana's variables replaced by values that make the query plain PromQL: ranges ($__rate_interval,
 * $__range, $__interval) by 5m, $slice (a label name in `by (...)`) by voice_id. Variables inside label
 * matcher strings (namespace=~"$namespace") are already valid PromQL and stay.
 */
export function grafanaToPromql(expr: string): string {
  return expr.replace(/\$__(rate_interval|range|interval)\b/g, "5m").replace(/\$slice\b/g, "voice_id");
}

interface Target {
  expr?: string;
}
interface Panel {
  title?: string;
  type: string;
  targets?: Target[];
  panels?: Panel[];
}
interface Variable {
  name: string;
  type: string;
  query?: string | { query?: string };
}
export interface Dashboard {
  title: string;
  panels: Panel[];
  templating: { list: Variable[] };
}

export function dashboard(text = readFileSync(DASHBOARD_FILE, "utf8")): Dashboard {
  return JSON.parse(text) as Dashboard;
}

/** Every PromQL query of the dashboard, with where it is: panel targets and label_values() variables. */
export function dashboardQueries(d: Dashboard): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  const walk = (panels: readonly Panel[]) => {
    for (const p of panels) {
      (p.targets ?? []).forEach((t, i) => {
        if (t.expr !== undefined)
          out.push({ where: `panel "${p.title ?? p.type}" target ${i}`, expr: t.expr });
      });
      walk(p.panels ?? []);
    }
  };
  walk(d.panels);
  for (const v of d.templating.list) {
    if (v.type !== "query") continue;
    const q = typeof v.query === "string" ? v.query : (v.query?.query ?? "");
    // label_values(SELECTOR, label): the selector is PromQL.
    const m = /^label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\)$/.exec(q);
    out.push({ where: `variable $${v.name}`, expr: m ? m[1]! : q });
  }
  return out;
}
