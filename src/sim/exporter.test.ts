import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { registerFleetExporter } from "../cli/commands/fleet-exporter.js";
import { InvalidInputError } from "../core/errors.js";
import {
  createFleetExporter,
  escapeLabelValue,
  startFleetExporter,
  TIMEOUT_SHARE,
  type FleetExporter,
} from "./exporter.js";
import { parseScenario, type Scenario } from "./scenario.js";

// ------------------------------------------------------------------------------------ exposition parser

interface ParsedSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

interface Exposition {
  readonly types: ReadonlyMap<string, string>;
  readonly helps: ReadonlyMap<string, string>;
  readonly samples: readonly ParsedSample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A strict parser of the text format 0.0.4, as far as the exporter uses it; throws on anything else. */
function parseExposition(text: string): Exposition {
  if (!text.endsWith("\n")) throw new Error("expected the text to end with a line feed");
  const types = new Map<string, string>();
  const helps = new Map<string, string>();
  const samples: ParsedSample[] = [];
  const seen = new Set<string>();
  const familyOf = (name: string): string | undefined => {
    if (types.has(name)) return name;
    const m = /^(.*)_(bucket|sum|count)$/.exec(name);
    return m && types.get(m[1]!) === "histogram" ? m[1] : undefined;
  };
  text
    .slice(0, -1)
    .split("\n")
    .forEach((line, i) => {
      const at = `line ${i + 1}: ${line}`;
      if (line.startsWith("# ")) {
        const m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
        if (!m) throw new Error(`bad comment, ${at}`);
        const [, kind, name, rest] = m as unknown as [string, string, string, string];
        if (!METRIC_NAME.test(name)) throw new Error(`bad metric name, ${at}`);
        if (kind === "TYPE") {
          if (types.has(name)) throw new Error(`second TYPE, ${at}`);
          if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(rest))
            throw new Error(`bad type, ${at}`);
          if (samples.some((s) => familyOf(s.name) === name || s.name === name))
            throw new Error(`TYPE after samples, ${at}`);
          types.set(name, rest);
        } else helps.set(name, rest);
        return;
      }
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!m) throw new Error(`bad sample, ${at}`);
      const name = m[1]!;
      const labels = parseLabels(m[2] ?? "", at);
      const value = m[3] === "+Inf" ? Infinity : m[3] === "-Inf" ? -Infinity : Number(m[3]);
      if (Number.isNaN(value) && m[3] !== "NaN") throw new Error(`bad value, ${at}`);
      if (familyOf(name) === undefined) throw new Error(`sample without a TYPE, ${at}`);
      const key = `${name}{${JSON.stringify(Object.entries(labels).sort())}}`;
      if (seen.has(key)) throw new Error(`duplicate series, ${at}`);
      seen.add(key);
      samples.push({ name, labels, value });
    });
  return { types, helps, samples };
}

function parseLabels(text: string, at: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf("=", i);
    const name = text.slice(i, eq);
    if (eq < 0 || !LABEL_NAME.test(name) || text[eq + 1] !== '"') throw new Error(`bad label, ${at}`);
    let value = "";
    let j = eq + 2;
    for (;;) {
      const c = text[j];
      if (c === undefined) throw new Error(`unterminated label value, ${at}`);
      if (c === '"') break;
      if (c === "\\") {
        const e = text[j + 1];
        if (e === "\\") value += "\\";
        else if (e === '"') value += '"';
        else if (e === "n") value += "\n";
        else throw new Error(`bad escape, ${at}`);
        j += 2;
        continue;
      }
      if (c === "\n") throw new Error(`raw line feed in a label value, ${at}`);
      value += c;
      j++;
    }
    if (Object.hasOwn(labels, name)) throw new Error(`label ${name} twice, ${at}`);
    labels[name] = value;
    i = j + 1;
    if (i < text.length) {
      if (text[i] !== ",") throw new Error(`expected a comma, ${at}`);
      i++;
    }
  }
  return labels;
}

