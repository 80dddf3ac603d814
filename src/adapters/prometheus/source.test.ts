// The adapter's parsing and fault handling, against canned Prometheus API answers served on loopback.
// (Faults such as HTTP 503, NaN values or warnings cannot be produced on demand by a real Prometheus; the
// end-to-end tests run the real server.)
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { makePolicy, type MetricInput } from "../../../test/support/policy.js";
import { planJudge } from "../../core/judge/plan.js";
import { PrometheusClient } from "./client.js";
import {
  bucketMoments,
  checkSources,
  NATIVE_LAYOUT,
  nativeOnLayout,
  PrometheusLookSource,
} from "./source.js";

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
    const sel = (name: string) => `${name}{version=~"tts-v41|tts-v42",namespace="voice-prod"}`;
    // Classic buckets by le, or (no le: never dropped by `or`) the native histogram itself.
    expect(s.queries).toContain(
      `sum by (le, version, voice_id) (increase(${sel("voice_speaker_similarity_bucket")}[60s])) or ` +
        `sum by (version, voice_id) (increase(${sel("voice_speaker_similarity")}[60s]))`,
    );
    // The mean's halves as exact deltas, of _sum or of the native histogram's histogram_sum.
    const sum = sel("voice_speaker_similarity_sum");
    const native = sel("voice_speaker_similarity");
    expect(s.queries).toContain(
      `sum by (version, voice_id) (clamp_min(${sum} - (${sum} offset 60s or ${sum} * 0), 0)) or ` +
        `sum by (version, voice_id) (clamp_min(histogram_sum(${native}) - (histogram_sum(${native} offset 60s) or histogram_sum(${native}) * 0), 0))`,
    );
    expect(s.queries).toContain(
      `sum by (le, version) (increase(${sel("voice_ttfa_seconds_bucket")}[60s])) or ` +
        `sum by (version) (increase(${sel("voice_ttfa_seconds")}[60s]))`,
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

// Answers of Prometheus 3.16.0 scraping exponential native histograms over protobuf (recorded from
// test/e2e/prometheus-native-histograms.test.ts): MOS of version tts-v41 at schema 4, tts-v42 at schema 3,
// 50 observations per scrape, a 3 s window.
const NATIVE_MOS = {
  buckets: {
    status: "success",
    data: {
      resultType: "vector",
      result: [
        {
          metric: { version: "tts-v41" },
          histogram: [
            1796337228.685,
            {
              count: "149.77533699450822",
              sum: "597.0985893224906",
              buckets: [
                [0, "3.512504320746598", "3.6680161728186844", "14.977533699450822"],
                [0, "3.6680161728186844", "3.830413122794294", "29.955067398901644"],
                [0, "3.830413122794294", "4", "32.95057413879181"],
                [0, "4", "4.177095129709655", "32.95057413879181"],
                [0, "4.177095129709655", "4.362030930661031", "32.95057413879181"],
                [0, "4.362030930661031", "4.555154539026766", "5.991013479780329"],
              ],
            },
          ],
        },
        {
          metric: { version: "tts-v42" },
          histogram: [
            1796337228.685,
            {
              count: "149.77533699450822",
              sum: "536.9645210585151",
              buckets: [
                [0, "3.0844216508158815", "3.3635856610148576", "32.95057413879181"],
                [0, "3.3635856610148576", "3.6680161728186844", "59.91013479780329"],
                [0, "3.6680161728186844", "4", "56.91462805791313"],
              ],
            },
          ],
        },
      ],
    },
  },
  sum: {
    status: "success",
    data: {
      resultType: "vector",
      result: [
        { metric: { version: "tts-v41" }, value: [1796337228.685, "597.9942372064743"] },
        { metric: { version: "tts-v42" }, value: [1796337228.685, "537.7699678401029"] },
      ],
    },
  },
  count: {
    status: "success",
    data: {
      resultType: "vector",
      result: [
        { metric: { version: "tts-v41" }, value: [1796337228.685, "150"] },
        { metric: { version: "tts-v42" }, value: [1796337228.685, "150"] },
      ],
    },
  },
} as const;

const MOS_P50: MetricInput = {
  name: "mos_p50",
  column: "mos",
  aggregate: "p50",
  direction: "higherIsBetter",
  critical: true,
  budget: { absolute: 0.1 },
};
const MOS_MEAN: MetricInput = {
  name: "mos",
  direction: "higherIsBetter",
  critical: true,
  budget: { absolute: 0.1 },
};

const layoutIndex = (bound: number) => NATIVE_LAYOUT.findIndex((e) => Math.abs(e - bound) < 1e-12 * bound);

describe("PrometheusLookSource: native histograms", () => {
  const recorded = (q: string) => ({
    body: q.includes("histogram_count")
      ? NATIVE_MOS.count
      : q.includes("histogram_sum")
        ? NATIVE_MOS.sum
        : NATIVE_MOS.buckets,
  });

  it("puts a quantile's native buckets on the fixed layout, exactly for schema 4 and schema 3", async () => {
    const s = await serve(recorded);
    const look = await source(s.url, [MOS_P50]).look(1_796_337_228, 3, 50);
    expect(look.unavailable).toEqual({});
    const byArm = Object.fromEntries(look.cells.map((c) => [c.arm, c.metrics["mos_p50"]]));
    for (const batch of Object.values(byArm)) {
      expect(batch?.kind).toBe("histogram");
      if (batch?.kind !== "histogram") return;
      expect(batch.buckets.map((b) => b.le)).toEqual([...NATIVE_LAYOUT, Infinity]);
    }
    const at = (arm: string, bound: number) => {
      const b = byArm[arm];
      return b?.kind === "histogram" ? b.buckets[layoutIndex(bound)]!.count : NaN;
    };
    // tts-v41 (schema 4): buckets up to 4 = 2^2 hold 14.98 + 29.96 + 32.95; up to 2^(17/8) two more of 32.95.
    expect(at("baseline", 2 ** (14 / 8))).toBe(0);
    expect(at("baseline", 2 ** (15 / 8))).toBe(15);
    expect(at("baseline", 4)).toBe(78);
    expect(at("baseline", 2 ** (17 / 8))).toBe(144);
    expect(byArm["baseline"]?.kind === "histogram" && byArm["baseline"].buckets.at(-1)!.count).toBe(150);
    // tts-v42 (schema 3): every bucket bound is a layout bound.
    expect(at("canary", 2 ** (13 / 8))).toBe(0);
    expect(at("canary", 2 ** (14 / 8))).toBe(33);
    expect(at("canary", 2 ** (15 / 8))).toBe(93);
    expect(at("canary", 4)).toBe(150);
  });

  it('reads an NHCB answer (a "-Inf" bound, custom bounds): straddling counts lean against the canary', async () => {
    // The first buckets of voice_ttfa_seconds{language="en"} as Prometheus 3.16.0 answered for the simulated
    // fleet's classic histogram converted with convert_classic_histograms_to_nhcb (test/e2e), same for both
    // versions: (-Inf, 0.02] closed both, then custom bounds that straddle the layout's 2^(-42/8) = 0.02628.
    const histogram = {
      count: "4.206762370510596",
      sum: "0.09",
      buckets: [
        [3, "-Inf", "0.02", "2.103381185255298"],
        [0, "0.0260954636766", "0.0268783275869", "2.103381185255298"],
      ],
    };
    const s = await serve(() => ({
      body: {
        status: "success",
        data: {
          resultType: "vector",
          result: ["tts-v41", "tts-v42"].map((version) => ({
            metric: { version },
            histogram: [1796337273.707, histogram],
          })),
        },
      },
    }));
    const look = await source(s.url, [TTFA]).look(1_796_337_273, 20, 50);
    expect(look.unavailable).toEqual({});
    const at = (arm: string, bound: number) => {
      const b = look.cells.find((c) => c.arm === arm)!.metrics["ttfa_p95"]!;
      return b.kind === "histogram" ? b.buckets[layoutIndex(bound)]!.count : NaN;
    };
    // TTFA is lowerIsBetter: the canary's straddling observations count above a bound, the baseline's below.
    expect([
      at("canary", 2 ** (-46 / 8)),
      at("canary", 2 ** (-42 / 8)),
      at("canary", 2 ** (-41 / 8)),
    ]).toEqual([0, 2, 4]);
    expect([
      at("baseline", 2 ** (-46 / 8)),
      at("baseline", 2 ** (-42 / 8)),
      at("baseline", 2 ** (-41 / 8)),
    ]).toEqual([2, 4, 4]);
  });

  it("takes a native histogram's mean exactly from the histogram_sum and histogram_count deltas", async () => {
    const s = await serve(recorded);
    const look = await source(s.url, [MOS_MEAN]).look(1_796_337_228, 3, 50);
    const m = look.cells.find((c) => c.arm === "baseline")!.metrics["mos"]!;
    expect(m.kind).toBe("moments");
    if (m.kind !== "moments") return;
    expect(m.count).toBe(150);
    expect(m.sum / m.count).toBeCloseTo(597.9942372064743 / 150, 12);
  });

  it("reads classic buckets for a version that has both, native ones for a version that has only those", async () => {
    const s = await serve((q) => {
      const native = NATIVE_MOS.buckets.data.result;
      if (q.includes("histogram_")) return vector([]);
      return {
        body: {
          status: "success",
          data: {
            resultType: "vector",
            result: [
              ...native,
              { metric: { version: "tts-v41", le: "3.0" }, value: [0, "10"] },
              { metric: { version: "tts-v41", le: "+Inf" }, value: [0, "20"] },
            ],
          },
        },
      };
    });
    const look = await source(s.url, [MOS_MEAN]).look(1_796_337_228, 3, 50);
    const count = (arm: string) => {
      const m = look.cells.find((c) => c.arm === arm)!.metrics["mos"]!;
      return m.kind === "moments" ? m.count : NaN;
    };
    expect(count("baseline")).toBe(20);
    expect(count("canary")).toBe(150);
  });

  it("refuses a quantile whose versions come as different kinds of histogram, naming the metric", async () => {
    const s = await serve(() => ({
      body: {
        status: "success",
        data: {
          resultType: "vector",
          result: [
            NATIVE_MOS.buckets.data.result[1],
            { metric: { version: "tts-v41", le: "4" }, value: [0, "10"] },
            { metric: { version: "tts-v41", le: "+Inf" }, value: [0, "20"] },
          ],
        },
      },
    }));
    const look = await source(s.url, [MOS_P50]).look(1_796_337_228, 3, 50);
    expect(look.unavailable?.["mos_p50"]).toMatch(
      /^mos_p50 comes as classic buckets for some versions or slices and as a native histogram for others/,
    );
    expect(look.cells).toEqual([]);
  });

  it("says which series it looked for when a histogram has none, classic or native", async () => {
    const s = await serve(() => vector([]));
    const look = await source(s.url, [SIM, TTFA]).look(1_700_000_000, 60, 10);
    expect(look.unavailable).toEqual({
      speaker_similarity:
        "no voice_speaker_similarity_bucket series (a classic histogram) or voice_speaker_similarity series (a native histogram) of version tts-v41 or tts-v42 in namespace voice-prod was scraped twice in the last 60s",
      ttfa_p95:
        "no voice_ttfa_seconds_bucket series (a classic histogram) or voice_ttfa_seconds series (a native histogram) of version tts-v41 or tts-v42 in namespace voice-prod was scraped twice in the last 60s",
    });
  });

  it("keeps a metric with a pinned scorer to that scorer's series (or unlabelled ones)", async () => {
    const s = await serve(() => vector([]));
    await source(s.url, [{ ...SIM, scorer: "resemblyzer-0.1.4+x" }]).look(1_700_000_000, 60, 10);
    const sel = (name: string) =>
      `${name}{version=~"tts-v41|tts-v42",namespace="voice-prod",scorer=~"resemblyzer-0\\\\.1\\\\.4\\\\+x|"}`;
    expect(s.queries).toContain(
      `sum by (le, version, voice_id) (increase(${sel("voice_speaker_similarity_bucket")}[60s])) or ` +
        `sum by (version, voice_id) (increase(${sel("voice_speaker_similarity")}[60s]))`,
    );
    expect(s.queries.some((q) => q.includes("voice_speaker_similarity_sum{") && q.includes("scorer=~"))).toBe(
      true,
    );
  });

  it("a version scored only by another scorer is nodata naming both ids; a matching version is judged", async () => {
    const pinned = "resemblyzer-0.1.4+dnsmos-0.0.1.1+pocketsphinx-5.1.1";
    const buckets = (version: string) => [
      { metric: { version, voice_id: "mia", le: "0.8" }, value: 40 },
      { metric: { version, voice_id: "mia", le: "+Inf" }, value: 40 },
    ];
    // The canary's series come from a newer embedding model only: the pinned query finds the baseline alone.
    const mismatch = await serve((q) => {
      if (q.startsWith("count by (version, scorer)"))
        return vector([
          { metric: { version: "tts-v42", scorer: "wavlm-large-sv" }, value: 3 },
          { metric: { version: "tts-v41" }, value: 3 },
        ]);
      return vector(q.includes("_bucket") ? buckets("tts-v41") : []);
    });
    const look = await source(mismatch.url, [{ ...SIM, scorer: pinned }]).look(1_700_000_000, 60, 10);
    expect(look.unavailable).toEqual({
      speaker_similarity: `speaker_similarity of version tts-v42 comes from scorer wavlm-large-sv, not from the policy's scorer ${pinned}: a different scoring model moves every value, so they are not compared`,
    });
    expect(look.cells).toEqual([]);

    // Both versions carry the pinned scorer: judged, and no scorer query is asked.
    const match = await serve((q) =>
      vector(q.includes("_bucket") ? [...buckets("tts-v41"), ...buckets("tts-v42")] : []),
    );
    const ok = await source(match.url, [{ ...SIM, scorer: pinned }]).look(1_700_000_000, 60, 10);
    expect(ok.unavailable).toEqual({});
    expect(ok.cells.map((c) => c.arm).sort()).toEqual(["baseline", "canary"]);
    expect(match.queries.some((q) => q.startsWith("count by (version, scorer)"))).toBe(false);
  });

  it("says which counter it looked for when the requests have no series; no error series is no error", async () => {
    const none = await serve(() => vector([]));
    expect((await source(none.url, [ERR]).look(1_700_000_000, 60, 10)).unavailable).toEqual({
      error:
        "no voice_requests_total series of version tts-v41 or tts-v42 in namespace voice-prod was scraped twice in the last 60s",
    });
    const noErrors = await serve((q) =>
      vector(q.includes("outcome") ? [] : [{ metric: { version: "tts-v42" }, value: 100 }]),
    );
    const look = await source(noErrors.url, [ERR]).look(1_700_000_000, 60, 10);
    expect(look.unavailable).toEqual({});
    expect(look.cells[0]!.metrics["error"]).toEqual({ kind: "rate", requests: 100, events: 0 });
  });
});

describe("nativeOnLayout", () => {
  // A classic histogram converted with convert_classic_histograms_to_nhcb, as Prometheus 3.16.0 sends it: the
  // first bucket is (-Inf, 0.02] (closed both), then custom bounds 3 % apart that straddle layout bounds.
  const nhcb = {
    count: 7,
    sum: 0.15,
    buckets: [
      { rule: 3, lower: -Infinity, upper: 0.02, count: 2 },
      { rule: 0, lower: 0.0253354016278, upper: 0.0260954636766, count: 1 },
      { rule: 0, lower: 0.0260954636766, upper: 0.0268783275869, count: 4 },
    ],
  } as const;
  const e = (k: number) => 2 ** (k / 8); // layout bounds: 2^(-43/8) = 0.02429, 2^(-42/8) = 0.02628

  it("counts a bucket that straddles a bound above it for the arm moved towards worse, below for the other", () => {
    const layout = [e(-46), e(-43), e(-42), e(-41)];
    expect(nativeOnLayout(nhcb, layout, "above").map((b) => b.count)).toEqual([0, 2, 3, 7, 7]);
    expect(nativeOnLayout(nhcb, layout, "below").map((b) => b.count)).toEqual([2, 2, 7, 7, 7]);
    // Bounds no bucket straddles are exact either way (and so is the total at +Inf).
    expect(nativeOnLayout(nhcb, [e(-43), e(-41)], "above")).toEqual(
      nativeOnLayout(nhcb, [e(-43), e(-41)], "below"),
    );
  });

  it("a finer schema's buckets land on the layout exactly, whatever the last bits of their bounds", () => {
    // Schema 5 buckets (2^(1/32) apart), bounds off by one unit in the last place as a table may give them.
    const buckets = Array.from({ length: 16 }, (_, i) => ({
      rule: 0 as const,
      lower: 2 ** ((i - 1) / 32) * (1 + Number.EPSILON),
      upper: 2 ** (i / 32) * (1 - Number.EPSILON),
      count: i + 1,
    }));
    const h = { count: 136, sum: 200, buckets };
    const above = nativeOnLayout(h, NATIVE_LAYOUT, "above");
    expect(above).toEqual(nativeOnLayout(h, NATIVE_LAYOUT, "below"));
    // Bounds 2^0, 2^(1/8) (= 2^(4/32)), 2^(2/8): counts of buckets 0, 0-4, 0-8.
    expect([0, 1, 2].map((k) => above[layoutIndex(e(k))]!.count)).toEqual([1, 15, 45]);
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
