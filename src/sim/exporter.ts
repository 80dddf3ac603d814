// A simulated voice fleet exporter: an HTTP server on 127.0.0.1 that serves /metrics in the Prometheus text
// exposition format (version 0.0.4) for two versions, stable and canary, following a SimulationScenario, the
// way real model servers would export them per the metric contract (docs/metrics.md). Tests point a real
// Prometheus at it; `voicectl fleet-exporter` starts one by hand.
//
// Time. A simulated clock runs at `speed` simulated seconds per real second (60: a real second is a minute of
// traffic) from `startAt`. The exporter advances the fleet in whole ticks of simulated time (1 s by default;
// longer when needed to keep to about 600 cell looks per real second: 30 s for 300 voices at speed 60), on a
// timer and before every scrape, and ACCUMULATES each tick's look into cumulative counters and histograms per
// traffic cell and version. Regressions and faults follow the simulated clock. The canary's traffic weight
// (percent) is set at start and changed at run time with `POST /control {"canaryWeight": N}` (the traffic
// router's job; the scenario's canaryReadyAfter is not applied: whoever sets the weight decides when the
// canary is ready). `setPinned(label, values)` sends the requests of the cells whose `label` has one of
// `values` to stable whatever the weight, as a router's header match pinning a voice or a tenant to stable
// would (while anything is pinned and the weight is above 0, each tick takes two looks of the fleet: one at
// the weight for the others, one at weight 0 for the pinned cells). Large fleets make large scrapes: every cell exports about 700 series per version with the
// default layouts (10 voices: 14,000 series, 2 MB a scrape; 300 voices: 60 times that, too much for 1 s
// scrapes).
//
// Where the numbers come from. Each tick is a look of the fleet (fleet.ts) at resolution `cells` for a policy
// the exporter makes up: every exported quality and latency metric is asked for as a HISTOGRAM over the
// exporter's bucket layout (in the scenario's units), so the fleet draws the bucket counts from the metric's
// exact per-request distribution (multinomial over the CDF), mean metrics included; no moments are turned
// into fake buckets. A rate metric is asked for as a rate (requests, events), and a synthetic metric
// `__requests` (Bernoulli with p = 0) gives every cell's request count. `_count` is the sum of the bucket
// counts. `_sum` is the exact sum of the values counted, where the value of each request is drawn uniformly
// inside its bucket (seeded; a sum of many uniforms by its normal approximation, kept inside the bucket's
// range). Values below the first bound are taken at that bound for scores (a WER ratio is never negative, the
// normal models of the scenarios aside; similarity below 0.3 and MOS below 1 never happen) and uniform on (0,
// first] for times; values above the last bound at half a step past it. Layouts are far wider than the
// scenarios' values, so the clamping is visible for WER only (about a fifth of the per-utterance values of
// N(2.1 %, 2.5 %) are negative: they count as 0, which raises the mean WER a little in both arms alike).
//
// Bucket layouts (exported units; fine enough for the default budgets, docs/metrics.md "Histogram buckets"):
// - voice_ttfa_seconds: the scenario's `buckets` for the metric (in ms, exported /1000) when it gives them,
//   else native-histogram schema 4 bounds (2^(1/16), about 4.4 % apart) from 5 ms to about 29 s.
// - voice_real_time_factor: 0.0025 steps from 0 to 0.5, then 0.05 steps to 2.
// - voice_speaker_similarity: 0.005 steps from 0.3 to 1.0.
// - voice_predicted_mos: 0.02 steps from 1 to 5.
// - voice_wer_ratio: 0.001 steps from 0 to 0.1, 0.01 steps to 0.5, 0.05 steps to 1.
// A scenario's explicit `buckets` for any of these metrics wins (in the scenario's units).
//
// Which scenario metric is which series, by name (override with `roles`): ttfa* → voice_ttfa_seconds
// (ms / 1000), rtf / real_time_factor → voice_real_time_factor, speaker_similarity →
// voice_speaker_similarity, mos → voice_predicted_mos, wer → voice_wer_ratio (percent / 100), error →
// voice_requests_total{outcome="error" | "timeout"} (a quarter of the failures, drawn binomially, are
// timeouts), underrun → voice_underruns_total, silence_truncation → voice_silence_truncations_total. Other
// metrics are not exported (cost_per_audio_second: cost is not a per-request measurement, see the contract).
// voice_requests_total{outcome="ok"} and voice_generated_audio_seconds_total (a fixed 4.5 s of audio per
// successful request) are always exported. A series family exists only if the scenario models it (no
// made-up zeros), but then for every cell and both versions from the start (zeros until traffic comes), as a
// real server exports its series once it is up.
//
// Labels: version, then every label of the scenario's cells (voice_id, language, product, tenant, ...); the
// scrape config adds namespace. A fault of the scenario removes its metrics' series while the simulated clock
// is inside it (the scorer's exporter is down); their counts do not grow meanwhile and resume where they
// were.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Look, MetricBatch } from "../core/analysis/look.js";
import { InvalidInputError, UsageError, type Problem } from "../core/errors.js";
import { API_VERSION, POLICY_KIND, policySchema } from "../core/policy/schema.js";
import { parseDuration } from "../core/rollout/plan.js";
import { createRng, type Rng } from "../core/stats/random.js";
import { createFleet, type Fleet } from "./fleet.js";
import { binomial } from "./sampling.js";
import { bucketBounds, distributionFamily, type MetricModel, type Scenario } from "./scenario.js";

