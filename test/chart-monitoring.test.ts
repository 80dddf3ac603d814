// The chart's alert rules (charts/voicectl/files/alerts.yaml) and Grafana dashboard (files/dashboard.json):
// every query parses with Prometheus' grammar and selects only series that exist (the operator's, from
// src/operator/metrics.ts, and the metric contract's, docs/metrics.md); every alert tells on-call what to
// run. test/e2e/alerts.test.ts fires the rules through a real Prometheus and Alertmanager.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  alertGroups,
  checkPromql,
  contractSeries,
  dashboard,
  dashboardQueries,
  grafanaToPromql,
  operatorSeries,
} from "./support/monitoring.js";

const DURATION = /^([0-9]+(ms|s|m|h|d|w|y))+$/;

describe("the checks themselves", () => {
  it("report a syntax error and name the metrics a query selects", () => {
    expect(checkPromql("sum(rate(foo_total[5m])").errors).not.toEqual([]);
    expect(checkPromql('max by (a) (last_over_time(foo{b="c"}[2m])) / on () bar_count').metrics).toEqual([
      "foo",
      "bar_count",
    ]);
  });

  it("read the operator's series from its registry and the contract's from docs/metrics.md", async () => {
    const operator = await operatorSeries();
    expect(operator).toContain("voicectl_rollout_phase");
    expect(operator).toContain("voicectl_analysis_duration_seconds_bucket");
    expect(operator).not.toContain("voicectl_rollout_phase_bucket");
    const contract = contractSeries();
    expect(contract).toContain("voice_ttfa_seconds_bucket");
    expect(contract).toContain("voice_requests_total");
    expect(contract).not.toContain("voice_requests_total_count");
    expect(contractSeries("| `x_seconds` | histogram | ... |\n| `label` | meaning |\n")).toEqual(
      new Set(["x_seconds_bucket", "x_seconds_sum", "x_seconds_count"]),
    );
  });

  it("turn Grafana's variables into PromQL", () => {
    const q = grafanaToPromql(
      'sum by (version, $slice) (rate(x{namespace=~"$namespace"}[$__rate_interval]))',
    );
    expect(q).toBe('sum by (version, voice_id) (rate(x{namespace=~"$namespace"}[5m]))');
    expect(checkPromql(q).errors).toEqual([]);
  });
});

describe("alert rules (files/alerts.yaml)", () => {
  const groups = alertGroups();
  const rules = groups.flatMap((g) => g.rules.map((r) => ({ group: g.name, ...r })));

  it("cover a paused rollout, a rollback, the operator down or stuck, and slow analysis", () => {
    expect(rules.map((r) => r.alert)).toEqual([
      "VoicectlRolloutPaused",
      "VoicectlRolloutRolledBack",
      "VoicectlOperatorDown",
      "VoicectlOperatorNotReconciling",
      "VoicectlReconcileErrors",
      "VoicectlAnalysisSlow",
    ]);
  });

  it("parse, and query only the operator's own metrics", async () => {
    const operator = await operatorSeries();
    for (const r of rules) {
      const { errors, metrics } = checkPromql(r.expr);
      expect(errors, `${r.alert}: ${r.expr}`).toEqual([]);
      expect(metrics.length, r.alert).toBeGreaterThan(0);
      for (const m of metrics)
        expect(operator.has(m), `${r.alert} selects ${m}, not an operator metric`).toBe(true);
    }
  });

  it("carry a severity, a duration, a summary and a description", () => {
    for (const r of rules) {
      expect(["warning", "critical"], r.alert).toContain(r.labels?.["severity"]);
      expect(r.for ?? "", r.alert).toMatch(DURATION);
      expect(r.annotations?.["summary"], r.alert).toBeTruthy();
      expect(r.annotations?.["description"], r.alert).toBeTruthy();
    }
  });

  it("alert once per rollout: rollout alerts keep exactly its namespace and name, never the replica's labels", () => {
    for (const r of rules.filter((x) => x.group === "voicectl-rollouts")) {
      // Every aggregation groups by namespace and rollout (and phase), so pod and instance are gone.
      const groupings = [...r.expr.matchAll(/\b(?:max|min) by \(([^)]*)\)/g)].map((m) => m[1]!.split(/,\s*/));
      expect(groupings.length, r.alert).toBeGreaterThan(0);
      for (const g of groupings) {
        expect(g, r.alert).toEqual(expect.arrayContaining(["namespace", "rollout"]));
        expect(g, r.alert).not.toContain("pod");
        expect(g, r.alert).not.toContain("instance");
      }
      const text = `${r.annotations?.["summary"]} ${r.annotations?.["description"]}`;
      expect(text, r.alert).toContain("{{ $labels.namespace }}/{{ $labels.rollout }}");
      expect(text, r.alert).toContain(
        "voicectl rollout status {{ $labels.rollout }} -n {{ $labels.namespace }}",
      );
    }
  });

  it("are documented with their default for: in values.yaml and the chart's README", () => {
    const values = readFileSync("charts/voicectl/values.yaml", "utf8").replace(/\n\s*#\s*/g, " ");
    const readme = readFileSync("charts/voicectl/README.md", "utf8");
    for (const r of rules) {
      expect(values, `values.yaml on ${r.alert}`).toContain(`${r.alert} ${r.for}`);
      expect(readme, `README on ${r.alert}`).toMatch(
        new RegExp(`\\| \`${r.alert}\`[^\\n]*\\| ${r.for} +\\|\\n`),
      );
    }
  });

  it("tell on-call the approve and abort commands for a paused rollout", () => {
    const paused = rules.find((r) => r.alert === "VoicectlRolloutPaused")!;
    for (const action of ["approve", "abort"])
      expect(paused.annotations?.["description"]).toContain(
        `voicectl rollout ${action} {{ $labels.rollout }} -n {{ $labels.namespace }} --reason`,
      );
  });
});

describe("Grafana dashboard (files/dashboard.json)", () => {
  const d = dashboard();
  const queries = dashboardQueries(d);
  const titles = d.panels.flatMap((p) => [p, ...(p.panels ?? [])]).map((p) => p.title ?? "");

  it("has the panels on-call looks for", () => {
    for (const t of ["Rollouts by phase", "Canary weight", "Time to first audio p95 by slice", "GPUs busy"])
      expect(
        titles.some((x) => x.startsWith(t)),
        t,
      ).toBe(true);
    expect(queries.length).toBeGreaterThan(10);
  });

  it("queries parse and select only series the operator or the metric contract exports", async () => {
    const known = new Set([...(await operatorSeries()), ...contractSeries()]);
    for (const q of queries) {
      const promql = grafanaToPromql(q.expr);
      const { errors, metrics } = checkPromql(promql);
      expect(errors, `${q.where}: ${promql}`).toEqual([]);
      expect(metrics.length, q.where).toBeGreaterThan(0);
      for (const m of metrics)
        expect(known.has(m), `${q.where} selects ${m}, which nothing exports`).toBe(true);
    }
  });

  it("uses the datasource variable, so it works with any Prometheus", () => {
    // Every datasource reference anywhere in the dashboard is the variable, never a fixed uid.
    const uids: unknown[] = [];
    JSON.stringify(d, (key, value: unknown) => {
      if (key === "datasource" && typeof value === "object" && value !== null)
        uids.push((value as { uid?: unknown }).uid);
      return value;
    });
    expect(uids.length).toBeGreaterThan(queries.length);
    expect(new Set(uids)).toEqual(new Set(["${datasource}"]));
    expect(d.templating.list.map((v) => v.name)).toEqual(["datasource", "namespace", "rollout", "slice"]);
  });
});
