// voicectl analyze against a real Prometheus (Debian's package) scraping the simulated fleet exporter at 60x
// simulated time: the clone-drift scenario fails for that voice only, an A/A fleet passes, and a Prometheus
// stopped mid-analysis gives nodata and no promotion (docs/decisions.md#decision-rules,
// docs/statistics.md#online-analysis-many-looks).
import { afterEach, describe, expect, it } from "vitest";
import { runAnalyze } from "../../src/cli/commands/analyze.js";
import type { GateReport } from "../../src/core/judge/report.js";
import { startFleetExporter, type RunningFleetExporter } from "../../src/sim/exporter.js";
import { loadScenario } from "../../src/sim/scenario.js";
import { startPrometheus, type PrometheusServer } from "../support/prometheus.js";

const STABLE = "tts-v41";
const CANARY = "tts-v42";
let exporter: RunningFleetExporter | undefined;
let prom: PrometheusServer | undefined;

afterEach(async () => {
  await prom?.stop();
  await exporter?.close();
  prom = undefined;
  exporter = undefined;
});

/** A fleet at 50% canary weight, scraped every second for `scrapes` seconds (that many simulated minutes). */
async function liveFleet(scenarioFile: string, scrapes: number): Promise<PrometheusServer> {
  const { scenario } = await loadScenario(scenarioFile);
  exporter = await startFleetExporter({
    scenario,
    stable: STABLE,
    canary: CANARY,
    speed: 60,
    canaryWeight: 50,
  });
  prom = await startPrometheus({
    targets: [{ address: exporter.address, labels: { namespace: "voice-prod" } }],
  });
  await prom.waitForScrapes(`voice_requests_total{version="${CANARY}", outcome="ok"}`, scrapes);
  return prom;
}

function analyze(url: string, window: string): Promise<GateReport> {
  return runAnalyze({
    policy: "policies/voice-studio.yaml",
    prometheus: url,
    stable: STABLE,
    canary: CANARY,
    window,
    namespace: "voice-prod",
    stableGpus: 4,
    canaryGpus: 4,
    gpuHourPrice: 2.5,
  });
}

describe("voicectl analyze on live traffic from a real Prometheus", () => {
  it("clone drift: rolls back for that voice only, from bucket counts", async () => {
    const p = await liveFleet("examples/scenarios/clone-drift.yaml", 20);
    const report = await analyze(p.url, "20s");
    const fails = report.findings.filter((f) => f.verdict === "fail");
    expect(report.decision).toBe("rollback");
    expect(fails.map((f) => [f.metric, f.slice])).toEqual([["speaker_similarity", { voice_id: "mia-chen" }]]);
    expect(fails[0]!.method).toBe("mixture-cs");
    expect(fails[0]!.samples.canary).toBeGreaterThan(100);
  });

  it("A/A: every finding passes and the canary may be promoted", async () => {
    const p = await liveFleet("examples/scenarios/aa.yaml", 20);
    const report = await analyze(p.url, "20s");
    expect(report.findings.filter((f) => f.verdict !== "pass").map((f) => f.reason)).toEqual([]);
    expect(report.decision).toBe("promote");
  });

  it("Prometheus stopped mid-analysis: every metric is nodata with the reason, and nothing promotes", async () => {
    const p = await liveFleet("examples/scenarios/aa.yaml", 5);
    const url = p.url;
    await p.stop();
    const report = await analyze(url, "20s");
    expect(report.decision).toBe("pause");
    expect(report.findings.every((f) => f.verdict === "nodata")).toBe(true);
    expect(report.reasons[0]!.reason).toMatch(
      /metric source unavailable: Prometheus at http:\/\/127\.0\.0\.1:\d+ is unreachable/,
    );
  });
});
