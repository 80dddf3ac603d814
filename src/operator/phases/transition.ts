// Phase 7 of a pass: the machine's transition, the same pure state machine `voicectl simulate` runs, and the
// match of commands to the history records it appended. A command's name in history is what makes it apply
// only once: a later pass that finds it there marks it and applies nothing (commands.ts).
import type { VoiceRollout, VoiceRolloutCommand } from "../../core/resource/voicerollout.js";
import {
  reconcileRollout,
  type AnalysisObservation,
  type MachineOptions,
  type RolloutStatus,
} from "../../core/rollout/machine.js";
import { parseDuration } from "../../core/rollout/plan.js";
import type { Actionable } from "./commands.js";
import type { Pass, Start } from "./pass.js";
import type { World } from "./world.js";

export const DEFAULT_APPROVAL_DEADLINE = "4h";

/**
 * The machine's options from the spec. A rollout written before spec.approval existed (or an object not
 * defaulted by the API server) gets the same default the schema gives: a 4h deadline, then a rollback.
 */
export function machineOptions(rollout: VoiceRollout): MachineOptions {
  const approval = rollout.spec.approval as VoiceRollout["spec"]["approval"] | undefined;
  return {
    approval: {
      deadlineMs: parseDuration(approval?.deadline ?? DEFAULT_APPROVAL_DEADLINE) ?? null,
      onDeadline: approval?.onDeadline ?? "Abort",
    },
    ref: { name: rollout.metadata.name, namespace: rollout.metadata.namespace },
  };
}

export interface Transition {
  readonly next: RolloutStatus;
  /** History index to the command whose record it is, for status.history[].command. */
  readonly names: ReadonlyMap<number, string>;
  /** What each command did, for its status.result once the status is written. */
  readonly results: ReadonlyMap<VoiceRolloutCommand, string>;
}

export function transition(
  pass: Pass,
  start: Start,
  world: Pick<World, "fatal">,
  status: RolloutStatus,
  canaryReady: boolean,
  analysis: AnalysisObservation | null,
  actionable: Actionable,
): Transition {
  const { rollout, now, events } = pass;
  const { before } = start;
  const { routeApproval, extraApprovals } = start.commands;
  const t = reconcileRollout(
    rollout.spec.steps,
    status,
    { canaryReady, analysis, fatal: world.fatal },
    actionable.machine,
    now,
    pass.machine,
  );
  const next = t.status;
  for (const a of t.actions)
    if (a.type === "event") events.push({ type: a.severity, reason: a.reason, message: a.message });

  // The machine appends one history record per command it applied, aborts first, in command order: match
  // them up to put each command's name in history, which is what makes a command apply only once.
  const names = new Map<number, string>();
  const results = new Map<VoiceRolloutCommand, string>();
  if (routeApproval) {
    names.set(before.history.length, routeApproval.metadata.name);
    results.set(
      routeApproval,
      `applied: the route set back to ${before.canaryWeight}% at step ${before.stepIndex + 1}` +
        // This approval answers the hand edit, not a finding: nothing it names is accepted.
        (routeApproval.spec.accept?.length
          ? "; --accept not recorded: approve again with it when a finding pauses the rollout"
          : ""),
    );
    for (const c of extraApprovals)
      results.set(c, `ignored: ${routeApproval.metadata.name} already set the route back`);
  }
  let h = status.history.length;
  const order = [
    ...actionable.commands.filter((c) => c.spec.action === "abort"),
    ...actionable.commands.filter((c) => c.spec.action !== "abort"),
  ];
  for (const c of order) {
    const record = next.history[h];
    if (
      record &&
      record.kind === c.spec.action &&
      record.user === c.spec.user &&
      record.reason === c.spec.reason
    ) {
      names.set(h, c.metadata.name);
      results.set(c, `applied at step ${record.stepIndex + 1}`);
      h++;
    } else {
      results.set(c, `ignored: nothing to ${c.spec.action} while the rollout is ${status.phase}`);
    }
  }
  return { next, names, results };
}
