// A TEST-ONLY fault hook: makes the operator process die at a chosen reconcile boundary, so end-to-end tests
// can show on a real control plane that a pass cut short anywhere is finished by the next operator without
// shifting traffic twice or applying a command twice (issue 6, fault tolerance). It wraps the Ports: the
// reconciler never knows about it, and when the environment variable is unset the Ports are returned as
// they are, so production runs take no extra call and no extra branch.
//
//   VOICECTL_FAULT_EXIT_AT=<point>:<n>[:before|after][,<point>:<n>[:before|after]...]
//   VOICECTL_FAULT_EXIT_AT=trace          count and log the boundaries, never exit
//
// exits the process with code 137 (what a SIGKILL'd container reports) right before or right after the n-th
// (1-based) occurrence of a boundary in this process:
//   status      every status write (RolloutStore.updateStatus)
//   transition  a status write that changes phase, canary weight, step or history: the same sequence on
//               every run of a rollout, unlike `status`, whose count depends on how many looks were taken
//   weight      a route write that changes the canary weight (TrafficRouter.setCanaryWeight when the route
//               holds another weight; the no-op calls of every pass are not counted)
//   look        a save of the online analysis state (AnalysisStateStore.save)
//   command     a command marked applied (RolloutStore.markApplied)
//   notify      a notification POST to a sink (NotificationTransport.post); `after` exits once the sink has
//               acknowledged it and before the status write that records so: the re-send's case
// Nothing is cleaned up on the way out (no Lease release, no pending write finished): a crash, not a stop.
// While the variable is set, every counted boundary is logged ("fault boundary"), so a test can see which
// ones a rollout goes through. Never set it in a real deployment; the chart does not.
import type { VoiceRollout, VoiceRolloutStatus } from "../core/resource/voicerollout.js";
import { silentLogger, type Logger } from "./log.js";
import type { Ports } from "./ports.js";

export const FAULT_ENV = "VOICECTL_FAULT_EXIT_AT";
/** What a container killed by SIGKILL exits with (128 + 9). */
export const FAULT_EXIT_CODE = 137;

export const FAULT_POINTS = ["status", "transition", "weight", "look", "command", "notify"] as const;
export type FaultPoint = (typeof FAULT_POINTS)[number];

export interface FaultSpec {
  readonly point: FaultPoint;
  /** 1-based: the n-th occurrence of the point in this process. */
  readonly n: number;
  readonly when: "before" | "after";
}

/** A malformed spec: the operator refuses to start rather than run a test that injects nothing. */
export class FaultSpecError extends Error {
  override readonly name = "FaultSpecError";
}

/** The specs of a VOICECTL_FAULT_EXIT_AT value; [] for `trace` (count and log only). */
export function parseFaultSpec(text: string): FaultSpec[] {
  const trimmed = text.trim();
  if (trimmed === "trace") return [];
  return trimmed.split(",").map((part) => {
    const m = /^([a-z]+):(\d+)(?::(before|after))?$/.exec(part.trim());
    const point = m?.[1] as FaultPoint | undefined;
    const n = m ? Number(m[2]) : NaN;
    if (!m || !FAULT_POINTS.includes(point!) || !Number.isSafeInteger(n) || n < 1)
      throw new FaultSpecError(
        `${FAULT_ENV} expects <point>:<n>[:before|after] with point one of ${FAULT_POINTS.join(", ")} and ` +
          `n >= 1 (or "trace"), got "${part.trim()}"`,
      );
    return { point: point!, n, when: (m[3] as "before" | "after" | undefined) ?? "before" };
  });
}

export interface FaultOptions {
  /** How the process dies; process.exit by default (tests of this module pass their own). */
  readonly exit?: ((code: number) => void) | undefined;
  readonly log?: Logger | undefined;
}

/** Whether a status write moves the rollout (not just a look's count or a message). */
export function isTransition(previous: VoiceRolloutStatus | undefined, next: VoiceRolloutStatus): boolean {
  return (
    previous?.phase !== next.phase ||
    (previous?.canaryWeight ?? 0) !== (next.canaryWeight ?? 0) ||
    previous?.currentStepIndex !== next.currentStepIndex ||
    (previous?.history?.length ?? 0) !== (next.history?.length ?? 0)
  );
}