// ------------------------------------------------------------------------------------------------- roles

export type MetricRole = "ttfa" | "rtf" | "similarity" | "mos" | "wer" | "error" | "underrun" | "silence";

interface HistogramRole {
  readonly kind: "histogram";
  readonly series: string;
  readonly help: string;
  /** Scenario units to exported units. */
  readonly scale: number;
  /** Values below the first bound: uniform from 0 (times), or at the bound (scores). */
  readonly belowFirst: "fromZero" | "atBound";
  /** Default bucket bounds, in the scenario's units. */
  readonly bounds: () => number[];
}

interface CounterRole {
  readonly kind: "counter";
  readonly series: string;
  readonly help: string;
}

function linear(from: number, to: number, step: number, decimals: number): number[] {
  const n = Math.round((to - from) / step);
  return Array.from({ length: n + 1 }, (_, k) => Number((from + k * step).toFixed(decimals)));
}

const ROLES: Readonly<Record<MetricRole, HistogramRole | CounterRole>> = {
  ttfa: {
    kind: "histogram",
    series: "voice_ttfa_seconds",
    help: "Time from request to the first audio byte.",
    scale: 1 / 1000,
    belowFirst: "fromZero",
    bounds: () => Array.from({ length: 201 }, (_, k) => 5 * Math.pow(2, k / 16)),
  },
  rtf: {
    kind: "histogram",
    series: "voice_real_time_factor",
    help: "Compute seconds per generated audio second.",
    scale: 1,
    belowFirst: "fromZero",
    bounds: () => [...linear(0, 0.5, 0.0025, 4), ...linear(0.55, 2, 0.05, 2)],
  },
  similarity: {
    kind: "histogram",
    series: "voice_speaker_similarity",
    help: "Cosine of speaker embeddings, generated audio against the voice's reference (sampled requests).",
    scale: 1,
    belowFirst: "atBound",
    bounds: () => linear(0.3, 1, 0.005, 3),
  },
  mos: {
    kind: "histogram",
    series: "voice_predicted_mos",
    help: "Predicted MOS, 1 to 5 (sampled requests).",
    scale: 1,
    belowFirst: "atBound",
    bounds: () => linear(1, 5, 0.02, 2),
  },
  wer: {
    kind: "histogram",
    series: "voice_wer_ratio",
    help: "Per-utterance word error rate by ASR round trip (sampled requests).",
    scale: 1 / 100,
    belowFirst: "atBound",
    // In percent, the scenario's unit: 0.1 points to 10 %, 1 point to 50 %, 5 points to 100 %.
    bounds: () => [...linear(0, 10, 0.1, 1), ...linear(11, 50, 1, 0), ...linear(55, 100, 5, 0)],
  },
  error: {
    kind: "counter",
    series: "voice_requests_total",
    help: "Requests served, by outcome.",
  },
  underrun: {
    kind: "counter",
    series: "voice_underruns_total",
    help: "Requests whose audio stream ran dry at least once.",
  },
  silence: {
    kind: "counter",
    series: "voice_silence_truncations_total",
    help: "Requests whose audio was silent or cut short.",
  },
};

