// One simulated rollout of a loaded scenario at a seed, judged by `analyzer` (voicectl's online analysis when
// none is given): what every decisions bench runs, many times over.
import { createFleet } from "../../src/sim/fleet.js";
import { runSimulation, type Analyzer, type SimulationResult } from "../../src/sim/run.js";
import type { LoadedScenario } from "../../src/sim/scenario.js";

export function simulateScenario(
  loaded: LoadedScenario,
  seed: number,
  analyzer?: Analyzer | undefined,
): SimulationResult {
  return runSimulation({
    name: loaded.scenario.metadata.name,
    policy: loaded.policy,
    steps: loaded.scenario.spec.steps,
    intervalMs: loaded.intervalMs,
    canaryReadyAfterMs: loaded.canaryReadyAfterMs,
    durationMs: loaded.durationMs,
    fleet: createFleet(loaded.scenario, loaded.policy, seed),
    analyzer,
  });
}
