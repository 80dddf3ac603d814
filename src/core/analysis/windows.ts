// The three windows of online analysis (docs/statistics.md#windows-rollout-and-step), and how a family's
// alpha is split between them.
//
// - The rollout window pools every sample since the canary first took traffic: the most samples, so the
//   earliest verdicts on a canary that behaves the same all along. A change late in the rollout is diluted by
//   the clean samples before it, and may never show there.
// - A step window restarts whenever the canary's weight changes (a traffic step): it judges the canary as it
//   is now, on the step's own samples only. A regression that starts late fails there, and promotion needs the
//   final step's window to pass.
// - A recent window restarts every RECENT_MS within a step (and with each step): its few minutes alone, so a
//   regression starting late in the final step is not outvoted by the step's clean minutes before it. It can
//   only fail: too short to prove a budget, and its passes never count toward promotion.
//
// Each family (critical, non-critical) still spends at most the policy's alpha in all: the rollout window's
// tests get `rollout`·alpha, and the k-th step window `step`·alpha/K when the plan has K traffic steps, or
// `step`·alpha·6/(π² k²) when K is not known; the recent windows of step k share `recent`·alpha the same way,
// the j-th of them taking 6/(π² j²) of it. A union bound over all windows and all steps, so a wrong
// verdict in any test of any window, at any look, has probability at most alpha (each test's own guarantee
// already holds under continuous monitoring). The split is fixed when the analysis starts and stored with it.
import type { Step } from "../rollout/plan.js";
import type { Interval } from "../types.js";

/**
 * The share of each family's alpha spent by step windows. With RECENT_SHARE it is the half step windows had
 * before recent windows existed, so the rollout window's tests keep their level (bench/RESULTS.md: the A/A
 * scenarios promote as fast with 1/4 + 1/4 as with 1/2 for step windows alone).
 */
export const STEP_SHARE = 0.25;
/** The share spent by recent windows; the rest (1 − STEP_SHARE − RECENT_SHARE) goes to the rollout window. */
export const RECENT_SHARE = 0.25;
/**
 * How long a recent window runs before it restarts. 2 minutes caught a clone drift starting 5 to 8 minutes
 * into a 10-minute final step in every run (bench:late-onsets --onset); 5 minutes missed every one starting
 * at 7 (a window straddling the onset, the next one starting as the step passes). 1 minute also caught
 * onsets at 9, but makes each window a single look at the simulator's one-minute interval.
 */
export const RECENT_MS = 2 * 60_000;

export interface WindowSplit {
  /** Share of the family alpha for the rollout window's tests. */
  readonly rollout: number;
  /** Share of the family alpha for all step windows together. */
  readonly step: number;
  /** The plan's traffic steps (weight changes to a positive weight); null when unknown. */
  readonly steps: number | null;
  /** Share for all recent windows together; absent in a state stored before recent windows (none made). */
  readonly recent?: number | undefined;
  /** How long a recent window runs before the next one starts, ms. */
  readonly recentMs?: number | undefined;
}

/** The split of an analysis stored before windows existed: one rollout window at the whole alpha. */
export const LEGACY_SPLIT: WindowSplit = { rollout: 1, step: 0, steps: null };

export function windowSplit(
  steps: number | null,
  stepShare: number = STEP_SHARE,
  recentShare: number = RECENT_SHARE,
  recentMs: number = RECENT_MS,
): WindowSplit {
  if (!(stepShare >= 0 && stepShare < 1))
    throw new RangeError(`stepShare must be in [0, 1), got ${stepShare}`);
  if (!(recentShare >= 0 && stepShare + recentShare < 1))
    throw new RangeError(`recentShare must be >= 0 and leave the rollout window a share, got ${recentShare}`);
  if (!(recentMs > 0)) throw new RangeError(`recentMs must be positive, got ${recentMs}`);
  if (steps !== null && !(Number.isInteger(steps) && steps >= 0))
    throw new RangeError(`steps must be a non-negative integer, got ${steps}`);
  // A plan without traffic steps has no step window, and so no recent window, to spend on.
  const step = steps === 0 ? 0 : stepShare;
  const recent = steps === 0 ? 0 : recentShare;
  return { rollout: 1 - step - recent, step, steps, recent, recentMs };
}

/** The family alpha of the rollout window's tests. */
export function rolloutWindowAlpha(alpha: number, split: WindowSplit): number {
  return alpha * split.rollout;
}

/**
 * The family alpha of the k-th step window (k = 1, 2, ...). 0 past the plan's K steps (the weight moved more
 * often than the plan says, by hand): such a window has nothing to spend and makes no tests, so it can never
 * pass, and a final step relying on it pauses for a person.
 */
export function stepWindowAlpha(alpha: number, split: WindowSplit, k: number): number {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be a positive integer, got ${k}`);
  if (split.step === 0) return 0;
  if (split.steps === null) return (alpha * split.step * 6) / (Math.PI * Math.PI * k * k);
  return k <= split.steps ? (alpha * split.step) / split.steps : 0;
}

/**
 * The family alpha of the k-th recent window (k = 1, 2, ...) of the `stepIndex`-th step window: the recent
 * share is spread over the steps as the step share is (evenly over the plan's K steps, or by 6/(π² j²) when K
 * is unknown), and within a step over its recent windows by 6/(π² k²), which sums to at most 1 however long
 * the step runs. 0 without recent windows (a state stored before them) or past the plan's steps.
 */
export function recentWindowAlpha(alpha: number, split: WindowSplit, stepIndex: number, k: number): number {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be a positive integer, got ${k}`);
  const share = split.recent ?? 0;
  if (share === 0) return 0;
  const perStep = stepWindowAlpha(alpha, { ...split, step: share }, stepIndex);
  return (perStep * 6) / (Math.PI * Math.PI * k * k);
}

/**
 * The traffic steps of a plan, as the analysis sees them: each time a `setWeight` step moves the canary to a
 * new positive weight a step window starts.
 */
export function trafficSteps(steps: readonly Step[]): number {
  let weight = 0;
  let n = 0;
  for (const s of steps) {
    if (!("setWeight" in s)) continue;
    if (s.setWeight > 0 && s.setWeight !== weight) n++;
    weight = s.setWeight;
  }
  return n;
}

/**
 * The running intersection of a window's intervals for one test. Within a step window the canary is assumed
 * unchanged, and the intersection of confidence sequences for a fixed parameter is itself one (every interval
 * covers it at once with probability 1 − alpha), so a verdict reached at one look is not lost at the next.
 * An empty intersection refutes the fixed parameter (the canary changed within the step): the running
 * interval starts again from the current one, and `reset` says so.
 */
export function intersect(
  running: Interval | undefined,
  current: Interval,
): { interval: Interval; reset: boolean } {
  if (running === undefined || !isFiniteOrInfinite(running)) return { interval: current, reset: false };
  const lower = Math.max(running.lower, current.lower);
  const upper = Math.min(running.upper, current.upper);
  if (Number.isNaN(current.lower) || Number.isNaN(current.upper)) return { interval: running, reset: false };
  if (lower > upper) return { interval: current, reset: true };
  return { interval: { lower, upper }, reset: false };
}

function isFiniteOrInfinite(i: Interval): boolean {
  return !Number.isNaN(i.lower) && !Number.isNaN(i.upper);
}

/** When a window started, for people: `00:40` into a simulation, an ISO time in a cluster. */
export function formatSince(ms: number): string {
  // Simulated time counts from 0; a real clock is far past 1973 (1e11 ms).
  if (ms >= 1e11) return new Date(ms).toISOString();
  const m = Math.floor(ms / 60_000);
  return `${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
}
