// Reads one look of live traffic from Prometheus: for every policy metric, the increase over the look's
// window of its histogram buckets or counters, by version and the metric's slice labels (requests, not
// minutes: docs/statistics.md). Produces the same `Look` the simulator produces, so online analysis cannot
// tell them apart. A metric whose queries fail is `unavailable` with the reason: nodata, never a crash.
import type { Arm, CellBatch, Look, MetricBatch } from "../../core/analysis/look.js";
import { InvalidInputError } from "../../core/errors.js";
import type { JudgePlan, PlannedMetric } from "../../core/judge/plan.js";
import { renderTemplate } from "../../core/policy/promql.js";
import { dimensionLabels, isCounterSelector, metricDimensions } from "../../core/policy/schema.js";
import type { HistogramBucket } from "../../core/sequential/quantiles.js";
import type { Direction } from "../../core/types.js";
import type { NativeHistogram, PrometheusClient } from "./client.js";
import { parseApiNumber, SourceError, type Sample } from "./client.js";

/** The series of docs/metrics.md, by evaluation column: what a metric reads when its policy says nothing. */
const CONTRACT: Readonly<Record<string, Source>> = {
  ttfa_ms: { histogram: "voice_ttfa_seconds", scale: 1000 },
  rtf: { histogram: "voice_real_time_factor" },
  speaker_similarity: { histogram: "voice_speaker_similarity" },
  mos: { histogram: "voice_predicted_mos" },
  wer: { histogram: "voice_wer_ratio", scale: 100 },
  error: { events: 'voice_requests_total{outcome!="ok"}', requests: "voice_requests_total" },
  underrun: { events: "voice_underruns_total", requests: "voice_requests_total" },
  silence_truncation: { events: "voice_silence_truncations_total", requests: "voice_requests_total" },
  cost_per_audio_second: { cost: true },
};

interface Source {
  readonly histogram?: string | undefined;
  readonly query?: string | undefined;
  readonly events?: string | undefined;
  readonly requests?: string | undefined;
  readonly scale?: number | undefined;
  /** Cost per generated audio second: GPUs times price over voice_generated_audio_seconds_total. */
  readonly cost?: boolean | undefined;
}

/** What a version's GPUs cost: replicas times GPUs per replica, and the pool's price per GPU hour. */
export interface CostInputs {
  readonly stableGpus: number;
  readonly canaryGpus: number;
  readonly pricePerGpuHour: number;
}

export interface PrometheusSourceOptions {
  readonly client: PrometheusClient;
  readonly stable: string;
  readonly canary: string;
  readonly namespace?: string | undefined;
  /** Without it, cost metrics are unavailable (with that reason). */
  readonly cost?: CostInputs | undefined;
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const quote = (s: string) => JSON.stringify(s);

/** The source a metric reads: its policy's, or the contract's; null when there is none. */
export function sourceOf(metric: PlannedMetric): Source | null {
  return metric.spec.source ?? CONTRACT[metric.column] ?? null;
}

/** Every metric must have a source before a look is attempted: a policy problem, reported all at once. */
export function checkSources(plan: JudgePlan, policyFile: string): void {
  const missing = plan.metrics.filter((m) => sourceOf(m) === null);
  if (missing.length === 0) return;
  throw new InvalidInputError(
    missing.map((m) => ({
      file: policyFile,
      path: `spec.metrics[${plan.metrics.indexOf(m)}].source`,
      message: `metric "${m.spec.name}" has no Prometheus series in docs/metrics.md: give it a source (histogram, query, or events and requests)`,
    })),
  );
}

export class PrometheusLookSource {
  constructor(
    private readonly plan: JudgePlan,
    private readonly options: PrometheusSourceOptions,
  ) {}

  private matchers(): string {
    const { stable, canary, namespace } = this.options;
    const version = `version=~${quote(`${escapeRegex(stable)}|${escapeRegex(canary)}`)}`;
    return namespace ? `${version},namespace=${quote(namespace)}` : version;
  }

  private sliceLabels(metric: PlannedMetric): string[] {
    const labels = new Set<string>();
    for (const d of metricDimensions(this.plan.policy.spec, metric.spec))
      for (const l of dimensionLabels(d)) labels.add(l);
    return [...labels].sort();
  }