const ROLE_BY_NAME: readonly [RegExp, MetricRole][] = [
  [/^ttfa(_|$)/, "ttfa"],
  [/^(rtf|real_time_factor)(_|$)/, "rtf"],
  [/^(speaker_)?similarity(_|$)/, "similarity"],
  [/^(predicted_)?mos(_|$)/, "mos"],
  [/^wer(_|$)/, "wer"],
  [/^errors?(_rate)?$/, "error"],
  [/^underruns?(_rate)?$/, "underrun"],
  [/^silence(_truncations?)?(_rate)?$/, "silence"],
];

/** The role of a scenario metric by its name, or null when the exporter does not export it. */
export function metricRole(name: string): MetricRole | null {
  for (const [re, role] of ROLE_BY_NAME) if (re.test(name)) return role;
  return null;
}

const REQUESTS = "__requests";
const REQUESTS_SERIES = "voice_requests_total";
const AUDIO_SERIES = "voice_generated_audio_seconds_total";
/** The share of failed requests exported as outcome="timeout" (the rest: "error"). */
export const TIMEOUT_SHARE = 0.25;
/** Seconds of audio generated per successful request (a fixed mean; errors and timeouts generate none). */
export const DEFAULT_AUDIO_SECONDS_PER_REQUEST = 4.5;
export const DEFAULT_STABLE = "tts-v41";
export const DEFAULT_CANARY = "tts-v42";
const RESERVED_LABELS = new Set(["version", "le", "outcome", "quantile"]);
/** Label order: version, the contract's labels, then any other label of the cells alphabetically. */
const CONTRACT_LABELS = ["voice_id", "language", "product", "tenant"];

// ---------------------------------------------------------------------------------------------- exporter

export interface FleetExporterOptions {
  readonly scenario: Scenario;
  /** Random seed (default: the scenario's). */
  readonly seed?: number | undefined;
  /** Version names (label `version`; default tts-v41 and tts-v42). */
  readonly stable?: string | undefined;
  readonly canary?: string | undefined;
  /** The canary's weight at the start, percent (default: the scenario's first setWeight step, else 0). */
  readonly canaryWeight?: number | undefined;
  /** Simulated seconds per real second (default 1). */
  readonly speed?: number | undefined;
  /** Simulated time at the start, ms (default 0: the scenario's regressions and faults count from there). */
  readonly startAt?: number | undefined;
  /**
   * Simulated ms per look of the fleet. Default: 1 s, or more to keep to about 600 cell looks per real second
   * (at a speed of 60: 1 s up to 10 cells, 30 s for 300 cells).
   */
  readonly tickMs?: number | undefined;
  /** Real clock in ms (default performance.now); tests drive a fake one. */
  readonly now?: (() => number) | undefined;
  /** Roles by scenario metric name, over the default by name; null: do not export the metric. */
  readonly roles?: Readonly<Record<string, MetricRole | null>> | undefined;
  readonly audioSecondsPerRequest?: number | undefined;
}

export interface ExporterState {
  readonly stable: string;
  readonly canary: string;
  readonly canaryWeight: number;
  /** Simulated time up to which traffic has been counted. */
  readonly simulatedSeconds: number;
  readonly speed: number;
  /** Simulated seconds per look of the fleet. */
  readonly tickSeconds: number;
}

export interface FleetExporter {
  readonly stable: string;
  readonly canary: string;
  readonly speed: number;
  /** Exported series family by scenario metric name (the metrics the exporter exports). */
  readonly exported: Readonly<Record<string, string>>;
  /** Scenario metrics that are not exported. */
  readonly ignored: readonly string[];
  /** The simulated clock now, ms. */
  simulatedMs(): number;
  canaryWeight(): number;
  /** Count the traffic up to now at the old weight, then switch to the new one. */
  setCanaryWeight(percent: number): void;
  /** The label and values whose traffic goes to stable whatever the weight, or null when none. */
  pinned(): { readonly label: string; readonly values: readonly string[] } | null;
  /**
   * Count the traffic up to now, then send the requests of the cells whose `label` has one of `values` to
   * stable only, whatever the canary weight (replacing any earlier pins; no values: none pinned). Throws a
   * RangeError when no cell has the label.
   */
  setPinned(label: string, values: readonly string[]): void;
  /** Count the traffic up to the simulated clock now. */
  advance(): void;
  /** Advance, then the exposition text (format 0.0.4). */
  render(): string;
  state(): ExporterState;
}

