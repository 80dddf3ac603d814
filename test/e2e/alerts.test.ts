// The chart's alert rules fired for real: the rules as the chart renders them (helm template of
// templates/operator/prometheusrule.yaml, with short `for:` overrides) checked by promtool, loaded by a real
// Prometheus that scrapes the operator's real /metrics endpoint (src/operator/server.ts serving the
// prom-client registry of src/operator/metrics.ts, with values set as the reconcile loop sets them), sent to
// a real Alertmanager (Debian's prometheus-alertmanager), delivered to a webhook receiver on loopback.
// The same Prometheus scrapes the simulated fleet (src/sim/exporter.ts) so the dashboard's queries run on
// real data, and promtool test rules runs the shipped rules over simulated hours.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { OperatorMetrics } from "../../src/operator/metrics.js";
import { startServer, type RunningServer } from "../../src/operator/server.js";
import { startFleetExporter, type RunningFleetExporter } from "../../src/sim/exporter.js";
import { loadScenario } from "../../src/sim/scenario.js";
import {
  startAlertmanager,
  startWebhookReceiver,
  type AlertmanagerServer,
  type WebhookAlert,
  type WebhookReceiver,
} from "../support/alertmanager.js";
import { renderChart } from "../support/helm.js";
import {
  ALERTS_FILE,
  alertGroups,
  checkPromql,
  dashboard,
  dashboardQueries,
  grafanaToPromql,
  type RuleGroup,
} from "../support/monitoring.js";
import { INSTALL_HINT, startPrometheus, type PrometheusServer } from "../support/prometheus.js";

const run = promisify(execFile);
/** promtool (Debian's prometheus package ships it) with its output; a missing binary says how to install it. */
async function promtool(args: readonly string[]): Promise<{ code: number; out: string }> {
  return run("promtool", [...args]).then(
    (x) => ({ code: 0, out: x.stdout + x.stderr }),
    (e: { code?: number | string; stdout?: string; stderr?: string }) => {
      if (e.code === "ENOENT") throw new Error(`no promtool on PATH: ${INSTALL_HINT}`);
      return { code: typeof e.code === "number" ? e.code : 1, out: `${e.stdout ?? ""}${e.stderr ?? ""}` };
    },
  );
}
const ROLLOUT = { namespace: "voice-prod", name: "tts-v42" };
/** The chart's values for this test: every rule evaluated each second, short `for:` where it matters. */
const OVERRIDES = {
  "prometheus.url": "http://prometheus-operated.monitoring:9090",
  "prometheusRule.enabled": "true",
  "prometheusRule.interval": "1s",
  "prometheusRule.for.VoicectlRolloutPaused": "3s",
  "prometheusRule.for.VoicectlOperatorDown": "2s",
  "prometheusRule.ruleLabels.team": "ml-platform",
};

let dir: string;
let renderedRules: string;
let groups: RuleGroup[];
let metrics: OperatorMetrics;
let exporter: RunningServer | undefined;
let fleet: RunningFleetExporter;
let receiver: WebhookReceiver;
let alertmanager: AlertmanagerServer;
let prometheus: PrometheusServer;