  /** `name{matchers}` with the version and namespace matchers (and `extra`) added to any the selector has. */
  private select(selector: string, extra = ""): string {
    const s = selector.trim();
    const brace = s.indexOf("{");
    const own = `${this.matchers()}${extra ? `,${extra}` : ""}`;
    if (brace < 0) return `${s}{${own}}`;
    const inner = s.slice(brace + 1, s.lastIndexOf("}")).trim();
    return `${s.slice(0, brace)}{${own}${inner ? `,${inner}` : ""}}`;
  }

  /**
   * The matcher that keeps a histogram metric to the values of its policy's pinned scorer: series labelled
   * with that `scorer`, or with none (an exporter that does not say, such as the simulator). A different
   * embedding or MOS model moves every value, so series of another scorer are never read as this one's.
   */
  private scorerMatcher(metric: PlannedMetric): string {
    const scorer = metric.spec.scorer;
    const src = sourceOf(metric)!;
    if (scorer === undefined || src.histogram === undefined || src.query !== undefined) return "";
    return `scorer=~${quote(`${escapeRegex(scorer)}|`)}`;
  }

  private template(text: string, metric: PlannedMetric, window: string): string {
    return renderTemplate(text, {
      version: `${escapeRegex(this.options.stable)}|${escapeRegex(this.options.canary)}`,
      namespace: this.options.namespace ?? "",
      window,
      sliceLabels: this.sliceLabels(metric).join(", "),
    }).text;
  }

  /** The queries of one metric, by role. */
  queries(metric: PlannedMetric, window: string): Record<string, string> {
    const src = sourceOf(metric)!;
    const by = ["version", ...this.sliceLabels(metric)].join(", ");
    const scorer = this.scorerMatcher(metric);
    const increase = (selector: string, extraBy = "") =>
      `sum by (${extraBy}${by}) (increase(${this.select(selector, scorer)}[${window}]))`;
    const counter = (text: string) =>
      isCounterSelector(text) ? increase(text) : this.template(text, metric, window);
    if (src.events !== undefined && src.requests !== undefined) {
      return { events: counter(src.events), requests: counter(src.requests) };
    }
    if (src.query !== undefined) return { buckets: this.template(src.query, metric, window) };
    const h = src.histogram!;
    // Classic buckets (`h_bucket` by `le`) or a native histogram (`h` itself, one sample holding every bucket;
    // also what Prometheus 3 stores for a classic histogram with convert_classic_histograms_to_nhcb): one query
    // asks for both. The native half has no `le`, so `or` never drops it; a (version, slice) that has both,
    // as an exporter exposing both during a migration does, is read from its classic buckets.
    const out: Record<string, string> = { buckets: `${increase(`${h}_bucket`, "le, ")} or ${increase(h)}` };
    if (metric.kind === "moments") {
      // The mean's two halves as exact deltas between the samples at the window's ends, not increase():
      // Prometheus extrapolates each series of each query on its own, and before 2.51 (Debian ships 2.42)
      // _sum and _count of one series that began inside the window could be extrapolated by different
      // factors, putting that series' mean off by tens of percent (test/e2e/prometheus-mean-extrapolation).
      // A series with no sample at the window's start began inside it, from 0; a reset (negative delta)
      // drops that series from the window rather than subtracting from the others. A native histogram's
      // halves are histogram_sum() and histogram_count() of the same sample, taken the same way.
      const delta = (at: (offset: string) => string) =>
        `sum by (${by}) (clamp_min(${at("")} - (${at(` offset ${window}`)} or ${at("")} * 0), 0))`;
      const classic = (suffix: string) => delta((o) => `${this.select(`${h}${suffix}`, scorer)}${o}`);
      const native = (fn: string) => delta((o) => `${fn}(${this.select(h, scorer)}${o})`);
      out["sum"] = `${classic("_sum")} or ${native("histogram_sum")}`;
      out["count"] = `${classic("_count")} or ${native("histogram_count")}`;
    }
    return out;
  }

