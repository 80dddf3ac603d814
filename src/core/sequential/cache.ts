// Memos for the pure, deterministic pieces of the mixture boundaries that one look asks for again and again
// (issue 13: the statistics are the operator's main cost). Every memo returns exactly the number the
// computation would (same function, same arguments), so no bound, finding or verdict can change; they only
// skip repeats:
// - log B(a, b) of a mixture's prior: fixed per prior, yet recomputed in every evaluation of the beta-binomial
//   mixture (a dozen per boundary search, thousands per look);
// - a one-sided mixture's rejection boundary after n observations: a binary search of ~log2(n) mixture
//   evaluations, asked for by every slice and arm with the same n (slices with equal traffic, both bounds of an
//   interval, the budget test and the interval of one slice), and by every rollout of the same policy.
// The caches are bounded and per process; setStatisticsCache(false) turns them off, for the benchmark's
// baseline (bench/look) and the test that compares both paths.

let enabled = true;

/** Turns the memos on or off (on by default), emptying them either way. */
export function setStatisticsCache(on: boolean): void {
  enabled = on;
  priorLogBetas.clear();
  boundaries = new WeakMap();
}

export function statisticsCacheEnabled(): boolean {
  return enabled;
}

const LIMIT = 4096;

const priorLogBetas = new Map<number, Map<number, number>>();

/** compute() for the prior (a, b), remembered: log B(a, b) of a mixing prior. */
export function memoPriorLogBeta(a: number, b: number, compute: () => number): number {
  if (!enabled) return compute();
  let byB = priorLogBetas.get(a);
  if (byB === undefined) {
    if (priorLogBetas.size >= LIMIT) priorLogBetas.clear();
    byB = new Map();
    priorLogBetas.set(a, byB);
  }
  let v = byB.get(b);
  if (v === undefined) {
    if (byB.size >= LIMIT) byB.clear();
    v = compute();
    byB.set(b, v);
  }
  return v;
}

/** Per mixture (immutable, cached by its makers) and alpha: boundary by n. */
let boundaries = new WeakMap<object, Map<number, Map<number, number>>>();

/** compute() for (mixture, n, alpha), remembered: a rejection boundary. */
export function memoBoundary(mixture: object, n: number, alpha: number, compute: () => number): number {
  if (!enabled) return compute();
  let byAlpha = boundaries.get(mixture);
  if (byAlpha === undefined) {
    byAlpha = new Map();
    boundaries.set(mixture, byAlpha);
  }
  let byN = byAlpha.get(alpha);
  if (byN === undefined) {
    if (byAlpha.size >= LIMIT) byAlpha.clear();
    byN = new Map();
    byAlpha.set(alpha, byN);
  }
  let v = byN.get(n);
  if (v === undefined) {
    if (byN.size >= LIMIT) byN.clear();
    v = compute();
    byN.set(n, v);
  }
  return v;
}