const isAlert = (name: string, status: "firing" | "resolved") => (a: WebhookAlert) =>
  a.labels["alertname"] === name && a.status === status;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "voicectl-alerts-"));
  const rendered = parse(
    await renderChart({ set: OVERRIDES, showOnly: ["templates/operator/prometheusrule.yaml"] }),
  ) as { kind: string; spec: { groups: RuleGroup[] } };
  expect(rendered.kind).toBe("PrometheusRule");
  groups = rendered.spec.groups;
  renderedRules = join(dir, "rules.yaml");
  writeFileSync(renderedRules, stringify({ groups }));

  metrics = new OperatorMetrics();
  // What the leader reports on its first pass of a rollout that has just started its first step.
  metrics.rollout(ROLLOUT, "Progressing", 10);
  metrics.reconciled(0.02);
  exporter = await startServer({ host: "127.0.0.1", port: 0, metrics, readiness: () => ({ ready: true }) });
  // The fleet's metrics (docs/metrics.md), for the dashboard's per-slice and GPU panels.
  const { scenario } = await loadScenario("examples/scenarios/clone-drift.yaml");
  fleet = await startFleetExporter({
    scenario,
    stable: "tts-v41",
    canary: "tts-v42",
    speed: 60,
    canaryWeight: 10,
  });
  receiver = await startWebhookReceiver();
  alertmanager = await startAlertmanager({ webhookUrl: receiver.url });
  prometheus = await startPrometheus({
    job: "voicectl-operator",
    // The pod label a Kubernetes scrape adds: the rules must drop it.
    targets: [
      { address: `127.0.0.1:${exporter.port}`, labels: { pod: "voicectl-7d9f-abcde" } },
      { address: fleet.address, labels: { namespace: "voice-prod" } },
    ],
    ruleFiles: [renderedRules],
    alertmanagers: [alertmanager.address],
    evaluationInterval: "1s",
  });
  // The Progressing phase is in the TSDB before anything pauses (a rollback alert needs that history).
  await prometheus.waitForScrapes('voicectl_rollout_phase{phase="Progressing"}', 2);
  await prometheus.waitForScrapes('voice_requests_total{version="tts-v42", outcome="ok"}', 3);
}, 120_000);

