// What every phase of a reconcile pass shares: the rollout as read at the start, the ports, the pass's clock
// reading and the Events it will record. Each phase reads this and the typed records earlier phases return;
// no phase reaches into another's locals, so the pass reads in reconciler.ts as the sequence it is.
import type { VoiceRollout, VoiceRolloutStatus } from "../../core/resource/voicerollout.js";
import { parseDuration } from "../../core/rollout/plan.js";
import type { MachineOptions, RolloutStatus } from "../../core/rollout/machine.js";
import type { Logger } from "../log.js";
import type { Ports, RolloutRef } from "../ports.js";
import type { SortedCommands } from "./commands.js";
import type { RouteFound } from "./route-check.js";
import { machineOptions } from "./transition.js";

export interface PendingEvent {
  readonly type: "Normal" | "Warning";
  readonly reason: string;
  readonly message: string;
}

export interface Pass {
  readonly ref: RolloutRef;
  readonly ports: Ports;
  readonly rollout: VoiceRollout;
  /** The status as stored when the pass began. */
  readonly previous: VoiceRolloutStatus | undefined;
  readonly now: number;
  readonly log: Logger;
  /** Time between two looks (spec.analysis.interval). */
  readonly intervalMs: number;
  readonly machine: MachineOptions;
  /** How long a rolled-back canary keeps its replicas (spec.rollback.scaleDownDelay). */
  readonly scaleDownDelayMs: number;
  /**
   * The Events this pass will record, in the order the phases append them. They are recorded only after the
   * status write (phases/finish.ts), and the notification outbox and the decisions metric read them too.
   */
  readonly events: PendingEvent[];
}

export function passOf(ref: RolloutRef, ports: Ports, rollout: VoiceRollout, now: number, log: Logger): Pass {
  const { spec } = rollout;
  return {
    ref,
    ports,
    rollout,
    previous: rollout.status,
    now,
    log,
    intervalMs: parseDuration(spec.analysis.interval) ?? 60_000,
    machine: machineOptions(rollout),
    scaleDownDelayMs: parseDuration(spec.rollback.scaleDownDelay) ?? 30_000,
    events: [],
  };
}

/** Where the pass starts from, once the route is checked and the commands are sorted. */
export interface Start {
  readonly found: RouteFound;
  readonly commands: SortedCommands;
  /** The machine's status this pass starts from: the stored one, its step's clock restarted after a repair. */
  readonly before: RolloutStatus;
  /** The rollout had already ended (Promoted, RolledBack, Failed, Aborted) when the pass began. */
  readonly terminalBefore: boolean;
}
