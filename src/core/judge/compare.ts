// One (metric, slice) comparison of accumulated samples: point estimates, the interval of the worsening in
// the budget's units, and the verdict. Fixed-sample intervals are valid here because the gate looks once.
//
// Means and rates are linear contrasts of two arm means, so one machinery serves both: the difference
// interval for absolute budgets, Fieller's ratio interval for relative ones
// (docs/statistics.md#the-offline-gate-one-look). Quantiles use order-statistic standard errors per arm,
// combined (Price & Bonett 2002).
import { normalQuantile } from "../stats/distributions.js";
import {
  differenceInterval,
  meanInterval,
  quantileEstimate,
  quantileInterval,
  ratioInterval,
  welchDf,
  wilsonInterval,
  type ContrastInput,
} from "../stats/intervals.js";
import { sampleCovariance, sampleVariance, type Moments } from "../stats/moments.js";
import type { Finding, Interval, LimitCheck, Method, Verdict } from "../types.js";
import type { PlannedMetric } from "./plan.js";
import { ValueBuffer, type ArmAccumulator, type RateCount, type SliceCell } from "./samples.js";
import { describeFinding } from "./reason.js";

/** What a cell holds for one metric, reduced to what the intervals need. */
export interface ArmSamples {
  readonly n: { baseline: number; canary: number };
  readonly baseline: number | null;
  readonly canary: number | null;
  readonly method: Method;
  /** The interval of (canary - k * baseline)'s pieces; null when there are too few samples. */
  readonly contrast: ContrastInput | null;
  readonly sortedBaseline?: Float64Array;
  readonly sortedCanary?: Float64Array;
  readonly canaryRate?: RateCount;
  readonly canaryMoments?: { mean: number; varMean: number; df: number };
}

function isMoments(a: ArmAccumulator | undefined): a is Moments {
  return a !== undefined && !(a instanceof ValueBuffer) && "m2" in a;
}
function isRate(a: ArmAccumulator | undefined): a is RateCount {
  return a !== undefined && !(a instanceof ValueBuffer) && "x" in a;
}

export function samplesOf(metric: PlannedMetric, cell: SliceCell, mi: number, paired: boolean): ArmSamples {
  if (metric.kind === "moments" && paired) {
    const co = cell.paired[mi];
    const n = co?.n ?? 0;
    if (!co || n < 2) return empty(n, n, "paired-t");
    const varMeanC = sampleVariance({ n, mean: co.meanC, m2: co.m2C }) / n;
    const varMeanB = sampleVariance({ n, mean: co.meanB, m2: co.m2B }) / n;
    return {
      n: { baseline: n, canary: n },
      baseline: co.meanB,
      canary: co.meanC,
      method: "paired-t",
      contrast: {
        meanC: co.meanC,
        meanB: co.meanB,
        varMeanC,
        varMeanB,
        covMeans: sampleCovariance(co) / n,
        df: n - 1,
      },
      canaryMoments: { mean: co.meanC, varMean: varMeanC, df: n - 1 },
    };
  }
  const b = cell.baseline[mi];
  const c = cell.canary[mi];
  if (metric.kind === "moments") {
    const nb = isMoments(b) ? b.n : 0;
    const nc = isMoments(c) ? c.n : 0;
    if (!isMoments(b) || !isMoments(c) || nb < 2 || nc < 2) {
      return empty(nb, nc, "welch-t", isMoments(b) ? b.mean : null, isMoments(c) ? c.mean : null);
    }
    const varMeanB = sampleVariance(b) / nb;
    const varMeanC = sampleVariance(c) / nc;
    return {
      n: { baseline: nb, canary: nc },
      baseline: b.mean,
      canary: c.mean,
      method: "welch-t",
      contrast: {
        meanC: c.mean,
        meanB: b.mean,
        varMeanC,
        varMeanB,
        covMeans: 0,
        df: welchDf(varMeanC, nc, varMeanB, nb),
      },
      canaryMoments: { mean: c.mean, varMean: varMeanC, df: nc - 1 },
    };
  }
  if (metric.kind === "rate") {
    const nb = isRate(b) ? b.n : 0;
    const nc = isRate(c) ? c.n : 0;
    if (!isRate(b) || !isRate(c) || nb === 0 || nc === 0) {
      return empty(nb, nc, "agresti-caffo", isRate(b) ? b.x / b.n : null, isRate(c) ? c.x / c.n : null);
    }
    // Agresti & Caffo (2000): one success and one failure added to each arm keeps the Wald interval honest
    // with zero or rare events, which is the usual case for errors, underruns and silence.
    const adjusted = (r: RateCount) => (r.x + 1) / (r.n + 2);
    const pb = adjusted(b);
    const pc = adjusted(c);
    return {
      n: { baseline: nb, canary: nc },
      baseline: b.x / nb,
      canary: c.x / nc,
      method: "agresti-caffo",
      contrast: {
        meanC: pc,
        meanB: pb,
        varMeanC: (pc * (1 - pc)) / (nc + 2),
        varMeanB: (pb * (1 - pb)) / (nb + 2),
        covMeans: 0,
        df: Infinity,
      },
      canaryRate: c,
    };
  }
  const nb = b instanceof ValueBuffer ? b.length : 0;
  const nc = c instanceof ValueBuffer ? c.length : 0;
  if (!(b instanceof ValueBuffer) || !(c instanceof ValueBuffer) || nb === 0 || nc === 0) {
    return empty(nb, nc, "order-statistic");
  }
  const sortedBaseline = b.sorted();
  const sortedCanary = c.sorted();
  const q = metric.quantile!;
  return {
    n: { baseline: nb, canary: nc },
    baseline: quantileEstimate(sortedBaseline, q),
    canary: quantileEstimate(sortedCanary, q),
    method: "order-statistic",
    contrast: null,
    sortedBaseline,
    sortedCanary,
  };
}

