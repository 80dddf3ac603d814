// Phase 1 of a pass: the route as found. Our own unfinished route write (a pass that died between its status
// write and its route write) is finished before anything new is acted on; a route changed by hand is noticed
// and left alone (route-edits.ts says how the two are told apart, and why). After a repair, or once the route
// is set back after a hand edit, the step's clock and the analysis window start again, so no look covers
// time when the route did not carry the status's weight.
import { initialStatus, isTerminal, type RolloutStatus } from "../../core/rollout/machine.js";
import { RouteChangedByHandError } from "../ports.js";
import { checkRoute, repairedMessage, type RouteCheck } from "../route-edits.js";
import { machineStatus } from "../status.js";
import type { Pass } from "./pass.js";

export interface RouteFound {
  /** The machine's status as stored, before anything this pass does. */
  readonly stored: RolloutStatus;
  readonly route: RouteCheck;
  /** The weight someone else set on the route, when the route was changed by hand. */
  readonly handEdited: number | null;
}

/**
 * Checks the route against status and finishes our own unfinished write. null when someone changed the
 * route between the read and that write: the pass ends there, and the next one sees the edit and pauses.
 */
export async function checkRouteFirst(pass: Pass): Promise<RouteFound | null> {
  const { ports, rollout, log } = pass;
  const stored = machineStatus(pass.previous, pass.now) ?? initialStatus(pass.now);
  const route = isTerminal(stored.phase)
    ? ({ kind: "agrees" } as const)
    : checkRoute(await ports.router.observe(rollout), stored.canaryWeight);
  const handEdited = route.kind === "byHand" ? route.routed : null;
  if (route.kind === "byHand")
    log.warn("route changed by someone else; pausing and leaving it alone", {
      routed: route.routed,
      written: route.written,
      weight: stored.canaryWeight,
      by: route.by,
    });
  if (route.kind === "unfinished") {
    try {
      await ports.router.setCanaryWeight(rollout, stored.canaryWeight);
    } catch (err) {
      // Someone changed the route between our read and this write: the next pass sees it and pauses.
      if (!(err instanceof RouteChangedByHandError)) throw err;
      log.warn("route changed by someone else during the pass; looking again", { error: err });
      return null;
    }
    log.warn("route did not carry the status's weight; set it before anything else", {
      routed: route.routed,
      weight: stored.canaryWeight,
    });
  }
  return { stored, route, handEdited };
}

/**
 * The status the machine starts from. After a repair, or a route set back after a hand edit (`routeBack`),
 * the step starts again now and the analysis window with it; a repair is announced (RouteRepaired).
 */
export async function restartAfterRepair(
  pass: Pass,
  found: RouteFound,
  routeBack: boolean,
): Promise<RolloutStatus> {
  const { ports, rollout, now } = pass;
  const { route, stored } = found;
  if (route.kind === "unfinished" || routeBack) {
    const kept = await ports.analysis.load(rollout);
    if (kept) await ports.analysis.save(rollout, { ...kept, lastLookAt: now });
  }
  const before = route.kind === "unfinished" || routeBack ? { ...stored, stepStartedAt: now } : stored;
  if (route.kind === "unfinished")
    pass.events.push({
      type: "Warning",
      reason: "RouteRepaired",
      message: repairedMessage(route.routed, before.canaryWeight),
    });
  return before;
}