/** Histogram series grouped by their labels without `le`. */
function histogramsOf(
  expo: Exposition,
  family: string,
): {
  labels: Record<string, string>;
  buckets: { le: string; count: number }[];
  sum: number;
  count: number;
}[] {
  const groups = new Map<
    string,
    { labels: Record<string, string>; buckets: { le: string; count: number }[]; sum: number; count: number }
  >();
  const group = (labels: Readonly<Record<string, string>>) => {
    const { le: _le, ...rest } = labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { labels: rest, buckets: [], sum: NaN, count: NaN }));
    return g;
  };
  for (const s of expo.samples) {
    if (s.name === `${family}_bucket`) group(s.labels).buckets.push({ le: s.labels["le"]!, count: s.value });
    else if (s.name === `${family}_sum`) group(s.labels).sum = s.value;
    else if (s.name === `${family}_count`) group(s.labels).count = s.value;
  }
  return [...groups.values()];
}

function total(expo: Exposition, name: string, match: Record<string, string> = {}): number {
  return expo.samples
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);
}

// ------------------------------------------------------------------------------------------- fixtures

const SCENARIO = `
apiVersion: voicectl.dev/v1alpha1
kind: SimulationScenario
metadata: { name: exporter-test }
spec:
  policy: ../../policies/voice-agents.yaml
  seed: 7
  steps:
    - setWeight: 25
    - analysis: { minDuration: 1m, maxDuration: 2m }
  traffic:
    requestsPerSecond: 100
    labels: { product: voice-agents }
    cells:
      - { labels: { voice_id: ava, language: en, tenant: callvault }, share: 0.6 }
      - { labels: { voice_id: 'say "hi" \\ bye', language: es, tenant: "two\\nlines" }, share: 0.4 }
  metrics:
    ttfa_p95:
      lognormal: { median: 110, sigma: 0.45 }
      buckets: { exponential: { start: 16, factor: 1.0219, count: 225 } }
    rtf:
      normal: { mean: 0.08, sd: 0.01 }
    speaker_similarity:
      normal: { mean: 0.70, sd: 0.035 }
      sampled: 0.5
    mos:
      normal: { mean: 3.9, sd: 0.25 }
    wer:
      normal: { mean: 2.4, sd: 3 }
    error:
      bernoulli: { p: 0.01 }
    underrun:
      bernoulli: { p: 0.002 }
    silence_truncation:
      bernoulli: { p: 0.003 }
    cost_per_audio_second:
      normal: { mean: 0.00004, sd: 0.000004 }
  canary:
    cost_per_audio_second: { factor: 0.9 }
  regressions:
    - { metric: ttfa_p95, factor: 2, from: 5m }
    - { metric: cost_per_audio_second, factor: 2, from: 1m }
  faults:
    - { kind: gap, metrics: [mos], from: 10m, to: 12m }
    - { kind: gap, metrics: [cost_per_audio_second], from: 1m, to: 2m }
`;

function scenarioFrom(text: string): Scenario {
  const { scenario, problems } = parseScenario("exporter-test.yaml", text);
  if (!scenario) throw new Error(problems.map((p) => p.message).join("\n"));
  return scenario;
}

/** An exporter on a fake clock: `at(ms)` sets the real clock (speed 60: one real ms is 60 simulated ms). */
function fakeExporter(overrides: { scenario?: Scenario; seed?: number; canaryWeight?: number } = {}): {
  exporter: FleetExporter;
  at: (realMs: number) => void;
} {
  let t = 0;
  const exporter = createFleetExporter({
    scenario: overrides.scenario ?? scenarioFrom(SCENARIO),
    seed: overrides.seed,
    canaryWeight: overrides.canaryWeight,
    speed: 60,
    now: () => t,
  });
  return { exporter, at: (ms) => (t = ms) };
}

const MINUTE = 1000; // real ms per simulated minute at speed 60

// -------------------------------------------------------------------------------------------- tests

