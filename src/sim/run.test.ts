import { describe, expect, it } from "vitest";
import { initialStatus } from "../core/rollout/machine.js";
import { createFleet, type FleetLook } from "./fleet.js";
import { reasonsFor, requestsIn, runSimulation, type LookSource, type SimulationResult } from "./run.js";
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

describe("runSimulation: a pause's reasons lead with its causes", () => {
  it("a failure that paused an analysis step is the cause; the findings only still open follow", async () => {
    const { result } = await simulate("cost.yaml");
    expect(result.decision).toBe("pause");
    const open = result.findings.filter((f) => f.verdict !== "pass");
    // Every finding that did not pass is still listed (as before), each once.
    expect(result.reasons).toHaveLength(open.length);
    const causes = result.reasons.filter((f) => f.cause);
    const others = result.reasons.filter((f) => !f.cause);
    expect(causes.length).toBeGreaterThan(0);
    expect(others.length).toBeGreaterThan(0);
    expect(causes.every((f) => f.verdict === "fail" && !f.critical)).toBe(true);
    expect(causes).toHaveLength(open.filter((f) => f.verdict === "fail").length);
    expect(others.every((f) => f.verdict !== "fail")).toBe(true);
    // Causes lead.
    expect(result.reasons.slice(0, causes.length).every((f) => f.cause)).toBe(true);
    // The pause's message names one of them.
    expect(causes.some((f) => result.message.includes(f.reason))).toBe(true);
  });

  it("a step that ran out of time was paused by everything still unsettled", async () => {
    const { result } = await simulate("small-slice.yaml");
    expect(result.message).toMatch(/ran out of time/);
    expect(result.reasons.length).toBeGreaterThan(0);
    expect(result.reasons.every((f) => f.cause && f.verdict !== "pass")).toBe(true);
  });

  it("a rollback's reasons are its critical failures, all causes", async () => {
    const { result } = await simulate("clone-drift.yaml");
    expect(result.decision).toBe("rollback");
    // The drift shows in every window (the first traffic step is the whole rollout so far): one finding each.
    expect(result.reasons.map((f) => [f.metric, f.verdict, f.critical, f.cause, f.window?.kind])).toEqual([
      ["speaker_similarity", "fail", true, true, "rollout"],
      ["speaker_similarity", "fail", true, true, "step"],
      ["speaker_similarity", "fail", true, true, "recent"],
    ]);
  });

  it("a pause for approval (a plan step) has no finding as its cause", async () => {
    const { result } = await simulate("cost.yaml");
    const waiting = {
      ...initialStatus(0),
      phase: "Paused" as const,
      pause: { kind: "approval" as const, reason: "step 3/5 (pause): waiting for approval", since: 0 },
    };
    const reasons = reasonsFor("pause", waiting, result.findings);
    expect(reasons).toHaveLength(result.reasons.length);
    expect(reasons.some((f) => f.cause)).toBe(false);
  });
});
