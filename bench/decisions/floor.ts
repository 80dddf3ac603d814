// The information floor of a scenario: how soon ANY test could roll its regression back at the error level
// voicectl gives the finding, whatever its design. Detection times are judged against it rather than against
// an arbitrary target (docs/statistics.md#how-fast-detection-can-be).
//
// Wald's bound: a sequential test that stops under the alternative P1 and wrongly rejects under the null
// P0 with probability at most alpha needs, on average under P1, at least
//     E1[N] >= log(1/alpha) / KL(P1 || P0)   samples                (up to its power, which is ~1 here),
// and for a composite null (every distribution within budget) P0 is the one nearest to the truth in KL. Per
// canary sample, for the finding's metric and slice:
// - mean: the null nearest to the truth moves the two arms' means until the contrast (canary − k·baseline,
//   verdict.ts budgetContrast) sits on the budget; for Gaussian values the cost of that move per canary sample
//   is KL = δ² / (2·(σc² + k²·σb²/r)), δ the contrast's distance past the budget and r = baseline samples per
//   canary sample (the baseline's noise counted: both arms are estimated).
// - quantile: whether a value lies above the budget's threshold t0 (the baseline quantile times 1 + budget)
//   is all that tells a quantile over t0 from one at t0, and the nearest null only moves mass across t0, so
//   KL = KL(Bernoulli(P1(X > t0)) || Bernoulli(1 − p)). The baseline quantile is taken as known (its noise
//   would only raise the floor), except for what the histogram hides: counts at bucket bounds place the
//   baseline quantile anywhere in its bucket, so a test that is sound for every such baseline must clear the
//   threshold over the bucket's UPPER bound, and can only count values above a bucket bound, the first one at or
//   over that threshold. The bucket floor is the physical limit of the data the analysis is given; the
//   continuous floor is what per-request values would allow.
// - rate: a Bernoulli KL of the canary's rate against the baseline's plus the budget (baseline known).
// The samples are converted to time at the canary's traffic in the slice along the plan (each analysis step at
// its weight for its minimum duration), from the canary's first traffic, as bench/decisions measures detection.
// Only the floor of the regression's fastest finding is reported: any failing critical finding rolls back.
import { parseDuration } from "../../src/core/rollout/plan.js";
import { budgetContrast } from "../../src/core/sequential/verdict.js";
import { normalCdf } from "../../src/core/stats/distributions.js";
import { metricDimensions, dimensionLabels, type MetricSpec } from "../../src/core/policy/schema.js";
import {
  baseParameters,
  bucketBounds,
  cellMatches,
  changedParameters,
  distributionFamily,
  own,
  resolveCells,
  varyList,
  type LoadedScenario,
  type MetricModel,
  type TrafficCell,
} from "../../src/sim/scenario.js";

const QUANTILE: Record<string, number> = { p50: 0.5, p90: 0.9, p95: 0.95, p99: 0.99 };

export interface Floor {
  readonly metric: string;
  /** The slice, as `{label=value}` (`{}`: all traffic). */
  readonly slice: string;
  readonly alpha: number;
  /** Canary samples any test needs on average; Infinity when the data cannot prove it at all. */
  readonly samples: number;
  readonly minutes: number;
  /** For quantiles: the floor if per-request values were known, not only bucket counts. */
  readonly continuousMinutes: number;
  /** Minutes between looks: a decision can only come at one. */
  readonly lookMinutes: number;
}

/** KL(Bernoulli(a) || Bernoulli(b)) in nats. */
export function bernoulliKl(a: number, b: number): number {
  const term = (x: number, y: number) => (x === 0 ? 0 : x * Math.log(x / y));
  return term(a, b) + term(1 - a, 1 - b);
}

/** Samples at which Wald's bound puts the mean stopping time of a test at level alpha. */
export function waldSamples(alpha: number, klPerSample: number): number {
  return klPerSample > 0 ? Math.log(1 / alpha) / klPerSample : Infinity;
}

interface ArmCell {
  readonly share: number;
  readonly center: number;
  readonly spread: number;
}

/** The fixed per-value offsets of `vary` (seeded random ones are left out: the floor is for the typical cell). */
function offsetOf(model: MetricModel, labels: Readonly<Record<string, string>>): number {
  let offset = 0;
  for (const v of varyList(model)) {
    const value = labels[v.label];
    if (value !== undefined) offset += own(v.offsets, value) ?? 0;
  }
  return offset;
}