describe("fleet exporter exposition", () => {
  const { exporter, at } = fakeExporter();
  at(4 * MINUTE);
  const text = exporter.render();
  const expo = parseExposition(text);

  it("is valid text format 0.0.4 with HELP and TYPE for every family", () => {
    expect(Object.fromEntries(expo.types)).toEqual({
      voice_ttfa_seconds: "histogram",
      voice_real_time_factor: "histogram",
      voice_speaker_similarity: "histogram",
      voice_predicted_mos: "histogram",
      voice_wer_ratio: "histogram",
      voice_requests_total: "counter",
      voice_underruns_total: "counter",
      voice_silence_truncations_total: "counter",
      voice_generated_audio_seconds_total: "counter",
      voicectl_fleet_exporter_simulated_seconds: "gauge",
      voicectl_fleet_exporter_canary_weight_percent: "gauge",
    });
    for (const name of expo.types.keys()) expect(expo.helps.get(name)).toBeTruthy();
    expect(exporter.ignored).toEqual(["cost_per_audio_second"]);
    for (const [name, type] of expo.types) {
      if (type === "counter") expect(name).toMatch(/_total$/);
    }
  });

  it.each([
    "voice_ttfa_seconds",
    "voice_real_time_factor",
    "voice_speaker_similarity",
    "voice_predicted_mos",
    "voice_wer_ratio",
  ])("%s: cumulative buckets in increasing le, +Inf last and equal to _count, _sum inside", (family) => {
    const groups = histogramsOf(expo, family);
    expect(groups).toHaveLength(4); // 2 cells × 2 versions, zeros included
    for (const g of groups) {
      expect(g.buckets.length).toBeGreaterThan(100);
      expect(g.buckets.at(-1)!.le).toBe("+Inf");
      const les = g.buckets.map((b) => (b.le === "+Inf" ? Infinity : Number(b.le)));
      for (let j = 1; j < les.length; j++) expect(les[j]).toBeGreaterThan(les[j - 1]!);
      for (let j = 1; j < g.buckets.length; j++) {
        expect(g.buckets[j]!.count).toBeGreaterThanOrEqual(g.buckets[j - 1]!.count);
      }
      expect(g.buckets.at(-1)!.count).toBe(g.count);
      expect(Number.isInteger(g.count)).toBe(true);
      // Every value counted lies in its bucket: the sum lies between the sums of the bucket bounds.
      let low = 0;
      let high = 0;
      let previous = 0;
      for (let j = 0; j < g.buckets.length - 1; j++) {
        const k = g.buckets[j]!.count - previous;
        previous = g.buckets[j]!.count;
        low += k * (j > 0 ? les[j - 1]! : Math.min(0, les[0]!));
        high += k * les[j]!;
      }
      const over = g.count - previous;
      expect(g.sum).toBeGreaterThanOrEqual(low + over * les.at(-2)! - 1e-9);
      expect(g.sum).toBeLessThanOrEqual(high + over * 2 * les.at(-2)! + 1e-9);
    }
  });

  it("labels every series with version and the cells' labels, escaped", () => {
    const versions = new Set(expo.samples.filter((s) => s.labels["version"]).map((s) => s.labels["version"]));
    expect([...versions].sort()).toEqual(["tts-v41", "tts-v42"]);
    const counts = expo.samples.filter((s) => s.name === "voice_ttfa_seconds_count");
    expect(counts.map((s) => s.labels)).toContainEqual({
      version: "tts-v42",
      voice_id: 'say "hi" \\ bye',
      language: "es",
      product: "voice-agents",
      tenant: "two\nlines",
    });
    expect(text).toContain('voice_id="say \\"hi\\" \\\\ bye"');
    expect(text).toContain('tenant="two\\nlines"');
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
    for (const s of expo.samples.filter((x) => x.name.startsWith("voice_"))) {
      const keys = Object.keys(s.labels).filter((k) => k !== "le" && k !== "outcome");
      expect(keys).toEqual(["version", "voice_id", "language", "product", "tenant"]);
    }
  });

  it("counts requests by outcome in proportion to the canary weight", () => {
    const requests = (version: string) => total(expo, "voice_requests_total", { version });
    const stable = requests("tts-v41");
    const canary = requests("tts-v42");
    // 4 simulated minutes at 100 requests per second, 25 % canary.
    expect(stable + canary).toBeGreaterThan(24_000 * 0.97);
    expect(stable + canary).toBeLessThan(24_000 * 1.03);
    expect(canary / (stable + canary)).toBeCloseTo(0.25, 1);
    const failed =
      total(expo, "voice_requests_total", { outcome: "error" }) +
      total(expo, "voice_requests_total", { outcome: "timeout" });
    expect(failed / (stable + canary)).toBeGreaterThan(0.007);
    expect(failed / (stable + canary)).toBeLessThan(0.013);
    const timeouts = total(expo, "voice_requests_total", { outcome: "timeout" });
    expect(timeouts / failed).toBeGreaterThan(TIMEOUT_SHARE - 0.1);
    expect(timeouts / failed).toBeLessThan(TIMEOUT_SHARE + 0.1);
    const ok = total(expo, "voice_requests_total", { outcome: "ok" });
    expect(total(expo, "voice_generated_audio_seconds_total")).toBeCloseTo(ok * 4.5, 6);
    // TTFA is measured on every request that was served; similarity on a half sample.
    expect(total(expo, "voice_ttfa_seconds_count")).toBe(stable + canary);
    const similarity = total(expo, "voice_speaker_similarity_count");
    expect(similarity / (stable + canary)).toBeCloseTo(0.5, 1);
  });

  it("gives means close to the scenario's, in exported units", () => {
    const mean = (family: string, version: string) =>
      total(expo, `${family}_sum`, { version }) / total(expo, `${family}_count`, { version });
    expect(mean("voice_speaker_similarity", "tts-v41")).toBeCloseTo(0.7, 2);
    expect(mean("voice_predicted_mos", "tts-v41")).toBeCloseTo(3.9, 1);
    expect(mean("voice_real_time_factor", "tts-v41")).toBeCloseTo(0.08, 2);
    // Lognormal: mean = median × exp(sigma² / 2); ms to seconds.
    expect(mean("voice_ttfa_seconds", "tts-v41")).toBeCloseTo(0.11 * Math.exp(0.45 ** 2 / 2), 2);
    // WER percent to ratio; negative normal draws count as 0, so a little above 0.024.
    expect(mean("voice_wer_ratio", "tts-v41")).toBeGreaterThan(0.024);
    expect(mean("voice_wer_ratio", "tts-v41")).toBeLessThan(0.032);
  });
});