/** The Ports with the boundaries of `specs` armed. */
export function withFaults(ports: Ports, specs: readonly FaultSpec[], options: FaultOptions = {}): Ports {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const log = options.log ?? silentLogger;
  const counts = new Map<FaultPoint, number>();

  /** Counts one occurrence of `point` and logs it; returns which occurrence it is. */
  const at = (point: FaultPoint, fields: Record<string, unknown>): number => {
    const n = (counts.get(point) ?? 0) + 1;
    counts.set(point, n);
    log.info("fault boundary", { point, n, ...fields });
    return n;
  };
  const maybeExit = (point: FaultPoint, n: number, when: "before" | "after") => {
    if (!specs.some((s) => s.point === point && s.n === n && s.when === when)) return;
    log.warn("fault hook: exiting", { point, n, when, code: FAULT_EXIT_CODE });
    exit(FAULT_EXIT_CODE);
  };
  /** Runs `write` between the before and after exits of every point it counts as. */
  const around = async <T>(
    points: readonly FaultPoint[],
    fields: Record<string, unknown>,
    write: () => Promise<T>,
  ): Promise<T> => {
    const ns = points.map((p) => [p, at(p, fields)] as const);
    for (const [p, n] of ns) maybeExit(p, n, "before");
    const result = await write();
    for (const [p, n] of ns) maybeExit(p, n, "after");
    return result;
  };
  const name = (r: VoiceRollout) => `${r.metadata.namespace}/${r.metadata.name}`;

  const { rollouts, router, analysis, notifications } = ports;
  return {
    ...ports,
    ...(notifications
      ? {
          notifications: {
            secret: (namespace: string, secret: string, key: string) =>
              notifications.secret(namespace, secret, key),
            post: (url: string, body: unknown, headers: Readonly<Record<string, string>>) =>
              around(["notify"], { notification: headers["Idempotency-Key"] ?? null }, () =>
                notifications.post(url, body, headers),
              ),
          },
        }
      : {}),
    rollouts: {
      get: (ref) => rollouts.get(ref),
      pendingCommands: (ref) => rollouts.pendingCommands(ref),
      updateStatus: (rollout, status) =>
        around(
          isTransition(rollout.status, status) ? ["status", "transition"] : ["status"],
          {
            rollout: name(rollout),
            phase: status.phase ?? null,
            weight: status.canaryWeight ?? 0,
            step: status.currentStepIndex ?? null,
            history: status.history?.length ?? 0,
          },
          () => rollouts.updateStatus(rollout, status),
        ),
      markApplied: (command, result, atMs) =>
        around(["command"], { command: command.metadata.name, result }, () =>
          rollouts.markApplied(command, result, atMs),
        ),
    },
    router: {
      canaryWeight: (rollout) => router.canaryWeight(rollout),
      observe: (rollout) => router.observe(rollout),
      async setCanaryWeight(rollout, weight, options) {
        // Only a write that changes the route is a boundary; the router itself skips the others.
        if ((await router.canaryWeight(rollout)) === weight)
          return router.setCanaryWeight(rollout, weight, options);
        return around(["weight"], { rollout: name(rollout), weight }, () =>
          router.setCanaryWeight(rollout, weight, options),
        );
      },
    },
    analysis: {
      load: (rollout) => analysis.load(rollout),
      remove: (rollout) => analysis.remove(rollout),
      save: (rollout, stored) =>
        around(["look"], { rollout: name(rollout), looks: stored.state.looks }, () =>
          analysis.save(rollout, stored),
        ),
      ...(analysis.location ? { location: (r: VoiceRollout) => analysis.location!(r) } : {}),
    },
  };
}

/** The Ports armed from the environment, or the same Ports when VOICECTL_FAULT_EXIT_AT is unset. */
export function faultsFromEnv(
  ports: Ports,
  env: Readonly<Record<string, string | undefined>>,
  options: FaultOptions = {},
): Ports {
  const text = env[FAULT_ENV];
  if (text === undefined || text === "") return ports;
  const specs = parseFaultSpec(text);
  options.log?.warn("TEST-ONLY fault hook armed: this process will exit at a reconcile boundary", {
    [FAULT_ENV]: text,
  });
  return withFaults(ports, specs, options);
}