function empty(
  nb: number,
  nc: number,
  method: Method,
  baseline: number | null = null,
  canary: number | null = null,
): ArmSamples {
  return { n: { baseline: nb, canary: nc }, baseline, canary, method, contrast: null };
}

/** How many tests a finding makes (its budget, and its limit when set): what Bonferroni divides by. */
export function testsOf(metric: PlannedMetric): number {
  return metric.spec.budget.limit === undefined ? 1 : 2;
}

type Worse = (x: Interval) => Interval;

/** Turn an interval of (canary - baseline) into one of the worsening (positive = worse). */
function worseningOf(metric: PlannedMetric): Worse {
  return metric.spec.direction === "lowerIsBetter" ? (x) => x : (x) => ({ lower: -x.upper, upper: -x.lower });
}

export function verdictOf(interval: Interval | null, allowed: number): Verdict {
  if (interval === null) return "inconclusive";
  if (interval.lower > allowed) return "fail";
  if (interval.upper <= allowed) return "pass";
  return "inconclusive";
}

const SEVERITY: Readonly<Record<Verdict, number>> = { fail: 0, inconclusive: 1, nodata: 2, pass: 3 };
export function worstVerdict(a: Verdict, b: Verdict): Verdict {
  return SEVERITY[a] <= SEVERITY[b] ? a : b;
}

/**
 * Standard error of a sample quantile, distribution-free: the width of its 95% order-statistic interval
 * over 2 * 1.96 (the estimate Price & Bonett 2002 use for medians, applied to any quantile). Infinite
 * when the sample is too small to bound the quantile on both sides.
 */
export function quantileStandardError(sorted: Float64Array, q: number): number {
  const ci = quantileInterval(sorted, q, 0.95);
  return (ci.upper - ci.lower) / (2 * Z95);
}
const Z95 = normalQuantile(0.975);

/**
 * Difference (or ratio) of two quantiles: Price & Bonett (2002), "Distribution-free confidence intervals for
 * difference and ratio of medians", J. Statist. Comput. Simul. 72(2). Per-arm standard errors from order
 * statistics combined in quadrature; ratios on the log scale. About sqrt(2) tighter than combining the two
 * arms' own intervals, and still free of any assumption about the latency distribution.
 */
function quantileContrast(s: ArmSamples, q: number, confidence: number, relative: boolean): Interval | null {
  const seB = quantileStandardError(s.sortedBaseline!, q);
  const seC = quantileStandardError(s.sortedCanary!, q);
  if (!Number.isFinite(seB) || !Number.isFinite(seC)) return null;
  const z = normalQuantile((1 + confidence) / 2);
  const b = s.baseline!;
  const c = s.canary!;
  if (!relative) {
    const half = z * Math.hypot(seB, seC);
    return { lower: c - b - half, upper: c - b + half };
  }
  if (b <= 0 || c <= 0) return null; // a log ratio needs positive quantiles
  const logRatio = Math.log(c / b);
  const half = z * Math.hypot(seB / b, seC / c);
  return { lower: Math.exp(logRatio - half), upper: Math.exp(logRatio + half) };
}