describe("fleet exporter over simulated time", () => {
  it("is deterministic for a seed and a clock", () => {
    const a = fakeExporter();
    const b = fakeExporter();
    for (const t of [300, 1700, 2500]) {
      a.at(t);
      b.at(t);
      expect(a.exporter.render()).toBe(b.exporter.render());
    }
    const c = fakeExporter({ seed: 8 });
    c.at(2500);
    expect(c.exporter.render()).not.toBe(a.exporter.render());
  });

  it("only counts traffic up to the simulated clock, in whole ticks", () => {
    const { exporter, at } = fakeExporter();
    expect(exporter.state()).toMatchObject({
      canaryWeight: 25,
      simulatedSeconds: 0,
      tickSeconds: 1,
      speed: 60,
    });
    const empty = parseExposition(exporter.render());
    expect(total(empty, "voice_requests_total")).toBe(0);
    expect(histogramsOf(empty, "voice_ttfa_seconds")).toHaveLength(4);
    at(10.5); // 630 simulated ms: less than a tick
    expect(total(parseExposition(exporter.render()), "voice_requests_total")).toBe(0);
    at(1000);
    const expo = parseExposition(exporter.render());
    expect(total(expo, "voicectl_fleet_exporter_simulated_seconds")).toBe(60);
    expect(total(expo, "voice_requests_total")).toBeGreaterThan(5500);
  });

  it("shifts traffic when the canary weight changes, and never decreases a counter", () => {
    const { exporter, at } = fakeExporter({ canaryWeight: 0 });
    at(2 * MINUTE);
    const before = parseExposition(exporter.render());
    expect(total(before, "voice_requests_total", { version: "tts-v42" })).toBe(0);
    exporter.setCanaryWeight(100);
    at(4 * MINUTE);
    const after = parseExposition(exporter.render());
    expect(total(after, "voice_requests_total", { version: "tts-v41" })).toBe(
      total(before, "voice_requests_total", { version: "tts-v41" }),
    );
    expect(total(after, "voice_requests_total", { version: "tts-v42" })).toBeGreaterThan(11_000);
    const key = (s: ParsedSample) => `${s.name}${JSON.stringify(s.labels)}`;
    const old = new Map(before.samples.map((s) => [key(s), s.value]));
    for (const s of after.samples) {
      if (s.name.startsWith("voice_")) expect(s.value).toBeGreaterThanOrEqual(old.get(key(s))!);
    }
    expect(() => exporter.setCanaryWeight(101)).toThrow(RangeError);
  });

  it("sends a pinned voice's traffic to stable whatever the weight; the others keep the weight's share", () => {
    const { exporter, at } = fakeExporter({ canaryWeight: 50 });
    const other = 'say "hi" \\ bye';
    const requests = (expo: Exposition, version: string, voice_id: string) =>
      total(expo, "voice_requests_total", { version, voice_id });
    /** Every voice_ series of one version and voice, by name and labels. */
    const seriesOf = (expo: Exposition, version: string, voice_id: string) =>
      new Map(
        expo.samples
          .filter((s) => s.name.startsWith("voice_") && s.labels["version"] === version)
          .filter((s) => s.labels["voice_id"] === voice_id)
          .map((s) => [`${s.name}${JSON.stringify(s.labels)}`, s.value]),
      );
    const grew = (a: Exposition, b: Exposition, version: string, voice: string) =>
      requests(b, version, voice) - requests(a, version, voice);
    expect(exporter.pinned()).toBeNull();
    at(2 * MINUTE);
    const before = parseExposition(exporter.render());
    // Both voices took canary traffic before the pin: 2 simulated minutes at 100 requests per second.
    expect(requests(before, "tts-v42", "ava")).toBeGreaterThan(3000);
    expect(requests(before, "tts-v42", other)).toBeGreaterThan(2000);

    exporter.setPinned("voice_id", ["ava"]);
    expect(exporter.pinned()).toEqual({ label: "voice_id", values: ["ava"] });
    at(4 * MINUTE);
    const pinned = parseExposition(exporter.render());
    // Not one more canary request for ava, in any series; all her traffic (60 %) on stable.
    expect(seriesOf(pinned, "tts-v42", "ava")).toEqual(seriesOf(before, "tts-v42", "ava"));
    expect(grew(before, pinned, "tts-v41", "ava")).toBeGreaterThan(7200 * 0.95);
    expect(grew(before, pinned, "tts-v41", "ava")).toBeLessThan(7200 * 1.05);
    // The other voice (40 %) keeps the weight's share: half of its 4800 requests on the canary.
    const otherCanary = grew(before, pinned, "tts-v42", other);
    const otherAll = otherCanary + grew(before, pinned, "tts-v41", other);
    expect(otherAll).toBeGreaterThan(4800 * 0.95);
    expect(otherAll).toBeLessThan(4800 * 1.05);
    expect(otherCanary / otherAll).toBeGreaterThan(0.45);
    expect(otherCanary / otherAll).toBeLessThan(0.55);

    // At 100 % the pin still holds: the canary has everyone else, stable has ava alone.
    exporter.setCanaryWeight(100);
    at(6 * MINUTE);
    const full = parseExposition(exporter.render());
    expect(seriesOf(full, "tts-v42", "ava")).toEqual(seriesOf(before, "tts-v42", "ava"));
    expect(grew(pinned, full, "tts-v41", "ava")).toBeGreaterThan(7200 * 0.95);
    expect(grew(pinned, full, "tts-v41", other)).toBe(0);
    expect(grew(pinned, full, "tts-v42", other)).toBeGreaterThan(4800 * 0.95);

    // Unpinned: ava follows the weight again.
    exporter.setPinned("voice_id", []);
    expect(exporter.pinned()).toBeNull();
    at(8 * MINUTE);
    const unpinned = parseExposition(exporter.render());
    expect(grew(full, unpinned, "tts-v42", "ava")).toBeGreaterThan(7200 * 0.95);
    expect(grew(full, unpinned, "tts-v41", "ava")).toBe(0);

    expect(() => exporter.setPinned("speaker", ["ava"])).toThrow(RangeError);
  });

  it("applies regressions from their simulated time", () => {
    const { exporter, at } = fakeExporter({ canaryWeight: 50 });
    const meanTtfa = (expo: Exposition, version: string) =>
      total(expo, "voice_ttfa_seconds_sum", { version }) /
      total(expo, "voice_ttfa_seconds_count", { version });
    at(5 * MINUTE);
    const first = parseExposition(exporter.render());
    expect(meanTtfa(first, "tts-v42") / meanTtfa(first, "tts-v41")).toBeCloseTo(1, 1);
    at(10 * MINUTE);
    const second = parseExposition(exporter.render());
    // The increments since minute 5: the canary's TTFA doubled.
    const increment = (version: string) =>
      (total(second, "voice_ttfa_seconds_sum", { version }) -
        total(first, "voice_ttfa_seconds_sum", { version })) /
      (total(second, "voice_ttfa_seconds_count", { version }) -
        total(first, "voice_ttfa_seconds_count", { version }));
    expect(increment("tts-v42") / increment("tts-v41")).toBeCloseTo(2, 1);
  });

  it("drops a faulted metric's series during the fault, and resumes its counts after", () => {
    const { exporter, at } = fakeExporter();
    at(9.9 * MINUTE);
    const before = parseExposition(exporter.render());
    const mosCount = (e: Exposition) => total(e, "voice_predicted_mos_count");
    expect(before.types.has("voice_predicted_mos")).toBe(true);
    at(11 * MINUTE);
    const during = parseExposition(exporter.render());
    expect(during.types.has("voice_predicted_mos")).toBe(false);
    expect(during.samples.some((s) => s.name.startsWith("voice_predicted_mos"))).toBe(false);
    expect(total(during, "voice_requests_total")).toBeGreaterThan(total(before, "voice_requests_total"));
    at(12.2 * MINUTE);
    const after = parseExposition(exporter.render());
    expect(after.types.has("voice_predicted_mos")).toBe(true);
    // Minutes 10 to 12 were not scored: only about 0.1 + 0.2 minutes of samples were added.
    const added = mosCount(after) - mosCount(before);
    expect(added).toBeGreaterThan(0);
    expect(added).toBeLessThan(0.4 * 60 * 100);
  });

  it("exports only the families the scenario models", () => {
    const text = SCENARIO.replace(/ {4}rtf:\n.*\n/, "")
      .replace(/ {4}underrun:\n.*\n/, "")
      .replace(/ {4}error:\n.*\n/, "");
    const { exporter, at } = fakeExporter({ scenario: scenarioFrom(text) });
    at(MINUTE);
    const expo = parseExposition(exporter.render());
    expect(expo.types.has("voice_real_time_factor")).toBe(false);
    expect(expo.types.has("voice_underruns_total")).toBe(false);
    const outcomes = new Set(
      expo.samples.filter((s) => s.name === "voice_requests_total").map((s) => s.labels["outcome"]),
    );
    expect([...outcomes]).toEqual(["ok"]);

    // Roles by name can be overridden: here WER is not exported, and rtf feeds the similarity histogram.
    const custom = createFleetExporter({
      scenario: scenarioFrom(SCENARIO),
      now: () => 0,
      roles: { wer: null, rtf: "similarity", speaker_similarity: null },
    });
    expect(custom.exported).toMatchObject({ rtf: "voice_speaker_similarity" });
    expect(custom.ignored).toEqual(["speaker_similarity", "wer", "cost_per_audio_second"]);
    expect(parseExposition(custom.render()).types.has("voice_wer_ratio")).toBe(false);
  });

  it("rejects a metric whose distribution does not fit its series, and reserved labels", () => {
    const wrong = SCENARIO.replace("bernoulli: { p: 0.01 }", "normal: { mean: 0.01, sd: 0.001 }");
    expect(() => fakeExporter({ scenario: scenarioFrom(wrong) })).toThrow(InvalidInputError);
    expect(() => fakeExporter({ scenario: scenarioFrom(wrong) })).toThrow(
      /spec\.metrics\.error: exported as the counter voice_requests_total: expected bernoulli/,
    );
    const reserved = SCENARIO.replace("language: en, tenant: callvault", "language: en, outcome: x");
    expect(() => fakeExporter({ scenario: scenarioFrom(reserved) })).toThrow(/"outcome" is reserved/);
    expect(() =>
      createFleetExporter({ scenario: scenarioFrom(SCENARIO), stable: "v1", canary: "v1" }),
    ).toThrow(/two different version names/);
  });
});

