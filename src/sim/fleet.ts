// A simulated voice fleet: what a metrics source would report for each look of the online analysis, drawn from
// the scenario's distributions. It produces per-look AGGREGATES directly (request counts, sums and sums of
// squares, histogram bucket counts, event counts) from their exact sampling distributions, never individual
// requests, so a two-hour rollout over hundreds of voices takes milliseconds.
//
// Per look [from, to) at canary weight w:
// - per traffic cell and arm, requests n ~ Poisson(rps × share × armShare × seconds), armShare = w/100 for the
//   canary and 1 − w/100 for the baseline. The same requests carry every metric.
// - a metric scored on a fraction `sampled` of requests gets m ~ Binomial(n, sampled) values.
// - `mean` metrics, moments batch: for normal values, exact: the sample mean ~ Normal(μ, σ²/m) and, independent
//   of it, (m − 1)s²/σ² ~ χ²(m − 1), so sum = m·mean and sumSquares = (m − 1)s² + m·mean². Lognormal values
//   use the same draw with the lognormal's own mean and variance (a normal approximation by the CLT: the
//   batch's mean and variance are right on average, its skew is not; fine for the mean tests, which are
//   asymptotic themselves). Bernoulli values: exact, sum = sumSquares ~ Binomial(m, p).
// - quantile metrics (p50..p99), histogram batch: multinomial counts over the buckets, with the bucket
//   probabilities from the distribution's CDF, returned as cumulative counts per `le`, +Infinity last.
// - `rate` metrics, rate batch: events ~ Binomial(m, p).
// - each metric is reported per group of cells that share the labels its policy slices need (FleetResolution
//   `slices`, the default, as a Prometheus source would query it) or per full cell (`cells`). A group with no
//   sample in an arm is left out of the look.
// Regressions change the canary arm only, in the cells they match, from their `from` time; a look that a
// regression starts or ends inside is split at that time. Faults list metrics in `unavailable` and give them
// no batches.
//
// Deterministic: each look draws from its own generator, seeded by (seed, from, to, weight), so a look is a pure
// function of its arguments, whatever was asked before. Per-slice offsets (`vary`) are seeded by (seed,
// metric, label, value): a voice keeps its baseline across looks and across cell orders.
//
// Cost: a look draws one Poisson per cell and arm, then per metric one batch per group and arm (per distinct
// parameter set within a group). Histogram probabilities are computed once per parameter set and cached.
import type { CellBatch, Look, MetricBatch } from "../core/analysis/look.js";
import type { HistogramBucket } from "../core/sequential/quantiles.js";
import { InvalidInputError } from "../core/errors.js";
import { dimensionLabels, metricDimensions, type Policy } from "../core/policy/schema.js";
import { parseDuration } from "../core/rollout/plan.js";
import { normalCdf } from "../core/stats/distributions.js";
import { createRng, type Rng } from "../core/stats/random.js";
import { addMultinomial, binomial, categorical, chiSquare, poisson, type Categorical } from "./sampling.js";
import {
  baseParameters,
  bucketBounds,
  cellMatches,
  changedParameters,
  distributionFamily,
  own,
  resolveCells,
  scenarioProblems,
  varyList,
  type Change,
  type DistributionFamily,
  type Scenario,
  type TrafficCell,
} from "./scenario.js";

/** A look as the fleet produced it, with the number of requests it generated (which no metric may count). */
export interface FleetLook extends Look {
  /**
   * Requests served per arm in this look. Every request carries every metric, but a metric is reported per
   * group of cells, and groups of different metrics overlap: summing cells over metrics counts a request once
   * per group.
   */
  readonly requests: { readonly baseline: number; readonly canary: number };
}

export interface Fleet {
  /** The traffic cells (full label combinations) with their normalised shares. */
  readonly cells: readonly TrafficCell[];
  readonly seed: number;
  /** The samples of [fromMs, toMs) (simulated ms since the start) at the given canary weight (percent). */
  look(fromMs: number, toMs: number, canaryWeight: number): FleetLook;
}

/** A distribution's parameters: center = mean (normal), median (lognormal), p (bernoulli); spread = sd, sigma. */
interface Params {
  readonly center: number;
  readonly spread: number;
}

type BatchKind = "moments" | "histogram" | "rate";

interface ActiveRegression {
  readonly change: Change;
  readonly fromMs: number;
  readonly toMs: number;
  /** Per cell: whether the regression's slices match it. */
  readonly matches: readonly boolean[];
}

