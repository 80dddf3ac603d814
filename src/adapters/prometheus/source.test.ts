// The adapter's parsing and fault handling, against canned Prometheus API answers served on loopback.
// (Faults such as HTTP 503, NaN values or warnings cannot be produced on demand by a real Prometheus; the
// end-to-end tests run the real server.)
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { makePolicy, type MetricInput } from "../../../test/support/policy.js";
import { planJudge } from "../../core/judge/plan.js";
import { PrometheusClient } from "./client.js";
import { bucketMoments, checkSources, PrometheusLookSource } from "./source.js";

type Handler = (query: string) => { status?: number; body: unknown } | "hang";

let server: Server | null = null;
afterEach(() => {
  server?.closeAllConnections();
  server?.close();
  server = null;
});

async function serve(handler: Handler): Promise<{ url: string; queries: string[] }> {
  const queries: string[] = [];
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      const query = new URLSearchParams(body).get("query") ?? "";
      queries.push(query);
      const r = handler(query);
      if (r === "hang") return;
      res.writeHead(r.status ?? 200, { "content-type": "application/json" });
      res.end(typeof r.body === "string" ? r.body : JSON.stringify(r.body));
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server!.address() as AddressInfo).port}`, queries };
}

const vector = (
  result: { metric: Record<string, string>; value: number | string }[],
  warnings?: string[],
) => ({
  body: {
    status: "success",
    warnings,
    data: {
      resultType: "vector",
      result: result.map((r) => ({ metric: r.metric, value: [0, String(r.value)] })),
    },
  },
});

const SIM: MetricInput = {
  name: "speaker_similarity",
  direction: "higherIsBetter",
  critical: true,
  budget: { absolute: 0.01 },
  sliceBy: ["voice_id"],
};
const TTFA: MetricInput = {
  name: "ttfa_p95",
  column: "ttfa_ms",
  aggregate: "p95",
  critical: true,
  budget: { relative: 0.15 },
};
const ERR: MetricInput = { name: "error", aggregate: "rate", critical: true, budget: { absolute: 0.001 } };

function source(
  url: string,
  metrics: MetricInput[],
  client: Partial<ConstructorParameters<typeof PrometheusClient>[0]> = {},
) {
  const plan = planJudge(makePolicy(metrics));
  return new PrometheusLookSource(plan, {
    client: new PrometheusClient({ url, timeoutMs: 300, attempts: 2, backoffMs: 10, ...client }),
    stable: "tts-v41",
    canary: "tts-v42",
    namespace: "voice-prod",
  });
}

describe("PrometheusLookSource: queries and parsing", () => {
  it("asks for bucket increases by le, version and slice labels, with version and namespace matchers", async () => {
    const s = await serve(() => vector([]));
    await source(s.url, [SIM, TTFA, ERR]).look(1_700_000_000, 60, 10);
    expect(s.queries).toContain(
      'sum by (le, version, voice_id) (increase(voice_speaker_similarity_bucket{version=~"tts-v41|tts-v42",namespace="voice-prod"}[60s]))',
    );
    expect(s.queries).toContain(
      'sum by (version, voice_id) (clamp_min(voice_speaker_similarity_sum{version=~"tts-v41|tts-v42",namespace="voice-prod"} - (voice_speaker_similarity_sum{version=~"tts-v41|tts-v42",namespace="voice-prod"} offset 60s or voice_speaker_similarity_sum{version=~"tts-v41|tts-v42",namespace="voice-prod"} * 0), 0))',
    );
    expect(s.queries).toContain(
      'sum by (le, version) (increase(voice_ttfa_seconds_bucket{version=~"tts-v41|tts-v42",namespace="voice-prod"}[60s]))',
    );
    expect(s.queries).toContain(
      'sum by (version) (increase(voice_requests_total{version=~"tts-v41|tts-v42",namespace="voice-prod",outcome!="ok"}[60s]))',
    );
  });

  it("turns bucket counts into cumulative histograms per arm, scaled to the metric's units and rounded", async () => {
    const s = await serve((q) =>
      q.includes("voice_ttfa_seconds_bucket")
        ? vector([
            { metric: { version: "tts-v41", le: "0.1" }, value: 10.4 },
            { metric: { version: "tts-v41", le: "0.2" }, value: 30.2 },
            { metric: { version: "tts-v41", le: "+Inf" }, value: 31 },
            { metric: { version: "tts-v42", le: "0.1" }, value: 2 },
            { metric: { version: "tts-v42", le: "0.2" }, value: 1.6 }, // extrapolation noise: never decreases
            { metric: { version: "tts-v42", le: "+Inf" }, value: 5 },
            { metric: { version: "tts-v40", le: "+Inf" }, value: 99 }, // another version: ignored
          ])
        : vector([]),
    );
    const look = await source(s.url, [TTFA]).look(1_700_000_000, 60, 25);
    expect(look.canaryWeight).toBe(25);
    const byArm = Object.fromEntries(look.cells.map((c) => [c.arm, c.metrics["ttfa_p95"]]));
    expect(byArm["baseline"]).toEqual({
      kind: "histogram",
      buckets: [
        { le: 100, count: 10 },
        { le: 200, count: 30 },
        { le: Infinity, count: 31 },
      ],
    });
    expect(byArm["canary"]).toEqual({
      kind: "histogram",
      buckets: [
        { le: 100, count: 2 },
        { le: 200, count: 2 },
        { le: Infinity, count: 5 },
      ],
    });
  });

  it("takes a mean exactly from _sum and _count and its spread from the buckets", async () => {
    const s = await serve((q) => {
      if (q.includes("_bucket"))
        return vector(
          [0.6, 0.7, 0.8]
            .map((le, i) => ({
              metric: { version: "tts-v42", voice_id: "mia", le: String(le) },
              value: (i + 1) * 10,
            }))
            .concat([{ metric: { version: "tts-v42", voice_id: "mia", le: "+Inf" }, value: 30 }]),
        );
      if (q.includes("_sum"))
        return vector([{ metric: { version: "tts-v42", voice_id: "mia" }, value: 21.3 }]);
      return vector([{ metric: { version: "tts-v42", voice_id: "mia" }, value: 30 }]);
    });
    const look = await source(s.url, [SIM]).look(1_700_000_000, 60, 50);
    const cell = look.cells.find((c) => c.labels["voice_id"] === "mia")!;
    const m = cell.metrics["speaker_similarity"]!;
    expect(m.kind).toBe("moments");
    if (m.kind !== "moments") return;
    expect(m.count).toBe(30);
    expect(m.sum / m.count).toBeCloseTo(0.71, 12);
  });

  it("bucketMoments recovers a normal distribution's mean and variance from fine buckets", () => {
    // 0.72 +- 0.035 in 0.005-wide buckets: midpoints plus Sheppard's correction.
    const { normalCdf } = { normalCdf: (x: number) => 0.5 * (1 + erf(x / Math.SQRT2)) };
    const bounds = Array.from({ length: 141 }, (_, i) => 0.3 + i * 0.005);
    const n = 100_000;
    const buckets = [
      ...bounds.map((le) => ({ le, count: Math.round(n * normalCdf((le - 0.72) / 0.035)) })),
      { le: Infinity, count: n },
    ];
    const { mean, variance } = bucketMoments(buckets);
    expect(mean).toBeCloseTo(0.72, 3);
    expect(Math.sqrt(variance)).toBeCloseTo(0.035, 3);
  });

  it("reads rates as requests and events per arm", async () => {
    const s = await serve((q) =>
      vector(
        q.includes('outcome!="ok"')
          ? [{ metric: { version: "tts-v42" }, value: 3.2 }]
          : [
              { metric: { version: "tts-v42" }, value: 1000.4 },
              { metric: { version: "tts-v41" }, value: 9000 },
            ],
      ),
    );
    const look = await source(s.url, [ERR]).look(1_700_000_000, 60, 10);
    expect(look.cells.find((c) => c.arm === "canary")!.metrics["error"]).toEqual({
      kind: "rate",
      requests: 1000,
      events: 3,
    });
    expect(look.cells.find((c) => c.arm === "baseline")!.metrics["error"]).toEqual({
      kind: "rate",
      requests: 9000,
      events: 0,
    });
  });

  it("refuses a policy metric with no series in the contract and no source, naming the field", () => {
    const plan = planJudge(makePolicy([{ name: "loudness", budget: { absolute: 1 } }]));
    expect(() => checkSources(plan, "p.yaml")).toThrow(
      /p\.yaml: spec\.metrics\[0\]\.source: metric "loudness" has no Prometheus series in docs\/metrics\.md/,
    );
  });
});

describe("PrometheusLookSource: faults are findings, not crashes", () => {
  it.each([
    [
      "HTTP 503, retried",
      () => ({ status: 503, body: { status: "error", error: "overloaded" } }),
      /Prometheus answered HTTP 503: overloaded \(after 2 attempts\)/,
      4,
    ],
    [
      "HTTP 400, not retried",
      () => ({ status: 400, body: { status: "error", errorType: "bad_data", error: "parse error" } }),
      /Prometheus answered HTTP 400: parse error$/,
      2,
    ],
    [
      "an error status",
      () => ({ body: { status: "error", errorType: "execution", error: "query timed out" } }),
      /Prometheus reported execution: query timed out/,
      2,
    ],
    ["not JSON", () => ({ body: "<html>proxy error</html>" }), /not JSON/, 2],
    [
      "warnings (partial data)",
      () => vector([{ metric: { version: "tts-v42" }, value: 1 }], ["partial response"]),
      /Prometheus warned \(partial response\): partial data is not judged/,
      2,
    ],
    [
      "NaN values",
      () => vector([{ metric: { version: "tts-v42" }, value: "NaN" }]),
      /returned NaN or Inf for the events of error/,
      2,
    ],
    ["no answer", () => "hang" as const, /did not answer within 0\.3s \(after 2 attempts\)/, 4],
  ])("%s", async (_name, handler, message, queries) => {
    const s = await serve(handler as Handler);
    const look = await source(s.url, [ERR]).look(1_700_000_000, 60, 10);
    expect(look.unavailable?.["error"]).toMatch(message);
    expect(look.cells).toEqual([]);
    expect(s.queries.length).toBeLessThanOrEqual(queries);
  });

  it("an unreachable Prometheus", async () => {
    // A port that was just free: nothing listens there.
    const probe = await serve(() => vector([]));
    server!.close();
    server = null;
    const look = await source(probe.url, [ERR]).look(1_700_000_000, 60, 10);
    expect(look.unavailable?.["error"]).toMatch(
      /Prometheus at http:\/\/127\.0\.0\.1:\d+ is unreachable \(ECONNREFUSED\) \(after 2 attempts\)/,
    );
  });
});

function erf(x: number): number {
  // Abramowitz and Stegun 7.1.26: enough for a test's expected values.
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-x * x);
  return x >= 0 ? y : -y;
}