describe("fleet exporter HTTP server", () => {
  it("serves /metrics and /control on 127.0.0.1", async () => {
    const running = await startFleetExporter({
      scenario: scenarioFrom(SCENARIO),
      speed: 600,
      canaryWeight: 10,
    });
    try {
      expect(running.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      await new Promise((r) => setTimeout(r, 150));
      const res = await fetch(`${running.url}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
      const expo = parseExposition(await res.text());
      expect(total(expo, "voice_requests_total")).toBeGreaterThan(0);

      const control = await fetch(`${running.url}/control`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ canaryWeight: 60 }),
      });
      expect(control.status).toBe(200);
      expect(await control.json()).toMatchObject({ canaryWeight: 60, stable: "tts-v41", canary: "tts-v42" });
      expect(running.exporter.canaryWeight()).toBe(60);
      const bad = await fetch(`${running.url}/control`, { method: "POST", body: '{"canaryWeight": 150}' });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: string }).error).toMatch(/0 to 100/);
      expect((await fetch(`${running.url}/control`, { method: "POST", body: "nope" })).status).toBe(400);
      expect((await fetch(`${running.url}/nothing`)).status).toBe(404);
    } finally {
      await running.close();
    }
    await expect(fetch(`${running.url}/metrics`)).rejects.toThrow();
  });
});

describe("voicectl fleet-exporter", () => {
  function program(stop: Promise<void>) {
    let stdout = "";
    let stderr = "";
    let code = 0;
    const cmd = new Command().exitOverride();
    const io = {
      stdout: (t: string) => void (stdout += t),
      stderr: (t: string) => void (stderr += t),
      stdoutIsTTY: false,
      stderrIsTTY: false,
      env: {},
    };
    registerFleetExporter(cmd, io, (c) => (code = c), { untilStopped: () => stop });
    return { cmd, out: () => ({ stdout, stderr, code }) };
  }

  it("prints the URL, serves until stopped, then closes", async () => {
    let stop!: () => void;
    const stopped = new Promise<void>((r) => (stop = r));
    const { cmd, out } = program(stopped);
    const done = cmd.parseAsync(
      ["fleet-exporter", "examples/scenarios/agents-latency.yaml", "--speed", "60", "--canary", "tts-v43"],
      { from: "user" },
    );
    let url = "";
    for (let i = 0; i < 100 && !url; i++) {
      await new Promise((r) => setTimeout(r, 20));
      url = out().stdout.trim();
    }
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect(out().stderr).toContain("agents-latency");
    const text = await (await fetch(url)).text();
    expect(text).toContain('version="tts-v43"');
    stop();
    await done;
    await expect(fetch(url)).rejects.toThrow();
  });

  it.each([
    [["--speed", "0"], /--speed expects a positive number/],
    [["--port", "70000"], /--port expects a whole number from 0 to 65535/],
    [["--weight", "-1"], /--weight expects a number from 0 to 100/],
  ])("rejects %j", async (args, message) => {
    const { cmd } = program(Promise.resolve());
    await expect(
      cmd.parseAsync(["fleet-exporter", "examples/scenarios/agents-latency.yaml", ...args], { from: "user" }),
    ).rejects.toThrow(message);
  });
});
