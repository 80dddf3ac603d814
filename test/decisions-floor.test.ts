// The information floor of bench/decisions (bench/decisions/floor.ts), checked against hand computations on the
// shipped scenarios, so that the ratio bench/decisions prints stands on a floor that is what it says.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bernoulliKl, informationFloor, minutesFor, waldSamples } from "../bench/decisions/floor.js";
import { loadScenario } from "../src/sim/scenario.js";
import { normalCdf } from "../src/core/stats/distributions.js";

const scenario = (name: string) =>
  loadScenario(join(import.meta.dirname, "../examples/scenarios", `${name}.yaml`));

/** Every finding at the same level. */
const everyFinding = (alpha: number) => () => alpha;

describe("information floor", () => {
  it("Bernoulli KL and Wald's bound", () => {
    expect(bernoulliKl(0.05, 0.05)).toBe(0);
    expect(bernoulliKl(0.1, 0.05)).toBeCloseTo(0.1 * Math.log(2) + 0.9 * Math.log(0.9 / 0.95), 14);
    expect(waldSamples(1e-3, 0.01)).toBeCloseTo(Math.log(1000) / 0.01, 9);
    expect(waldSamples(1e-3, 0)).toBe(Infinity);
  });

  it("clone-drift: mia-chen's similarity, Gaussian KL with both arms' noise, at 10% of 200 req/s", async () => {
    const loaded = await scenario("clone-drift");
    const floor = informationFloor(loaded, everyFinding(4e-4))!;
    expect(floor.metric).toBe("speaker_similarity");
    expect(floor.slice).toBe("{voice_id=mia-chen}");
    // 0.03 drop, +0.006 general gain, budget 0.01: 0.014 past it; sd 0.035; 9 baseline samples per canary one.
    const kl = 0.014 ** 2 / (2 * 0.035 ** 2 * (1 + 1 / 9));
    const perMinute = 200 * 60 * 0.16 * 0.1;
    expect(floor.samples).toBeCloseTo(Math.log(1 / 4e-4) / kl, 6);
    expect(floor.minutes).toBeCloseTo(floor.samples / perMinute, 9);
    expect(floor.continuousMinutes).toBeCloseTo(floor.minutes, 9);
  });

  it("agents-latency: the p95 on all traffic; 2.2% buckets make the floor slower than per-request values", async () => {
    const loaded = await scenario("agents-latency");
    const floor = informationFloor(loaded, everyFinding(6e-4))!;
    expect(floor.metric).toBe("ttfa_p95");
    expect(floor.slice).toBe("{}");
    // Per-request values: the canary's share above 1.15 x the baseline p95 against 5%.
    const z = 1.6448536269514722;
    const beyond = 1 - normalCdf(z + Math.log(1.15 / 1.25) / 0.45);
    const continuous = Math.log(1 / 6e-4) / bernoulliKl(beyond, 0.05);
    expect(floor.continuousMinutes).toBeCloseTo(minutesFor(loaded, 1, continuous), 3);
    // The bucket floor clears 1.15 x the baseline bucket's upper bound, rounded up to a bound: 1.15 x up to
    // 1.022^2 from the p95, so between those two thresholds' floors.
    const worst = 1 - normalCdf(z + Math.log((1.15 * 1.0219 ** 2) / 1.25) / 0.45);
    expect(floor.minutes).toBeGreaterThan(floor.continuousMinutes);
    expect(floor.minutes).toBeLessThanOrEqual(
      minutesFor(loaded, 1, Math.log(1 / 6e-4) / bernoulliKl(worst, 0.05)) + 1e-9,
    );
  });

  it("A/A has no floor: nothing critical is over budget", async () => {
    expect(informationFloor(await scenario("aa"), everyFinding(1e-3))).toBeNull();
  });

  it("minutes follow the plan's weights: 10% for 10 minutes, then 25%", async () => {
    const loaded = await scenario("aa");
    const perMinuteAt10 = 200 * 60 * 0.1;
    expect(minutesFor(loaded, 1, perMinuteAt10 * 4)).toBeCloseTo(4, 9);
    expect(minutesFor(loaded, 1, perMinuteAt10 * 10 + 200 * 60 * 0.25 * 2)).toBeCloseTo(12, 9);
  });
});