afterAll(async () => {
  await exporter?.close();
  await fleet?.close();
  await prometheus?.stop();
  await alertmanager?.stop();
  await receiver?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the chart's alert rules", () => {
  it("pass promtool check rules, as files/alerts.yaml and as the chart renders them", async () => {
    for (const file of [ALERTS_FILE, renderedRules]) {
      const r = await promtool(["check", "rules", file]);
      expect(r.out).toContain("SUCCESS: 6 rules found");
      expect(r.code).toBe(0);
    }
  });

  it("are files/alerts.yaml's rules, with the values' for: overrides, interval and labels", () => {
    const source = alertGroups();
    expect(groups.map((g) => g.name)).toEqual(source.map((g) => g.name));
    for (const [gi, g] of groups.entries()) {
      expect(g.interval).toBe("1s");
      for (const [ri, r] of g.rules.entries()) {
        const s = source[gi]!.rules[ri]!;
        const override = OVERRIDES[`prometheusRule.for.${s.alert}` as keyof typeof OVERRIDES];
        expect(r).toEqual({ ...s, for: override ?? s.for, labels: { ...s.labels, team: "ml-platform" } });
      }
    }
  });

  it("render the dashboard ConfigMap with files/dashboard.json and the sidecar's label", async () => {
    const cm = parse(
      await renderChart({
        set: { "prometheus.url": OVERRIDES["prometheus.url"], "grafanaDashboard.enabled": "true" },
        showOnly: ["templates/operator/grafana-dashboard.yaml"],
      }),
    ) as { kind: string; metadata: { labels: Record<string, string> }; data: Record<string, string> };
    expect(cm.kind).toBe("ConfigMap");
    expect(cm.metadata.labels["grafana_dashboard"]).toBe("1");
    expect(JSON.parse(cm.data["voicectl-rollouts.json"] ?? "")).toEqual(dashboard());
  });

  it("the dashboard's queries run on this Prometheus and its main panels show data", async () => {
    const results = new Map<string, number>();
    for (const q of dashboardQueries(dashboard())) {
      // Grafana's "All" for $namespace and $rollout; a 1m range: the data is seconds old.
      const promql = grafanaToPromql(q.expr).replace(/\$(namespace|rollout)\b/g, ".*");
      if (checkPromql(promql).errors.length > 0) throw new Error(`${q.where}: ${promql}`);
      const samples = await prometheus.query(promql).catch((e: Error) => {
        throw new Error(`${q.where}: ${e.message}`);
      });
      results.set(q.where, samples.length);
    }
    const panel = (title: string) =>
      [...results].find(([where]) => where.startsWith(`panel "${title}"`))?.[1];
    expect(panel("Rollouts by phase")).toBe(1);
    expect(panel("Canary weight")).toBe(1);
    // Two versions times the scenario's voices.
    expect(panel("Time to first audio p95 by slice")).toBeGreaterThan(2);
    expect(panel("Speaker similarity (mean) by slice")).toBeGreaterThan(2);
    expect(panel("Audio generated")).toBe(2);
    // The GPU estimate also needs voice_real_time_factor, which no shipped scenario simulates: it ran
    // above without an error, and it has no data to show here.
    expect(panel("GPUs busy generating audio (estimate)")).toBe(0);
    expect(results.get("variable $namespace")).toBeGreaterThan(0);
  });

  it("fire once for a paused rollout, with its labels and the approve and abort commands", async () => {
    metrics.rollout(ROLLOUT, "Paused", 10);
    const firing = await receiver.waitFor(
      isAlert("VoicectlRolloutPaused", "firing"),
      "VoicectlRolloutPaused firing",
    );
    // Exactly the rollout's labels: no pod or instance, so two replicas or a failover never make two alerts.
    expect(firing.labels).toEqual({
      alertname: "VoicectlRolloutPaused",
      namespace: "voice-prod",
      rollout: "tts-v42",
      severity: "warning",
      team: "ml-platform",
    });
    expect(firing.annotations["summary"]).toBe(
      "VoiceRollout voice-prod/tts-v42 is paused, waiting for a decision",
    );
    const description = firing.annotations["description"] ?? "";
    expect(description).toContain('voicectl rollout approve tts-v42 -n voice-prod --reason "..."');
    expect(description).toContain('voicectl rollout abort tts-v42 -n voice-prod --reason "..."');
    expect(description).toContain("voicectl rollout status tts-v42 -n voice-prod");
  });

  it("send the resolved notification once the rollout is approved and moves on", async () => {
    metrics.rollout(ROLLOUT, "Progressing", 50);
    const resolved = await receiver.waitFor(
      isAlert("VoicectlRolloutPaused", "resolved"),
      "VoicectlRolloutPaused resolved",
    );
    expect(resolved.labels["rollout"]).toBe("tts-v42");
    const firings = receiver.notifications
      .flatMap((n) => n.alerts)
      .filter(isAlert("VoicectlRolloutPaused", "firing"));
    // One alert, however many notifications carried it: all have the same start.
    expect(new Set(firings.map((a) => a.startsAt)).size).toBe(1);
  });

  it("fire for a rollback, naming the rollout and where to read why", async () => {
    metrics.rollout(ROLLOUT, "RolledBack", 0);
    metrics.decision("rollback", "RolledBack");
    const firing = await receiver.waitFor(
      isAlert("VoicectlRolloutRolledBack", "firing"),
      "VoicectlRolloutRolledBack firing",
    );
    expect(firing.labels).toMatchObject({ namespace: "voice-prod", rollout: "tts-v42", phase: "RolledBack" });
    expect(firing.annotations["summary"]).toBe(
      "VoiceRollout voice-prod/tts-v42 was rolled back (RolledBack)",
    );
    expect(firing.annotations["description"]).toContain("voicectl rollout history tts-v42 -n voice-prod");
  });

  it("fire when no operator replica is scraped any more", async () => {
    // Nothing had reported the operator down while it was up.
    expect(
      receiver.notifications
        .flatMap((n) => n.alerts)
        .some((a) => a.labels["alertname"] === "VoicectlOperatorDown"),
    ).toBe(false);
    await exporter!.close();
    exporter = undefined;
    const firing = await receiver.waitFor(
      isAlert("VoicectlOperatorDown", "firing"),
      "VoicectlOperatorDown firing",
    );
    expect(firing.labels["severity"]).toBe("critical");
  });
});

/** A promtool unit-test case: series (promtool's expanding notation, one sample a minute) and expectations. */
interface PromtoolGroup {
  readonly what: string;
  readonly input_series: readonly { series: string; values: string }[];
  readonly alert_rule_test: readonly {
    eval_time: string;
    alertname: string;
    exp_alerts: readonly { exp_labels: Record<string, string> }[];
  }[];
}