function armCells(
  loaded: LoadedScenario,
  metric: string,
  cells: readonly TrafficCell[],
  arm: "baseline" | "canary",
): ArmCell[] {
  const spec = loaded.scenario.spec;
  const model = own(spec.metrics, metric)!;
  const family = distributionFamily(model);
  return cells.map((c) => {
    let p = baseParameters(model);
    const offset = offsetOf(model, c.labels);
    if (family === "normal") p = { ...p, center: p.center + offset };
    if (family === "lognormal") p = { ...p, center: p.center * Math.exp(offset) };
    if (arm === "canary") {
      const change = own(spec.canary, metric);
      if (change) p = changedParameters(family, p, change);
      for (const r of spec.regressions) {
        const from = r.from === undefined ? 0 : parseDuration(r.from)!;
        if (r.metric === metric && from === 0 && cellMatches(c.labels, r.slices))
          p = changedParameters(family, p, r);
      }
    }
    return { share: c.share, center: p.center, spread: p.spread };
  });
}

/** Mean and variance of one value of a slice (a mixture of its cells). */
function moments(family: string, cells: readonly ArmCell[]): { mean: number; variance: number } {
  const total = cells.reduce((s, c) => s + c.share, 0);
  const each = cells.map((c) => {
    if (family === "lognormal") {
      const s2 = c.spread * c.spread;
      return { m: c.center * Math.exp(s2 / 2), v: (Math.exp(s2) - 1) * c.center * c.center * Math.exp(s2) };
    }
    if (family === "bernoulli") return { m: c.center, v: c.center * (1 - c.center) };
    return { m: c.center, v: c.spread * c.spread };
  });
  const mean = each.reduce((s, e, i) => s + cells[i]!.share * e.m, 0) / total;
  const variance = each.reduce((s, e, i) => s + cells[i]!.share * (e.v + (e.m - mean) ** 2), 0) / total;
  return { mean, variance };
}

/** P(X <= x) for one value of a slice of lognormal cells. */
function lognormalCdf(cells: readonly ArmCell[], x: number): number {
  const total = cells.reduce((s, c) => s + c.share, 0);
  return cells.reduce((s, c) => s + c.share * normalCdf(Math.log(x / c.center) / c.spread), 0) / total;
}

function lognormalQuantile(cells: readonly ArmCell[], p: number): number {
  let lo = Math.min(...cells.map((c) => c.center)) * 1e-3;
  let hi = Math.max(...cells.map((c) => c.center)) * 1e3;
  for (let i = 0; i < 200; i++) {
    const mid = Math.sqrt(lo * hi);
    if (lognormalCdf(cells, mid) < p) lo = mid;
    else hi = mid;
  }
  return Math.sqrt(lo * hi);
}

/**
 * KL per canary sample between the truth and the nearest distribution within budget, continuous and as the
 * data can show it (bucket counts for quantiles); 0 when the slice is within budget.
 */
function klPerSample(
  loaded: LoadedScenario,
  m: MetricSpec,
  cells: readonly TrafficCell[],
  baselinePerCanary: number,
): { kl: number; continuous: number } {
  const model = own(loaded.scenario.spec.metrics, m.name)!;
  const family = distributionFamily(model);
  const b = armCells(loaded, m.name, cells, "baseline");
  const c = armCells(loaded, m.name, cells, "canary");
  const lower = m.direction === "lowerIsBetter";
  const q = QUANTILE[m.aggregate];
  if (q !== undefined) {
    if (family !== "lognormal") return { kl: 0, continuous: 0 };
    const { relative, absolute } = m.budget;
    // The quantile at which the canary's finding is exactly on budget, for a baseline quantile qb.
    const edge = (qb: number) =>
      relative !== undefined
        ? qb * (lower ? 1 + relative : 1 - relative)
        : qb + (lower ? absolute! : -absolute!);
    const qb = lognormalQuantile(b, q);
    // Probability mass on the failing side of a threshold: above it (lowerIsBetter) or below it.
    const beyond = (t: number) => (lower ? 1 - lognormalCdf(c, t) : lognormalCdf(c, t));
    const nullMass = lower ? 1 - q : q;
    const klAt = (t: number) => (beyond(t) > nullMass ? bernoulliKl(beyond(t), nullMass) : 0);
    const bounds = bucketBounds(model);
    // The baseline's quantile is known to its bucket (lo, hi]; the worst case for a fail is its far end.
    const i = bounds.findIndex((le) => le >= qb);
    const worst = lower ? (bounds[i] ?? Infinity) : i > 0 ? bounds[i - 1]! : 0;
    const t0 = edge(worst);
    // Only counts at bounds are seen: the first bound past the threshold on the failing side.
    const t = lower ? bounds.find((le) => le >= t0) : [...bounds].reverse().find((le) => le <= t0);
    return { kl: t === undefined ? 0 : klAt(t), continuous: klAt(edge(qb)) };
  }
  if (family === "bernoulli" || m.aggregate === "rate") {
    const pb = moments("bernoulli", b).mean;
    const pc = moments("bernoulli", c).mean;
    const { relative, absolute } = m.budget;
    const edge =
      relative !== undefined
        ? pb * (lower ? 1 + relative : 1 - relative)
        : pb + (lower ? absolute! : -absolute!);
    const over = lower ? pc > edge : pc < edge;
    const kl = over && edge > 0 && edge < 1 ? bernoulliKl(pc, edge) : 0;
    return { kl, continuous: kl };
  }
  const mb = moments(family, b);
  const mc = moments(family, c);
  const { k, allowed } = budgetContrast(m.direction, m.budget);
  const contrast = mc.mean - k * mb.mean;
  const worsening = lower ? contrast : -contrast;
  const delta = worsening - allowed;
  if (!(delta > 0)) return { kl: 0, continuous: 0 };
  const kl = (delta * delta) / (2 * (mc.variance + (k * k * mb.variance) / baselinePerCanary));
  return { kl, continuous: kl };
}

