// A real Prometheus (Debian's package) scrapes the simulated fleet exporter every second, at 60x simulated
// time, and the contract's queries (docs/metrics.md) return what the policies need: histogram bucket counts
// by `le` that add up to the request count, counters per version in proportion to the canary weight, and the
// contract's labels. Fleet: examples/scenarios/agents-latency.yaml (10 voices of 4 tenants, 150 requests per
// second, the canary's time to first audio 25 % slower).
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFleetExporter, type RunningFleetExporter } from "../../src/sim/exporter.js";
import { loadScenario } from "../../src/sim/scenario.js";
import {
  findPrometheus,
  INSTALL_HINT,
  startPrometheus,
  type PrometheusServer,
  type PromSample,
} from "../support/prometheus.js";

const STABLE = "tts-v41";
const CANARY = "tts-v42";

let exporter: RunningFleetExporter | undefined;
let prom: PrometheusServer | undefined;

function server(): PrometheusServer {
  if (!prom) throw new Error("prometheus did not start");
  return prom;
}

function byVersion(samples: readonly PromSample[]): Record<string, number> {
  return Object.fromEntries(samples.map((s) => [s.labels["version"] ?? "", s.value]));
}

/** Wait until Prometheus has scraped `seconds` worth of samples since now. */
async function scrapesFor(seconds: number): Promise<void> {
  const p = server();
  const [before] = await p.query(`count_over_time(up{job="${p.job}"}[1h])`);
  const start = before?.value ?? 0;
  await p.waitFor(
    `count_over_time(up{job="${p.job}"}[1h])`,
    (s) => (s[0]?.value ?? 0) >= start + seconds,
    30_000,
    `${seconds} more scrapes`,
  );
}

beforeAll(async () => {
  const { scenario } = await loadScenario("examples/scenarios/agents-latency.yaml");
  exporter = await startFleetExporter({
    scenario,
    stable: STABLE,
    canary: CANARY,
    speed: 60,
    canaryWeight: 10,
  });
  prom = await startPrometheus({
    targets: [{ address: exporter.address, labels: { namespace: "voice-prod" } }],
  });
  // 12 scrapes at 1 s: 12 simulated minutes, about 108,000 requests, 10,800 of them to the canary.
  await prom.waitForScrapes(`voice_requests_total{version="${CANARY}", outcome="ok"}`, 12);
});

afterAll(async () => {
  await prom?.stop();
  await exporter?.close();
});