  /**
   * Cost per generated audio second of each version over the window, on all traffic only (GPUs belong to a
   * version, not to a voice or a language): GPUs x price x window hours / audio seconds generated.
   */
  private async readCost(window: string, at: number) {
    const cost = this.options.cost;
    if (!cost) {
      throw new SourceError(
        "cost needs each version's GPUs and their price (--stable-gpus, --canary-gpus, --gpu-hour-price)",
      );
    }
    const hours = Number(window.replace(/s$/, "")) / 3600;
    const by = (selector: string) => `sum by (version) (increase(${this.select(selector)}[${window}]))`;
    const audio = await this.options.client.query(by("voice_generated_audio_seconds_total"), at);
    const requests = await this.options.client.query(by("voice_requests_total"), at);
    const out: { arm: "baseline" | "canary"; labels: Record<string, string>; batch: MetricBatch }[] = [];
    for (const [arm, version, gpus] of [
      ["baseline", this.options.stable, cost.stableGpus],
      ["canary", this.options.canary, cost.canaryGpus],
    ] as const) {
      const seconds = total(audio.samples.filter((s) => s.labels["version"] === version));
      const n = Math.round(total(requests.samples.filter((s) => s.labels["version"] === version)));
      if (seconds <= 0 || n === 0) continue;
      out.push({ arm, labels: {}, batch: constantBatch((gpus * cost.pricePerGpuHour * hours) / seconds, n) });
    }
    return out;
  }

  /** One look: the samples of the window ending at `atSeconds`. */
  async look(atSeconds: number, windowSeconds: number, canaryWeight: number): Promise<Look> {
    const window = `${Math.round(windowSeconds)}s`;
    const cells = new Map<string, CellBatch & { metrics: Record<string, MetricBatch> }>();
    const unavailable: Record<string, string> = {};
    await Promise.all(
      this.plan.metrics.map(async (metric) => {
        try {
          const batches = await this.readMetric(metric, window, atSeconds);
          for (const b of batches) {
            const key = `${b.arm}\u0001${JSON.stringify(b.labels)}`;
            let cell = cells.get(key);
            if (!cell) {
              cell = { arm: b.arm, labels: b.labels, metrics: {} };
              cells.set(key, cell);
            }
            cell.metrics[metric.spec.name] = b.batch;
          }
        } catch (err) {
          if (!(err instanceof SourceError)) throw err;
          unavailable[metric.spec.name] = err.message;
        }
      }),
    );
    return { at: atSeconds * 1000, canaryWeight, cells: [...cells.values()], unavailable };
  }

  private async readMetric(metric: PlannedMetric, window: string, at: number) {
    if (sourceOf(metric)!.cost) return this.readCost(window, at);
    const queries = this.queries(metric, window);
    const results: Record<string, readonly Sample[]> = {};
    for (const [role, q] of Object.entries(queries)) {
      const r = await this.options.client.query(q, at);
      if (r.warnings.length > 0)
        throw new SourceError(`Prometheus warned (${r.warnings.join("; ")}): partial data is not judged`);
      if (r.samples.some((s) => !finite(s)))
        throw new SourceError(`Prometheus returned NaN or Inf for the ${role} of ${metric.spec.name}`);
      results[role] = r.samples;
    }
    // A query that found no series of either version is a gap, named, not "no samples": a renamed metric, a
    // missing label or a histogram kind this source does not read all look alike as n=0 otherwise. (Events
    // may well have no series: no request has failed yet.)
    for (const role of ["buckets", "requests"]) {
      const samples = results[role];
      if (samples === undefined) continue;
      const { stable, canary } = this.options;
      if (role === "buckets") await this.checkScorer(metric, samples, window, at);
      if (!samples.some((s) => s.labels["version"] === stable || s.labels["version"] === canary))
        throw new SourceError(this.nothingFound(metric, role, queries[role]!, window));
    }
    const labels = this.sliceLabels(metric);
    const groupKey = (s: Sample) =>
      JSON.stringify([s.labels["version"] ?? "", ...labels.map((l) => s.labels[l] ?? "")]);
    // One pass over every sample: each lands in its (version, slice) group under its query's role.
    const groups = new Map<
      string,
      { arm: "baseline" | "canary"; labels: Record<string, string>; byRole: Map<string, Sample[]> }
    >();
    for (const [role, samples] of Object.entries(results)) {
      for (const s of samples) {
        const v = s.labels["version"];
        const arm = v === this.options.stable ? "baseline" : v === this.options.canary ? "canary" : null;
        if (!arm) continue;
        const k = groupKey(s);
        let g = groups.get(k);
        if (!g) {
          const cellLabels: Record<string, string> = {};
          for (const l of labels) if (s.labels[l]) cellLabels[l] = s.labels[l]!;
          g = { arm, labels: cellLabels, byRole: new Map() };
          groups.set(k, g);
        }
        const list = g.byRole.get(role);
        if (list) list.push(s);
        else g.byRole.set(role, [s]);
      }
    }
    const scale = sourceOf(metric)!.scale ?? 1;
    const out: { arm: Arm; labels: Record<string, string>; batch: MetricBatch }[] = [];
    const layouts = new Set<string>();
    for (const g of groups.values()) {
      const mine = (role: string): readonly Sample[] => g.byRole.get(role) ?? [];
      if (metric.kind === "rate") {
        const batch = rateBatch(mine);
        if (batch) out.push({ arm: g.arm, labels: g.labels, batch });
        continue;
      }
      const read = histogramBatch(metric, mine, scale, g.arm);
      if (!read) continue;
      layouts.add(read.from);
      out.push({ arm: g.arm, labels: g.labels, batch: read.batch });
    }
    // A quantile is tested on one bucket layout for both arms and every slice; a mean is not.
    if (metric.kind === "values" && layouts.size > 1) {
      throw new SourceError(
        `${metric.spec.name} comes as classic buckets for some versions or slices and as a native histogram ` +
          "for others: a quantile is compared on one bucket layout; expose one kind for both versions",
      );
    }
    return out;
  }

