// `voicectl simulate`: a whole rollout of a simulated voice fleet in simulated time, through the same state
// machine and online analysis the operator runs. No cluster; a two-hour rollout takes about a second.
import { join } from "node:path";
import { Option, type Command } from "commander";
import { UsageError } from "../../core/errors.js";
import type { SimulationResult } from "../../sim/run.js";
import { exitForDecision } from "../exit-codes.js";
import type { CliIo } from "../io.js";
import { renderTimeline } from "../output/timeline.js";
import { packageRoot } from "../package-root.js";

/** The scenario `simulate` runs without one, relative to the package (not the working directory). */
export const BUILT_IN_SCENARIO = "examples/scenarios/clone-drift.yaml";

export interface SimulateOptions {
  readonly scenario: string;
  readonly policy?: string | undefined;
  readonly seed?: number | undefined;
}

export async function runSimulate(
  opts: SimulateOptions,
): Promise<{ result: SimulationResult; seed: number }> {
  // Loaded when a simulation runs, not when the command tree is built (bench/startup).
  const [{ loadPolicy }, { createFleet }, { runSimulation }, { loadScenario }] = await Promise.all([
    import("../../adapters/files/policy-file.js"),
    import("../../sim/fleet.js"),
    import("../../sim/run.js"),
    import("../../sim/scenario.js"),
  ]);
  const loaded = await loadScenario(opts.scenario);
  const policy = opts.policy ? (await loadPolicy(opts.policy)).policy : loaded.policy;
  const seed = opts.seed ?? loaded.scenario.spec.seed;
  const result = runSimulation({
    name: loaded.scenario.metadata.name,
    policy,
    steps: loaded.scenario.spec.steps,
    intervalMs: loaded.intervalMs,
    canaryReadyAfterMs: loaded.canaryReadyAfterMs,
    durationMs: loaded.durationMs,
    fleet: createFleet(loaded.scenario, policy, seed),
  });
  return { result, seed };
}

function parseSeed(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff)
    throw new UsageError(`--seed expects a whole number from 0 to 4294967295, got "${text}"`);
  return n;
}

export function registerSimulate(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command("simulate")
    .summary("run a whole rollout against a simulated voice fleet, no cluster needed")
    .description(
      `Run a rollout plan against a simulated voice fleet in simulated time, through the same state machine and online analysis the operator uses. SCENARIO is a SimulationScenario YAML file (see examples/scenarios/); without one, the built-in ${BUILT_IN_SCENARIO} (shipped with voicectl) runs.

Exit codes as the gate's: 0 promote, 1 rollback, 2 pause, 64 usage error, 65 invalid scenario or policy, 66 a file is missing or unreadable.`,
    )
    .argument("[scenario]", "SimulationScenario YAML file (default: the built-in clone-drift scenario)")
    .option("-p, --policy <file>", "judge with this RolloutPolicy instead of the scenario's")
    .option("--seed <n>", "random seed (default: the scenario's)", parseSeed)
    .addOption(
      new Option("-o, --output <format>", "output format").choices(["table", "json"]).default("table"),
    )
    .action(
      async (
        scenario: string | undefined,
        opts: { policy?: string; seed?: number; output: "table" | "json" },
      ) => {
        const { result, seed } = await runSimulate({
          scenario: scenario ?? join(packageRoot(), BUILT_IN_SCENARIO),
          policy: opts.policy,
          seed: opts.seed,
        });
        io.stdout(
          opts.output === "json"
            ? JSON.stringify({ ...result, seed }, null, 2) + "\n"
            : renderTimeline(result, seed),
        );
        setExit(exitForDecision(result.decision));
      },
    );
}
