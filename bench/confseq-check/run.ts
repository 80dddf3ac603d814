// bench/confseq-check: voicectl's bounded-mean confidence sequence (src/core/sequential/bounded-means.ts) against
// the authors' reference code, PyPI `confseq` (Waudby-Smith & Ramdas), on the same fixed data.
//
//   python3 -m venv /tmp/confseq-venv && /tmp/confseq-venv/bin/pip install confseq "numpy<2"
//   CONFSEQ_PYTHON=/tmp/confseq-venv/bin/python npm run bench:confseq-check
//
// (confseq 0.0.11 builds C++ extensions: it needs the Boost headers, e.g. apt-get install libboost-dev, and on
// Python >= 3.11 a pybind11 >= 2.10 with `pip install --no-build-isolation confseq`.)
//
// The same values are fed to voicectl (as batches of one and as batches of 50: the sequence is the same per-value
// sequence either way, only the centres move per batch) and to confseq, which rebuilds voicectl's union over the
// bet grid from its own `predmix_lower_cs` (one constant bet each). The bench prints the largest difference at
// any look, and the widths of confseq's packaged PrPl-EB sequence for comparison. It fails (exit 1) when Python or
// confseq is missing or the batch-of-one numbers differ by more than 1e-9: a check that cannot run is not a pass.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRng } from "../../src/core/stats/random.js";
import { gamma } from "../../src/sim/sampling.js";
import {
  BET_GRID,
  boundedArmInterval,
  initialBoundedState,
  updateBounded,
} from "../../src/core/sequential/bounded-means.js";
import { momentBatch } from "../../src/core/sequential/means.js";

const python = process.env.CONFSEQ_PYTHON ?? "python3";
const script = join(dirname(fileURLToPath(import.meta.url)), "../../../bench/confseq-check/confseq_check.py");

interface Side {
  lower: number[];
  upper: number[];
}

function confseq(x: number[], alpha: number, anchor: number | null): { grid: Side; prpl: Side } {
  const input = JSON.stringify({ x, alpha, bets: BET_GRID, anchor });
  const run = spawnSync(python, [script], { input, encoding: "utf8", maxBuffer: 1 << 26 });
  if (run.error || run.status !== 0) {
    console.error(`confseq-check: cannot run ${python} ${script}: ${run.error?.message ?? run.stderr}`);
    process.exit(1);
  }
  return JSON.parse(run.stdout) as { grid: Side; prpl: Side };
}

/**
 * voicectl's interval after each batch of `size` values (one arm, two-sided alpha), repeated for each value. With an
 * anchor, the other arm has seen that one value first, which fixes this arm's centre range (anchor ± 0.1).
 */
function voicectl(x: number[], alpha: number, size: number, anchor: number | null): Side {
  let s = initialBoundedState(0, 1);
  if (anchor !== null) s = updateBounded(s, { baseline: momentBatch([anchor]) });
  const out: Side = { lower: [], upper: [] };
  for (let i = 0; i < x.length; i += size) {
    s = updateBounded(s, { canary: momentBatch(x.slice(i, i + size)) });
    const iv = boundedArmInterval(s, "canary", alpha);
    for (let j = i; j < Math.min(x.length, i + size); j++) {
      out.lower.push(iv.lower);
      out.upper.push(iv.upper);
    }
  }
  return out;
}

const at = (s: Side, i: number) => `[${s.lower[i]!.toFixed(5)}, ${s.upper[i]!.toFixed(5)}]`;

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
const datasets: { name: string; x: number[]; anchor?: number }[] = [
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
    name: "the same similarity, the other arm's first value 0.86 (centres in [0.76, 0.96])",
    x: [] as number[],
    anchor: 0.86,
  },
  {
    name: "30 zeros then Bernoulli(0.01)",
    x: Array.from({ length: 2000 }, (_, i) => (i >= 30 && rng.next() < 0.01 ? 1 : 0)),
  },
];

datasets[2]!.x = datasets[1]!.x;

let worst = 0;
for (const alpha of [0.05, 1e-3, 1.75e-4]) {
  for (const d of datasets) {
    const anchor = d.anchor ?? null;
    const ones = voicectl(d.x, alpha, 1, anchor);
    const fifties = voicectl(d.x, alpha, 50, anchor);
    const theirs = confseq(d.x, alpha, anchor);
    const ref = maxDiff(ones, theirs.grid);
    worst = Math.max(worst, ref.diff);
    const last = d.x.length - 1;
    console.log(
      `alpha ${alpha} ${d.name}: max |voicectl - confseq| ${ref.diff.toExponential(2)}; at n=${d.x.length}: ` +
        `voicectl ${at(ones, last)}, batches of 50 ${at(fifties, last)}, confseq grid ${at(theirs.grid, last)}, ` +
        `confseq PrPl-EB ${at(theirs.prpl, last)}; at n=200: voicectl ${at(ones, 199)}, PrPl-EB ${at(theirs.prpl, 199)}`,
    );
  }
}
console.log(`largest difference ${worst.toExponential(2)}`);
if (!(worst <= 1e-9)) {
  console.error("confseq-check: voicectl and confseq disagree");
  process.exit(1);
}
