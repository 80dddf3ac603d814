// bench/confseq-check: voicectl's bounded-mean confidence sequence (src/core/sequential/bounded-means.ts) against
// the authors' reference code, PyPI `confseq` (Waudby-Smith & Ramdas), on the same fixed data.
//
//   python3 -m venv /tmp/confseq-venv && /tmp/confseq-venv/bin/pip install confseq "numpy<2"
//   CONFSEQ_PYTHON=/tmp/confseq-venv/bin/python npm run bench:confseq-check
//
// (confseq 0.0.11 builds C++ extensions: it needs the Boost headers, e.g. apt-get install libboost-dev, and on
// Python >= 3.11 a pybind11 >= 2.10 with `pip install --no-build-isolation confseq`.)
//
// Each value is fed as its own batch of one, where voicectl's sequence is exactly the paper's per-observation
// PrPl-EB sequence; the bench prints the largest difference to confseq at every look. It fails (exit 1) when
// Python or confseq is missing or the numbers differ by more than 1e-9: a check that cannot run is not a pass.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRng } from "../../src/core/stats/random.js";
import { gamma } from "../../src/sim/sampling.js";
import {
  boundedArmInterval,
  initialBoundedState,
  updateBounded,
} from "../../src/core/sequential/bounded-means.js";

const python = process.env.CONFSEQ_PYTHON ?? "python3";
const script = join(dirname(fileURLToPath(import.meta.url)), "../../../bench/confseq-check/confseq_check.py");

interface Side {
  lower: number[];
  upper: number[];
}

function confseq(x: number[], alpha: number): { reference: Side; empbern: Side } {
  const run = spawnSync(python, [script], { input: JSON.stringify({ x, alpha }), encoding: "utf8" });
  if (run.error || run.status !== 0) {
    console.error(`confseq-check: cannot run ${python} ${script}: ${run.error?.message ?? run.stderr}`);
    process.exit(1);
  }
  return JSON.parse(run.stdout) as { reference: Side; empbern: Side };
}

/** voicectl's interval after each value, each value one batch; `alpha` two-sided for the arm. */
function voicectl(x: number[], alpha: number): Side {
  let s = initialBoundedState(0, 1);
  const out: Side = { lower: [], upper: [] };
  for (const v of x) {
    s = updateBounded(s, { canary: { count: 1, sum: v, sumSquares: v * v } });
    const iv = boundedArmInterval(s, "canary", alpha);
    out.lower.push(iv.lower);
    out.upper.push(iv.upper);
  }
  return out;
}

function maxDiff(a: Side, b: Side, from = 0): { diff: number; at: number } {
  let diff = 0;
  let at = -1;
  for (let i = from; i < a.lower.length; i++) {
    for (const d of [Math.abs(a.lower[i]! - b.lower[i]!), Math.abs(a.upper[i]! - b.upper[i]!)]) {
      if (d > diff) {
        diff = d;
        at = i + 1;
      }
    }
  }
  return { diff, at };
}

const rng = createRng(2024);
const datasets: { name: string; x: number[] }[] = [
  {
    name: "Beta(0.5, 5) ratio",
    x: Array.from({ length: 2000 }, () => {
      const a = gamma(rng, 0.5);
      return a / (a + gamma(rng, 5));
    }),
  },
  {
    name: "similarity 0.86 +- 0.0175 (rescaled from [-1, 1])",
    x: Array.from({ length: 2000 }, () => Math.min(1, Math.max(0, rng.normal(0.86, 0.0175)))),
  },
  {
    name: "30 zeros then Bernoulli(0.01)",
    x: Array.from({ length: 2000 }, (_, i) => (i >= 30 && rng.next() < 0.01 ? 1 : 0)),
  },
];

let worst = 0;
for (const alpha of [0.05, 1e-3, 1.75e-4]) {
  for (const d of datasets) {
    const ours = voicectl(d.x, alpha);
    const theirs = confseq(d.x, alpha);
    const ref = maxDiff(ours, theirs.reference);
    const pkg = maxDiff(ours, theirs.empbern, 99);
    worst = Math.max(worst, ref.diff);
    const last = d.x.length - 1;
    console.log(
      `alpha ${alpha} ${d.name}: max |voicectl - confseq| ${ref.diff.toExponential(2)} (n=${ref.at}); ` +
        `at n=${d.x.length} voicectl [${ours.lower[last]!.toFixed(6)}, ${ours.upper[last]!.toFixed(6)}] ` +
        `confseq [${theirs.reference.lower[last]!.toFixed(6)}, ${theirs.reference.upper[last]!.toFixed(6)}]; ` +
        `vs predmix_empbern_cs (plain-mean centring) from n=100: ${pkg.diff.toExponential(2)}`,
    );
  }
}
console.log(`largest difference ${worst.toExponential(2)}`);
if (!(worst <= 1e-9)) {
  console.error("confseq-check: voicectl and confseq disagree");
  process.exit(1);
}