interface HistogramPlan {
  readonly metric: string;
  readonly role: HistogramRole;
  /** Finite bounds in the scenario's units, as given to the fleet. */
  readonly bounds: readonly number[];
  /** Exported `le` label values, "+Inf" last. */
  readonly les: readonly string[];
  /** Per bucket (incl. +Inf), the range values are drawn from, in exported units. */
  readonly lows: Float64Array;
  readonly highs: Float64Array;
}

interface CounterPlan {
  readonly metric: string;
  readonly role: MetricRole;
}

interface SeriesState {
  /** Per histogram plan: counts per bucket (not cumulative), and the sum. */
  readonly counts: Float64Array[];
  readonly sums: Float64Array;
  ok: number;
  error: number;
  timeout: number;
  underruns: number;
  silences: number;
  audioSeconds: number;
}

function cellKey(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}\u0001${labels[k]}`)
    .join("\u0002");
}

/** A number as Prometheus reads it (Go's ParseFloat): integers plainly, others in the shortest round trip. */
export function formatValue(x: number): string {
  if (x === Infinity) return "+Inf";
  if (x === -Infinity) return "-Inf";
  if (Number.isNaN(x)) return "NaN";
  return String(x);
}

/** A label value in the exposition format: backslash, double quote and line feed escaped. */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function roundBound(x: number): number {
  return Number(x.toPrecision(12));
}

function firstSetWeight(scenario: Scenario): number {
  for (const step of scenario.spec.steps) if ("setWeight" in step) return step.setWeight;
  return 0;
}

function checkWeight(percent: number): void {
  if (typeof percent !== "number" || !(percent >= 0 && percent <= 100)) {
    throw new RangeError(`expected a canary weight from 0 to 100 (percent), got ${String(percent)}`);
  }
}

/** The exporter's state machine without a server (tests drive it with a fake clock). */
export function createFleetExporter(options: FleetExporterOptions): FleetExporter {
  const scenario = options.scenario;
  const spec = scenario.spec;
  const stable = options.stable ?? DEFAULT_STABLE;
  const canary = options.canary ?? DEFAULT_CANARY;
  const speed = options.speed ?? 1;
  const startAt = options.startAt ?? 0;
  const seed = options.seed ?? spec.seed;
  const audioPerRequest = options.audioSecondsPerRequest ?? DEFAULT_AUDIO_SECONDS_PER_REQUEST;
  const now = options.now ?? (() => performance.now());
  const where = `scenario ${scenario.metadata.name}`;
  const problems: Problem[] = [];
  const problem = (path: string, message: string) => problems.push({ file: where, path, message });

  if (stable === "" || canary === "") problem("", "expected non-empty version names");
  if (stable === canary) problem("", `expected two different version names, got "${stable}" twice`);
  if (!(speed > 0 && Number.isFinite(speed))) throw new RangeError(`expected a positive speed, got ${speed}`);
  let weight = options.canaryWeight ?? firstSetWeight(scenario);
  checkWeight(weight);

  // Which scenario metric is exported as what; the first metric of a role wins.
  const histograms: HistogramPlan[] = [];
  const counters = new Map<MetricRole, CounterPlan>();
  const exported: Record<string, string> = {};
  const ignored: string[] = [];
  const taken = new Map<MetricRole, string>();
  const fleetMetrics: Record<string, MetricModel> = {};
  for (const [name, model] of Object.entries(spec.metrics)) {
    const role =
      options.roles && Object.hasOwn(options.roles, name) ? options.roles[name]! : metricRole(name);
    if (role === null || taken.has(role)) {
      ignored.push(name);
      continue;
    }
    const def = ROLES[role];
    const family = distributionFamily(model);
    if (def.kind === "histogram" && family === "bernoulli") {
      problem(
        `spec.metrics.${name}`,
        `exported as the histogram ${def.series}: expected a normal or lognormal distribution`,
      );
      continue;
    }
    if (def.kind === "counter" && family !== "bernoulli") {
      problem(`spec.metrics.${name}`, `exported as the counter ${def.series}: expected bernoulli: {p}`);
      continue;
    }
    taken.set(role, name);
    exported[name] = def.series;
    if (def.kind === "counter") {
      counters.set(role, { metric: name, role });
      fleetMetrics[name] = model;
      continue;
    }
    const bounds = model.buckets !== undefined ? bucketBounds(model) : def.bounds();
    const les: string[] = [];
    const lows = new Float64Array(bounds.length + 1);
    const highs = new Float64Array(bounds.length + 1);
    for (let j = 0; j < bounds.length; j++) {
      const le = roundBound(bounds[j]! * def.scale);
      if (j > 0 && !(le > Number(les[j - 1]))) {
        problem(`spec.metrics.${name}.buckets`, "expected bucket bounds at least 1e-12 apart");
        break;
      }
      les.push(formatValue(le));
      highs[j] = bounds[j]! * def.scale;
      lows[j] = j > 0 ? bounds[j - 1]! * def.scale : def.belowFirst === "fromZero" ? 0 : highs[j]!;
    }
    const last = bounds[bounds.length - 1]! * def.scale;
    const step = bounds.length > 1 ? last - bounds[bounds.length - 2]! * def.scale : Math.abs(last) || 1;
    lows[bounds.length] = highs[bounds.length] = last + step / 2;
    les.push("+Inf");
    histograms.push({ metric: name, role: def, bounds, les, lows, highs });
    fleetMetrics[name] = { ...model, buckets: [...bounds] };
  }
  if (Object.hasOwn(spec.metrics, REQUESTS))
    problem(`spec.metrics.${REQUESTS}`, "is reserved by the exporter");
  fleetMetrics[REQUESTS] = { bernoulli: { p: 0 }, sampled: 1 };

  // The fleet, for a made-up policy that asks for exactly what is exported: histograms, and rates.
  const rates = new Set([REQUESTS, ...[...counters.values()].map((c) => c.metric)]);
  const policy = policySchema.parse({
    apiVersion: API_VERSION,
    kind: POLICY_KIND,
    metadata: { name: "fleet-exporter" },
    spec: {
      sliceBy: [],
      metrics: Object.keys(fleetMetrics).map((name) => ({
        name,
        direction: "lowerIsBetter",
        aggregate: rates.has(name) ? "rate" : "p50",
        budget: { absolute: 0 },
      })),
    },
  });
  // Changes, regressions and faults of metrics that are not exported are left out.
  const kept = (name: string) => Object.hasOwn(fleetMetrics, name);
  const fleetScenario: Scenario = {
    ...scenario,
    spec: {
      ...spec,
      metrics: fleetMetrics,
      canary: Object.fromEntries(Object.entries(spec.canary).filter(([name]) => kept(name))),
      regressions: spec.regressions.filter((r) => kept(r.metric)),
      faults: spec.faults.flatMap((f) => {
        if (f.metrics === "all") return [f];
        const metrics = f.metrics.filter(kept);
        return metrics.length > 0 ? [{ ...f, metrics }] : [];
      }),
    },
  };

  let fleet: Fleet | undefined;
  if (problems.length === 0) fleet = createFleet(fleetScenario, policy, { seed, resolution: "cells" });
  if (problems.length > 0 || !fleet) throw new InvalidInputError(problems);
  const cells = fleet.cells;
  // About 600 cell looks per real second at most (at most 60 looks), in whole simulated seconds.
  const looksPerSecond = Math.min(60, Math.max(1, Math.floor(600 / cells.length)));
  const tickMs = options.tickMs ?? Math.max(1000, Math.ceil(speed / looksPerSecond) * 1000);
  if (!(tickMs > 0)) throw new RangeError(`expected a positive tick, got ${tickMs}`);

  // Labels per cell and version, in the exposition format.
  const cellIndex = new Map<string, number>();
  cells.forEach((c, i) => cellIndex.set(cellKey(c.labels), i));
  for (const c of cells) {
    for (const label of Object.keys(c.labels)) {
      if (RESERVED_LABELS.has(label) || label.startsWith("__")) {
        problem("spec.traffic", `the cells' label "${label}" is reserved by the exporter's series`);
      }
    }
  }
  if (problems.length > 0) throw new InvalidInputError(problems);
  const labelOrder = (labels: Readonly<Record<string, string>>): string[] => {
    const keys = Object.keys(labels);
    const known = CONTRACT_LABELS.filter((k) => keys.includes(k));
    return [...known, ...keys.filter((k) => !CONTRACT_LABELS.includes(k)).sort()];
  };
  const versions = [stable, canary] as const;
  const prefixes: string[] = [];
  for (const c of cells) {
    for (const v of versions) {
      const parts = [`version="${escapeLabelValue(v)}"`];
      for (const k of labelOrder(c.labels)) parts.push(`${k}="${escapeLabelValue(c.labels[k]!)}"`);
      prefixes.push(parts.join(","));
    }
  }
  const states: SeriesState[] = prefixes.map(() => ({
    counts: histograms.map((h) => new Float64Array(h.les.length)),
    sums: new Float64Array(histograms.length),
    ok: 0,
    error: 0,
    timeout: 0,
    underruns: 0,
    silences: 0,
    audioSeconds: 0,
  }));
  const histogramIndex = new Map(histograms.map((h, i) => [h.metric, i]));
  const counterRole = new Map([...counters.values()].map((c) => [c.metric, c.role]));

  const faults = spec.faults.map((f) => ({
    fromMs: parseDuration(f.from)!,
    toMs: parseDuration(f.to)!,
    metrics: f.metrics === "all" ? ("all" as const) : new Set(f.metrics),
  }));
  const unavailableAt = (metric: string, at: number): boolean =>
    faults.some((f) => f.fromMs <= at && at < f.toMs && (f.metrics === "all" || f.metrics.has(metric)));

  const t0 = now();
  let cursor = startAt;
  const simulatedMs = () => startAt + (now() - t0) * speed;

  const absorb = (state: SeriesState, metrics: Readonly<Record<string, MetricBatch>>, rng: Rng) => {
    let requests = 0;
    let failures = 0;
    for (const [name, batch] of Object.entries(metrics)) {
      if (batch.kind === "histogram") {
        const h = histogramIndex.get(name);
        if (h === undefined) continue;
        const plan = histograms[h]!;
        const counts = state.counts[h]!;
        let previous = 0;
        let sum = 0;
        for (let j = 0; j < batch.buckets.length; j++) {
          const cumulative = batch.buckets[j]!.count;
          const k = cumulative - previous;
          previous = cumulative;
          if (k <= 0) continue;
          counts[j]! += k;
          sum += uniformSum(rng, plan.lows[j]!, plan.highs[j]!, k);
        }
        state.sums[h]! += sum;
      } else if (batch.kind === "rate") {
        if (name === REQUESTS) {
          requests += batch.requests;
          continue;
        }
        const role = counterRole.get(name);
        if (role === "error") {
          failures += batch.events;
          const timeouts = binomial(rng, batch.events, TIMEOUT_SHARE);
          state.timeout += timeouts;
          state.error += batch.events - timeouts;
        } else if (role === "underrun") state.underruns += batch.events;
        else if (role === "silence") state.silences += batch.events;
      }
    }
    const ok = Math.max(0, requests - failures);
    state.ok += ok;
    state.audioSeconds += ok * audioPerRequest;
  };

  // Pinned cells (by index), with the label and values they were pinned by; null when none.
  let pins: { label: string; values: string[]; cells: boolean[] } | null = null;

  const absorbLook = (look: Look, rng: Rng, pinnedCells: boolean | null) => {
    for (const cb of look.cells) {
      const c = cellIndex.get(cellKey(cb.labels));
      if (c === undefined) continue;
      if (pinnedCells !== null && pins!.cells[c] !== pinnedCells) continue;
      absorb(states[c * 2 + (cb.arm === "canary" ? 1 : 0)]!, cb.metrics, rng);
    }
  };

  const advance = () => {
    const target = simulatedMs();
    while (cursor + tickMs <= target) {
      const look = fleet.look(cursor, cursor + tickMs, weight);
      const rng = createRng(hashTick(seed, cursor, weight));
      if (pins === null || weight === 0) absorbLook(look, rng, null);
      else {
        // The pinned cells' requests all go to stable: their part of a look at weight 0.
        absorbLook(look, rng, false);
        absorbLook(fleet.look(cursor, cursor + tickMs, 0), rng, true);
      }
      cursor += tickMs;
    }
  };

  const render = (): string => {
    advance();
    const at = cursor;
    const lines: string[] = [];
    const family = (name: string, type: string, help: string) => {
      lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
    };
    for (let h = 0; h < histograms.length; h++) {
      const plan = histograms[h]!;
      if (unavailableAt(plan.metric, at)) continue;
      const name = plan.role.series;
      family(name, "histogram", plan.role.help);
      for (let s = 0; s < states.length; s++) {
        const prefix = prefixes[s]!;
        const counts = states[s]!.counts[h]!;
        let cumulative = 0;
        for (let j = 0; j < plan.les.length; j++) {
          cumulative += counts[j]!;
          lines.push(`${name}_bucket{${prefix},le="${plan.les[j]}"} ${formatValue(cumulative)}`);
        }
        lines.push(`${name}_sum{${prefix}} ${formatValue(states[s]!.sums[h]!)}`);
        lines.push(`${name}_count{${prefix}} ${formatValue(cumulative)}`);
      }
    }
    if (!unavailableAt(REQUESTS, at)) {
      const error = counters.get("error");
      const failuresShown = error !== undefined && !unavailableAt(error.metric, at);
      family(REQUESTS_SERIES, "counter", ROLES.error.help);
      for (let s = 0; s < states.length; s++) {
        const st = states[s]!;
        lines.push(`${REQUESTS_SERIES}{${prefixes[s]},outcome="ok"} ${formatValue(st.ok)}`);
        if (failuresShown) {
          lines.push(`${REQUESTS_SERIES}{${prefixes[s]},outcome="error"} ${formatValue(st.error)}`);
          lines.push(`${REQUESTS_SERIES}{${prefixes[s]},outcome="timeout"} ${formatValue(st.timeout)}`);
        }
      }
    }
    for (const [role, field] of [
      ["underrun", "underruns"],
      ["silence", "silences"],
    ] as const) {
      const plan = counters.get(role);
      if (!plan || unavailableAt(plan.metric, at)) continue;
      const def = ROLES[role];
      family(def.series, "counter", def.help);
      for (let s = 0; s < states.length; s++) {
        lines.push(`${def.series}{${prefixes[s]}} ${formatValue(states[s]![field])}`);
      }
    }
    if (!unavailableAt(REQUESTS, at)) {
      family(
        AUDIO_SERIES,
        "counter",
        `Seconds of audio generated (simulated: ${audioPerRequest} s per request).`,
      );
      for (let s = 0; s < states.length; s++) {
        lines.push(`${AUDIO_SERIES}{${prefixes[s]}} ${formatValue(states[s]!.audioSeconds)}`);
      }
    }
    family("voicectl_fleet_exporter_simulated_seconds", "gauge", "Simulated time counted so far.");
    lines.push(`voicectl_fleet_exporter_simulated_seconds ${formatValue(at / 1000)}`);
    family("voicectl_fleet_exporter_canary_weight_percent", "gauge", "The canary's share of the traffic.");
    lines.push(`voicectl_fleet_exporter_canary_weight_percent ${formatValue(weight)}`);
    return lines.join("\n") + "\n";
  };

  return {
    stable,
    canary,
    speed,
    exported,
    ignored,
    simulatedMs,
    canaryWeight: () => weight,
    setCanaryWeight(percent: number) {
      checkWeight(percent);
      advance();
      weight = percent;
    },
    pinned: () => (pins === null ? null : { label: pins.label, values: [...pins.values] }),
    setPinned(label: string, values: readonly string[]) {
      if (!cells.some((c) => Object.hasOwn(c.labels, label)))
        throw new RangeError(`expected a label of the scenario's cells to pin by, got "${label}"`);
      advance();
      const wanted = new Set(values);
      pins =
        wanted.size === 0
          ? null
          : {
              label,
              values: [...wanted].sort(),
              cells: cells.map((c) => Object.hasOwn(c.labels, label) && wanted.has(c.labels[label]!)),
            };
    },
    advance,
    render,
    state: () => ({
      stable,
      canary,
      canaryWeight: weight,
      simulatedSeconds: cursor / 1000,
      speed,
      tickSeconds: tickMs / 1000,
    }),
  };
}