/** Minutes from the canary's first traffic until it has served `samples` requests in a slice of this share. */
export function minutesFor(loaded: LoadedScenario, share: number, samples: number): number {
  if (!Number.isFinite(samples)) return Infinity;
  const perMinute = (weight: number) =>
    loaded.scenario.spec.traffic.requestsPerSecond * 60 * share * (weight / 100);
  let weight = 0;
  let minutes = 0;
  let left = samples;
  let started = false;
  for (const step of loaded.scenario.spec.steps) {
    if ("setWeight" in step) weight = step.setWeight;
    const d =
      "analysis" in step
        ? parseDuration(step.analysis.minDuration)! / 60_000
        : "pause" in step && step.pause.duration
          ? parseDuration(step.pause.duration)! / 60_000
          : 0;
    if (weight > 0) started = true;
    if (!started || d === 0) continue;
    const rate = perMinute(weight);
    if (rate * d >= left) return minutes + left / rate;
    left -= rate * d;
    minutes += d;
  }
  return minutes + left / perMinute(100); // promoted: all traffic
}

/** The slices a metric is judged in: all traffic and each value (combination) of its dimensions. */
function slicesOf(loaded: LoadedScenario, m: MetricSpec, cells: readonly TrafficCell[]) {
  const out = new Map<string, Record<string, string>>([["{}", {}]]);
  for (const d of metricDimensions(loaded.policy.spec, m)) {
    const labels = dimensionLabels(d);
    for (const c of cells) {
      const slice: Record<string, string> = {};
      if (!labels.every((l) => c.labels[l] !== undefined)) continue;
      for (const l of labels) slice[l] = c.labels[l]!;
      const key = `{${Object.keys(slice)
        .sort()
        .map((n) => `${n}=${slice[n]}`)
        .join(",")}}`;
      out.set(key, slice);
    }
  }
  return out;
}

/**
 * The floor of the scenario: the fastest critical finding over budget, each at the level voicectl gives it
 * (`levelOf` a key of metric and slice as online analysis makes them). Null when nothing critical is over budget.
 */
export function informationFloor(
  loaded: LoadedScenario,
  levelOf: (key: string) => number | undefined,
): Floor | null {
  const cells = resolveCells(loaded.scenario.spec.traffic);
  // The first analysis step's weight decides the arms' ratio of samples during detection.
  const firstWeight = loaded.scenario.spec.steps.find((s) => "setWeight" in s && s.setWeight > 0);
  const w = firstWeight && "setWeight" in firstWeight ? firstWeight.setWeight : 50;
  let best: Floor | null = null;
  for (const m of loaded.policy.spec.metrics) {
    if (!m.critical || own(loaded.scenario.spec.metrics, m.name) === undefined) continue;
    for (const [key, slice] of slicesOf(loaded, m, cells)) {
      const inSlice = cells.filter((c) => cellMatches(c.labels, slice));
      const alpha = levelOf(`${m.name}\u0001${key}`);
      if (alpha === undefined || inSlice.length === 0) continue;
      const { kl, continuous } = klPerSample(loaded, m, inSlice, (100 - w) / w);
      if (!(continuous > 0)) continue;
      const share = inSlice.reduce((s, c) => s + c.share, 0);
      const samples = waldSamples(alpha, kl);
      const floor: Floor = {
        metric: m.name,
        slice: key,
        alpha,
        samples,
        minutes: minutesFor(loaded, share, samples),
        continuousMinutes: minutesFor(loaded, share, waldSamples(alpha, continuous)),
        lookMinutes: loaded.intervalMs / 60_000,
      };
      if (!best || floor.minutes < best.minutes) best = floor;
    }
  }
  return best;
}
