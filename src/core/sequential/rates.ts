// Online comparison of event rates per request (errors, timeouts, underruns, silence/truncation), valid at every
// look: an interval for the rate ratio pC/pB (relative budgets) and one for the difference pC − pB (absolute
// budgets, percentage points).
//
// Ratio — method: the conditional (Poisson-process) test of Lindon & Malek, "Anytime-valid inference for
// multinomial count data", NeurIPS 2022, for two arms. Model the events of each arm as a Poisson process in its
// own exposure (requests): eC ~ Poisson(pC·nC), eB ~ Poisson(pB·nB). Given the total E = eC + eB, the
// canary's events are Binomial(E, π) with
//   π = φR / (φR + 1 − φ),   R = pC/pB,   φ = nC/(nC + nB)   (logit π = log R + logit φ),
// so π maps one-to-one to R and the nuisance level pB drops out. Conditionally on the event stream, the
// canary labels are i.i.d. Bernoulli(π), and a Beta mixture of likelihood ratios against π0 = π(R0) is a
// nonnegative martingale (Lindon & Malek's Dirichlet-multinomial test with two categories). The confidence
// sequence is {R0 : M_t(R0) < 1/α}; log M is convex in log R0, so it is an interval, found by bisection.
//
// Segments: the map from R to π depends on the traffic split φ, which changes between rollout steps. Batches
// carry an optional `segment` key (the step, or its router weight); each run of batches with the same key is a
// segment with its own φ (the segment's observed request share) and its own mixture started at 1. The product
// of the segments' martingales, each started when the previous one stops, is again a test martingale for the
// common R, so validity survives any sequence of splits. Within a segment the split is assumed constant; the
// observed share estimates it from the requests, which outnumber the events by 1/p (200x at 0.5%), so the
// plug-in error is negligible against the events' noise. Without keys the whole test is one segment, which is
// also fine while the split does not change much.
//
// Prior: Beta(cφ, c(1 − φ)) on π, centred on "no difference" (R = 1), with c = E*/x* − 1 tuned for
// `targetEvents` = E* total events in a segment (mixture.ts). Fixed for the life of a test.
//
// Difference — method: two confidence sequences at alpha/2 each, intersected (a union bound: the intersection
// covers whenever both do, so it misses with probability ≤ alpha/2 + alpha/2):
// 1. exact per-arm sequences for each Bernoulli rate, each at alpha/4, combined by interval arithmetic
//    [LC − UB, UC − LB]. Each inverts the beta-binomial mixture test of p0 with a fixed Beta prior (Jeffreys
//    Beta(1/2, 1/2) by default, which needs no guess of the rate's scale):
//    {p0 : B(a + e, b + n − e)/B(a, b) / (p0^e (1 − p0)^(n − e)) < 4/α}. Exact at any count, including zero
//    events, but wide: the arms' widths add instead of adding in quadrature, and the prior is not tuned.
// 2. the asymptotic means sequence (means.ts) on the 0/1 values, used only once each arm has `minEvents`
//    events and non-events. Alone it is unsafe for rare events: while no event has been seen its plug-in
//    variance is 0 (an underrun rate near 0 would get a zero-width interval and a false pass), and the normal
//    approximation is poor for a handful of events. Switching it on at a data-dependent time keeps the union
//    bound intact (its miss probability is over all looks anyway); `minEvents` only guards the asymptotics.
// The intersection needs about a third of the samples of (1) alone to prove a +1 pp regression against a
// +0.5 pp budget at 0.5% (rates.test.ts).
//
// Assumptions: requests within an arm have independent outcomes with a constant rate (per segment for the
// ratio); the routing of requests to arms does not depend on outcomes; for the ratio, events are rare enough
// that the Poisson model holds (p ≲ 5%; the conditional binomial is then exact up to O(p)).

import type { Interval } from "../types.js";
import { meansContrastInterval, type ArmMoments } from "./means.js";
import {
  betaConcentration,
  bisectBoundary,
  checkAlpha,
  checkPositive,
  logBetaBinomialMixture,
  softplus,
} from "./mixture.js";

/** Requests served and the events among them (errors, underruns, ...), for one arm. */
export interface RateCounts {
  readonly requests: number;
  readonly events: number;
}

export interface RateBatch {
  readonly baseline?: RateCounts | undefined;
  readonly canary?: RateCounts | undefined;
  /** The rollout step (or router weight) the batch was collected under; a change starts a new segment. */
  readonly segment?: string | undefined;
}

export interface RateSegment {
  readonly key: string | null;
  readonly baseline: RateCounts;
  readonly canary: RateCounts;
}

/** The plain-JSON state of a two-arm rate comparison: one entry per traffic-split segment. */
export interface RateState {
  readonly segments: readonly RateSegment[];
}