function hashTick(seed: number, cursor: number, weight: number): number {
  let h = mix32(seed ^ 0x2545f491);
  h = mix32(h ^ (cursor >>> 0));
  h = mix32(h ^ Math.floor(cursor / 4294967296));
  return mix32(h ^ Math.round(weight * 1000));
}

function mix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The sum of k values drawn uniformly on (lo, hi]: exact below 16 values, else its normal approximation. */
function uniformSum(rng: Rng, lo: number, hi: number, k: number): number {
  if (lo === hi) return k * lo;
  const w = hi - lo;
  if (k <= 16) {
    let s = 0;
    for (let i = 0; i < k; i++) s += hi - w * rng.next();
    return s;
  }
  const s = (k * (lo + hi)) / 2 + w * Math.sqrt(k / 12) * rng.normal();
  return Math.min(k * hi, Math.max(k * lo, s));
}

// -------------------------------------------------------------------------------------------------- server

export interface StartOptions extends FleetExporterOptions {
  /** Port on 127.0.0.1 (default 0: a free one). */
  readonly port?: number | undefined;
}

export interface RunningFleetExporter {
  readonly exporter: FleetExporter;
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  /** host:port, for a Prometheus static target. */
  readonly address: string;
  close(): Promise<void>;
}

const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/**
 * Start the exporter's HTTP server on 127.0.0.1: GET /metrics, GET /control (state as JSON), POST /control
 * with JSON {"canaryWeight": percent}. Throws UsageError when the port cannot be bound.
 */
