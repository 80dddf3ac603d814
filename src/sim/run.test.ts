import { describe, expect, it } from "vitest";
import { createFleet, type FleetLook } from "./fleet.js";
import { requestsIn, runSimulation, type LookSource, type SimulationResult } from "./run.js";
import { loadScenario } from "./scenario.js";

/** A shipped scenario run as `voicectl simulate` runs it, counting the requests the fleet generated. */
async function simulate(file: string, wrap: (fleet: LookSource) => LookSource = (f) => f) {
  const loaded = await loadScenario(`examples/scenarios/${file}`);
  const fleet = createFleet(loaded.scenario, loaded.policy, loaded.scenario.spec.seed);
  const generated = { baseline: 0, canary: 0 };
  const looks: FleetLook[] = [];
  const counting: LookSource = {
    look(from, to, weight) {
      const look = fleet.look(from, to, weight);
      looks.push(look);
      generated.baseline += look.requests.baseline;
      generated.canary += look.requests.canary;
      return look;
    },
  };
  const result: SimulationResult = runSimulation({
    name: loaded.scenario.metadata.name,
    policy: loaded.policy,
    steps: loaded.scenario.spec.steps,
    intervalMs: loaded.intervalMs,
    canaryReadyAfterMs: loaded.canaryReadyAfterMs,
    durationMs: loaded.durationMs,
    fleet: wrap(counting),
  });
  return { result, generated, looks, policy: loaded.policy };
}

describe("runSimulation: the SAMPLES column counts each request once", () => {
  it("equals the requests the fleet generated, though each metric group reports them again", async () => {
    const { result, generated, looks, policy } = await simulate("clone-drift.yaml");
    // The policy reports its metrics over more than one grouping of cells: the bug's precondition.
    const groupings = new Set(policy.spec.metrics.map((m) => JSON.stringify(m.sliceBy ?? null)));
    expect(groupings.size).toBeGreaterThan(1);
    expect(generated.canary).toBeGreaterThan(1000);
    expect(result.timeline.at(-1)!.samples).toEqual(generated);
    // Every row is the running total of the looks before it.
    const running = { baseline: 0, canary: 0 };
    for (const [i, entry] of result.timeline.entries()) {
      if (i > 0) {
        running.baseline += looks[i - 1]!.requests.baseline;
        running.canary += looks[i - 1]!.requests.canary;
      }
      expect(entry.samples).toEqual(running);
    }
  });

  it("a source that does not say how many requests it served is counted from its metrics, once", async () => {
    // The same fleet with its request count hidden, as another LookSource (Prometheus) would be.
    const hidden = await simulate("clone-drift.yaml", (fleet) => ({
      look: (from, to, weight) => {
        const { requests: _requests, ...look } = fleet.look(from, to, weight) as FleetLook;
        return look;
      },
    }));
    expect(hidden.result.timeline.at(-1)!.samples).toEqual(hidden.generated);
    for (const look of hidden.looks) expect(requestsIn(look)).toEqual(look.requests);
  });
});
