// The chart's alert rules fired for real: the rules as the chart renders them (helm template of
// templates/operator/prometheusrule.yaml, with short `for:` overrides) checked by promtool, loaded by a real
// Prometheus that scrapes the operator's real /metrics endpoint (src/operator/server.ts serving the
// prom-client registry of src/operator/metrics.ts, with values set as the reconcile loop sets them), sent to
// a real Alertmanager (Debian's prometheus-alertmanager), delivered to a webhook receiver on loopback.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { OperatorMetrics } from "../../src/operator/metrics.js";
import { startServer, type RunningServer } from "../../src/operator/server.js";
import {
  startAlertmanager,
  startWebhookReceiver,
  type AlertmanagerServer,
  type WebhookAlert,
  type WebhookReceiver,
} from "../support/alertmanager.js";
import { renderChart } from "../support/helm.js";
import { ALERTS_FILE, alertGroups, type RuleGroup } from "../support/monitoring.js";
import { startPrometheus, type PrometheusServer } from "../support/prometheus.js";

const run = promisify(execFile);
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
  receiver = await startWebhookReceiver();
  alertmanager = await startAlertmanager({ webhookUrl: receiver.url });
  prometheus = await startPrometheus({
    job: "voicectl-operator",
    // The pod label a Kubernetes scrape adds: the rules must drop it.
    targets: [{ address: `127.0.0.1:${exporter.port}`, labels: { pod: "voicectl-7d9f-abcde" } }],
    ruleFiles: [renderedRules],
    alertmanagers: [alertmanager.address],
    evaluationInterval: "1s",
  });
  // The Progressing phase is in the TSDB before anything pauses (a rollback alert needs that history).
  await prometheus.waitForScrapes('voicectl_rollout_phase{phase="Progressing"}', 2);
}, 120_000);

afterAll(async () => {
  await exporter?.close();
  await prometheus?.stop();
  await alertmanager?.stop();
  await receiver?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the chart's alert rules", () => {
  it("pass promtool check rules, as files/alerts.yaml and as the chart renders them", async () => {
    for (const file of [ALERTS_FILE, renderedRules]) {
      const { stdout } = await run("promtool", ["check", "rules", file]);
      expect(stdout).toContain("SUCCESS: 6 rules found");
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