interface MetricPlan {
  readonly name: string;
  readonly kind: BatchKind;
  readonly family: DistributionFamily;
  readonly sampled: number;
  /** Histogram: the `le` bounds, +Infinity last, and a bucket with count 0 for each. */
  readonly les: readonly number[];
  readonly emptyBuckets: readonly HistogramBucket[];
  readonly baseline: readonly Params[];
  readonly canary: readonly Params[];
  readonly regressions: readonly ActiveRegression[];
  /** Canary parameters under regressions, by cell and set of active regressions. */
  readonly regressed: Map<string, Params>;
  /** Histogram bucket distributions by parameters. */
  readonly tables: Map<string, Categorical>;
  /** The canonical object of a parameter set. */
  readonly intern: (p: Params) => Params;
}

interface FaultPlan {
  readonly fromMs: number;
  readonly toMs: number;
  readonly metrics: "all" | ReadonlySet<string>;
  readonly reason: string;
}

// ----------------------------------------------------------------------------------------------- hashing

function mix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);

function hashNumber(h: number, x: number): number {
  f64[0] = x;
  h = mix32((h ^ u32[0]!) + 0x9e3779b9);
  return mix32((h ^ u32[1]!) + 0x7f4a7c15);
}

function hashString(h: number, s: string): number {
  let x = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) x = Math.imul(x ^ s.charCodeAt(i), 0x01000193);
  return mix32((h ^ x) + 0x9e3779b9);
}

// ------------------------------------------------------------------------------------------ distributions

function logit(p: number): number {
  return Math.log(p / (1 - p));
}

/** Stable parameters of one cell: the model's, with the per-slice offsets of `vary`. */
function cellParameters(family: DistributionFamily, base: Params, offset: number): Params {
  if (offset === 0) return base;
  if (family === "normal") return { center: base.center + offset, spread: base.spread };
  if (family === "lognormal") return { center: base.center * Math.exp(offset), spread: base.spread };
  const p = base.center;
  if (p <= 0 || p >= 1) return base;
  return { center: 1 / (1 + Math.exp(-(logit(p) + offset))), spread: 0 };
}

function applyChange(family: DistributionFamily, params: Params, change: Change): Params {
  const r = changedParameters(family, params, change);
  if (family === "bernoulli") return { center: Math.min(1, Math.max(0, r.center)), spread: 0 };
  if (family === "lognormal") return { center: Math.max(r.center, Number.MIN_VALUE), spread: r.spread };
  return r;
}

/** The CDF of a cell's per-request distribution at x. */
function cdf(family: DistributionFamily, params: Params, x: number): number {
  if (family === "lognormal") {
    if (x <= 0) return 0;
    if (params.spread === 0) return x >= params.center ? 1 : 0;
    return normalCdf((Math.log(x) - Math.log(params.center)) / params.spread);
  }
  if (family === "normal") {
    if (params.spread === 0) return x >= params.center ? 1 : 0;
    return normalCdf((x - params.center) / params.spread);
  }
  return x >= 1 ? 1 : x >= 0 ? 1 - params.center : 0;
}

/** Mean and variance of one request's value. */
function moments(family: DistributionFamily, params: Params): { mean: number; variance: number } {
  if (family === "normal") return { mean: params.center, variance: params.spread * params.spread };
  if (family === "lognormal") {
    const s2 = params.spread * params.spread;
    const mean = params.center * Math.exp(s2 / 2);
    return { mean, variance: Math.expm1(s2) * mean * mean };
  }
  return { mean: params.center, variance: params.center * (1 - params.center) };
}

// ------------------------------------------------------------------------------------------ accumulators

/** One metric's sums for the cell and arm being generated; reused across cells to spare the allocator. */
interface Accumulator {
  used: boolean;
  /** moments: count, sum, sumSquares; rate: requests, events. */
  a: number;
  b: number;
  c: number;
  /** histogram: counts per bucket (not cumulative). */
  readonly counts: Float64Array;
}

function draw(rng: Rng, plan: MetricPlan, params: Params, m: number, acc: Accumulator): void {
  acc.used = true;
  if (plan.kind === "rate") {
    acc.a += m;
    acc.b += binomial(rng, m, params.center);
    return;
  }
  if (plan.kind === "histogram") {
    addMultinomial(rng, m, histogramTable(plan, params), acc.counts);
    return;
  }
  acc.a += m;
  if (plan.family === "bernoulli") {
    const k = binomial(rng, m, params.center);
    acc.b += k;
    acc.c += k;
    return;
  }
  const { mean, variance } = moments(plan.family, params);
  const sampleMean = rng.normal(mean, Math.sqrt(variance / m));
  acc.b += m * sampleMean;
  acc.c += variance * chiSquare(rng, m - 1) + m * sampleMean * sampleMean;
}

