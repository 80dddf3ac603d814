import { describe, expect, it } from "vitest";
import { ANALYSE, CANARY, MIN, NS, sceneOf } from "../../test/support/reconciler-harness.js";
import {
  FAULT_ENV,
  FAULT_EXIT_CODE,
  FaultSpecError,
  faultsFromEnv,
  parseFaultSpec,
  withFaults,
  type FaultPoint,
  type FaultSpec,
} from "./faults.js";
import type { MemoryPorts } from "./memory.js";
import type { RolloutRef } from "./ports.js";
import { reconcile } from "./reconciler.js";

const REF: RolloutRef = { namespace: NS, name: "tts" };

/** What the in-memory process does when the hook fires: it stops the pass dead, as an exit would. */
class Died extends Error {
  constructor(readonly code: number) {
    super(`exited with ${code}`);
  }
}
const die = (code: number) => {
  throw new Died(code);
};

/** A canary equal to stable (enough looks pass every test) through an approval pause and an analysis. */
function setup(): MemoryPorts {
  const steps = [{ setWeight: 25 }, { pause: {} }, { setWeight: 50 }, ANALYSE];
  return sceneOf({ name: REF.name, spec: { steps } }).ports;
}

/**
 * Runs the rollout to its end as the controller would, through `faulty` ports until the hook fires and then
 * through the plain ones (the restarted process). Approves once the rollout waits for it, as on-call would.
 * Returns the code the hook exited with, or null when the boundary never came.
 */
async function runWithFault(ports: MemoryPorts, specs: readonly FaultSpec[]): Promise<number | null> {
  let current = withFaults(ports, specs, { exit: die });
  let exited: number | null = null;
  let approved = false;
  for (let i = 0; i < 200; i++) {
    const status = ports.rollouts.peek(REF)?.status;
    if (status?.phase === "Promoted" || status?.phase === "RolledBack") {
      // The restarted process takes at least one pass: a crash right after the last status write leaves
      // the route for it to finish.
      await reconcile(REF, ports);
      return exited;
    }
    if (!approved && status?.phase === "Paused" && status.pause?.kind === "approval") {
      ports.rollouts.addCommand(NS, "tts-approve-1", { rollout: REF.name, action: "approve", reason: "ok" });
      approved = true;
    }
    try {
      const r = await reconcile(REF, current);
      ports.clock.advance(r.requeueAfterMs ?? MIN);
    } catch (err) {
      if (!(err instanceof Died)) throw err;
      exited = err.code;
      current = ports;
      // The restart takes a while (the dead leader's Lease must expire): longer than a step's minDuration.
      ports.clock.advance(5 * MIN);
    }
    // kwok makes the canary's pods ready once they are asked for.
    const replicas = ports.workloads.replicasOf(CANARY);
    if (replicas !== undefined) ports.workloads.setReady(CANARY, replicas);
  }
  throw new Error(`not finished: ${JSON.stringify(ports.rollouts.peek(REF)?.status?.message)}`);
}

describe("parseFaultSpec", () => {
  it.each([
    ["status:3", [{ point: "status", n: 3, when: "before" }]],
    ["weight:2:after", [{ point: "weight", n: 2, when: "after" }]],
    [
      "look:1:before, command:1:after",
      [
        { point: "look", n: 1, when: "before" },
        { point: "command", n: 1, when: "after" },
      ],
    ],
    ["transition:4", [{ point: "transition", n: 4, when: "before" }]],
    ["trace", []],
  ])("%s", (text, specs) => {
    expect(parseFaultSpec(text)).toEqual(specs);
  });

  it.each(["status", "status:0", "route:1", "weight:1:during", "weight:-1", "status:1,"])(
    "refuses %s, naming the variable and the grammar",
    (text) => {
      expect(() => parseFaultSpec(text)).toThrow(FaultSpecError);
      expect(() => parseFaultSpec(text)).toThrow(/VOICECTL_FAULT_EXIT_AT expects <point>:<n>/);
    },
  );
});

describe("faultsFromEnv", () => {
  it("leaves the ports untouched when the variable is unset: production pays nothing", () => {
    const ports = setup();
    expect(faultsFromEnv(ports, {})).toBe(ports);
    expect(faultsFromEnv(ports, { [FAULT_ENV]: "" })).toBe(ports);
    expect(faultsFromEnv(ports, { [FAULT_ENV]: "trace" })).not.toBe(ports);
  });
});

