// bench/decisions, skewed A/A: false rollbacks of voicectl's online analysis when mean metrics are heavily
// skewed and most slices are small. The mean tests are asymptotic (docs/statistics.md#online-analysis-many-looks):
// on lognormal values a small canary sample's mean and spread are both usually too low, and the t-like
// statistic's tail on that side is longer than the normal one. The scenario simulator draws each look's mean
// from a normal approximation (src/sim/fleet.ts), which hides exactly that, so this bench draws every request's
// value and sums them itself.
//
// Fleet: 300 voices (Zipf shares, skew 0.5, as aa-300: the rarest voice gets 0.17% of the traffic), 300
// requests per second, the canary at 10% (a 10/90 split) for one analysis step of 10-30 minutes. Four critical
// mean metrics sliced per voice, on the same per-request standard normal z (Bonferroni holds under any
// dependence): exp(sigma z) for sigma 1 and 1.5, each judged lowerIsBetter and higherIsBetter, with a
// relative budget of 0. Both arms come from the same distribution, so every metric sits exactly on its budget,
// the hardest case for a false fail, nothing can pass, and each rollout runs until the step gives up (a pause)
// unless a false fail rolls it back. 4 x 301 critical tests.
//
//   npm run bench:skewed-aa -- [--runs 300] [--alpha 0.01] [--alpha-split 0.5] [--rps 300] [--weight 10]
//                              [--canary-factor 1]
// --canary-factor multiplies the canary's values (not A/A any more): a check that the bench can see a
// rollback, since A/A alone cannot tell a sound test from one that never fails.
import { policySchema, type Policy } from "../../src/core/policy/schema.js";
import { createRng } from "../../src/core/stats/random.js";
import type { CellBatch, Look } from "../../src/core/analysis/look.js";
import { runSimulation, type LookSource } from "../../src/sim/run.js";
import { poisson } from "../../src/sim/sampling.js";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const SIGMAS = [1, 1.5] as const;
const METRICS = SIGMAS.flatMap((sigma) =>
  (["lowerIsBetter", "higherIsBetter"] as const).map((direction) => ({
    name: `lognormal_s${String(sigma).replace(".", "_")}_${direction === "lowerIsBetter" ? "lower" : "higher"}`,
    sigma,
    direction,
  })),
);

export function skewedPolicy(alpha: number, aggregateShare: number): Policy {
  return policySchema.parse({
    apiVersion: "voicectl.dev/v1alpha1",
    kind: "RolloutPolicy",
    metadata: { name: "skewed-aa" },
    spec: {
      sliceBy: [],
      minSamples: 30,
      alpha,
      alphaSplit: { aggregate: aggregateShare },
      metrics: METRICS.map((m) => ({
        name: m.name,
        direction: m.direction,
        aggregate: "mean",
        critical: true,
        sliceBy: ["voice_id"],
        budget: { relative: 0 },
      })),
    },
  });
}

interface Voice {
  readonly id: string;
  readonly share: number;
}

function voices(count: number, skew: number): Voice[] {
  const raw = Array.from({ length: count }, (_, i) => 1 / Math.pow(i + 1, skew));
  const total = raw.reduce((a, b) => a + b, 0);
  return raw.map((r, i) => ({ id: `voice-${String(i + 1).padStart(3, "0")}`, share: r / total }));
}

