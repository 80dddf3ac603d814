// Phase 11 of a pass: what is told and tidied once the status is written and the world follows it. Events
// are recorded (a lost Event fails nothing: status holds the truth), commands are marked applied (after the
// status write that names them in history, so a pass that dies in between never applies one twice), and a
// finished rollout's analysis state is dropped. Then the pass says when to look again.
import type { VoiceRollout } from "../../core/resource/voicerollout.js";
import { isTerminal, type RolloutStatus } from "../../core/rollout/machine.js";
import { parseDuration, type Step } from "../../core/rollout/plan.js";
import type { Decision } from "../../core/types.js";
import { APPROVAL_EXPIRED, POLICY_UNAVAILABLE, ROUTE_CHANGED_BY_HAND } from "../status.js";
import type { Pass, PendingEvent, Start } from "./pass.js";
import type { Transition } from "./transition.js";

/** A rollout-level decision this pass made, for the voicectl_decisions_total metric. */
export interface DecisionMade {
  readonly decision: Decision;
  /** Low-cardinality: the Event reason or the pause kind, never a finding's text. */
  readonly reason: string;
}

export async function finish(
  pass: Pass,
  stored: VoiceRollout,
  start: Start,
  transition: Transition,
): Promise<void> {
  const { ports, log, now, events } = pass;
  const { before, terminalBefore } = start;
  const { next, results } = transition;
  if (next.phase !== before.phase)
    log.info("phase changed", { from: before.phase, to: next.phase, weight: next.canaryWeight });
  for (const e of events) {
    try {
      await ports.events.record(stored, e.type, e.reason, e.message);
    } catch (err) {
      // An Event is a notification; status already holds the truth, so a lost Event fails nothing.
      log.warn("could not record an event", { reason: e.reason, error: err });
    }
  }

  for (const c of start.commands.repeats)
    await ports.rollouts.markApplied(c, "applied (recorded in status history)", now);
  for (const [c, result] of results) await ports.rollouts.markApplied(c, result, now);

  // A finished rollout's analysis state is dropped (a pass that dies first leaves it to the next one).
  if (isTerminal(next.phase) && !terminalBefore) await ports.analysis.remove(stored);
}

export function decisionsOf(status: RolloutStatus, events: readonly PendingEvent[]): DecisionMade[] {
  const out: DecisionMade[] = [];
  for (const e of events) {
    if (e.reason === "Promoted") out.push({ decision: "promote", reason: "Promoted" });
    else if (
      e.reason === "RolledBack" ||
      e.reason === "Aborted" ||
      e.reason === "Failed" ||
      e.reason === APPROVAL_EXPIRED
    )
      out.push({ decision: "rollback", reason: e.reason });
    else if (e.reason === "Paused") out.push({ decision: "pause", reason: status.pause?.kind ?? "Paused" });
    else if (e.reason === POLICY_UNAVAILABLE) out.push({ decision: "pause", reason: POLICY_UNAVAILABLE });
    else if (e.reason === ROUTE_CHANGED_BY_HAND)
      out.push({ decision: "pause", reason: ROUTE_CHANGED_BY_HAND });
  }
  return out;
}

export interface Deadlines {
  readonly steps: readonly Step[];
  readonly status: RolloutStatus;
  readonly now: number;
  readonly nextLookAt: number | null;
  readonly waitingForCanary: boolean;
  readonly policyProblem: boolean;
  readonly scaleDownAt: number | null;
  readonly resyncMs: number;
  readonly pollMs: number;
}

/** The soonest thing that will be due: a look, a step's end, a pause's end, the canary's scale-down. */
export function requeueAfter(d: Deadlines): number {
  const at: number[] = [];
  const s = d.status;
  if (d.nextLookAt !== null) at.push(d.nextLookAt - d.now);
  // A pause for a person is looked at again when its deadline passes.
  if (s.phase === "Paused" && s.pause?.deadline !== undefined && s.pause.escalatedAt === undefined)
    at.push(s.pause.deadline - d.now);
  if (s.phase === "Progressing" && s.stepIndex < d.steps.length) {
    const step = d.steps[s.stepIndex]!;
    const elapsed = d.now - s.stepStartedAt;
    if ("pause" in step && step.pause.duration) at.push((parseDuration(step.pause.duration) ?? 0) - elapsed);
    if ("analysis" in step) {
      at.push((parseDuration(step.analysis.minDuration) ?? 0) - elapsed);
      at.push((parseDuration(step.analysis.maxDuration) ?? 0) - elapsed);
    }
  }
  if (d.waitingForCanary || d.policyProblem) at.push(d.pollMs);
  if (d.scaleDownAt !== null) at.push(d.scaleDownAt - d.now);
  const future = at.filter((ms) => ms > 0);
  return Math.min(d.resyncMs, ...future);
}
