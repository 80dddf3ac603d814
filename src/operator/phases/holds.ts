// Phase 5 of a pass: what holds the rollout where it is before the machine runs. A RolloutPolicy that cannot
// be read pauses it (nothing is judged, nothing promotes) until the policy is usable again; a route changed
// by hand pauses it until an approval sets the route back (the step runs again), an abort, or the person puts
// it back. The pool's pause comes later (phases/pool.ts): it needs the canary sized first.
import type { RolloutStatus } from "../../core/rollout/machine.js";
import { changedByHandReason, restoredMessage } from "../route-edits.js";
import { conditionOf, POLICY_UNAVAILABLE, ROUTE_CHANGED_BY_HAND } from "../status.js";
import type { Pass, Start } from "./pass.js";
import type { World } from "./world.js";

export interface Held {
  /** The status the machine starts from, once the holds are applied. */
  readonly status: RolloutStatus;
  /** The reason of the pause a hold puts the rollout in, for the Paused condition. */
  readonly pausedFor: string | undefined;
  /** The pause a route changed by hand holds the rollout in: it outranks the pool's. */
  readonly handPause: RolloutStatus | null;
}

export function applyHolds(pass: Pass, start: Start, world: Pick<World, "policy" | "policyProblem">): Held {
  const policy = policyHold(pass, start, world);
  return routeHold(pass, start, policy);
}

/**
 * A policy that cannot be read holds the rollout where it is: nothing is judged, nothing promotes, and it
 * resumes by itself once the policy is usable again. An abort still rolls back.
 */
export function policyHold(
  pass: Pass,
  start: Start,
  { policy, policyProblem }: Pick<World, "policy" | "policyProblem">,
): Held {
  const { previous, now, events } = pass;
  const { before, terminalBefore } = start;
  let status = before;
  let pausedFor: string | undefined;
  const pausedForPolicy =
    before.phase === "Paused" && conditionOf(previous, "Paused")?.reason === POLICY_UNAVAILABLE;
  if (policyProblem && !terminalBefore) {
    pausedFor = POLICY_UNAVAILABLE;
    if (!pausedForPolicy || before.pause?.reason !== policyProblem) {
      status = {
        ...status,
        phase: "Paused",
        pause: {
          kind: "analysis",
          reason: policyProblem,
          since: pausedForPolicy ? before.pause!.since : now,
        },
        message: policyProblem,
      };
      events.push({ type: "Warning", reason: POLICY_UNAVAILABLE, message: policyProblem });
    }
  } else if (pausedForPolicy && policy) {
    const message = `RolloutPolicy ${pass.rollout.spec.policyRef.name} is usable again; resuming`;
    status = { ...status, phase: "Progressing", pause: null, message };
    events.push({ type: "Normal", reason: "PolicyAvailable", message });
  }
  return { status, pausedFor, handPause: null };
}

/**
 * A route changed by hand holds the rollout where it is, ahead of any pause the pool asks for. Once the route
 * is set back (by the approval that answers the edit, or by the person), the step runs again from its start.
 */
export function routeHold(pass: Pass, start: Start, held: Held): Held {
  const { rollout, now, events } = pass;
  const { before, terminalBefore, found } = start;
  const { routeApproval, pausedByHand, routeBack } = start.commands;
  let { status } = held;
  if (!terminalBefore && found.handEdited !== null && routeApproval === undefined) {
    const by = found.route.kind === "byHand" ? found.route.by : undefined;
    const reason = changedByHandReason(rollout, found.handEdited, before.canaryWeight, before.stepIndex, by);
    if (!pausedByHand || before.pause?.reason !== reason)
      events.push({ type: "Warning", reason: ROUTE_CHANGED_BY_HAND, message: reason });
    const handPause: RolloutStatus = {
      ...status,
      phase: "Paused",
      pause: { kind: "approval", reason, since: pausedByHand && before.pause ? before.pause.since : now },
      message: reason,
    };
    return { status: handPause, pausedFor: ROUTE_CHANGED_BY_HAND, handPause };
  }
  if (routeBack && !terminalBefore) {
    const why = routeApproval
      ? `set back as approved by ${routeApproval.spec.user}: ${routeApproval.spec.reason}`
      : "put back by hand";
    const message = restoredMessage(rollout, before.canaryWeight, before.stepIndex, why);
    const history = routeApproval
      ? [
          ...status.history,
          {
            kind: "approve" as const,
            user: routeApproval.spec.user,
            at: now,
            reason: routeApproval.spec.reason,
            stepIndex: status.stepIndex,
          },
        ]
      : status.history;
    status = { ...status, phase: "Progressing", pause: null, message, history };
    events.push({ type: "Normal", reason: "RouteRestored", message });
  }
  return { ...held, status };
}