const phase = (p: string, values: string, pod = "a", rollout = "tts-v42") => ({
  series: `voicectl_rollout_phase{namespace="voice-prod",rollout="${rollout}",phase="${p}",pod="${pod}"}`,
  values,
});
const paused = {
  alertname: "VoicectlRolloutPaused",
  namespace: "voice-prod",
  rollout: "tts-v42",
  severity: "warning",
};

// The rules over hours of simulated time (promtool test rules), for what a test in real time cannot wait
// for: the shipped `for:` durations, a failover between leaders, the one-hour rollback window, an operator
// that stops reconciling, slow looks. Annotations are left out here; the real alerts above check them.
const PROMTOOL_GROUPS: PromtoolGroup[] = [
  {
    what: "a failover (the old leader's series end with a stale marker, the new one's begin a minute later) keeps the paused clock",
    input_series: [phase("Paused", "1x10 stale", "a"), phase("Paused", "_x12 1x40", "b")],
    alert_rule_test: [
      { eval_time: "29m", alertname: "VoicectlRolloutPaused", exp_alerts: [] },
      { eval_time: "31m", alertname: "VoicectlRolloutPaused", exp_alerts: [{ exp_labels: paused }] },
    ],
  },
  {
    what: "a rollout approved before its for: never alerts; one that stays paused does",
    input_series: [phase("Paused", "1x20 0x20", "a", "approved"), phase("Paused", "0x5 1x40", "a")],
    alert_rule_test: [
      { eval_time: "34m", alertname: "VoicectlRolloutPaused", exp_alerts: [] },
      { eval_time: "36m", alertname: "VoicectlRolloutPaused", exp_alerts: [{ exp_labels: paused }] },
    ],
  },
  {
    what: "a rollback alerts at once and for an hour; one from before the operator's restart does not",
    input_series: [phase("RolledBack", "0x10 1x80"), phase("RolledBack", "1x90", "a", "old")],
    alert_rule_test: [
      { eval_time: "9m", alertname: "VoicectlRolloutRolledBack", exp_alerts: [] },
      {
        eval_time: "11m",
        alertname: "VoicectlRolloutRolledBack",
        exp_alerts: [
          {
            exp_labels: {
              namespace: "voice-prod",
              rollout: "tts-v42",
              phase: "RolledBack",
              severity: "warning",
            },
          },
        ],
      },
      { eval_time: "75m", alertname: "VoicectlRolloutRolledBack", exp_alerts: [] },
    ],
  },
  {
    what: "an operator whose passes stop while a rollout is active alerts",
    input_series: [
      phase("Progressing", "1x40"),
      { series: "voicectl_reconcile_duration_seconds_count", values: "0+1x10 10x30" },
      { series: "voicectl_reconcile_errors_total", values: "0x40" },
    ],
    alert_rule_test: [
      { eval_time: "18m", alertname: "VoicectlOperatorNotReconciling", exp_alerts: [] },
      {
        eval_time: "27m",
        alertname: "VoicectlOperatorNotReconciling",
        exp_alerts: [{ exp_labels: { severity: "critical" } }],
      },
    ],
  },
  {
    what: "an operator whose every pass fails alerts, for not reconciling and for errors",
    input_series: [
      phase("Paused", "1x40"),
      { series: "voicectl_reconcile_duration_seconds_count", values: "0+1x40" },
      { series: "voicectl_reconcile_errors_total", values: "0+1x40" },
    ],
    alert_rule_test: [
      {
        eval_time: "20m",
        alertname: "VoicectlOperatorNotReconciling",
        exp_alerts: [{ exp_labels: { severity: "critical" } }],
      },
      {
        eval_time: "20m",
        alertname: "VoicectlReconcileErrors",
        exp_alerts: [{ exp_labels: { severity: "warning" } }],
      },
    ],
  },
  {
    what: "a healthy operator, and one whose last rollout was deleted, do not alert",
    input_series: [
      phase("Progressing", "1x60"),
      { series: "voicectl_reconcile_duration_seconds_count", values: "0+1x60" },
      { series: "voicectl_reconcile_errors_total", values: "0x60" },
      // Deleted at 10m: the operator forgets its series after its last pass.
      phase("Progressing", "1x10 stale", "a", "deleted"),
    ],
    alert_rule_test: [
      { eval_time: "40m", alertname: "VoicectlOperatorNotReconciling", exp_alerts: [] },
      { eval_time: "40m", alertname: "VoicectlReconcileErrors", exp_alerts: [] },
      { eval_time: "40m", alertname: "VoicectlOperatorDown", exp_alerts: [] },
    ],
  },
  {
    what: "with the last rollout deleted, passes stopping is no alert",
    input_series: [
      phase("Progressing", "1x10 stale", "a", "deleted"),
      { series: "voicectl_reconcile_duration_seconds_count", values: "0+1x10 11x40" },
      { series: "voicectl_reconcile_errors_total", values: "0x50" },
    ],
    alert_rule_test: [
      { eval_time: "16m", alertname: "VoicectlOperatorNotReconciling", exp_alerts: [] },
      { eval_time: "30m", alertname: "VoicectlOperatorNotReconciling", exp_alerts: [] },
    ],
  },
  {
    what: "no replica scraped for 5 minutes",
    input_series: [{ series: "voicectl_reconcile_errors_total", values: "0x5 stale" }],
    alert_rule_test: [
      { eval_time: "4m", alertname: "VoicectlOperatorDown", exp_alerts: [] },
      {
        eval_time: "12m",
        alertname: "VoicectlOperatorDown",
        exp_alerts: [{ exp_labels: { severity: "critical" } }],
      },
    ],
  },
  {
    what: "looks slower than 10 s at the 90th percentile for 15 minutes",
    input_series: [
      { series: 'voicectl_analysis_duration_seconds_bucket{le="10"}', values: "0+1x40" },
      { series: 'voicectl_analysis_duration_seconds_bucket{le="30"}', values: "0+10x40" },
      { series: 'voicectl_analysis_duration_seconds_bucket{le="+Inf"}', values: "0+10x40" },
    ],
    alert_rule_test: [
      { eval_time: "10m", alertname: "VoicectlAnalysisSlow", exp_alerts: [] },
      {
        eval_time: "20m",
        alertname: "VoicectlAnalysisSlow",
        exp_alerts: [{ exp_labels: { severity: "warning" } }],
      },
    ],
  },
  {
    what: "fast looks do not alert",
    input_series: [
      { series: 'voicectl_analysis_duration_seconds_bucket{le="1"}', values: "0+10x40" },
      { series: 'voicectl_analysis_duration_seconds_bucket{le="+Inf"}', values: "0+10x40" },
    ],
    alert_rule_test: [{ eval_time: "30m", alertname: "VoicectlAnalysisSlow", exp_alerts: [] }],
  },
];

describe("the shipped rules over simulated hours (promtool test rules on files/alerts.yaml)", () => {
  it.each(PROMTOOL_GROUPS.map((g) => [g.what, g] as const))("%s", async (_what, group) => {
    // The shipped rules without their annotations (checked against real notifications above).
    const rules = join(dir, "rules-no-annotations.yaml");
    writeFileSync(
      rules,
      stringify({
        groups: alertGroups().map((g) => ({ ...g, rules: g.rules.map(({ annotations: _a, ...r }) => r) })),
      }),
    );
    const test = join(dir, `promtool-${PROMTOOL_GROUPS.indexOf(group)}.yaml`);
    const { what: _w, ...body } = group;
    writeFileSync(
      test,
      stringify({ rule_files: [rules], evaluation_interval: "1m", tests: [{ interval: "1m", ...body }] }),
    );
    const r = await promtool(["test", "rules", test]);
    expect(r.out).toContain("SUCCESS");
    expect(r.code).toBe(0);
  });
});