  /**
   * A version with no series of the policy's scorer but series of another: nodata naming both ids, not "no
   * series" and not half a comparison (a canary scored by a new model against a baseline scored by the old).
   * Asked only when a version is missing, so a look whose versions both match costs no extra query.
   */
  private async checkScorer(metric: PlannedMetric, found: readonly Sample[], window: string, at: number) {
    const pinned = metric.spec.scorer;
    if (this.scorerMatcher(metric) === "" || pinned === undefined) return;
    const { stable, canary } = this.options;
    const missing = [stable, canary].filter((v) => !found.some((s) => s.labels["version"] === v));
    if (missing.length === 0) return;
    const h = sourceOf(metric)!.histogram!;
    const names = `__name__=~${quote(`${escapeRegex(h)}_bucket|${escapeRegex(h)}`)}`;
    const r = await this.options.client.query(
      `count by (version, scorer) (last_over_time({${this.matchers()},${names},scorer!=${quote(pinned)}}[${window}]))`,
      at,
    );
    const others = [
      ...new Set(
        r.samples
          .filter((s) => missing.includes(s.labels["version"] ?? "") && s.labels["scorer"])
          .map((s) => s.labels["scorer"]!),
      ),
    ].sort();
    if (others.length === 0) return;
    const versions = missing.join(" and ");
    throw new SourceError(
      `${metric.spec.name} of version ${versions} comes from scorer ${others.join(", ")}, not from the policy's scorer ${pinned}: ` +
        "a different scoring model moves every value, so they are not compared",
    );
  }

  /** Why a query found nothing, naming the series it looked for. */
  private nothingFound(metric: PlannedMetric, role: string, query: string, window: string): string {
    const src = sourceOf(metric)!;
    const { stable, canary, namespace } = this.options;
    const where = `of version ${stable} or ${canary}${namespace ? ` in namespace ${namespace}` : ""}`;
    const scraped = `was scraped twice in the last ${window}`;
    if (role === "buckets" && src.histogram !== undefined && src.query === undefined) {
      const h = src.histogram;
      return `no ${h}_bucket series (a classic histogram) or ${h} series (a native histogram) ${where} ${scraped}`;
    }
    const selector = role === "requests" ? src.requests : undefined;
    if (selector !== undefined && isCounterSelector(selector))
      return `no ${selector.trim()} series ${where} ${scraped}`;
    return `the ${role} query of ${metric.spec.name} found no series ${where}: ${query}`;
  }
}

/** A sample's numbers are all finite: a float's value, or a native histogram's count, sum and buckets. */
function finite(s: Sample): boolean {
  if (!s.histogram) return Number.isFinite(s.value);
  const h = s.histogram;
  return (
    Number.isFinite(h.count) &&
    Number.isFinite(h.sum) &&
    h.buckets.every((b) => Number.isFinite(b.count) && !Number.isNaN(b.lower) && !Number.isNaN(b.upper))
  );
}

/** A batch holding one known value per request: cost is computed, not sampled, so it has no spread. */
function constantBatch(value: number, count: number): MetricBatch {
  return { kind: "moments", count, sum: value * count, sumSquares: value * value * count, computed: true };
}

function total(samples: readonly Sample[]): number {
  return samples.reduce((a, s) => a + s.value, 0);
}

function rateBatch(mine: (role: string) => readonly Sample[]): MetricBatch | null {
  // increase() extrapolates to the window's edges and returns fractions: counts are rounded.
  const requests = Math.round(total(mine("requests")));
  const events = Math.min(requests, Math.round(total(mine("events"))));
  return requests > 0 ? { kind: "rate", requests, events } : null;
}

/**
 * The bucket layout a native histogram's quantile is tested on: the bounds of exponential schema 3 (2^(k/8),
 * about 9 % apart: what client_golang's and the Java client's bucket factor 1.1 gives) from 2^-16 to 2^16, in
 * the series' own units. The quantile test needs one fixed layout for both arms, every slice and every look,
 * but a native histogram sends only its non-empty buckets and its schema may differ between series. Every
 * bound of a finer schema (4, 5, ...) is a bound of a coarser one, so a histogram of schema 3 or more lands on
 * this layout exactly; values outside the range count in the first or the +Inf bucket, still exactly.
 */
export const NATIVE_LAYOUT: readonly number[] = Array.from(
  { length: 2 * 16 * 8 + 1 },
  (_, i) => 2 ** ((i - 128) / 8),
);

/** Bounds computed here and bounds sent by Prometheus (from its own table) may differ in the last bits. */
const sameBound = (a: number, b: number) =>
  a === b || Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));