describe("Prometheus scraping the fleet exporter", () => {
  it("runs Prometheus on loopback only, with the exporter as an up target", async () => {
    const p = server();
    expect(p.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const up = await p.query(`up{job="${p.job}"}`);
    expect(up).toHaveLength(1);
    expect(up[0]!.value).toBe(1);
    expect(up[0]!.labels["instance"]).toBe(exporter!.address);
    // Every socket the Prometheus process listens on is 127.0.0.1:PORT.
    expect(listeningSockets(p.pid)).toEqual([`127.0.0.1:${p.port}`]);
  });

  it("returns TTFA bucket counts by le that add up to increase(_count)", async () => {
    const p = server();
    const time = Math.floor(Date.now() / 1000);
    const buckets = await p.query(
      `sum by (le) (increase(voice_ttfa_seconds_bucket{version="${CANARY}"}[30s]))`,
      time,
    );
    const [count] = await p.query(`sum(increase(voice_ttfa_seconds_count{version="${CANARY}"}[30s]))`, time);
    const le = (s: PromSample) => (s.labels["le"] === "+Inf" ? Infinity : Number(s.labels["le"]));
    const sorted = [...buckets].sort((a, b) => le(a) - le(b));
    // The scenario's layout: 225 bounds from 16 ms, 2.2 % apart, and +Inf.
    expect(sorted).toHaveLength(226);
    expect(sorted[0]!.labels["le"]).toBe("0.016");
    expect(sorted.at(-1)!.labels["le"]).toBe("+Inf");
    expect(count!.value).toBeGreaterThan(5000);
    expect(sorted.at(-1)!.value).toBeCloseTo(count!.value, 6);
    // Cumulative: non-decreasing in le, up to increase()'s per-series extrapolation at the window's edge.
    for (let j = 1; j < sorted.length; j++) {
      expect(sorted[j]!.value).toBeGreaterThanOrEqual(sorted[j - 1]!.value * 0.98 - 1);
    }
    // Nearly all values inside the finite buckets (lognormal, median 137.5 ms).
    expect(sorted.at(-2)!.value).toBeGreaterThan(0.999 * count!.value);
  });

  it("shows the canary's TTFA regression in the p95 from the buckets", async () => {
    const p95 = byVersion(
      await server().query(
        "histogram_quantile(0.95, sum by (le, version) (increase(voice_ttfa_seconds_bucket[30s])))",
      ),
    );
    // Lognormal median 110 ms, sigma 0.45: p95 = 110 · exp(1.645 · 0.45) ≈ 230 ms; the canary 25 % slower.
    expect(p95[STABLE]).toBeGreaterThan(0.2);
    expect(p95[STABLE]).toBeLessThan(0.26);
    expect(p95[CANARY]! / p95[STABLE]!).toBeGreaterThan(1.15);
    expect(p95[CANARY]! / p95[STABLE]!).toBeLessThan(1.35);
  });

  it("gives exact means from _sum and _count", async () => {
    const mean = byVersion(
      await server().query(
        "sum by (version) (increase(voice_speaker_similarity_sum[30s]))" +
          " / sum by (version) (increase(voice_speaker_similarity_count[30s]))",
      ),
    );
    // 0.70 with a per-voice offset (sd 0.025) that both versions share.
    expect(mean[STABLE]).toBeGreaterThan(0.66);
    expect(mean[STABLE]).toBeLessThan(0.74);
    expect(Math.abs(mean[CANARY]! - mean[STABLE]!)).toBeLessThan(0.01);
  });

  it("exports the contract's series with the contract's labels", async () => {
    const p = server();
    const names = (await p.query(`count by (__name__) ({__name__=~"voice_.+", job="${p.job}"})`)).map(
      (s) => s.labels["__name__"],
    );
    expect(names.sort()).toEqual(
      [
        "voice_generated_audio_seconds_total",
        "voice_predicted_mos_bucket",
        "voice_predicted_mos_count",
        "voice_predicted_mos_sum",
        "voice_requests_total",
        "voice_silence_truncations_total",
        "voice_speaker_similarity_bucket",
        "voice_speaker_similarity_count",
        "voice_speaker_similarity_sum",
        "voice_ttfa_seconds_bucket",
        "voice_ttfa_seconds_count",
        "voice_ttfa_seconds_sum",
        "voice_underruns_total",
        "voice_wer_ratio_bucket",
        "voice_wer_ratio_count",
        "voice_wer_ratio_sum",
      ].sort(),
    );
    const requests = await p.series("voice_requests_total");
    // 10 cells × 2 versions × 3 outcomes.
    expect(requests).toHaveLength(60);
    const base = [
      "__name__",
      "instance",
      "job",
      "language",
      "namespace",
      "product",
      "tenant",
      "version",
      "voice_id",
    ];
    for (const s of requests) {
      expect(Object.keys(s).sort()).toEqual([...base, "outcome"].sort());
      expect(s["namespace"]).toBe("voice-prod");
      expect(s["product"]).toBe("voice-agents");
      expect([STABLE, CANARY]).toContain(s["version"]);
      expect(["ok", "error", "timeout"]).toContain(s["outcome"]);
      expect(["en", "es"]).toContain(s["language"]);
      expect(["callvault", "northbank", "medline", "shopwise"]).toContain(s["tenant"]);
    }
    for (const s of await p.series(`voice_ttfa_seconds_count{version="${CANARY}"}`)) {
      expect(Object.keys(s).sort()).toEqual(base);
    }
    const errors = byVersion(
      await p.query('sum by (version) (increase(voice_requests_total{outcome!="ok"}[30s]))'),
    );
    expect(errors[STABLE]).toBeGreaterThan(0);
  });

  it("grows the per-version request counters in proportion to the canary weight", async () => {
    const p = server();
    const share = async (window: string) => {
      const r = byVersion(await p.query(`sum by (version) (increase(voice_requests_total[${window}]))`));
      return r[CANARY]! / (r[CANARY]! + r[STABLE]!);
    };
    expect(await share("30s")).toBeCloseTo(0.1, 1.7); // within 0.01

    const res = await fetch(`${exporter!.url}/control`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ canaryWeight: 50 }),
    });
    expect(res.status).toBe(200);
    // Until every scrape of the last 6 s was taken at the new weight, then a window inside those scrapes.
    await p.waitFor(
      "min_over_time(voicectl_fleet_exporter_canary_weight_percent[6s])",
      (s) => s[0]?.value === 50,
      30_000,
      "6 s of scrapes at weight 50",
    );
    await scrapesFor(1);
    expect(await share("5s")).toBeCloseTo(0.5, 1.3); // within 0.025
    const rates = byVersion(await p.query("sum by (version) (rate(voice_requests_total[5s]))"));
    // 150 simulated requests per second at 60x: 9,000 per real second, half each.
    expect(rates[CANARY]).toBeGreaterThan(4000);
    expect(rates[CANARY]).toBeLessThan(5000);
  });

  it("says how to install Prometheus when the binary is missing", async () => {
    expect(() => findPrometheus({ PATH: "/nonexistent" })).toThrow(INSTALL_HINT);
    await expect(
      startPrometheus({ targets: [], binary: "/nonexistent/prometheus", readyTimeoutMs: 5000 }),
    ).rejects.toThrow(INSTALL_HINT);
  });

  it("stops Prometheus cleanly", async () => {
    const p = server();
    await p.stop();
    expect(() => process.kill(p.pid, 0)).toThrow();
    await expect(fetch(`${p.url}/-/ready`)).rejects.toThrow();
    await p.stop(); // idempotent
  });
});

/** The local addresses a process listens on (TCP, IPv4 and IPv6), from /proc. */
function listeningSockets(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of readdirSafe(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  const out: string[] = [];
  for (const file of ["tcp", "tcp6"]) {
    const lines = readFileSync(`/proc/${pid}/net/${file}`, "utf8").trim().split("\n").slice(1);
    for (const line of lines) {
      const f = line.trim().split(/\s+/);
      if (f[3] !== "0A" || !inodes.has(f[9]!)) continue; // 0A: LISTEN
      out.push(decodeAddress(f[1]!));
    }
  }
  return out.sort();
}

function decodeAddress(hex: string): string {
  const [ip, port] = hex.split(":") as [string, string];
  const p = parseInt(port, 16);
  if (ip.length === 8) {
    const bytes = ip
      .match(/../g)!
      .map((b) => parseInt(b, 16))
      .reverse();
    return `${bytes.join(".")}:${p}`;
  }
  return `[${ip}]:${p}`;
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
