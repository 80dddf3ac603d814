import { afterEach, describe, expect, it } from "vitest";
import { OperatorMetrics } from "./metrics.js";
import { startServer, type Readiness, type RunningServer } from "./server.js";

let server: RunningServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe("operator HTTP server", () => {
  it("serves /metrics, /healthz, and /readyz from the readiness callback", async () => {
    const metrics = new OperatorMetrics();
    metrics.rollout({ namespace: "voice", name: "tts-v42" }, "Paused", 25);
    metrics.decision("pause", "approval");
    let readiness: Readiness = { ready: false, reason: "informers not synced" };
    server = await startServer({ host: "127.0.0.1", port: 0, metrics, readiness: () => readiness });
    const base = `http://127.0.0.1:${server.port}`;

    const m = await fetch(`${base}/metrics`);
    expect(m.status).toBe(200);
    expect(m.headers.get("content-type")).toMatch(/^text\/plain/);
    const text = await m.text();
    expect(text).toContain('voicectl_rollout_phase{namespace="voice",rollout="tts-v42",phase="Paused"} 1');
    expect(text).toContain('voicectl_rollout_canary_weight{namespace="voice",rollout="tts-v42"} 25');
    expect(text).toContain('voicectl_decisions_total{decision="pause",reason="approval"} 1');
    expect(text).toContain("# TYPE voicectl_reconcile_duration_seconds histogram");

    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const notReady = await fetch(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.text()).toMatch(/informers not synced/);
    readiness = { ready: true };
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect((await fetch(`${base}/rollouts`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: "POST" })).status).toBe(405);
  });

  it("a readiness callback that throws is not ready, and the process stays healthy", async () => {
    server = await startServer({
      host: "127.0.0.1",
      port: 0,
      metrics: new OperatorMetrics(),
      readiness: () => {
        throw new Error("lease lookup failed");
      },
    });
    const base = `http://127.0.0.1:${server.port}`;
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it("two operators in one process keep separate metrics", async () => {
    const a = new OperatorMetrics();
    const b = new OperatorMetrics();
    a.error();
    expect(await a.text()).toMatch(/^voicectl_reconcile_errors_total 1$/m);
    expect(await b.text()).toMatch(/^voicectl_reconcile_errors_total 0$/m);
  });
});