/**
 * A native histogram's cumulative counts at each bound of `layout`, and the total at +Inf.
 *
 * A bound strictly inside a non-empty bucket (a histogram coarser than schema 3, a classic histogram converted
 * with convert_classic_histograms_to_nhcb, a wide zero bucket) has no exact count: only the bucket's total is
 * known. Those observations are then counted on the side that can only make a pass harder, never on the one
 * that could make a bad canary pass: `straddling: "above"` counts them as if each were at its bucket's upper
 * bound, "below" as if just above its lower bound. The canary's are moved towards worse and the baseline's
 * towards better (for a lowerIsBetter metric, the canary's up and the baseline's down). The test is exact on
 * the values so moved, and its pass claim ("the canary's quantile is within the budget of the baseline's")
 * then also holds for the real values, since the canary's real quantile is no worse and the baseline's no
 * better than what was tested. A fail can be wrong by up to one such bucket: histograms too coarse for a
 * budget give false rollbacks, never false promotions.
 */
export function nativeOnLayout(
  h: NativeHistogram,
  layout: readonly number[],
  straddling: "above" | "below",
): HistogramBucket[] {
  let total = 0;
  for (const b of h.buckets) total += b.count;
  const out: HistogramBucket[] = layout.map((e) => {
    let n = 0;
    for (const b of h.buckets) {
      if (b.upper < e || sameBound(b.upper, e))
        n += b.count; // every value of the bucket is <= e
      else if (b.lower > e || (sameBound(b.lower, e) && (b.rule === 0 || b.rule === 2)))
        continue; // none is
      else if (straddling === "below") n += b.count;
    }
    return { le: e, count: n };
  });
  out.push({ le: Infinity, count: total });
  return out;
}

/** Which way a straddling bucket's observations are counted for an arm: towards worse for the canary. */
function straddlingFor(arm: Arm, direction: Direction): "above" | "below" {
  const worse = direction === "lowerIsBetter" ? "above" : "below";
  return arm === "canary" ? worse : worse === "above" ? "below" : "above";
}

/** One native histogram from a group's samples (after `sum by` there is one; more are added up). */
function mergeNative(samples: readonly Sample[]): NativeHistogram | null {
  const hs = samples.flatMap((s) => (s.histogram ? [s.histogram] : []));
  if (hs.length <= 1) return hs[0] ?? null;
  const buckets = new Map<string, { rule: 0 | 1 | 2 | 3; lower: number; upper: number; count: number }>();
  for (const h of hs)
    for (const b of h.buckets) {
      const k = `${b.rule}|${b.lower}|${b.upper}`;
      const x = buckets.get(k);
      if (x) x.count += b.count;
      else buckets.set(k, { ...b });
    }
  return {
    count: hs.reduce((a, h) => a + h.count, 0),
    sum: hs.reduce((a, h) => a + h.sum, 0),
    buckets: [...buckets.values()],
  };
}