function histogramTable(plan: MetricPlan, params: Params): Categorical {
  const key = `${params.center}|${params.spread}`;
  let table = plan.tables.get(key);
  if (!table) {
    const weights = new Float64Array(plan.les.length);
    let previous = 0;
    for (let j = 0; j < plan.les.length - 1; j++) {
      const f = cdf(plan.family, params, plan.les[j]!);
      weights[j] = Math.max(0, f - previous);
      previous = Math.max(previous, f);
    }
    weights[plan.les.length - 1] = Math.max(0, 1 - previous);
    table = categorical(weights);
    plan.tables.set(key, table);
  }
  return table;
}

/** The batch of the accumulated sums, and the accumulator reset for the next cell. */
function takeBatch(plan: MetricPlan, acc: Accumulator): MetricBatch {
  let batch: MetricBatch;
  if (plan.kind === "moments") batch = { kind: "moments", count: acc.a, sum: acc.b, sumSquares: acc.c };
  else if (plan.kind === "rate") batch = { kind: "rate", requests: acc.a, events: acc.b };
  else {
    const k = plan.les.length;
    const buckets = new Array<HistogramBucket>(k);
    let cumulative = 0;
    for (let j = 0; j < k; j++) {
      cumulative += acc.counts[j]!;
      // Leading empty buckets share one immutable object per bound.
      buckets[j] = cumulative === 0 ? plan.emptyBuckets[j]! : { le: plan.les[j]!, count: cumulative };
    }
    acc.counts.fill(0);
    batch = { kind: "histogram", buckets };
  }
  acc.used = false;
  acc.a = acc.b = acc.c = 0;
  return batch;
}

// ------------------------------------------------------------------------------------------------- fleet

function batchKind(aggregate: string): BatchKind {
  if (aggregate === "mean") return "moments";
  if (aggregate === "rate") return "rate";
  return "histogram";
}

/**
 * How finely the looks report each metric:
 * - `slices` (default): each metric by the labels its policy slices need, as a Prometheus source queries
 *   `sum by (le, language) (increase(ttfa_bucket[1m]))`. A cell of the look is then a group of traffic cells
 *   that agree on those labels, carrying the labels all its members share; speaker similarity judged per voice
 *   comes per voice, time to first audio judged per language comes per language. Every slice the policy judges
 *   gets exactly the samples it would get from full cells (sums of multinomial, binomial and moment batches
 *   with the same parameters are again such batches), at a fraction of the cost: 300 voices need 10 latency
 *   histograms per look instead of 600.
 * - `cells`: every metric per full traffic cell (all labels), one CellBatch per cell and arm.
 */
export type FleetResolution = "slices" | "cells";

export interface FleetOptions {
  readonly seed?: number | undefined;
  readonly resolution?: FleetResolution | undefined;
}

/** Traffic cells grouped by the values of some labels, reported together for some metrics. */
interface Grouping {
  readonly metrics: readonly number[];
  readonly groups: readonly {
    readonly labels: Readonly<Record<string, string>>;
    readonly members: number[];
  }[];
}

function groupCells(
  cells: readonly TrafficCell[],
  labels: readonly string[] | null,
): { labels: Readonly<Record<string, string>>; members: number[] }[] {
  if (labels === null) return cells.map((c, i) => ({ labels: c.labels, members: [i] }));
  const byKey = new Map<string, number[]>();
  cells.forEach((c, i) => {
    const key = labels.map((l) => own(c.labels, l) ?? "\u0000").join("\u0001");
    const members = byKey.get(key);
    if (members) members.push(i);
    else byKey.set(key, [i]);
  });
  return [...byKey.values()].map((members) => {
    // The labels every member agrees on: at least the grouping labels the members carry.
    const first = cells[members[0]!]!.labels;
    const common: Record<string, string> = {};
    for (const [k, v] of Object.entries(first)) {
      if (members.every((m) => cells[m]!.labels[k] === v)) common[k] = v;
    }
    return { labels: common, members };
  });
}

/**
 * The simulated fleet of a scenario, for the metrics of `policy` (the scenario's own or another one: the
 * scenario must give every policy metric a suitable distribution and carry its slice labels, or this throws
 * InvalidInputError with the scenario file's lines when it was loaded by loadScenario). The third argument is
 * the seed (default: the scenario's) or the options.
 */
