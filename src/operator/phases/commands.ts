// Phase 2 of a pass: sorting the pending VoiceRolloutCommands. A command already recorded in status history
// was applied by an earlier pass that died before marking it: it is only marked now, never applied again.
// While the route is changed by hand, an approval answers that pause instead of the machine's (it sets the
// route back and runs the step again). What is left is what the machine may act on, narrowed while a hold
// lets only an abort or a retry through (actionableOf).
import { isTerminal, type Command } from "../../core/rollout/machine.js";
import type { VoiceRolloutCommand, VoiceRolloutStatus } from "../../core/resource/voicerollout.js";
import { appliedCommandNames, conditionOf, ROUTE_CHANGED_BY_HAND } from "../status.js";
import type { RouteFound } from "./route-check.js";

export interface SortedCommands {
  /** Recorded in status history by a pass that died before marking them: marked applied, nothing more. */
  readonly repeats: readonly VoiceRolloutCommand[];
  /** The rollout is paused on a route changed by hand, announced by an earlier pass. */
  readonly pausedByHand: boolean;
  /** The approval that sets a hand-edited route back, when there is one. */
  readonly routeApproval: VoiceRolloutCommand | undefined;
  /** Further approvals in the same pass: ignored, the first one already answered the edit. */
  readonly extraApprovals: readonly VoiceRolloutCommand[];
  /** Not yet applied, and not answering the hand edit: for the machine, unless a hold narrows them. */
  readonly fresh: readonly VoiceRolloutCommand[];
  /** The route carries the status's weight again after a hand edit: set back by the approval or by a person. */
  readonly routeBack: boolean;
}

export function sortCommands(
  pending: readonly VoiceRolloutCommand[],
  previous: VoiceRolloutStatus | undefined,
  found: RouteFound,
): SortedCommands {
  const { stored, handEdited } = found;
  const recorded = appliedCommandNames(previous);
  const repeats = pending.filter((c) => recorded.has(c.metadata.name));
  const unapplied = pending.filter((c) => !recorded.has(c.metadata.name));
  // While the route is changed by hand, an approval answers that pause: it sets the route back to the
  // status's weight and runs the step again from its start (it does not skip the step, as approving a step's
  // pause would). One given before the pause was announced waits for the next pass, so nobody approves
  // what they have not seen; abort and promote act as always.
  const pausedByHand =
    stored.phase === "Paused" && conditionOf(previous, "Paused")?.reason === ROUTE_CHANGED_BY_HAND;
  const routeApproval =
    handEdited !== null && pausedByHand ? unapplied.find((c) => c.spec.action === "approve") : undefined;
  const fresh = handEdited !== null ? unapplied.filter((c) => c.spec.action !== "approve") : unapplied;
  const extraApprovals =
    routeApproval !== undefined
      ? unapplied.filter((c) => c.spec.action === "approve" && c !== routeApproval)
      : [];
  // The route carries the status's weight again after a hand edit: set back by the approval (at the end of
  // this pass) or by the person. The step and the analysis window start again, as after a repair.
  const routeBack =
    routeApproval !== undefined || (pausedByHand && handEdited === null && !isTerminal(stored.phase));
  return { repeats, pausedByHand, routeApproval, extraApprovals, fresh, routeBack };
}

export interface Actionable {
  /** The commands the machine is given, as their objects (matched to history records afterwards). */
  readonly commands: readonly VoiceRolloutCommand[];
  /** The same, as the machine takes them. */
  readonly machine: readonly Command[];
}

/**
 * What the machine may act on. Without a policy, or while the pool lacks GPUs (`held`), only an abort or a
 * retry can act; approvals wait, still pending, until the rollout moves again.
 */
export function actionableOf(fresh: readonly VoiceRolloutCommand[], held: boolean): Actionable {
  const commands = held ? fresh.filter((c) => c.spec.action === "abort" || c.spec.action === "retry") : fresh;
  return { commands, machine: commands.map(toCommand) };
}

export function toCommand(c: VoiceRolloutCommand): Command {
  const { action, user, reason, full, accept } = c.spec;
  if (action === "promote") return { kind: action, user, reason, full };
  if (action === "approve" && accept && accept.length > 0) return { kind: action, user, reason, accept };
  return { kind: action, user, reason };
}