export interface RateRatioOptions {
  /** P(ever excluding the true ratio) ≤ alpha. */
  readonly alpha: number;
  /** Total events per segment at which the boundary is tuned to be narrowest; default 100. */
  readonly targetEvents?: number | undefined;
}

/** A Beta(a, b) mixing prior over a Bernoulli rate. */
export interface BetaPrior {
  readonly a: number;
  readonly b: number;
}

export const JEFFREYS: BetaPrior = { a: 0.5, b: 0.5 };

export interface RateDifferenceOptions {
  /** Over both arms: P(ever excluding pC − pB) ≤ alpha. */
  readonly alpha: number;
  /** Prior of the exact per-arm sequences; default Jeffreys. */
  readonly prior?: BetaPrior | undefined;
  /** Requests per arm at which the asymptotic part is tuned to be narrowest; default 10000. */
  readonly targetRequests?: number | undefined;
  /** Events (and non-events) each arm needs before the asymptotic part is used; default 10. */
  readonly minEvents?: number | undefined;
}

export const DEFAULT_RATE_TARGET_EVENTS = 100;
export const DEFAULT_RATE_TARGET_REQUESTS = 10_000;
export const DEFAULT_MIN_EVENTS = 10;

const ZERO: RateCounts = { requests: 0, events: 0 };

export function initialRateState(): RateState {
  return { segments: [] };
}

function checkCounts(c: RateCounts): void {
  if (!Number.isInteger(c.requests) || !Number.isInteger(c.events) || c.events < 0 || c.events > c.requests) {
    throw new RangeError(
      `expected integer counts with 0 <= events <= requests, got events=${c.events} requests=${c.requests}`,
    );
  }
}

function add(x: RateCounts, y: RateCounts): RateCounts {
  return { requests: x.requests + y.requests, events: x.events + y.events };
}

/** A new state with the batch added to the current segment, or to a new one when its key differs. */
export function updateRates(state: RateState, batch: RateBatch): RateState {
  const b = batch.baseline ?? ZERO;
  const c = batch.canary ?? ZERO;
  checkCounts(b);
  checkCounts(c);
  if (b.requests === 0 && c.requests === 0) return state;
  const key = batch.segment ?? null;
  const last = state.segments[state.segments.length - 1];
  if (last !== undefined && last.key === key) {
    const merged: RateSegment = { key, baseline: add(last.baseline, b), canary: add(last.canary, c) };
    return { segments: [...state.segments.slice(0, -1), merged] };
  }
  return { segments: [...state.segments, { key, baseline: b, canary: c }] };
}

/** Per-arm totals over all segments. */
export function rateTotals(state: RateState): { baseline: RateCounts; canary: RateCounts } {
  let baseline = ZERO;
  let canary = ZERO;
  for (const s of state.segments) {
    baseline = add(baseline, s.baseline);
    canary = add(canary, s.canary);
  }
  return { baseline, canary };
}

export function rateSamples(state: RateState): { baseline: number; canary: number } {
  const t = rateTotals(state);
  return { baseline: t.baseline.requests, canary: t.canary.requests };
}

/** log R is searched in [−LOG_R_MAX, LOG_R_MAX]; beyond that the ends are reported as 0 and +∞. */
const LOG_R_MAX = 40;

/**
 * The anytime-valid interval for the rate ratio R = pC/pB. [0, +∞] until both arms have requests and some
 * event; the upper end stays +∞ while the baseline has no event (a zero baseline is never divided by).
 */
export function rateRatioInterval(state: RateState, options: RateRatioOptions): Interval {
  const { alpha } = options;
  checkAlpha(alpha);
  const targetEvents = options.targetEvents ?? DEFAULT_RATE_TARGET_EVENTS;
  checkPositive("targetEvents", targetEvents);
  const c = betaConcentration(targetEvents, alpha);
  const segments = state.segments
    .filter(
      (s) => s.canary.requests > 0 && s.baseline.requests > 0 && s.canary.events + s.baseline.events > 0,
    )
    .map((s) => {
      const phi = s.canary.requests / (s.canary.requests + s.baseline.requests);
      return {
        eC: s.canary.events,
        eB: s.baseline.events,
        logitPhi: Math.log(phi) - Math.log1p(-phi),
        a: c * phi,
        b: c * (1 - phi),
      };
    });
  const whole: Interval = { lower: 0, upper: Infinity };
  if (segments.length === 0) return whole;
  const threshold = -Math.log(alpha);
  // Σ over segments of log M_s at u = log R0 (convex in u).
  const logM = (u: number): number => {
    let sum = 0;
    for (const s of segments) {
      const z = u + s.logitPhi; // logit π(R0)
      sum += logBetaBinomialMixture(s.eC, s.eB, -softplus(-z), -softplus(z), s.a, s.b);
    }
    return sum;
  };
  // Its derivative Σ (E·π − eC) is increasing in u; the minimizer is its root.
  const slope = (u: number): number => {
    let sum = 0;
    for (const s of segments) {
      const z = u + s.logitPhi;
      sum += (s.eC + s.eB) * Math.exp(-softplus(-z)) - s.eC;
    }
    return sum;
  };
  let uMin: number;
  if (slope(-LOG_R_MAX) >= 0) uMin = -LOG_R_MAX;
  else if (slope(LOG_R_MAX) <= 0) uMin = LOG_R_MAX;
  else uMin = bisectBoundary(-LOG_R_MAX, LOG_R_MAX, (u) => slope(u) < 0);
  const accepted = (u: number): boolean => logM(u) < threshold;
  if (!accepted(uMin)) {
    // Empty set: no common ratio fits the segments (the model is violated, an event of probability <= alpha
    // under it). Report the best-fitting ratio as a point.
    const r = Math.exp(uMin);
    return { lower: r, upper: r };
  }
  const lower = accepted(-LOG_R_MAX) ? 0 : Math.exp(bisectBoundary(uMin, -LOG_R_MAX, accepted));
  const upper = accepted(LOG_R_MAX) ? Infinity : Math.exp(bisectBoundary(uMin, LOG_R_MAX, accepted));
  return { lower, upper };
}