export async function startFleetExporter(options: StartOptions): Promise<RunningFleetExporter> {
  const exporter = createFleetExporter(options);
  const server = createServer((req, res) => handle(exporter, req, res));
  const port = options.port ?? 0;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const why =
        err.code === "EADDRINUSE"
          ? "the address is in use"
          : err.code === "EACCES"
            ? "permission denied"
            : err.message;
      reject(new UsageError(`cannot listen on 127.0.0.1:${port}: ${why} (--port 0 picks a free port)`));
    };
    server.once("error", onError);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", onError);
      resolve();
    });
  });
  // Keep counting between scrapes, so that a scrape never has a long backlog to draw.
  const timer = setInterval(() => {
    try {
      exporter.advance();
    } catch {
      // The next scrape reports it.
    }
  }, 200);
  timer.unref();
  const actual = (server.address() as AddressInfo).port;
  let closed: Promise<void> | undefined;
  return {
    exporter,
    url: `http://127.0.0.1:${actual}`,
    port: actual,
    address: `127.0.0.1:${actual}`,
    close() {
      closed ??= new Promise<void>((resolve) => {
        clearInterval(timer);
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { "Content-Type": type, "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, "application/json", JSON.stringify(body) + "\n");
}

function handle(exporter: FleetExporter, req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? "/").split("?")[0];
  if (path === "/metrics") {
    if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, "text/plain", "GET /metrics\n");
    let body: string;
    try {
      body = exporter.render();
    } catch (err) {
      return send(res, 500, "text/plain", `${err instanceof Error ? err.message : String(err)}\n`);
    }
    return send(res, 200, CONTENT_TYPE, body);
  }
  if (path === "/control") {
    if (req.method === "GET") return sendJson(res, 200, exporter.state());
    if (req.method !== "POST") return send(res, 405, "text/plain", "GET or POST /control\n");
    let text = "";
    let tooLarge = false;
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      text += chunk;
      if (text.length > 65_536) tooLarge = true;
    });
    req.on("end", () => {
      if (tooLarge) return sendJson(res, 413, { error: "body too large" });
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return sendJson(res, 400, { error: 'expected JSON such as {"canaryWeight": 25}' });
      }
      const w = (body as { canaryWeight?: unknown } | null)?.canaryWeight;
      if (typeof w !== "number" || !(w >= 0 && w <= 100)) {
        return sendJson(res, 400, { error: "expected canaryWeight: a number of percent from 0 to 100" });
      }
      exporter.setCanaryWeight(w);
      return sendJson(res, 200, exporter.state());
    });
    return;
  }
  if (path === "/" && (req.method === "GET" || req.method === "HEAD")) {
    const s = exporter.state();
    return send(
      res,
      200,
      "text/plain; charset=utf-8",
      `voicectl fleet exporter: ${s.stable} and ${s.canary} (canary at ${s.canaryWeight}%), ` +
        `${s.speed}x simulated time\nGET /metrics\nGET /control\nPOST /control {"canaryWeight": N}\n`,
    );
  }
  send(res, 404, "text/plain", "not found: GET /metrics, GET or POST /control\n");
}