describe("withFaults", () => {
  it("exits before a write: the write never happens", async () => {
    const ports = setup();
    const code = await runWithFault(ports, [{ point: "weight", n: 3, when: "before" }]);
    expect(code).toBe(FAULT_EXIT_CODE);
    // The hook fired while the route still held 50 (status already Promoted); the next process wrote 100 once.
    expect(ports.router.writes.map((w) => w.weight)).toEqual([25, 50, 100]);
  });

  it("exits after a write: the write is kept, and the next process does not repeat it", async () => {
    const ports = setup();
    let seen: number[] = [];
    const faulty = withFaults(ports, [{ point: "weight", n: 1, when: "after" }], {
      exit: (c) => {
        seen = ports.router.writes.map((w) => w.weight);
        die(c);
      },
    });
    await expect(async () => {
      for (let i = 0; i < 10; i++) {
        await reconcile(REF, faulty);
        ports.workloads.setReady(CANARY, 2);
      }
    }).rejects.toThrow(Died);
    expect(seen).toEqual([25]);
  });

  it("counts only weight writes that change the route, not the no-op of every pass", async () => {
    const ports = setup();
    const counted: unknown[] = [];
    const log = {
      info: (msg: string, f?: Record<string, unknown>) => msg === "fault boundary" && counted.push(f),
      debug() {},
      warn() {},
      error() {},
      child() {
        return log;
      },
    };
    const faulty = withFaults(ports, [], { exit: die, log });
    await faulty.router.setCanaryWeight(ports.rollouts.peek(REF)!, 0);
    await faulty.router.setCanaryWeight(ports.rollouts.peek(REF)!, 25);
    await faulty.router.setCanaryWeight(ports.rollouts.peek(REF)!, 25);
    expect(counted).toEqual([{ point: "weight", n: 1, rollout: "voice/tts", weight: 25 }]);
  });

  it("a transition is a status write that moves phase, weight, step or history; a look's count is not", async () => {
    const ports = setup();
    const points: string[] = [];
    const log = {
      info: (msg: string, f?: Record<string, unknown>) => {
        if (msg === "fault boundary") points.push(`${String(f?.["point"])}:${String(f?.["n"])}`);
      },
      debug() {},
      warn() {},
      error() {},
      child() {
        return log;
      },
    };
    const r = ports.rollouts.peek(REF)!;
    const faulty = withFaults(ports, [], { exit: die, log });
    const moved = await faulty.rollouts.updateStatus(r, { phase: "Progressing", canaryWeight: 0 });
    const looked = await faulty.rollouts.updateStatus(moved, {
      phase: "Progressing",
      canaryWeight: 0,
      analysis: { looks: 1 },
    });
    await faulty.rollouts.updateStatus(looked, {
      phase: "Progressing",
      canaryWeight: 25,
      analysis: { looks: 1 },
    });
    expect(points).toEqual(["status:1", "transition:1", "status:2", "status:3", "transition:2"]);
  });

  // The in-memory counterpart of the end-to-end sweep (test/e2e/faults.test.ts), cheap enough to try every
  // occurrence of every boundary: wherever the process dies, the next one finishes the rollout with each
  // weight written once and the approval applied once.
  const boundaries: [FaultPoint, number][] = [
    ...[1, 2, 3, 4].map((n): [FaultPoint, number] => ["transition", n]),
    ...[1, 2, 3].map((n): [FaultPoint, number] => ["weight", n]),
    ...[1, 2, 3].map((n): [FaultPoint, number] => ["look", n]),
    ["command", 1],
  ];
  it.each(boundaries.flatMap(([p, n]) => (["before", "after"] as const).map((w) => [p, n, w] as const)))(
    "killed %s:%i:%s, the rollout still promotes with no double shift and one approval",
    async (point, n, when) => {
      const ports = setup();
      const code = await runWithFault(ports, [{ point, n, when }]);
      expect(code).toBe(FAULT_EXIT_CODE);
      const status = ports.rollouts.peek(REF)!.status!;
      expect(status.phase).toBe("Promoted");
      expect(ports.router.writes.map((w) => w.weight)).toEqual([25, 50, 100]);
      expect(status.history?.map((h) => [h.action, h.command])).toEqual([["approve", "tts-approve-1"]]);
      expect(ports.rollouts.command(NS, "tts-approve-1")?.status?.appliedAt).toBeDefined();
    },
  );
});
