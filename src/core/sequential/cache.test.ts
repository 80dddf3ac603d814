import { afterEach, describe, expect, it } from "vitest";
import type { CellBatch, Look } from "../analysis/look.js";
import { analyzeLook, initialOnlineState } from "../analysis/online.js";
import { planJudge } from "../judge/plan.js";
import { policySchema } from "../policy/schema.js";
import { createRng } from "../stats/random.js";
import { setStatisticsCache } from "./cache.js";
import { oneSidedMixture, rejectionBoundary } from "./onesided.js";
import { acceptedRankRange } from "./quantiles.js";

afterEach(() => setStatisticsCache(true));

const policy = policySchema.parse({
  apiVersion: "voicectl.dev/v1alpha1",
  kind: "RolloutPolicy",
  metadata: { name: "cache" },
  spec: {
    sliceBy: ["voice_id"],
    metrics: [
      {
        name: "speaker_similarity",
        direction: "higherIsBetter",
        aggregate: "mean",
        tier: "quality",
        critical: true,
        budget: { absolute: 0.01 },
      },
      {
        name: "ttfa_p95",
        column: "ttfa_ms",
        direction: "lowerIsBetter",
        aggregate: "p95",
        tier: "latency",
        critical: false,
        budget: { relative: 0.15 },
      },
      {
        name: "error_rate",
        column: "error",
        direction: "lowerIsBetter",
        aggregate: "rate",
        tier: "latency",
        critical: false,
        budget: { absolute: 0.005 },
      },
    ],
  },
});

/** Looks over `slices` voices whose canary is worse on some voices, with traffic that repeats counts often. */
function looks(seed: number, slices: number, count: number): Look[] {
  const rng = createRng(seed);
  const r = () => rng.next();
  return Array.from({ length: count }, (_, i) => {
    const cells: CellBatch[] = [];
    for (const arm of ["baseline", "canary"] as const) {
      for (let v = 0; v < slices; v++) {
        // Equal traffic on half the voices (the memo's hits), random on the others.
        const n = v % 2 === 0 ? 40 : 20 + Math.floor(r() * 60);
        const worse = arm === "canary" && v % 5 === 0;
        let sum = 0;
        let sumSquares = 0;
        for (let k = 0; k < n; k++) {
          const x = 0.72 - (worse ? 0.03 : 0) + (r() - 0.5) * 0.1;
          sum += x;
          sumSquares += x * x;
        }
        const slow = worse ? 0.6 : 1;
        cells.push({
          arm,
          labels: { voice_id: `v${v}` },
          metrics: {
            speaker_similarity: { kind: "moments", count: n, sum, sumSquares },
            ttfa_p95: {
              kind: "histogram",
              buckets: [50, 100, 200, 350, Infinity].map((le, b) => ({
                le,
                count: Math.round(
                  n * Math.min(1, [0.1, 0.45, 0.85, 0.97, 1][b]! * (le === Infinity ? 1 : slow)),
                ),
              })),
            },
            error_rate: { kind: "rate", requests: n, events: r() < (worse ? 0.4 : 0.05) ? 1 : 0 },
          },
        });
      }
    }
    return { at: i * 30_000, canaryWeight: 10, cells };
  });
}

function run(cached: boolean, seed: number) {
  setStatisticsCache(cached);
  const plan = planJudge(policy);
  let state = initialOnlineState();
  const out = [];
  for (const look of looks(seed, 24, 12)) {
    const r = analyzeLook(policy, state, look, plan);
    state = r.state;
    out.push({ findings: r.findings, decision: r.decision });
  }
  return { out, state };
}

describe("the statistics memos", () => {
  it("give the same findings, decisions and state as the uncached statistics, look after look", () => {
    for (const seed of [1, 2, 3]) {
      const uncached = run(false, seed);
      const cached = run(true, seed);
      expect(cached.out).toEqual(uncached.out);
      expect(cached.state).toEqual(uncached.state);
      // Not vacuous: the data make the tests decide something, both ways.
      const verdicts = new Set(cached.out.flatMap((l) => l.findings.map((f) => f.verdict)));
      expect(verdicts.size).toBeGreaterThan(1);
    }
  });

  it("give the same rejection boundaries and rank ranges for random n, p and alpha, asked twice", () => {
    const rng = createRng(7);
    const cases = Array.from({ length: 300 }, () => ({
      n: Math.floor(rng.next() * 5000),
      p: 0.05 + rng.next() * 0.9,
      alpha: [0.001, 0.01, 0.05][Math.floor(rng.next() * 3)]!,
      side: rng.next() < 0.5 ? ("upper" as const) : ("lower" as const),
    }));
    const compute = () =>
      cases.map(({ n, p, alpha, side }) => [
        rejectionBoundary(oneSidedMixture(side, p, alpha, 500), n, alpha),
        acceptedRankRange(n, p, alpha),
      ]);
    setStatisticsCache(false);
    const plain = compute();
    setStatisticsCache(true);
    expect(compute()).toEqual(plain);
    // The second pass answers from the memo: still the same.
    expect(compute()).toEqual(plain);
  });
});
