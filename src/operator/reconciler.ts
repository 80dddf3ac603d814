// The reconciler: one pass over one VoiceRollout, through the ports only. It derives everything from the
// rollout's spec and status, the stored analysis state and what it observes (policy, canary Deployment, a
// look of live traffic), runs the same pure state machine `voicectl simulate` runs, writes the status, and
// only then makes the world follow the status: the route takes status.canaryWeight, Events are emitted,
// commands are marked applied. A pass can stop at any point (crash, lost write race) and the next pass
// finishes the job without repeating it: the route is set to the stored weight (never shifted twice),
// commands already in status history are not applied again, and a look already saved is not taken again.
//
// The pass is a sequence of phases, each a module under phases/ named for its concern (docs/architecture.md
// lists them). They share the Pass (pass.ts: the rollout as read, the ports, the clock reading, the Events
// so far) and hand on small typed records; the order of their side effects is the order below.
import { isTerminal, type Phase } from "../core/rollout/machine.js";
import { silentLogger, type Logger } from "./log.js";
import { lookAtCanary } from "./phases/analysis.js";
import { actionableOf, sortCommands } from "./phases/commands.js";
import { decisionsOf, finish, requeueAfter, type DecisionMade } from "./phases/finish.js";
import { followStatus } from "./phases/follow.js";
import { applyHolds } from "./phases/holds.js";
import { assembleStatus } from "./phases/next-status.js";
import { passOf, type Start } from "./phases/pass.js";
import { pinSlices } from "./phases/pins.js";
import { pausedForPool, poolHold, sizeCanary } from "./phases/pool.js";
import { checkRouteFirst, restartAfterRepair } from "./phases/route-check.js";
import { transition } from "./phases/transition.js";
import { readWorld } from "./phases/world.js";
import { writeStatus } from "./phases/write.js";
import type { Ports, RolloutRef } from "./ports.js";

export { DEFAULT_APPROVAL_DEADLINE, machineOptions } from "./phases/transition.js";
export type { DecisionMade } from "./phases/finish.js";

export interface ReconcileOptions {
  readonly log?: Logger | undefined;
  /** Reconcile at least this often even when nothing is due: a safety net for missed watch events. */
  readonly resyncMs?: number | undefined;
  /** How soon to look again at something no watch may announce: canary readiness, a missing policy. */
  readonly pollMs?: number | undefined;
}

export const DEFAULT_RESYNC_MS = 5 * 60_000;
export const DEFAULT_POLL_MS = 15_000;

export interface ReconcileResult {
  /** When to reconcile again: 0 at once (a lost write race), null never (the rollout is gone). */
  readonly requeueAfterMs: number | null;
  readonly phase?: Phase | undefined;
  readonly canaryWeight?: number | undefined;
  readonly decisions: readonly DecisionMade[];
  /** How long the look and its analysis took, when this pass took one. */
  readonly analysisMs?: number | undefined;
  /** The status write lost a race with another writer; nothing after it was done. */
  readonly conflict?: boolean | undefined;
  /** The stored status holds notifications not yet delivered (notifications/deliver.ts sends them). */
  readonly notificationsPending?: boolean | undefined;
}

/** One pass over one rollout. Idempotent: a second pass with nothing new changes and writes nothing. */
export async function reconcile(
  ref: RolloutRef,
  ports: Ports,
  options: ReconcileOptions = {},
): Promise<ReconcileResult> {
  const log = (options.log ?? silentLogger).child({ rollout: ref });
  const now = ports.clock.now();
  const rollout = await ports.rollouts.get(ref);
  if (!rollout) return { requeueAfterMs: null, decisions: [] };
  const pass = passOf(ref, ports, rollout, now, log);

  // 1. The route as found: our own unfinished write is finished before anything new; a hand edit is noticed.
  const found = await checkRouteFirst(pass);
  if (!found) return { requeueAfterMs: 0, decisions: [] };
  // 2. The commands, sorted: repeats of recorded ones, the approval that answers a hand edit, the rest. After
  // a repair or a route set back, the step's clock and the analysis window start again.
  const commands = sortCommands(await ports.rollouts.pendingCommands(ref), pass.previous, found);
  const before = await restartAfterRepair(pass, found, commands.routeBack);
  const start: Start = { found, commands, before, terminalBefore: isTerminal(before.phase) };
  // 3. What the rollout acts on: its policy, its Deployments, its pool and the numbers it is sized from.
  const world = await readWorld(pass, before, start.terminalBefore);
  // 4. The analysis look, when one is due; then the pins it calls for, which the machine sees through.
  const look = await lookAtCanary(pass, world.policy, before, start.terminalBefore);
  // 5. Holds: a policy that cannot be read, a route changed by hand (or set back). While the policy or the
  // pool holds it, only an abort or a retry acts.
  const held = applyHolds(pass, start, world);
  const narrowed =
    (world.policyProblem !== null || pausedForPool(pass.previous, start)) && !start.terminalBefore;
  const actionable = actionableOf(commands.fresh, narrowed);
  const pinning = pinSlices(pass, look, world.policy);
  // 6. The canary sized against its pool and surge budget, and the pool's pause.
  const sizing = await sizeCanary(pass, start, world, held, actionable, pinning.observation);
  const pooled = poolHold(pass, start, world, held, sizing);
  // 7. The machine's transition, and which command each new history record is.
  const { canaryReady } = sizing;
  const t = transition(pass, start, world, pooled.status, canaryReady, pinning.observation, actionable);
  const { next } = t;
  // 8. The next status, whole: analysis record, pins, the canary's scale-down after a rollback, outbox.
  const { pausedFor, poolCondition } = pooled;
  const decided = { look, transition: t, pausedFor, poolCondition, pinning, canaryReady };
  const assembled = await assembleStatus(pass, start, world, decided);
  // 9. The status write. A race lost to anything but metadata means deciding again: nothing follows.
  const stored = await writeStatus(pass, assembled.status);
  if (!stored) return { requeueAfterMs: 0, decisions: [], conflict: true, analysisMs: look?.analysisMs };
  // 10. The world follows the status: route, pins, the stable's replicas under a surge budget.
  const { routeRefused } = await followStatus(
    pass,
    stored,
    start,
    world,
    pooled,
    sizing,
    next,
    assembled.pins,
  );
  // 11. Events, commands marked applied, a finished rollout's analysis dropped; then when to look again.
  await finish(pass, stored, start, t);

  const ended = isTerminal(next.phase);
  const nextLookAt = !ended && look ? look.stored.lastLookAt + pass.intervalMs : null;
  return {
    // A refused route write on a live rollout is looked at again at once, to pause on the edit.
    requeueAfterMs:
      routeRefused && !ended
        ? 0
        : requeueAfter({
            steps: rollout.spec.steps,
            status: next,
            now: pass.now,
            nextLookAt,
            waitingForCanary: !ended && (!canaryReady || sizing.waitForStable),
            // Neither a policy, a pool nor a route is watched: look again soon.
            policyProblem:
              (world.policyProblem !== null || sizing.poolProblem !== null || pooled.handPause !== null) &&
              !ended,
            scaleDownAt: assembled.scaleDownAt,
            resyncMs: options.resyncMs ?? DEFAULT_RESYNC_MS,
            pollMs: options.pollMs ?? DEFAULT_POLL_MS,
          }),
    phase: next.phase,
    canaryWeight: next.canaryWeight,
    decisions: decisionsOf(next, pass.events),
    analysisMs: look?.analysisMs,
    notificationsPending: (stored.status?.notifications?.outbox.length ?? 0) > 0,
  };
}