export function createFleet(
  scenario: Scenario,
  policy: Policy,
  seedOrOptions?: number | FleetOptions,
): Fleet {
  const opts: FleetOptions = typeof seedOrOptions === "object" ? seedOrOptions : { seed: seedOrOptions };
  const seed = opts.seed ?? scenario.spec.seed;
  const problems = scenarioProblems(scenario, policy);
  if (problems.length > 0) throw new InvalidInputError(problems);
  const spec = scenario.spec;
  const cells = resolveCells(spec.traffic);
  const baseSeed = hashNumber(0x5eed, seed);

  const metrics: MetricPlan[] = policy.spec.metrics.map((m) => {
    const model = spec.metrics[m.name]!;
    const family = distributionFamily(model);
    const kind = batchKind(m.aggregate);
    // One object per distinct parameter set, so that cells alike are drawn together.
    const interned = new Map<string, Params>();
    const intern = (p: Params): Params => {
      const key = `${p.center}|${p.spread}`;
      const known = interned.get(key);
      if (known) return known;
      interned.set(key, p);
      return p;
    };
    const base = intern(baseParameters(model));
    const vary = varyList(model);
    const baseline = cells.map((cell) => {
      let offset = 0;
      for (const v of vary) {
        const value = own(cell.labels, v.label);
        if (value === undefined) continue;
        const fixed = own(v.offsets, value);
        if (fixed !== undefined) offset += fixed;
        else if (v.sd > 0) {
          const h = hashString(hashString(hashString(baseSeed, m.name), v.label), value);
          offset += createRng(h).normal(0, v.sd);
        }
      }
      return intern(cellParameters(family, base, offset));
    });
    const canaryChange = own(spec.canary, m.name);
    const canary = canaryChange
      ? baseline.map((p) => intern(applyChange(family, p, canaryChange)))
      : baseline;
    const regressions = spec.regressions
      .filter((r) => r.metric === m.name)
      .map((r) => ({
        change: r,
        fromMs: r.from !== undefined ? parseDuration(r.from)! : -Infinity,
        toMs: r.to !== undefined ? parseDuration(r.to)! : Infinity,
        matches: cells.map((c) => cellMatches(c.labels, r.slices)),
      }));
    const les = kind === "histogram" ? [...bucketBounds(model), Infinity] : [];
    return {
      name: m.name,
      kind,
      family,
      sampled: model.sampled,
      les,
      emptyBuckets: les.map((le) => ({ le, count: 0 })),
      baseline,
      canary,
      regressions,
      regressed: new Map(),
      tables: new Map(),
      intern,
    };
  });

  // Which metrics are reported together, for which groups of cells.
  const groupings: Grouping[] = [];
  if (opts.resolution === "cells") {
    groupings.push({ metrics: metrics.map((_, i) => i), groups: groupCells(cells, null) });
  } else {
    const byLabels = new Map<string, { labels: string[]; metrics: number[] }>();
    policy.spec.metrics.forEach((m, i) => {
      const labels = [
        ...new Set(metricDimensions(policy.spec, m).flatMap((d) => [...dimensionLabels(d)])),
      ].sort();
      const key = labels.join(",");
      const entry = byLabels.get(key);
      if (entry) entry.metrics.push(i);
      else byLabels.set(key, { labels, metrics: [i] });
    });
    for (const { labels, metrics: ms } of byLabels.values()) {
      groupings.push({ metrics: ms, groups: groupCells(cells, labels) });
    }
  }

  const faults: FaultPlan[] = spec.faults.map((f) => ({
    fromMs: parseDuration(f.from)!,
    toMs: parseDuration(f.to)!,
    metrics: f.metrics === "all" ? "all" : new Set(f.metrics),
    reason: f.reason ?? `simulated gap ${f.from}..${f.to}: the metrics source returned no data`,
  }));

  // Times at which some canary distribution changes: looks are split there.
  const changePoints = [
    ...new Set(metrics.flatMap((m) => m.regressions.flatMap((r) => [r.fromMs, r.toMs]))),
  ].filter(Number.isFinite);

  const canaryParams = (plan: MetricPlan, cell: number, at: number): Params => {
    if (plan.regressions.length === 0) return plan.canary[cell]!;
    let key = "";
    for (let r = 0; r < plan.regressions.length; r++) {
      const reg = plan.regressions[r]!;
      if (reg.matches[cell] && reg.fromMs <= at && at < reg.toMs) key += `,${r}`;
    }
    if (key === "") return plan.canary[cell]!;
    key = `${cell}${key}`;
    let params = plan.regressed.get(key);
    if (!params) {
      params = plan.canary[cell]!;
      for (let r = 0; r < plan.regressions.length; r++) {
        const reg = plan.regressions[r]!;
        if (reg.matches[cell] && reg.fromMs <= at && at < reg.toMs)
          params = applyChange(plan.family, params, reg.change);
      }
      params = plan.intern(params);
      plan.regressed.set(key, params);
    }
    return params;
  };

  const rps = spec.traffic.requestsPerSecond;
  const accumulators: Accumulator[] = metrics.map((m) => ({
    used: false,
    a: 0,
    b: 0,
    c: 0,
    counts: new Float64Array(m.les.length),
  }));

  return {
    cells,
    seed,
    look(fromMs: number, toMs: number, canaryWeight: number): FleetLook {
      if (!(toMs > fromMs)) throw new RangeError(`expected toMs > fromMs, got ${fromMs}..${toMs}`);
      if (!(canaryWeight >= 0 && canaryWeight <= 100))
        throw new RangeError(`expected a canary weight from 0 to 100, got ${canaryWeight}`);
      const rng = createRng(hashNumber(hashNumber(hashNumber(baseSeed, fromMs), toMs), canaryWeight));

      let unavailable: Record<string, string> | undefined;
      for (const f of faults) {
        if (f.fromMs >= toMs || f.toMs <= fromMs) continue;
        for (const m of metrics) {
          if (f.metrics !== "all" && !f.metrics.has(m.name)) continue;
          unavailable ??= {};
          unavailable[m.name] ??= f.reason;
        }
      }

      const bounds = [
        fromMs,
        ...changePoints.filter((t) => t > fromMs && t < toMs).sort((a, b) => a - b),
        toMs,
      ];
      const segments: { seconds: number; at: number }[] = [];
      for (let s = 0; s + 1 < bounds.length; s++) {
        segments.push({
          seconds: (bounds[s + 1]! - bounds[s]!) / 1000,
          at: (bounds[s]! + bounds[s + 1]!) / 2,
        });
      }
      const armShares = [1 - canaryWeight / 100, canaryWeight / 100];
      const ARMS = ["baseline", "canary"] as const;

      // Requests per cell, arm and segment: the same requests carry every metric.
      const S = segments.length;
      const requests = new Float64Array(cells.length * 2 * S);
      const served = [0, 0];
      for (let c = 0; c < cells.length; c++) {
        for (let a = 0; a < 2; a++) {
          if (armShares[a]! <= 0) continue;
          for (let s = 0; s < S; s++) {
            const n = poisson(rng, rps * cells[c]!.share * armShares[a]! * segments[s]!.seconds);
            requests[(c * 2 + a) * S + s] = n;
            served[a]! += n;
          }
        }
      }

      const out: CellBatch[] = [];
      for (const grouping of groupings) {
        const live = unavailable
          ? grouping.metrics.filter((i) => unavailable![metrics[i]!.name] === undefined)
          : grouping.metrics;
        if (live.length === 0) continue;
        for (const group of grouping.groups) {
          for (let a = 0; a < 2; a++) {
            if (armShares[a]! <= 0) continue;
            let any = false;
            for (const i of live) {
              const plan = metrics[i]!;
              const acc = accumulators[i]!;
              for (let s = 0; s < S; s++) {
                // Members with the same parameters are drawn as one: sums of such batches are such batches.
                let pending: Params | null = null;
                let pendingN = 0;
                for (const c of group.members) {
                  const n = requests[(c * 2 + a) * S + s]!;
                  if (n === 0) continue;
                  const params = a === 0 ? plan.baseline[c]! : canaryParams(plan, c, segments[s]!.at);
                  if (params === pending) {
                    pendingN += n;
                    continue;
                  }
                  if (pending) drawSampled(rng, plan, pending, pendingN, acc);
                  pending = params;
                  pendingN = n;
                }
                if (pending) drawSampled(rng, plan, pending, pendingN, acc);
              }
              any ||= acc.used;
            }
            if (!any) continue;
            const batches: Record<string, MetricBatch> = {};
            for (const i of live) {
              if (accumulators[i]!.used) batches[metrics[i]!.name] = takeBatch(metrics[i]!, accumulators[i]!);
            }
            out.push({ arm: ARMS[a]!, labels: group.labels, metrics: batches });
          }
        }
      }
      return {
        at: toMs,
        canaryWeight,
        cells: out,
        requests: { baseline: served[0]!, canary: served[1]! },
        ...(unavailable ? { unavailable } : {}),
      };
    },
  };
}

function drawSampled(rng: Rng, plan: MetricPlan, params: Params, n: number, acc: Accumulator): void {
  const m = plan.sampled < 1 ? binomial(rng, n, plan.sampled) : n;
  if (m > 0) draw(rng, plan, params, m, acc);
}
