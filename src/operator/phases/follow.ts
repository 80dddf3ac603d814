// Phase 10 of a pass: the world follows the written status. The route takes status.canaryWeight, the pins
// follow status.pins, and under a surge budget the stable gives up the replicas the canary's next size needs.
// All of it runs every pass, so a pass that died between the status write and these writes is repaired, and
// since the router writes only on a change, nothing shifts twice.
import type { VoiceRollout } from "../../core/resource/voicerollout.js";
import { isTerminal, type RolloutStatus } from "../../core/rollout/machine.js";
import type { Pin } from "../pinning.js";
import { RouteChangedByHandError } from "../ports.js";
import { surgePlan } from "../surge.js";
import type { Held } from "./holds.js";
import type { Pass, Start } from "./pass.js";
import type { Sizing } from "./pool.js";
import type { World } from "./world.js";

export interface Followed {
  /** The router refused the weight: the route was changed by hand during this pass. */
  readonly routeRefused: boolean;
}

export async function followStatus(
  pass: Pass,
  stored: VoiceRollout,
  start: Start,
  world: World,
  held: Pick<Held, "handPause">,
  sizing: Pick<Sizing, "surgeTarget" | "poolProblem">,
  next: RolloutStatus,
  pins: readonly Pin[],
): Promise<Followed> {
  const { ports, rollout, log, events } = pass;
  const { spec } = rollout;
  const { terminalBefore } = start;
  // A route changed by hand is left as it is while the rollout waits on it. Only a decision taken knowing of
  // the edit (an approval to set it back, an abort, a promotion) or a rollback may write over it; an edit
  // made during this pass is refused by the router and paused on in the next.
  let routeRefused = false;
  if (!(held.handPause !== null && next.phase === "Paused")) {
    const overrideHandEdit = start.found.handEdited !== null || (!terminalBefore && isTerminal(next.phase));
    try {
      await ports.router.setCanaryWeight(stored, next.canaryWeight, { overrideHandEdit });
    } catch (err) {
      if (!(err instanceof RouteChangedByHandError)) throw err;
      routeRefused = true;
      log.warn("route changed by someone else during the pass; not overwritten", { error: err });
    }
  }
  // Pins follow status the same way (every pass, so a crash between the two writes is repaired).
  if (spec.traffic.pinning && ports.router.setPins)
    await ports.router.setPins(
      stored,
      spec.traffic.pinning.header,
      pins.map((p) => p.value),
    );

  // Under a surge budget the stable gives up replicas only now that the route carries the new weight, and only
  // those the budget needs for the canary's next size (surgePlan's rule and worked example).
  const { budget, recordedN, stable } = world;
  const { surgeTarget } = sizing;
  if (
    budget !== undefined &&
    !routeRefused &&
    recordedN !== undefined &&
    stable &&
    surgeTarget !== null &&
    !isTerminal(next.phase)
  ) {
    const plan = surgePlan({
      n: recordedN,
      full: world.wanted,
      budget,
      stableGpus: world.stableGpus,
      canaryGpus: world.canaryGpus,
      weight: next.canaryWeight,
      target: surgeTarget,
    });
    // A step that does not fit the budget, or waits for the pool, takes no replica from the stable.
    if (plan.fits && sizing.poolProblem === null && stable.replicas > plan.stable) {
      await ports.workloads.scale(world.stableRef, plan.stable);
      log.info("stable scaled down", { deployment: spec.stable.deployment, replicas: plan.stable });
      events.push({
        type: "Normal",
        reason: "StableScaledDown",
        message: `stable Deployment ${spec.stable.deployment} scaled to ${plan.stable} of ${recordedN} replicas: ${100 - next.canaryWeight}% of traffic is left on it and the canary needs ${plan.canary} within maxSurgeGPUs ${budget}`,
      });
    }
  }
  return { routeRefused };
}