/** Classic buckets (samples by `le`) as cumulative counts, +Inf last; null when there are none. */
function classicBuckets(samples: readonly Sample[], scale: number): HistogramBucket[] | null {
  const byLe = new Map<number, number>();
  for (const s of samples) {
    if (s.histogram) continue;
    // Prometheus 3 writes le="1" as "1.0": the bound is a number, never matched as text.
    const le = parseApiNumber(s.labels["le"]);
    if (Number.isNaN(le)) continue;
    byLe.set(le, (byLe.get(le) ?? 0) + s.value);
  }
  const les = [...byLe.keys()].sort((a, b) => a - b);
  if (les.length === 0 || les.at(-1) !== Infinity) return null;
  let running = 0;
  return les.map((le) => {
    running = Math.max(running, Math.round(byLe.get(le)!)); // cumulative counts never decrease
    return { le: le * scale, count: running };
  });
}

/** A native histogram's own non-empty buckets as cumulative counts (for a mean's spread), +Inf last. */
function nativeBuckets(h: NativeHistogram, scale: number): HistogramBucket[] {
  const sorted = [...h.buckets].sort((a, b) => a.upper - b.upper || a.lower - b.lower);
  const out: HistogramBucket[] = [];
  let running = 0;
  for (const b of sorted) {
    // An empty stretch between two non-empty buckets is a bucket with no observations.
    if (Number.isFinite(b.lower) && out.at(-1)?.le !== b.lower * scale)
      out.push({ le: b.lower * scale, count: Math.round(running) });
    running += b.count;
    out.push({ le: b.upper * scale, count: Math.round(running) });
  }
  if (out.at(-1)?.le !== Infinity) out.push({ le: Infinity, count: Math.round(running) });
  return out;
}

function histogramBatch(
  metric: PlannedMetric,
  mine: (role: string) => readonly Sample[],
  scale: number,
  arm: Arm,
): { batch: MetricBatch; from: "classic" | "native" } | null {
  const classic = classicBuckets(mine("buckets"), scale);
  const native = classic ? null : mergeNative(mine("buckets"));
  let buckets: HistogramBucket[];
  if (classic) buckets = classic;
  else if (native && metric.kind === "moments") buckets = nativeBuckets(native, scale);
  else if (native)
    buckets = nativeOnLayout(native, NATIVE_LAYOUT, straddlingFor(arm, metric.spec.direction)).map((b) => ({
      le: b.le * scale,
      count: Math.round(b.count),
    }));
  else return null;
  const from = classic ? "classic" : "native";
  const count = buckets.at(-1)!.count;
  if (count === 0) return null;
  if (metric.kind !== "moments") return { batch: { kind: "histogram", buckets }, from };
  // A mean: exact from the _sum and _count deltas (a native histogram's histogram_sum and histogram_count)
  // when the source has them; the spread from the buckets.
  const exactCount = mine("count").length > 0 ? total(mine("count")) : null;
  const exactSum = mine("sum").length > 0 ? total(mine("sum")) * scale : null;
  const spread = bucketMoments(buckets);
  const mean =
    exactSum !== null && exactCount !== null && exactCount > 0 ? exactSum / exactCount : spread.mean;
  const sumSquares = spread.variance * (count - 1) + count * mean * mean;
  return { batch: { kind: "moments", count, sum: mean * count, sumSquares }, from };
}

/**
 * Mean and variance of values known only by bucket: each bucket's midpoint, with Sheppard's correction
 * (minus width^2 / 12) for the spread that bucketing adds. The open +Inf bucket counts at the last bound.
 */
export function bucketMoments(buckets: readonly { le: number; count: number }[]): {
  mean: number;
  variance: number;
} {
  let prevLe = 0;
  let prevCount = 0;
  let n = 0;
  let sum = 0;
  let sumSq = 0;
  let widthSq = 0;
  const first = buckets[0];
  if (first && buckets.length > 1 && Number.isFinite(buckets[1]!.le))
    prevLe = first.le - (buckets[1]!.le - first.le);
  for (const { le, count } of buckets) {
    const c = count - prevCount;
    if (c > 0) {
      const upper = Number.isFinite(le) ? le : prevLe;
      const mid = (prevLe + upper) / 2;
      n += c;
      sum += c * mid;
      sumSq += c * mid * mid;
      widthSq += c * (upper - prevLe) ** 2;
    }
    prevCount = count;
    if (Number.isFinite(le)) prevLe = le;
  }
  if (n === 0) return { mean: NaN, variance: NaN };
  const mean = sum / n;
  const raw = n > 1 ? (sumSq - n * mean * mean) / (n - 1) : 0;
  return { mean, variance: Math.max(0, raw - widthSq / n / 12) };
}
