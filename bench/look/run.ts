// bench/look: what one look of online analysis costs the operator, without Kubernetes or Prometheus: the
// bench/scale policy (per-voice speaker similarity, TTFA p95 from histogram buckets, error rate) over
// `--slices` voices, an A/A canary, `--looks` looks in a row carried in one state, as the reconciler does
// (analyzeLook). Prints the mean and p50/p99 per look over the last half of the looks (the first ones create
// the tests), and with --baseline the same looks judged by the uncached statistics in the same process, and the
// ratio; with --cpu-prof on node itself, where the time goes.
//
//   npm run bench:look -- [--slices 300] [--looks 40] [--reps 3] [--equal-traffic]
import { performance } from "node:perf_hooks";
import { parse } from "yaml";
import type { CellBatch, Look } from "../../src/core/analysis/look.js";
import { analyzeLook, initialOnlineState } from "../../src/core/analysis/online.js";
import { planJudge } from "../../src/core/judge/plan.js";
import { policySchema } from "../../src/core/policy/schema.js";
import { SCALE_POLICY } from "../scale/policy.js";
import { setStatisticsCache } from "../../src/core/sequential/cache.js";
import { createRng } from "../../src/core/stats/random.js";

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} expects a positive number`);
  return v;
};
const SLICES = arg("slices", 300);
const LOOKS = arg("looks", 40);
const REPS = arg("reps", 3);
/** Every voice and arm the same requests per look, as bench/scale's synthetic Prometheus serves them. */
const EQUAL = process.argv.includes("--equal-traffic");

const policy = policySchema.parse(parse(SCALE_POLICY));

const LE = [50, 100, 200, 350, 500, Infinity];
const SHARE = [0.1, 0.45, 0.85, 0.97, 0.995, 1];

/** One look: 60 requests per voice and arm (2 rps over 30 s), with some noise so tests move. */
function makeLook(i: number, rand: () => number): Look {
  const cells: CellBatch[] = [];
  for (const arm of ["baseline", "canary"] as const) {
    for (let v = 0; v < SLICES; v++) {
      const n = EQUAL ? 60 : 50 + Math.floor(rand() * 20);
      let sum = 0;
      let sumSquares = 0;
      for (let k = 0; k < n; k++) {
        const x = 0.72 + (rand() - 0.5) * 0.1;
        sum += x;
        sumSquares += x * x;
      }
      cells.push({
        arm,
        labels: { voice_id: `voice-${String(v).padStart(3, "0")}` },
        metrics: {
          speaker_similarity: { kind: "moments", count: n, sum, sumSquares },
          ttfa_p95: {
            kind: "histogram",
            buckets: LE.map((le, b) => ({ le, count: Math.round(n * SHARE[b]!) })),
          },
          error_rate: { kind: "rate", requests: n, events: rand() < 0.1 ? 1 : 0 },
        },
      });
    }
  }
  return { at: i * 30_000, canaryWeight: 10, cells };
}

function run(cached: boolean): { mean: number; p50: number; p99: number; verdicts: string } {
  setStatisticsCache(cached);
  const rng = createRng(42);
  const rand = () => rng.next();
  const looks = Array.from({ length: LOOKS }, (_, i) => makeLook(i, rand));
  const plan = planJudge(policy);
  let state = initialOnlineState();
  const times: number[] = [];
  const verdicts: string[] = [];
  for (const look of looks) {
    const t0 = performance.now();
    const r = analyzeLook(policy, state, look, plan);
    times.push(performance.now() - t0);
    state = r.state;
    verdicts.push(r.decision.decision + ":" + r.findings.map((f) => f.verdict[0]).join(""));
  }
  const tail = times.slice(Math.floor(times.length / 2)).sort((a, b) => a - b);
  return {
    mean: tail.reduce((a, b) => a + b, 0) / tail.length,
    p50: tail[Math.floor(tail.length / 2)]!,
    p99: tail[Math.min(tail.length - 1, Math.floor(tail.length * 0.99))]!,
    verdicts: verdicts.join("|"),
  };
}

const f = (x: number) => x.toFixed(1);
const rows: string[] = [];
let ratio = 0;
for (let rep = 0; rep < REPS; rep++) {
  const base = run(false);
  const fast = run(true);
  if (base.verdicts !== fast.verdicts) throw new Error("the cached statistics changed a verdict");
  ratio += base.mean / fast.mean;
  rows.push(
    `| ${rep + 1} | ${f(base.mean)} | ${f(base.p50)} | ${f(base.p99)} | ${f(fast.mean)} | ${f(fast.p50)} | ${f(fast.p99)} | x${(base.mean / fast.mean).toFixed(2)} |`,
  );
}
process.stdout.write(
  [
    `${SLICES} slices x 3 metrics, ${EQUAL ? "equal" : "random (50-69)"} requests per voice and arm per look, ${LOOKS} looks per run (times over the last ${Math.ceil(LOOKS / 2)}), ms per look; verdicts identical`,
    "",
    "| rep | uncached mean | p50 | p99 | cached mean | p50 | p99 | speed-up |",
    "|---|---|---|---|---|---|---|---|",
    ...rows,
    "",
    `mean speed-up x${(ratio / REPS).toFixed(2)}`,
    "",
  ].join("\n"),
);