/** Per-request lognormal values, summed per voice and arm for each look. */
export function skewedFleet(
  seed: number,
  rps: number,
  cells: readonly Voice[],
  canaryFactor = 1,
): LookSource {
  return {
    look(fromMs, toMs, canaryWeight) {
      // Each look its own generator, as the scenario fleet does: a look depends only on its arguments.
      const rng = createRng((seed * 1_000_003 + fromMs / 1000) >>> 0);
      const seconds = (toMs - fromMs) / 1000;
      const batches: CellBatch[] = [];
      const requests = { baseline: 0, canary: 0 };
      for (const v of cells) {
        for (const arm of ["baseline", "canary"] as const) {
          const armShare = arm === "canary" ? canaryWeight / 100 : 1 - canaryWeight / 100;
          const n = armShare > 0 ? poisson(rng, rps * v.share * armShare * seconds) : 0;
          if (n === 0) continue;
          requests[arm] += n;
          const sums = SIGMAS.map(() => ({ sum: 0, sumSquares: 0 }));
          const factor = arm === "canary" ? canaryFactor : 1;
          for (let i = 0; i < n; i++) {
            const z = rng.normal();
            SIGMAS.forEach((sigma, j) => {
              const x = factor * Math.exp(sigma * z);
              sums[j]!.sum += x;
              sums[j]!.sumSquares += x * x;
            });
          }
          const metrics: CellBatch["metrics"] = Object.fromEntries(
            METRICS.map((m) => {
              const s = sums[SIGMAS.indexOf(m.sigma)]!;
              return [m.name, { kind: "moments" as const, count: n, ...s }];
            }),
          );
          batches.push({ arm, labels: { voice_id: v.id }, metrics });
        }
      }
      const look: Look & { requests: typeof requests } = {
        at: toMs,
        canaryWeight,
        cells: batches,
        requests,
      };
      return look;
    },
  };
}

async function main(): Promise<void> {
  const runs = Number(arg("runs") ?? 300);
  const canaryFactor = Number(arg("canary-factor") ?? 1);
  const alpha = Number(arg("alpha") ?? 0.01);
  const split = Number(arg("alpha-split") ?? 0.5);
  const rps = Number(arg("rps") ?? 300);
  const weight = Number(arg("weight") ?? 10);
  const policy = skewedPolicy(alpha, split);
  const cells = voices(300, 0.5);
  const outcome = { promote: 0, pause: 0, rollback: 0 };
  const culprits = new Map<string, number>();
  const start = performance.now();
  for (let seed = 1; seed <= runs; seed++) {
    const r = runSimulation({
      name: "skewed-aa",
      policy,
      steps: [{ setWeight: weight }, { analysis: { minDuration: "10m", maxDuration: "30m" } }],
      intervalMs: 60_000,
      canaryReadyAfterMs: 60_000,
      durationMs: 40 * 60_000,
      fleet: skewedFleet(seed, rps, cells, canaryFactor),
    });
    outcome[r.decision]++;
    for (const f of r.reasons.filter((x) => x.cause && r.decision === "rollback")) {
      const k = `${f.metric} ${Object.keys(f.slice).length === 0 ? "all traffic" : "per voice"}`;
      culprits.set(k, (culprits.get(k) ?? 0) + 1);
    }
    if (seed % 10 === 0) process.stderr.write(`\rskewed-aa: ${seed}/${runs}   `);
  }
  const seconds = (performance.now() - start) / 1000;
  const rate = outcome.rollback / runs;
  const se = Math.sqrt((rate * (1 - rate)) / runs);
  // With no rollback at all, the one-sided 95% upper bound (1 - 0.05^(1/runs), about 3/runs).
  const upper = outcome.rollback === 0 ? 1 - Math.pow(0.05, 1 / runs) : rate + 1.645 * se;
  process.stderr.write("\n");
  process.stdout.write(
    [
      `skewed A/A: 300 voices (Zipf 0.5), ${rps} req/s, canary ${weight}%, lognormal sigma ${SIGMAS.join(" and ")} x both directions, relative budget 0, canary values x${canaryFactor}, alpha ${alpha}, alphaSplit.aggregate ${split}, ${runs} runs (seeds 1-${runs})`,
      `decisions: promote ${outcome.promote}, pause ${outcome.pause}, rollback ${outcome.rollback}`,
      `${canaryFactor === 1 ? "false-rollback" : "rollback"} rate ${(100 * rate).toFixed(2)}% +- ${(100 * se).toFixed(2)}% (Monte Carlo standard error); one-sided 95% upper bound ${(100 * upper).toFixed(2)}%; target <= alpha ${(100 * alpha).toFixed(2)}%`,
      ...[...culprits].map(([k, n]) => `  rolled back on ${k}: ${n}`),
      `${(seconds / runs).toFixed(3)} s per run, ${seconds.toFixed(0)} s in all`,
      "",
    ].join("\n"),
  );
}

await main();