/** logit bounds for one arm's rate search; beyond them the ends are reported as 0 and 1. */
const LOGIT_MAX = 700;

/**
 * The exact anytime-valid interval for one arm's rate (P(ever excluding it) ≤ alpha), inverting the
 * beta-binomial mixture test with a fixed prior (Jeffreys by default).
 */
export function rateArmInterval(counts: RateCounts, alpha: number, prior: BetaPrior = JEFFREYS): Interval {
  checkAlpha(alpha);
  checkCounts(counts);
  checkPositive("prior.a", prior.a);
  checkPositive("prior.b", prior.b);
  const { requests: n, events: e } = counts;
  if (n === 0) return { lower: 0, upper: 1 };
  const threshold = -Math.log(alpha);
  // In z = logit p0 the statistic is convex with its minimum at the observed rate.
  const accepted = (z: number): boolean =>
    logBetaBinomialMixture(e, n - e, -softplus(-z), -softplus(z), prior.a, prior.b) < threshold;
  const zHat = e === 0 ? -LOGIT_MAX : e === n ? LOGIT_MAX : Math.log(e) - Math.log(n - e);
  const sigmoid = (z: number): number => Math.exp(-softplus(-z));
  const lower = e === 0 || accepted(-LOGIT_MAX) ? 0 : sigmoid(bisectBoundary(zHat, -LOGIT_MAX, accepted));
  const upper = e === n || accepted(LOGIT_MAX) ? 1 : sigmoid(bisectBoundary(zHat, LOGIT_MAX, accepted));
  return { lower, upper };
}

/**
 * The anytime-valid interval for pC − pB: the exact per-arm sequences (each arm at alpha/4) combined, intersected,
 * once both arms have `minEvents` events and non-events, with the asymptotic means sequence on the 0/1 values
 * (at alpha/2). See the header for why both.
 */
export function rateDifferenceInterval(state: RateState, options: RateDifferenceOptions): Interval {
  const { alpha } = options;
  checkAlpha(alpha);
  const minEvents = options.minEvents ?? DEFAULT_MIN_EVENTS;
  const { baseline, canary } = rateTotals(state);
  const b = rateArmInterval(baseline, alpha / 4, options.prior);
  const c = rateArmInterval(canary, alpha / 4, options.prior);
  const exact: Interval = { lower: c.lower - b.upper, upper: c.upper - b.lower };
  const enough = (x: RateCounts): boolean => x.events >= minEvents && x.requests - x.events >= minEvents;
  if (!enough(baseline) || !enough(canary)) return exact;
  const asymptotic = meansContrastInterval(
    { baseline: bernoulliMoments(baseline), canary: bernoulliMoments(canary) },
    { alpha: alpha / 2, targetSamples: options.targetRequests ?? DEFAULT_RATE_TARGET_REQUESTS },
  );
  return {
    lower: Math.max(exact.lower, asymptotic.lower),
    upper: Math.min(exact.upper, asymptotic.upper),
  };
}

/** The (n, mean, m2) of `requests` 0/1 values with `events` ones. */
function bernoulliMoments(x: RateCounts): ArmMoments {
  const mean = x.events / x.requests;
  return { n: x.requests, mean, m2: x.events * (1 - mean) };
}

/** Observed rates per arm (null without requests), for reports. */
export function rateEstimates(state: RateState): { baseline: number | null; canary: number | null } {
  const { baseline, canary } = rateTotals(state);
  return {
    baseline: baseline.requests > 0 ? baseline.events / baseline.requests : null,
    canary: canary.requests > 0 ? canary.events / canary.requests : null,
  };
}
