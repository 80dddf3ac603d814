// bench/decisions, late onsets: a critical regression that starts during the rollout, not with the canary.
// The canary is the stable build until the onset (agents-latency and clone-drift with their regression moved
// from the start to the onset), so everything looks fine at first, findings pass and steps move on. Each seed is
// first run without the regression (A/A) to learn when each step started and when the rollout would promote;
// the regression then starts 5 minutes into each step's analysis, and 8 minutes before that promotion. Looks
// before the onset are the same in both runs (each look is a pure function of the seed and its times,
// src/sim/fleet.ts), so only the regression differs. Target: every late critical regression rolled back before
// promotion.
//
// --onset moves the in-step onsets (minutes after the step's weight first served traffic): the recent window
// restarts every 2 minutes of a step, so an onset just after a restart, and late in the final step, is its
// worst case.
//
//   npm run bench:late-onsets -- [--seeds 50] [--methods voicectl,kayenta-matched] [--onset 5]
import { join } from "node:path";
import type { Analyzer, SimulationResult } from "../../src/sim/run.js";
import { loadScenario, type LoadedScenario, type Regression } from "../../src/sim/scenario.js";
import type { Policy } from "../../src/core/policy/schema.js";
import { kayentaAnalyzer } from "./baselines.js";
import { simulateScenario } from "./simulate.js";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const METHODS: Record<string, ((p: Policy) => Analyzer) | undefined> = {
  voicectl: undefined,
  "kayenta-matched": (p) => kayentaAnalyzer(p, 0.9999),
};

interface Case {
  readonly name: string;
  readonly file: string;
  /** The scenario's canary changes kept from the start (improvements), the regression moved to the onset. */
  readonly keepCanary: boolean;
  readonly regression: Omit<Regression, "from" | "to">;
  /** Requests per second instead of the scenario's, when its A/A cannot promote at its own traffic. */
  readonly requestsPerSecond?: number;
}

const CASES: Case[] = [
  {
    // At the scenario's 150 requests per second its A/A never promotes: the rare-event budgets (underrun +0.05
    // points, errors +0.1) cannot be proven in the first step's 30 minutes, so it pauses and later steps are never
    // reached. At 600 the A/A promotes in 33-40 minutes.
    name: "agents-latency at 600 req/s, ttfa_p95 x1.3 (critical, all traffic)",
    file: "agents-latency.yaml",
    keepCanary: false,
    requestsPerSecond: 600,
    regression: { metric: "ttfa_p95", factor: 1.3 },
  },
  {
    name: "clone-drift, mia-chen similarity -0.03 (critical, one voice)",
    file: "clone-drift.yaml",
    keepCanary: true,
    regression: { metric: "speaker_similarity", shift: -0.03, slices: { voice_id: "mia-chen" } },
  },
];

function variant(loaded: LoadedScenario, c: Case, onsetMs: number | null): LoadedScenario {
  const spec = loaded.scenario.spec;
  const regressions = onsetMs === null ? [] : [{ ...c.regression, from: `${onsetMs / 1000}s` }];
  const scenario = {
    ...loaded.scenario,
    spec: {
      ...spec,
      canary: c.keepCanary ? spec.canary : {},
      regressions,
      traffic: { ...spec.traffic, requestsPerSecond: c.requestsPerSecond ?? spec.traffic.requestsPerSecond },
    },
  };
  return { ...loaded, scenario };
}

function run(loaded: LoadedScenario, seed: number, method: string): SimulationResult {
  return simulateScenario(loaded, seed, METHODS[method]?.(loaded.policy));
}

interface Tally {
  runs: number;
  promote: number;
  pause: number;
  rollback: number;
  /** Minutes from the onset to the rollback. */
  minutes: number[];
}

const median = (xs: number[]) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

async function main(): Promise<void> {
  const seeds = Number(arg("seeds") ?? 50);
  const methods = (arg("methods") ?? "voicectl").split(",");
  const onsetMin = Number(arg("onset") ?? 5);
  if (!(onsetMin >= 0)) throw new Error(`--onset: expected minutes >= 0, got ${arg("onset")}`);
  const dir = join(process.cwd(), "examples/scenarios");
  const lines: string[] = [
    "| case | onset | method | runs | rolled back | promoted | paused | minutes from onset to rollback (median / max) |",
    "|---|---|---|---|---|---|---|---|",
  ];
  const start = performance.now();
  for (const c of CASES) {
    const loaded = await loadScenario(join(dir, c.file));
    const aa = variant(loaded, c, null);
    for (const method of methods) {
      const tallies = new Map<string, Tally>();
      let unpromoted = 0;
      for (let seed = 1; seed <= seeds; seed++) {
        const base = run(aa, seed, method);
        // When each step's weight first served traffic, and when the unchanged rollout promoted.
        const onsets: [string, number][] = [];
        let weight = 0;
        for (const e of base.timeline) {
          if (e.weight > weight) {
            onsets.push([`step at ${e.weight}%, +${onsetMin} min`, e.at + onsetMin * 60_000]);
            weight = e.weight;
          }
        }
        if (base.decision === "promote") onsets.push(["8 min before promotion", base.endedAt - 8 * 60_000]);
        else unpromoted++;
        for (const [label, onset] of onsets) {
          if (onset >= base.endedAt) continue; // the A/A run ended before this onset
          const r = run(variant(loaded, c, onset), seed, method);
          const t = tallies.get(label) ?? { runs: 0, promote: 0, pause: 0, rollback: 0, minutes: [] };
          tallies.set(label, t);
          t.runs++;
          t[r.decision]++;
          if (r.decision === "rollback") t.minutes.push((r.endedAt - onset) / 60_000);
        }
        if (seed % 10 === 0) process.stderr.write(`\r${c.file} ${method}: ${seed}/${seeds}   `);
      }
      for (const [label, t] of tallies) {
        const pct = (n: number) => `${((100 * n) / t.runs).toFixed(0)}%`;
        lines.push(
          `| ${c.name} | ${label} | ${method} | ${t.runs} | ${pct(t.rollback)} | ${pct(t.promote)} | ${pct(t.pause)} | ${
            t.minutes.length ? `${median(t.minutes)} / ${Math.max(...t.minutes)}` : "-"
          } |`,
        );
      }
      if (unpromoted > 0)
        lines.push(
          `| ${c.name} | (A/A did not promote: no pre-promotion onset) | ${method} | ${unpromoted} | | | | |`,
        );
    }
  }
  process.stderr.write("\n");
  const seconds = (performance.now() - start) / 1000;
  process.stdout.write(
    `${lines.join("\n")}\n\n(${seeds} seeds, 1-${seeds}; ${seconds.toFixed(0)} s. Each step's onset is ${onsetMin} minutes after its weight first served traffic.)\n`,
  );
}

await main();
