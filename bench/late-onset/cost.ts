// The cost of the step windows: analysis time per look and stored state size on examples/scenarios/aa-300.yaml
// (300 voices), with windows against the same analysis without them (a state as stored before windows, which
// keeps one rollout window), in the same process, alternating rounds.
//   npm run build --silent && node dist/bench/late-onset/cost.js [--looks 20] [--rounds 5]
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { analyzeLook, initialOnlineState, type OnlineState } from "../../src/core/analysis/online.js";
import { planJudge } from "../../src/core/judge/plan.js";
import { createFleet } from "../../src/sim/fleet.js";
import { loadScenario } from "../../src/sim/scenario.js";
import { repositoryRoot } from "../../test/support/cluster.js";

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const looks = arg("looks", 20);
const rounds = arg("rounds", 5);

const loaded = await loadScenario(join(repositoryRoot(), "examples/scenarios/aa-300.yaml"));
const policy = loaded.policy;
const plan = planJudge(policy);
const fleet = createFleet(loaded.scenario, policy, 1);
// The looks once, so both variants judge the same batches and only the analysis is timed.
const batches = Array.from({ length: looks }, (_, i) =>
  fleet.look(i * 60_000, (i + 1) * 60_000, i < looks / 2 ? 20 : 50),
);
const legacy = (): OnlineState => ({ tests: {}, declared: null, late: { critical: 0, other: 0 }, looks: 0 });
const windowed = (): OnlineState => initialOnlineState({ trafficSteps: 2, startedAt: 0 });

function run(start: () => OnlineState): { ms: number; gzip: number } {
  let state = start();
  const t0 = performance.now();
  for (const look of batches) state = analyzeLook(policy, state, look, plan).state;
  const ms = (performance.now() - t0) / looks;
  return { ms, gzip: gzipSync(JSON.stringify(state)).length };
}

const times = { legacy: [] as number[], windowed: [] as number[] };
let sizes = { legacy: 0, windowed: 0 };
for (let r = 0; r < rounds; r++) {
  const a = run(legacy);
  const b = run(windowed);
  times.legacy.push(a.ms);
  times.windowed.push(b.ms);
  sizes = { legacy: a.gzip, windowed: b.gzip };
}
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const ml = median(times.legacy);
const mw = median(times.windowed);
console.log(`aa-300, ${looks} looks (20% then 50%), median of ${rounds} rounds`);
console.log(
  `analysis per look: one window ${ml.toFixed(1)} ms, rollout + step windows ${mw.toFixed(1)} ms: x${(mw / ml).toFixed(2)}`,
);
console.log(
  `stored state (gzip): one window ${sizes.legacy} B, rollout + step windows ${sizes.windowed} B: x${(sizes.windowed / sizes.legacy).toFixed(2)}`,
);
