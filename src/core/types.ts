// The domain vocabulary (docs/decisions.md#vocabulary), as plain data shared by the core, the adapters and
// the CLI.

export type Direction = "lowerIsBetter" | "higherIsBetter";
export type Aggregate = "mean" | "p50" | "p90" | "p95" | "p99" | "rate";
export type Tier = "latency" | "quality" | "cost";
export type Verdict = "pass" | "fail" | "inconclusive" | "nodata";
export type Decision = "promote" | "pause" | "rollback";

/** A slice: label name to value. The aggregate (all traffic) is `{}`. */
export type SliceLabels = Readonly<Record<string, string>>;

export interface Interval {
  readonly lower: number;
  readonly upper: number;
}

/**
 * The worsening a metric may show, canary against baseline (exactly on budget passes).
 * Exactly one of `absolute` (metric units) or `relative` (a fraction of the baseline) is set;
 * `limit` is an optional bound on the canary's own value (at most, or at least for higherIsBetter).
 */
export interface Budget {
  readonly absolute?: number | undefined;
  readonly relative?: number | undefined;
  readonly limit?: number | undefined;
}

/** How a finding's interval was made, so a reader can check it. */
export type Method =
  | "welch-t" // two independent samples, means (linear contrast, Fieller for relative budgets)
  | "paired-t" // paired differences, means
  | "order-statistic" // distribution-free quantile intervals per arm, combined
  | "agresti-caffo" // difference of two proportions
  | "summary" // one value per arm, points compared exactly in decimal
  | "mixture-cs" // online: asymptotic confidence sequence for means (Waudby-Smith et al. 2024)
  | "empirical-bernstein-cs" // online: means of bounded metrics, per-arm PrPl-EB (Waudby-Smith & Ramdas 2024)
  | "quantile-cs" // online: confidence sequences for quantiles from histograms (Howard & Ramdas 2022)
  | "rate-e-process" // online: e-process for rates (Lindon & Malek 2022)
  | "none";

/**
 * Which samples an online finding judges: the whole rollout since the canary first took traffic, or the
 * current traffic step alone (docs/statistics.md#windows-rollout-and-step). Gate findings have none.
 */
export interface FindingWindow {
  readonly kind: "rollout" | "step" | "recent";
  /** When the window's first samples were taken (ms since the epoch; since the start in a simulation). */
  readonly since: number;
  /** A step or recent window's canary weight, percent. */
  readonly weight?: number | undefined;
}

/** One (metric, slice) comparison with its verdict and everything behind it. */
export interface Finding {
  readonly metric: string;
  readonly slice: SliceLabels;
  readonly verdict: Verdict;
  readonly critical: boolean;
  readonly tier: Tier;
  readonly direction: Direction;
  readonly aggregate: Aggregate;
  /** The aggregate's value per arm (null when that arm has no data). */
  readonly baseline: number | null;
  readonly canary: number | null;
  /** canary - baseline, in metric units. */
  readonly delta: number | null;
  /** delta / baseline; null when the baseline is zero or missing (never divided by). */
  readonly relativeDelta: number | null;
  /**
   * The worsening in the budget's units (absolute: metric units; relative: a fraction of the baseline),
   * positive meaning worse, with its interval. The verdict compares this interval with `allowed`.
   */
  readonly worsening: number | null;
  readonly interval: Interval | null;
  readonly allowed: number | null;
  readonly budget: Budget;
  readonly confidence: number | null;
  readonly samples: { readonly baseline: number; readonly canary: number };
  /** The check of the canary's own value against `budget.limit`, when the budget has one. */
  readonly limit?: LimitCheck | undefined;
  readonly method: Method;
  /** Online analysis: the window of samples this finding judges. */
  readonly window?: FindingWindow | undefined;
  /** One sentence a person can act on: which metric, slice, values, budget. No payloads. */
  readonly reason: string;
}

export interface LimitCheck {
  readonly limit: number;
  readonly value: number | null;
  readonly interval: Interval | null;
  readonly verdict: Verdict;
}

export interface DecisionResult {
  readonly decision: Decision;
  /** The findings that drove the decision, most severe first (empty on promote). */
  readonly reasons: readonly Finding[];
  readonly summary: string;
}

export const VERDICT_ORDER: Readonly<Record<Verdict, number>> = {
  fail: 0,
  nodata: 1,
  inconclusive: 2,
  pass: 3,
};

export const TIER_ORDER: Readonly<Record<Tier, number>> = { latency: 0, quality: 1, cost: 2 };

/** A stable, readable key for a slice: `{}` for the aggregate, `{language=es,voice_id=mia}` otherwise. */
export function sliceKey(slice: SliceLabels): string {
  const names = Object.keys(slice).sort();
  return `{${names.map((n) => `${n}=${slice[n]}`).join(",")}}`;
}

export function formatSlice(slice: SliceLabels): string {
  const names = Object.keys(slice);
  return names.length === 0 ? "(all)" : names.map((n) => `${n}=${slice[n]}`).join(",");
}