function limitCheck(metric: PlannedMetric, s: ArmSamples, confidence: number): LimitCheck | undefined {
  const limit = metric.spec.budget.limit;
  if (limit === undefined) return undefined;
  let interval: Interval | null = null;
  if (s.sortedCanary) interval = quantileInterval(s.sortedCanary, metric.quantile!, confidence);
  else if (s.canaryRate) interval = wilsonInterval(s.canaryRate.x, s.canaryRate.n, confidence);
  else if (s.canaryMoments) {
    const m = s.canaryMoments;
    interval = meanInterval(m.mean, m.varMean, m.df, confidence);
  }
  // For higherIsBetter the limit is a floor: mirror so that "above the limit" means worse, as for a ceiling.
  const lower = metric.spec.direction === "lowerIsBetter";
  const verdict =
    interval === null
      ? "inconclusive"
      : verdictOf(
          lower ? interval : { lower: -interval.upper, upper: -interval.lower },
          lower ? limit : -limit,
        );
  return { limit, value: s.canary, interval, verdict };
}

/**
 * The finding for one metric in one slice.
 * `confidence` is the level for this finding's intervals (already corrected for multiple tests).
 */
export function compareSamples(
  metric: PlannedMetric,
  slice: SliceCell["labels"],
  s: ArmSamples,
  confidence: number,
  nodataReason: string | null,
): Finding {
  const { spec } = metric;
  const delta = s.baseline !== null && s.canary !== null ? s.canary - s.baseline : null;
  const base = {
    metric: spec.name,
    slice,
    critical: spec.critical,
    tier: spec.tier,
    direction: spec.direction,
    aggregate: spec.aggregate,
    baseline: s.baseline,
    canary: s.canary,
    delta,
    relativeDelta: delta !== null && s.baseline !== null && s.baseline !== 0 ? delta / s.baseline : null,
    budget: spec.budget,
    samples: s.n,
    method: s.method,
  };
  if (nodataReason !== null) {
    const f: Finding = {
      ...base,
      verdict: "nodata",
      worsening: null,
      interval: null,
      allowed: null,
      confidence: null,
      reason: "",
    };
    return { ...f, reason: describeFinding(f, nodataReason) };
  }

  const worse = worseningOf(metric);
  const relative = spec.budget.relative !== undefined;
  let interval: Interval | null;
  let worsening: number | null;
  let allowed: number;
  let note: string | null = null;

  if (!relative || s.baseline === 0) {
    // Absolute budget, or a relative one over a zero baseline: a fraction of zero allows no worsening,
    // said explicitly rather than divided by.
    allowed = relative ? 0 : spec.budget.absolute!;
    if (relative) note = "the baseline is 0, so a relative budget allows no worsening";
    const diff = s.contrast
      ? differenceInterval(s.contrast, confidence)
      : quantileContrast(s, metric.quantile!, confidence, false);
    interval = diff ? worse(diff) : null;
    worsening = delta === null ? null : spec.direction === "lowerIsBetter" ? delta : -delta;
  } else {
    allowed = spec.budget.relative!;
    const ratio =
      s.baseline! < 0
        ? null
        : s.contrast
          ? ratioInterval(s.contrast, confidence)
          : quantileContrast(s, metric.quantile!, confidence, true);
    // ratio - 1 is the relative change; mirrored for higherIsBetter.
    interval = ratio ? worse({ lower: ratio.lower - 1, upper: ratio.upper - 1 }) : null;
    if (ratio === null) {
      note =
        s.baseline! < 0
          ? "a relative budget needs a positive baseline"
          : "the baseline is too close to zero to judge a relative budget";
    }
    const rel = base.relativeDelta;
    worsening = rel === null ? null : spec.direction === "lowerIsBetter" ? rel : -rel;
  }

  const limit = limitCheck(metric, s, confidence);
  let verdict = verdictOf(interval, allowed);
  if (limit) verdict = worstVerdict(verdict, limit.verdict);
  const f: Finding = { ...base, verdict, worsening, interval, allowed, confidence, limit, reason: "" };
  return { ...f, reason: describeFinding(f, note) };
}
