// The operator's LookSource: a look between two instants becomes Prometheus queries at the end instant over
// the window between them, scoped to the rollout's versions and namespace, with the cost metric priced from
// spec.nodePool and the Deployments' replicas. A loopback HTTP server answers the instant-query API and
// records what it was asked (the real-Prometheus suite is test/e2e/analyze.test.ts).
import { createServer, type Server } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { policySchema } from "../../core/policy/schema.js";
import type { VoiceRollout } from "../../core/resource/voicerollout.js";
import type { DeploymentState, RolloutRef, Workloads } from "../../operator/ports.js";
import { PrometheusMetricsSources } from "./metrics-source.js";

const policy = policySchema.parse({
  apiVersion: "voicectl.dev/v1alpha1",
  kind: "RolloutPolicy",
  metadata: { name: "p" },
  spec: {
    metrics: [
      { name: "error", direction: "lowerIsBetter", aggregate: "rate", budget: { absolute: 0.01 } },
      {
        name: "cost_per_audio_second",
        direction: "lowerIsBetter",
        aggregate: "mean",
        budget: { relative: 0.1 },
      },
    ],
  },
});

const rollout = (pricePerGPUHour?: number): VoiceRollout =>
  ({
    apiVersion: "voicectl.dev/v1alpha1",
    kind: "VoiceRollout",
    metadata: { name: "tts", namespace: "voice" },
    spec: {
      stable: { deployment: "tts-v41" },
      canary: { deployment: "tts-v42-deploy", version: "tts-v42" },
      policyRef: { name: "p" },
      traffic: { gatewayAPI: { httpRoute: "tts" } },
      nodePool: {
        name: "l4",
        gpusPerReplica: 1,
        ...(pricePerGPUHour !== undefined ? { pricePerGPUHour } : {}),
      },
      analysis: { interval: "1m" },
      rollback: { scaleDownDelay: "30s" },
      steps: [{ setWeight: 10 }],
    },
  }) as VoiceRollout;

const workloads = (byName: Record<string, DeploymentState>): Workloads => ({
  deployment: async (ref: RolloutRef) => byName[ref.name] ?? null,
  scale: async () => {},
});

interface Asked {
  query: string;
  time: string;
}

let server: Server | undefined;
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

/** Answers every query with per-version samples chosen by what the query reads. */
async function fakePrometheus(asked: Asked[]): Promise<string> {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      const form = new URLSearchParams(body);
      const query = form.get("query") ?? "";
      asked.push({ query, time: form.get("time") ?? "" });
      const values: Record<string, number> = query.includes("voice_generated_audio_seconds_total")
        ? { "tts-v41": 900, "tts-v42": 100 }
        : query.includes('outcome!="ok"')
          ? { "tts-v41": 9, "tts-v42": 1 }
          : { "tts-v41": 900, "tts-v42": 100 };
      const result = Object.entries(values).map(([version, v]) => ({
        metric: { version },
        value: [Number(form.get("time")), String(v)],
      }));
      res.setHeader("Content-Type", "application/json");
      res.end(JSON.stringify({ status: "success", data: { resultType: "vector", result } }));
    });
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", () => r()));
  return `http://127.0.0.1:${(server!.address() as { port: number }).port}`;
}

describe("PrometheusMetricsSources", () => {
  it("queries at the look's end over its window, scoped to the rollout's versions and namespace", async () => {
    const asked: Asked[] = [];
    const url = await fakePrometheus(asked);
    const sources = new PrometheusMetricsSources({
      url,
      workloads: workloads({
        "tts-v41": { replicas: 9, readyReplicas: 9, gpusPerReplica: 1 },
        "tts-v42-deploy": { replicas: 1, readyReplicas: 1, gpusPerReplica: 2 },
      }),
    });
    const look = await sources.for(rollout(0.8), policy).look(1_700_000_000_000, 1_700_000_060_000, 10);

    expect(look.at).toBe(1_700_000_060_000);
    expect(look.canaryWeight).toBe(10);
    expect(new Set(asked.map((a) => a.time))).toEqual(new Set(["1700000060"]));
    for (const { query } of asked) {
      expect(query).toContain("[60s]");
      expect(query).toContain('version=~"tts-v41|tts-v42"');
      expect(query).toContain('namespace="voice"');
    }
    const cost = look.cells.find((c) => c.arm === "canary")?.metrics["cost_per_audio_second"];
    // 1 replica x 2 GPUs (from the pod template) x $0.8 per hour x 1/60 hour, over 100 audio seconds.
    expect(cost?.kind === "moments" && cost.sum / cost.count).toBeCloseTo((2 * 0.8) / 60 / 100, 12);
    const stableCost = look.cells.find((c) => c.arm === "baseline")?.metrics["cost_per_audio_second"];
    expect(stableCost?.kind === "moments" && stableCost.sum / stableCost.count).toBeCloseTo(
      (9 * 0.8) / 60 / 900,
      12,
    );
    expect(look.cells.find((c) => c.arm === "canary")?.metrics["error"]).toEqual({
      kind: "rate",
      requests: 100,
      events: 1,
    });
  });

  it("leaves cost unavailable without a price, and can drop the namespace matcher", async () => {
    const asked: Asked[] = [];
    const url = await fakePrometheus(asked);
    const sources = new PrometheusMetricsSources({ url, matchNamespace: false });
    const look = await sources.for(rollout(), policy).look(0, 30_000, 50);
    expect(Object.keys(look.unavailable ?? {})).toEqual(["cost_per_audio_second"]);
    expect(asked.length).toBeGreaterThan(0);
    expect(asked.every((a) => !a.query.includes("namespace="))).toBe(true);
  });
});
