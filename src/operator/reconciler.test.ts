import { describe, expect, it } from "vitest";
import { makePolicy, type MetricInput } from "../../test/support/policy.js";
import type { CellBatch, Look } from "../core/analysis/look.js";
import type { VoiceRollout, VoiceRolloutStatus } from "../core/resource/voicerollout.js";
import {
  ANALYSE,
  CANARY,
  MIN,
  NS,
  POLICY_REF,
  rolloutOf as rolloutNamed,
  SIMILARITY,
  STABLE,
  type StepInput,
} from "../../test/support/reconciler-harness.js";
import { memoryPorts, type MemoryPorts } from "./memory.js";
import { ConflictError, type Ports, type RolloutRef, type RolloutStore } from "./ports.js";
import { machineOptions, reconcile, type ReconcileResult } from "./reconciler.js";
import { runSimulation } from "../sim/run.js";
import { formatSince } from "../core/analysis/windows.js";
import { moments } from "../../test/support/batches.js";

/** The rollout is named as its canary Deployment is. */
const REF: RolloutRef = CANARY;

const COST: MetricInput = { name: "cost", tier: "cost", budget: { relative: 0.1 } };
const POLICY = makePolicy([SIMILARITY, COST], { minSamples: 30, alpha: 0.05 });

/** What the canary does, changed by a test halfway to play a regression. */
interface Fleet {
  similarityShift: number;
  costFactor: number;
  /** Requests per arm and look. */
  requests: number;
}

function lookOf(fleet: Fleet, to: number, weight: number): Look {
  const cell = (arm: "baseline" | "canary"): CellBatch => {
    const canary = arm === "canary";
    return {
      arm,
      labels: { voice_id: "mia-chen" },
      metrics: {
        speaker_similarity: moments(fleet.requests, 0.72 + (canary ? fleet.similarityShift : 0), 0.035),
        cost: moments(fleet.requests, 0.0001 * (canary ? fleet.costFactor : 1), 0.00001),
      },
    };
  };
  // No canary traffic at weight 0: the canary arm has no samples.
  const cells = weight > 0 ? [cell("baseline"), cell("canary")] : [cell("baseline")];
  return { at: to, canaryWeight: weight, cells };
}

const STEPS: StepInput[] = [{ setWeight: 10 }, ANALYSE, { setWeight: 50 }, ANALYSE];

const rolloutOf = (steps: StepInput[]): VoiceRollout =>
  rolloutNamed(REF.name, { rollback: { scaleDownDelay: "5m" }, steps });

interface Harness {
  ports: MemoryPorts;
  fleet: Fleet;
  status(): VoiceRolloutStatus;
  /** One pass, checking after it that the route says what status says. */
  pass(ports?: Ports): Promise<ReconcileResult>;
  /** Passes as the controller would run them (clock moved to each requeue) until `done` or `maxMs`. */
  runUntil(done: (s: VoiceRolloutStatus) => boolean, maxMs?: number): Promise<void>;
}

function setup(options: { steps?: StepInput[]; ready?: boolean } = {}): Harness {
  const fleet: Fleet = { similarityShift: 0, costFactor: 1, requests: 2000 };
  const ports = memoryPorts((_from, to, weight) => lookOf(fleet, to, weight));
  ports.rollouts.put(rolloutOf(options.steps ?? STEPS));
  ports.policies.set(POLICY_REF, POLICY);
  ports.workloads.set(CANARY, { replicas: 0 });
  ports.workloads.set(STABLE, { replicas: 4, readyReplicas: 4 });
  ports.router.setWeight(REF, 0);
  const h: Harness = {
    ports,
    fleet,
    status: () => ports.rollouts.peek(REF)!.status ?? {},
    async pass(p: Ports = ports) {
      const r = await reconcile(REF, p);
      if (!r.conflict) expect(ports.router.weightOf(REF)).toBe(h.status().canaryWeight);
      // The canary is ready as soon as it is scaled, unless the test plays a cold start.
      const replicas = ports.workloads.replicasOf(CANARY);
      if (options.ready !== false && replicas !== undefined) ports.workloads.setReady(CANARY, replicas);
      return r;
    },
    async runUntil(done, maxMs = 60 * MIN) {
      const end = ports.clock.now() + maxMs;
      while (ports.clock.now() <= end) {
        const r = await h.pass();
        if (done(h.status())) return;
        expect(r.requeueAfterMs).not.toBeNull();
        ports.clock.advance(r.requeueAfterMs!);
      }
      throw new Error(`not done after ${maxMs / MIN} min: ${JSON.stringify(h.status().message)}`);
    },
  };
  return h;
}

const phaseIs = (phase: string) => (s: VoiceRolloutStatus) => s.phase === phase;
const condition = (s: VoiceRolloutStatus, type: string) => s.conditions?.find((c) => c.type === type);

describe("reconcile: promotion", () => {
  it("promotes step by step, the route following each setWeight once, a look every interval", async () => {
    const h = setup();
    await h.pass();
    expect(h.status().phase).toBe("Progressing");
    expect(h.status().reason).toBeUndefined(); // the Phase column says it all
    await h.runUntil(phaseIs("Promoted"));
    const s = h.status();
    expect(s.reason).toBe("Promoted");
    expect(h.ports.router.writes.map((w) => w.weight)).toEqual([10, 50, 100]);
    expect(h.ports.events.reasons()).toEqual(
      expect.arrayContaining(["WeightSet", "AnalysisPassed", "Promoted"]),
    );
    expect(condition(s, "Completed")).toMatchObject({ status: "True", reason: "Promoted" });
    expect(condition(s, "Progressing")).toMatchObject({ status: "False" });
    // Looks tile time: each starts where the last ended, one interval long.
    const looks = h.ports.metrics.looks;
    expect(looks.length).toBeGreaterThanOrEqual(4);
    for (let i = 1; i < looks.length; i++) {
      expect(looks[i]!.from).toBe(looks[i - 1]!.to);
      expect(looks[i]!.to - looks[i]!.from).toBe(MIN);
    }
    // The analysis is over: its state is dropped, the stable Deployment was never touched.
    expect(h.ports.analysis.has(REF)).toBe(false);
    expect(h.ports.workloads.scales.filter((x) => x.name === STABLE.name)).toEqual([]);
    expect(s.observedGeneration).toBe(1);
  });

  it("a pass with nothing new writes nothing: no status, no route, no event", async () => {
    const h = setup();
    await h.pass();
    await h.pass();
    const writes = h.ports.rollouts.statusWrites;
    const events = h.ports.events.events.length;
    const routes = h.ports.router.writes.length;
    await h.pass();
    expect(h.ports.rollouts.statusWrites).toBe(writes);
    expect(h.ports.events.events.length).toBe(events);
    expect(h.ports.router.writes.length).toBe(routes);
  });

  it("without spec.canary.replicas, a canary at zero gets the stable's count, again after a rollback and retry", async () => {
    const h = setup();
    const r = rolloutOf(STEPS);
    const { replicas: _unset, ...canary } = r.spec.canary;
    h.ports.rollouts.put({ ...r, spec: { ...r.spec, canary } });
    await h.runUntil((s) => s.canaryWeight === 10);
    expect(h.ports.workloads.scales).toEqual([{ name: CANARY.name, replicas: 4 }]);
    h.fleet.similarityShift = -0.05;
    await h.runUntil((s) => s.phase === "RolledBack");
    await h.runUntil(() => h.ports.workloads.replicasOf(CANARY) === 0);
    h.fleet.similarityShift = 0;
    h.ports.rollouts.addCommand(NS, "tts-v42-retry-1", {
      rollout: REF.name,
      action: "retry",
      user: "alice",
      reason: "fixed",
    });
    await h.runUntil((s) => s.canaryWeight === 10);
    expect(h.ports.workloads.replicasOf(CANARY)).toBe(4);
  });

  it("does not raise the weight before the canary's replicas are ready", async () => {
    const h = setup({ ready: false });
    const first = await h.pass();
    expect(h.ports.workloads.scales).toEqual([{ name: CANARY.name, replicas: 2 }]);
    expect(h.status().canaryWeight).toBe(0);
    expect(h.status().message).toMatch(/waiting for the canary's replicas to be ready/);
    // Readiness has no deadline of its own: the pass polls for it.
    expect(first.requeueAfterMs).toBeLessThanOrEqual(15_000);
    for (let i = 0; i < 5; i++) {
      h.ports.clock.advance(first.requeueAfterMs!);
      await h.pass();
    }
    h.ports.workloads.setReady(CANARY, 1);
    await h.pass();
    expect(h.status().canaryWeight).toBe(0);
    expect(h.ports.router.writes).toEqual([]);
    h.ports.workloads.setReady(CANARY, 2);
    await h.pass();
    expect(h.status().canaryWeight).toBe(10);
    expect(h.ports.router.writes.map((w) => w.weight)).toEqual([10]);
  });
});

describe("reconcile: rollback and pause", () => {
  it("a critical failure rolls back: weight 0 at once, canary scaled down only after the delay, stable untouched", async () => {
    const h = setup();
    await h.runUntil((s) => s.canaryWeight === 10);
    h.fleet.similarityShift = -0.05;
    await h.runUntil(phaseIs("RolledBack"));
    const s = h.status();
    expect(h.ports.router.weightOf(REF)).toBe(0);
    expect(h.ports.router.writes.map((w) => w.weight)).toEqual([10, 0]);
    expect(condition(s, "Degraded")).toMatchObject({ status: "True", reason: "RolledBack" });
    expect(s.message).toMatch(/critical regression: .*speaker_similarity/);
    expect(s.lastDecision?.decision).toBe("rollback");
    expect(s.lastDecision?.findings[0]).toMatchObject({
      metric: "speaker_similarity",
      verdict: "fail",
      critical: true,
    });
    expect(h.ports.workloads.replicasOf(CANARY)).toBe(2);

    const rolledBackAt = h.ports.clock.now();
    h.ports.clock.advance(4 * MIN);
    const early = await h.pass();
    expect(h.ports.workloads.replicasOf(CANARY)).toBe(2);
    expect(early.requeueAfterMs).toBe(MIN);
    h.ports.clock.advance(early.requeueAfterMs!);
    await h.pass();
    expect(h.ports.clock.now() - rolledBackAt).toBe(5 * MIN);
    expect(h.ports.workloads.replicasOf(CANARY)).toBe(0);
    expect(h.status().canaryScaledDownAt).toBe(new Date(h.ports.clock.now()).toISOString());
    expect(h.ports.events.reasons()).toContain("CanaryScaledDown");

    // Once: later passes neither scale again nor touch the stable version.
    h.ports.clock.advance(30 * MIN);
    await h.pass();
    expect(h.ports.workloads.scales).toEqual([
      { name: CANARY.name, replicas: 2 },
      { name: CANARY.name, replicas: 0 },
    ]);
    expect(h.ports.workloads.replicasOf(STABLE)).toBe(4);
  });

  it("a non-critical failure pauses; approve resumes it; abort rolls it back", async () => {
    const h = setup();
    h.fleet.costFactor = 1.5;
    await h.runUntil(phaseIs("Paused"));
    expect(h.status().pause).toMatchObject({ kind: "analysis" });
    expect(h.status().pause?.reason).toMatch(/cost/);
    expect(condition(h.status(), "Paused")).toMatchObject({ status: "True", reason: "AnalysisHeld" });
    expect(h.status().reason).toBe("AnalysisHeld"); // kubectl's Reason column
    expect(h.status().canaryWeight).toBe(10);

    h.ports.rollouts.addCommand(NS, "approve-1", {
      rollout: REF.name,
      action: "approve",
      user: "ana@example.com",
      reason: "cost is known to rise with this build",
    });
    await h.pass();
    // Approved past the analysis, on to 50%, where the same failure pauses again.
    expect(h.status().canaryWeight).toBe(50);
    expect(h.status().currentStepIndex).toBe(3);
    expect(h.status().history).toEqual([
      expect.objectContaining({ action: "approve", user: "ana@example.com", step: 1, command: "approve-1" }),
    ]);
    expect(h.ports.rollouts.command(NS, "approve-1")?.status?.result).toMatch(/applied at step 2/);
    await h.runUntil(phaseIs("Paused"));

    h.ports.rollouts.addCommand(NS, "abort-1", {
      rollout: REF.name,
      action: "abort",
      user: "ana@example.com",
      reason: "too expensive after all",
    });
    await h.pass();
    expect(h.status().phase).toBe("RolledBack");
    expect(h.status().canaryWeight).toBe(0);
    expect(h.ports.events.events).toContainEqual(
      expect.objectContaining({ type: "Warning", reason: "Aborted", message: expect.stringMatching(/ana@/) }),
    );
    expect(h.status().history?.map((e) => e.command)).toEqual(["approve-1", "abort-1"]);
    expect(h.status().reason).toBe("Aborted");
    await h.pass(); // later passes keep how it ended
    expect(h.status().reason).toBe("Aborted");
  });

  it("after an approval moves the weight, the next analysis step does not pause on evidence from before it", async () => {
    // Seen on a real control plane: approved at 10%, set to 50%, and paused again 8 ms later, before any
    // request at 50%, on the cumulative evidence gathered at 10%.
    const h = setup();
    h.fleet.costFactor = 1.5;
    await h.runUntil(phaseIs("Paused"));
    h.ports.rollouts.addCommand(NS, "approve-1", {
      rollout: REF.name,
      action: "approve",
      user: "ana@example.com",
    });
    await h.pass();
    const approvedAt = h.ports.clock.now();
    expect(h.status().canaryWeight).toBe(50);
    expect(h.status().phase).toBe("Progressing");
    h.ports.clock.advance(8);
    await h.pass();
    expect(h.status().phase).toBe("Progressing");
    // The cost regression is still there at 50%: the step pauses again, but on a look taken at 50%.
    await h.runUntil(phaseIs("Paused"));
    expect(Date.parse(h.status().pause!.since!) - approvedAt).toBeGreaterThanOrEqual(MIN);
    expect(h.status().pause?.reason).toMatch(/cost/);
  });

  it("a critical failure during an approval pause rolls back", async () => {
    const h = setup({ steps: [{ setWeight: 10 }, { pause: {} }, { setWeight: 100 }] });
    await h.runUntil(phaseIs("Paused"));
    expect(h.status().pause?.kind).toBe("approval");
    expect(condition(h.status(), "Paused")?.reason).toBe("AwaitingApproval");
    expect(h.status().reason).toBe("AwaitingApproval");
    h.fleet.similarityShift = -0.05;
    await h.runUntil(phaseIs("RolledBack"), 10 * MIN);
    expect(h.status().reason).toBe("RolledBack");
    expect(h.status().pause).toBeNull();
    expect(h.ports.router.weightOf(REF)).toBe(0);
    expect(condition(h.status(), "Paused")).toMatchObject({ status: "False" });
  });

  it("the canary Deployment missing fails the rollout; stable keeps all traffic", async () => {
    const h = setup();
    await h.runUntil((s) => s.canaryWeight === 10);
    h.ports.workloads.delete(CANARY);
    await h.pass();
    expect(h.status().phase).toBe("Failed");
    expect(h.status().message).toMatch(/canary Deployment tts-v42 does not exist/);
    expect(h.ports.router.weightOf(REF)).toBe(0);
    expect(h.ports.workloads.replicasOf(STABLE)).toBe(4);
  });
});

describe("reconcile: missing evidence never promotes", () => {
  it.each([
    ["the metric source is down", (h: Harness) => h.ports.metrics.failNext(1000)],
    ["no canary samples arrive", (h: Harness) => (h.fleet.requests = 0)],
    ["too few samples per look", (h: Harness) => (h.fleet.requests = 1)],
  ])("%s: the analysis step pauses at its maxDuration", async (_name, breakIt) => {
    const h = setup();
    breakIt(h);
    await h.runUntil(phaseIs("Paused"));
    const s = h.status();
    expect(s.canaryWeight).toBe(10);
    expect(s.pause?.reason).toMatch(/ran out of time unsettled/);
    expect(h.ports.router.writes.map((w) => w.weight)).toEqual([10]);
    expect(s.lastDecision?.findings.every((f) => f.verdict === "nodata")).toBe(true);
  });

  it("a failed look after passing ones feeds no passing evidence until a look succeeds", async () => {
    const h = setup({ steps: [{ setWeight: 10 }, { analysis: { minDuration: "5m", maxDuration: "30m" } }] });
    await h.runUntil((s) => (s.analysis?.looks ?? 0) >= 3);
    expect(h.status().lastDecision?.decision).toBe("promote");
    h.ports.metrics.failNext(3);
    await h.runUntil(
      (s) => s.lastDecision?.findings[0]?.reason.includes("metric source unavailable") ?? false,
    );
    // The step's minDuration passes during the outage without promoting.
    for (let i = 0; i < 2; i++) {
      h.ports.clock.advance(MIN);
      await h.pass();
      expect(h.status().currentStepIndex).toBe(1);
      expect(h.status().lastDecision?.decision).toBe("pause");
    }
    await h.runUntil(phaseIs("Promoted"));
  });

  it("an unusable policy pauses naming it, holds approvals, and resumes when it is fixed", async () => {
    const h = setup();
    await h.runUntil((s) => s.canaryWeight === 10);
    h.ports.policies.setInvalid(
      POLICY_REF,
      "spec.metrics[1].budget: expected exactly one of absolute or relative",
    );
    await h.pass();
    const s = h.status();
    expect(s.phase).toBe("Paused");
    expect(condition(s, "Paused")).toMatchObject({ status: "True", reason: "PolicyUnavailable" });
    expect(condition(s, "Paused")?.message).toMatch(/RolloutPolicy studio .*spec\.metrics\[1\]\.budget/);
    h.ports.rollouts.addCommand(NS, "promote-1", { rollout: REF.name, action: "promote", full: true });
    for (let i = 0; i < 20; i++) {
      h.ports.clock.advance(MIN);
      await h.pass();
    }
    expect(h.status().canaryWeight).toBe(10);
    expect(h.ports.rollouts.command(NS, "promote-1")?.status).toBeUndefined();
    expect(h.ports.events.reasons().filter((r) => r === "PolicyUnavailable")).toHaveLength(1);

    h.ports.policies.set(POLICY_REF, POLICY);
    await h.pass();
    // Back, and the promote command held meanwhile is applied now.
    expect(h.status().phase).toBe("Promoted");
    expect(h.ports.events.reasons()).toContain("PolicyAvailable");
  });

  it("an abort still rolls back while the policy is missing", async () => {
    const h = setup();
    await h.runUntil((s) => s.canaryWeight === 10);
    h.ports.policies.delete(POLICY_REF);
    await h.pass();
    expect(h.status().message).toMatch(/RolloutPolicy studio cannot be used: .*not found/);
    h.ports.rollouts.addCommand(NS, "abort-1", { rollout: REF.name, action: "abort" });
    await h.pass();
    expect(h.status().phase).toBe("RolledBack");
    expect(h.ports.router.weightOf(REF)).toBe(0);
  });
});

describe("reconcile: crashes and restarts", () => {
  const APPROVAL_STEPS: StepInput[] = [
    { setWeight: 10 },
    { pause: {} },
    { setWeight: 20 },
    { pause: {} },
    { setWeight: 30 },
  ];

  it("a command is applied exactly once even when marking it applied failed last time", async () => {
    const h = setup({ steps: APPROVAL_STEPS });
    await h.runUntil(phaseIs("Paused"));
    h.ports.rollouts.addCommand(NS, "approve-1", { rollout: REF.name, action: "approve" });
    h.ports.rollouts.faults.failNext("markApplied");
    await expect(h.pass()).rejects.toThrow(/markApplied/);
    expect(h.status()).toMatchObject({ phase: "Paused", currentStepIndex: 3, canaryWeight: 20 });

    await h.pass();
    // Not applied again: the rollout is still at the second pause, not past it.
    expect(h.status()).toMatchObject({ phase: "Paused", currentStepIndex: 3, canaryWeight: 20 });
    expect(h.status().history).toHaveLength(1);
    expect(h.ports.rollouts.command(NS, "approve-1")?.status?.result).toMatch(/recorded in status history/);
    expect(h.ports.router.writes.map((w) => w.weight)).toEqual([10, 20]);
  });

  it("a new reconciler over the same stores resumes without shifting twice or losing the approval", async () => {
    const h = setup({ steps: APPROVAL_STEPS });
    await h.runUntil(phaseIs("Paused"));
    h.ports.rollouts.addCommand(NS, "approve-1", { rollout: REF.name, action: "approve" });
    // The process dies between the status write and the route write.
    h.ports.router.faults.failNext("setCanaryWeight");
    await expect(reconcile(REF, h.ports)).rejects.toThrow(/setCanaryWeight/);
    expect(h.status().canaryWeight).toBe(20);
    expect(h.ports.router.weightOf(REF)).toBe(10);

    // A new operator: fresh port objects, the same stored state behind them.
    const restarted: Ports = { ...h.ports };
    await h.pass(restarted);
    await h.pass(restarted);
    expect(h.ports.router.writes.map((w) => w.weight)).toEqual([10, 20]);
    expect(h.status()).toMatchObject({ phase: "Paused", currentStepIndex: 3 });
    expect(h.status().history?.map((e) => e.command)).toEqual(["approve-1"]);
    expect(h.ports.rollouts.command(NS, "approve-1")?.status?.appliedAt).toBeDefined();
  });

  it("a look saved before a crash is not taken again", async () => {
    const h = setup();
    await h.runUntil((s) => (s.analysis?.looks ?? 0) >= 2);
    h.ports.clock.advance(MIN);
    h.ports.rollouts.faults.failNext("updateStatus");
    await expect(h.pass()).rejects.toThrow(/updateStatus/);
    const looks = h.ports.metrics.looks.length;
    await h.pass();
    expect(h.ports.metrics.looks.length).toBe(looks);
    expect(h.status().analysis?.looks).toBe(3);
    expect(h.ports.events.reasons()).not.toContain("AnalysisRestarted");
  });

  it("a lost analysis state is reported once: a Warning event and restarts + 1", async () => {
    const h = setup({ steps: [{ setWeight: 10 }, { analysis: { minDuration: "30m", maxDuration: "60m" } }] });
    await h.runUntil((s) => (s.analysis?.looks ?? 0) >= 3);
    h.ports.analysis.lose(REF);
    await h.pass();
    expect(h.status().analysis).toMatchObject({ looks: 0, restarts: 1, configMap: "tts-v42-analysis" });
    const warning = h.ports.events.events.find((e) => e.reason === "AnalysisRestarted");
    expect(warning).toMatchObject({ type: "Warning", message: expect.stringMatching(/after 3 looks/) });
    await h.runUntil((s) => (s.analysis?.looks ?? 0) >= 2);
    expect(h.status().analysis?.restarts).toBe(1);
    expect(h.ports.events.reasons().filter((r) => r === "AnalysisRestarted")).toHaveLength(1);
  });

  it("a status write that loses a race is retried, not failed, and does nothing after it", async () => {
    const h = setup();
    const store = h.ports.rollouts;
    // Another writer updates the rollout between this pass's read and its write.
    const racing: RolloutStore = {
      get: async (ref) => {
        const r = await store.get(ref);
        store.touch(ref);
        return r;
      },
      updateStatus: (r, s) => store.updateStatus(r, s),
      pendingCommands: (ref) => store.pendingCommands(ref),
      markApplied: (c, result, at) => store.markApplied(c, result, at),
    };
    const r = await reconcile(REF, { ...h.ports, rollouts: racing });
    expect(r).toMatchObject({ requeueAfterMs: 0, conflict: true });
    expect(h.ports.router.writes).toEqual([]);
    expect(h.ports.events.events).toEqual([]);
    expect(h.status().phase).toBeUndefined();
    await h.pass();
    expect(h.status().phase).toBe("Progressing");
    await h.runUntil((s) => s.canaryWeight === 10, MIN);
  });

  it("other store errors propagate for the controller to back off", async () => {
    const h = setup();
    h.ports.rollouts.faults.failNext("updateStatus", new Error("etcd unavailable"));
    await expect(reconcile(REF, h.ports)).rejects.toThrow(/etcd/);
    // A race with another status writer: decide again on what it wrote.
    const rollouts = h.ports.rollouts;
    let raced = false;
    const racing: Ports = {
      ...h.ports,
      rollouts: {
        get: (r) => rollouts.get(r),
        pendingCommands: (r) => rollouts.pendingCommands(r),
        markApplied: (c, result, at) => rollouts.markApplied(c, result, at),
        async updateStatus(ro, st) {
          if (!raced) {
            raced = true;
            const current = rollouts.peek(REF)!;
            rollouts.put({ ...current, status: { ...(current.status ?? {}), message: "another writer" } });
            throw new ConflictError("modified");
          }
          return rollouts.updateStatus(ro, st);
        },
      },
    };
    await expect(reconcile(REF, racing)).resolves.toMatchObject({ conflict: true });
  });

  it("a race lost to a metadata-only change (labels, annotations) is written again, not decided again", async () => {
    const h = setup();
    // A busy writer of metadata would otherwise win every race and starve the rollout.
    h.ports.rollouts.faults.failNext("updateStatus", new ConflictError("modified"), 3);
    const r = await reconcile(REF, h.ports);
    expect(r.conflict).toBeUndefined();
    expect(h.ports.rollouts.statusWrites).toBe(1);
    expect(h.status().phase).toBe("Progressing");
  });

  it("a rollout that is gone needs nothing", async () => {
    const h = setup();
    h.ports.rollouts.delete(REF);
    await expect(reconcile(REF, h.ports)).resolves.toMatchObject({ requeueAfterMs: null });
    expect(h.ports.router.writes).toEqual([]);
  });

  it("a retry after a rollback starts a new analysis instead of judging with the old evidence", async () => {
    const h = setup();
    h.fleet.similarityShift = -0.05;
    await h.runUntil(phaseIs("RolledBack"));
    h.fleet.similarityShift = 0;
    h.ports.rollouts.addCommand(NS, "retry-1", { rollout: REF.name, action: "retry" });
    await h.pass();
    expect(h.status()).toMatchObject({ phase: "Progressing", analysis: { looks: 0 } });
    await h.runUntil(phaseIs("Promoted"));
    expect(h.ports.events.reasons()).not.toContain("AnalysisRestarted");
  });
});

describe("reconcile: a route changed by hand", () => {
  const HAND_REASON =
    "HTTPRoute tts was changed by hand: canary weight 80%, expected 10%; approve to set it back and run step 2 again, or abort to roll back";

  /** At the first analysis step (weight 10, one look taken), then a person sets the canary to 80%. */
  async function editedByHand(): Promise<Harness> {
    const h = setup();
    await h.runUntil((s) => s.canaryWeight === 10 && (s.analysis?.looks ?? 0) >= 1);
    h.ports.router.setWeight(REF, 80);
    h.ports.clock.advance(MIN);
    const r = await reconcile(REF, h.ports);
    expect(r.requeueAfterMs).toBeLessThanOrEqual(15_000);
    return h;
  }
  const handEvents = (h: Harness) => h.ports.events.events.filter((e) => e.reason === "RouteChangedByHand");

  it("pauses with a reason and leaves the route alone, however many passes follow", async () => {
    const h = await editedByHand();
    expect(h.status()).toMatchObject({ phase: "Paused", canaryWeight: 10, currentStepIndex: 1 });
    expect(h.status().pause).toMatchObject({ kind: "approval", reason: HAND_REASON });
    expect(condition(h.status(), "Paused")).toMatchObject({ status: "True", reason: "RouteChangedByHand" });
    expect(handEvents(h)).toEqual([expect.objectContaining({ type: "Warning", message: HAND_REASON })]);
    expect(h.ports.router.weightOf(REF)).toBe(80);
    for (let i = 0; i < 5; i++) {
      h.ports.clock.advance(MIN);
      await reconcile(REF, h.ports);
    }
    expect(h.ports.router.weightOf(REF)).toBe(80);
    expect(h.ports.router.writes.map((w) => w.weight)).toEqual([10]);
    expect(h.status().phase).toBe("Paused");
    expect(handEvents(h)).toHaveLength(1);
  });

  it("names the controller that changed the route, from its field manager", async () => {
    const h = setup();
    await h.runUntil((s) => s.canaryWeight === 10 && (s.analysis?.looks ?? 0) >= 1);
    h.ports.router.setWeight(REF, 80, "argocd-controller");
    h.ports.clock.advance(MIN);
    await reconcile(REF, h.ports);
    const reason =
      "HTTPRoute tts was changed by argocd-controller (not voicectl): canary weight 80%, expected 10%; approve to set it back and run step 2 again, or abort to roll back";
    expect(h.status().pause).toMatchObject({ kind: "approval", reason });
    expect(handEvents(h)).toEqual([expect.objectContaining({ type: "Warning", message: reason })]);
    expect(h.ports.router.weightOf(REF)).toBe(80);
  });

  it("an approval sets the route back and runs the step again from its start; the rollout then promotes", async () => {
    const h = await editedByHand();
    h.ports.clock.advance(MIN);
    h.ports.rollouts.addCommand(NS, "approve-route", {
      rollout: REF.name,
      action: "approve",
      user: "ana@example.com",
      reason: "load test is over",
    });
    const approvedAt = h.ports.clock.now();
    await h.pass();
    expect(h.ports.router.weightOf(REF)).toBe(10);
    // The same step (the analysis at 10%), not the next one: approving a hand edit skips nothing.
    expect(h.status()).toMatchObject({ phase: "Progressing", canaryWeight: 10, currentStepIndex: 1 });
    expect(Date.parse(h.status().stepStartedAt!)).toBe(approvedAt);
    expect(h.status().history).toEqual([
      expect.objectContaining({
        action: "approve",
        user: "ana@example.com",
        step: 1,
        command: "approve-route",
      }),
    ]);
    expect(h.ports.rollouts.command(NS, "approve-route")?.status?.result).toBe(
      "applied: the route set back to 10% at step 2",
    );
    expect(h.ports.events.events).toContainEqual(
      expect.objectContaining({ type: "Normal", reason: "RouteRestored" }),
    );
    // No look covers the time the route carried 80%: the next one starts at the approval.
    const looksBefore = h.ports.metrics.looks.length;
    await h.runUntil(phaseIs("Promoted"));
    expect(h.ports.metrics.looks[looksBefore]?.from).toBe(approvedAt);
    expect(h.ports.router.writes.map((w) => w.weight)).toEqual([10, 10, 50, 100]);
  });

  it("an approval of a hand edit with --accept sets the route back and says it accepted nothing", async () => {
    const h = await editedByHand();
    h.ports.clock.advance(MIN);
    h.ports.rollouts.addCommand(NS, "approve-route", {
      rollout: REF.name,
      action: "approve",
      reason: "load test is over",
      accept: [{ metric: "cost" }],
    });
    await h.pass();
    expect(h.ports.router.weightOf(REF)).toBe(10);
    expect(h.status().acceptedFindings).toBeUndefined();
    expect(h.ports.rollouts.command(NS, "approve-route")?.status?.result).toBe(
      "applied: the route set back to 10% at step 2; --accept not recorded: approve again with it when a finding pauses the rollout",
    );
  });

  it("an approval given before the edit was seen waits for the next pass", async () => {
    const h = setup();
    await h.runUntil((s) => s.canaryWeight === 10);
    h.ports.router.setWeight(REF, 80);
    h.ports.rollouts.addCommand(NS, "approve-early", { rollout: REF.name, action: "approve" });
    h.ports.clock.advance(MIN);
    await reconcile(REF, h.ports);
    expect(h.status().phase).toBe("Paused");
    expect(h.ports.router.weightOf(REF)).toBe(80);
    expect(h.ports.rollouts.command(NS, "approve-early")?.status?.appliedAt).toBeUndefined();
    await h.pass();
    expect(h.status()).toMatchObject({ phase: "Progressing", canaryWeight: 10, currentStepIndex: 1 });
    expect(h.ports.router.weightOf(REF)).toBe(10);
  });

  it("an abort rolls back: the route goes to 0, whatever the hand set", async () => {
    const h = await editedByHand();
    h.ports.rollouts.addCommand(NS, "abort-1", {
      rollout: REF.name,
      action: "abort",
      reason: "who did this",
    });
    await h.pass();
    expect(h.status()).toMatchObject({ phase: "RolledBack", canaryWeight: 0 });
    expect(h.ports.router.weightOf(REF)).toBe(0);
  });

  it("a critical regression during the pause rolls back: a rollback wins over the waiting approval", async () => {
    const h = await editedByHand();
    h.fleet.similarityShift = -0.05;
    for (let i = 0; i < 10 && h.status().phase === "Paused"; i++) {
      h.ports.clock.advance(MIN);
      await reconcile(REF, h.ports);
    }
    expect(h.status().phase).toBe("RolledBack");
    expect(h.ports.router.weightOf(REF)).toBe(0);
  });

  it("the route put back by hand resumes by itself, the step starting again", async () => {
    const h = await editedByHand();
    h.ports.router.setWeight(REF, 10);
    h.ports.clock.advance(MIN);
    const backAt = h.ports.clock.now();
    await h.pass();
    expect(h.status()).toMatchObject({ phase: "Progressing", canaryWeight: 10, currentStepIndex: 1 });
    expect(Date.parse(h.status().stepStartedAt!)).toBe(backAt);
    expect(h.status().history ?? []).toEqual([]);
    expect(h.ports.events.events.at(-1)).toMatchObject({ reason: "RouteRestored" });
    await h.runUntil(phaseIs("Promoted"));
  });

  /** Ports whose router sees the route as it was, then a person sets `weight` right after that read. */
  function editedDuringThePass(h: Harness, weight: number): Ports {
    return {
      ...h.ports,
      router: {
        ...h.ports.router,
        canaryWeight: (r) => h.ports.router.canaryWeight(r),
        setCanaryWeight: (r, w, o) => h.ports.router.setCanaryWeight(r, w, o),
        observe: async (r) => {
          const seen = await h.ports.router.observe(r);
          h.ports.router.setWeight(REF, weight);
          return seen;
        },
      },
    };
  }

  it("an edit made during a pass is not overwritten by it; the next pass pauses on it", async () => {
    const h = setup();
    await h.runUntil((s) => s.canaryWeight === 10 && (s.analysis?.looks ?? 0) >= 1);
    h.ports.clock.advance(MIN);
    const r = await reconcile(REF, editedDuringThePass(h, 80));
    expect(r.requeueAfterMs).toBe(0);
    expect(h.ports.router.weightOf(REF)).toBe(80);
    await reconcile(REF, h.ports);
    expect(h.status().pause?.reason).toBe(HAND_REASON);
    expect(h.ports.router.weightOf(REF)).toBe(80);
  });

  it("a rollback writes over an edit, even one made during its pass: stable gets everything", async () => {
    const h = setup();
    await h.runUntil((s) => s.canaryWeight === 10 && (s.analysis?.looks ?? 0) >= 1);
    h.fleet.similarityShift = -0.05;
    for (let i = 0; i < 10 && h.status().phase !== "RolledBack"; i++) {
      h.ports.clock.advance(MIN);
      await reconcile(REF, editedDuringThePass(h, 80));
    }
    expect(h.status().phase).toBe("RolledBack");
    expect(h.ports.router.weightOf(REF)).toBe(0);
  });

  it("a finished rollout leaves a later edit of its route alone, and does not spin on it", async () => {
    const h = setup();
    await h.runUntil(phaseIs("Promoted"));
    h.ports.router.setWeight(REF, 40);
    const r = await reconcile(REF, h.ports);
    expect(h.ports.router.weightOf(REF)).toBe(40);
    expect(r.requeueAfterMs).toBeGreaterThan(0);
  });

  it("a route voicectl never wrote (no record of a write) is its owner's setup: set to status, not a pause", async () => {
    const h = setup();
    h.ports.router.setWeight(REF, 30);
    await h.pass();
    // The first pass, canary not yet ready: status says 0 and so does the route.
    expect(h.status()).toMatchObject({ phase: "Progressing", canaryWeight: 0 });
    expect(h.ports.router.weightOf(REF)).toBe(0);
    expect(h.ports.events.reasons()).toContain("RouteRepaired");
    expect(h.ports.events.reasons()).not.toContain("RouteChangedByHand");
  });
});

describe("reconcile: the same rollout as `voicectl simulate`", () => {
  it.each([
    ["a good canary", { similarityShift: 0, costFactor: 1 }, "Promoted"],
    ["a cloned voice drifting", { similarityShift: -0.05, costFactor: 1 }, "RolledBack"],
    ["a costlier canary", { similarityShift: 0, costFactor: 1.5 }, "Paused"],
  ])("%s: the same phase, at the same time, through the same weights", async (_name, change, phase) => {
    const h = setup();
    Object.assign(h.fleet, change);
    // Warm from the start, as the simulation's canary is (canaryReadyAfterMs 0).
    h.ports.workloads.set(CANARY, { replicas: 2, readyReplicas: 2 });
    const start = h.ports.clock.now();
    const sim = runSimulation({
      name: "operator-parity",
      policy: POLICY,
      steps: rolloutOf(STEPS).spec.steps,
      intervalMs: MIN,
      canaryReadyAfterMs: 0,
      durationMs: 60 * MIN,
      fleet: { look: (_from, to, weight) => lookOf(h.fleet, to, weight) },
      // The operator's own options for this rollout: the same deadline and the same answering commands.
      machine: machineOptions(rolloutOf(STEPS)),
    });
    await h.runUntil(phaseIs(sim.phase));
    expect(sim.phase).toBe(phase);
    expect(h.ports.clock.now() - start).toBe(sim.endedAt);
    const simWeights = sim.timeline.map((t) => t.weight).filter((w, i, all) => i === 0 || w !== all[i - 1]);
    expect(h.ports.router.writes.map((w) => w.weight)).toEqual(simWeights);
    // Findings name their window's start: a clock time here, the time into the simulation there.
    const iso = /\d{4}-\d\d-\d\dT[\d:.]+Z/g;
    expect(h.status().message?.replace(iso, (t) => formatSince(Date.parse(t) - start))).toBe(sim.message);
  });
});

describe("reconcile: GPU node pools", () => {
  const POOL = { "voicectl.dev/pool": "l4" };
  /** The examples/rollouts plan, with short analyses. */
  const PLAN: StepInput[] = [
    { setWeight: 5 },
    ANALYSE,
    { setWeight: 25 },
    ANALYSE,
    { setWeight: 50 },
    ANALYSE,
    { setWeight: 100 },
  ];

  /** A rollout on pool l4 (one GPU per node), both versions placed on it, the stable at `stable` replicas. */
  function poolSetup(o: {
    nodes: number;
    stable: number;
    canaryReplicas?: number;
    maxSurgeGPUs?: number;
    steps?: StepInput[];
  }): Harness {
    const h = setup({ steps: o.steps ?? PLAN });
    const r = rolloutOf(o.steps ?? PLAN);
    const { replicas: _unset, ...canary } = r.spec.canary;
    h.ports.rollouts.put({
      ...r,
      spec: {
        ...r.spec,
        canary: o.canaryReplicas !== undefined ? { ...canary, replicas: o.canaryReplicas } : canary,
        nodePool: {
          name: "l4",
          gpusPerReplica: 1,
          ...(o.maxSurgeGPUs !== undefined ? { maxSurgeGPUs: o.maxSurgeGPUs } : {}),
        },
      },
    });
    h.ports.workloads.set(STABLE, { replicas: o.stable, readyReplicas: o.stable });
    for (let i = 0; i < o.nodes; i++) h.ports.pools.addNode({ name: `l4-${i}`, labels: POOL, gpus: 1 });
    h.ports.pools.place(STABLE, POOL);
    h.ports.pools.place(CANARY, POOL);
    return h;
  }

  const gpusHeld = (h: Harness) =>
    (h.ports.workloads.replicasOf(STABLE) ?? 0) + (h.ports.workloads.replicasOf(CANARY) ?? 0);

  it("a pool too small pauses naming the missing GPUs, never scales into Pending, and resumes when a node is added", async () => {
    // 5 GPUs, the stable holds 4: 1 free, the canary needs 2.
    const h = poolSetup({ nodes: 5, stable: 4, canaryReplicas: 2 });
    const first = await h.pass();
    const s = h.status();
    expect(s.phase).toBe("Paused");
    expect(s.message).toMatch(/^pool l4 has 1 free nvidia.com\/gpu, the canary needs 2 more/);
    expect(condition(s, "PoolCapacity")).toMatchObject({ status: "False", reason: "InsufficientGPUs" });
    expect(condition(s, "Paused")).toMatchObject({ status: "True", reason: "InsufficientGPUs" });
    expect(h.ports.workloads.scales).toEqual([]);
    expect(h.ports.pools.pending(CANARY)).toBe(0);
    expect(first.requeueAfterMs).toBeLessThanOrEqual(15_000);

    // An approval while it waits for GPUs is held, not spent on skipping a step.
    h.ports.rollouts.addCommand(NS, "early-approve", { rollout: REF.name, action: "approve" });
    for (let i = 0; i < 3; i++) {
      h.ports.clock.advance(first.requeueAfterMs!);
      await h.pass();
    }
    expect(h.ports.events.reasons().filter((r) => r === "InsufficientGPUs")).toHaveLength(1);
    expect(h.ports.rollouts.command(NS, "early-approve")?.status?.appliedAt).toBeUndefined();
    expect(h.ports.workloads.scales).toEqual([]);

    h.ports.pools.addNode({ name: "l4-new", labels: POOL, gpus: 1 });
    h.ports.clock.advance(first.requeueAfterMs!);
    await h.pass();
    expect(h.status().phase).toBe("Progressing");
    expect(condition(h.status(), "PoolCapacity")).toMatchObject({ status: "True" });
    expect(h.ports.workloads.scales).toEqual([{ name: CANARY.name, replicas: 2 }]);
    expect(h.ports.pools.pending(CANARY)).toBe(0);
    expect(h.ports.events.reasons()).toContain("PoolCapacityAvailable");
    await h.runUntil(phaseIs("Promoted"));
  });

  it("nodes that cannot take the pod do not count: cordoned, not Ready, or tainted against the tolerations", async () => {
    const h = poolSetup({ nodes: 4, stable: 4, canaryReplicas: 1 });
    h.ports.pools.addNode({ name: "cordoned", labels: POOL, gpus: 1, unschedulable: true });
    h.ports.pools.addNode({ name: "down", labels: POOL, gpus: 1, ready: false });
    h.ports.pools.addNode({
      name: "tainted",
      labels: POOL,
      gpus: 1,
      taints: [{ key: "gpu", value: "h100", effect: "NoSchedule" }],
    });
    await h.pass();
    expect(h.status().message).toMatch(
      /pool l4 has 0 free nvidia.com\/gpu, the canary needs 1 more \(3 of its nodes not counted/,
    );
  });

  it("scales with the weight inside the surge budget at every pass; the stable gives up replicas only after traffic left it", async () => {
    const h = poolSetup({ nodes: 20, stable: 8, maxSurgeGPUs: 4 });
    let maxHeld = 0;
    for (let i = 0; i < 200 && h.status().phase !== "Promoted"; i++) {
      const r = await h.pass();
      const weight = h.ports.router.weightOf(REF) ?? 0;
      const stable = h.ports.workloads.replicasOf(STABLE)!;
      maxHeld = Math.max(maxHeld, gpusHeld(h));
      expect(gpusHeld(h)).toBeLessThanOrEqual(8 + 4);
      // The stable never has fewer replicas than the share of traffic the route sends it.
      expect(stable).toBeGreaterThanOrEqual(Math.ceil(((100 - weight) * 8) / 100));
      // The canary is never sent more than its ready replicas serve.
      expect(h.ports.workloads.replicasOf(CANARY)!).toBeGreaterThanOrEqual(Math.ceil((weight * 8) / 100));
      h.ports.clock.advance(r.requeueAfterMs!);
    }
    expect(h.status().phase).toBe("Promoted");
    expect(h.ports.router.writes.map((w) => w.weight)).toEqual([5, 25, 50, 100]);
    expect(h.ports.workloads.scales.filter((x) => x.name === CANARY.name).map((x) => x.replicas)).toEqual([
      1, 2, 4, 8,
    ]);
    // The worked example of surgePlan: 4 replicas given up once half the traffic had left the stable.
    expect(h.ports.workloads.scales.filter((x) => x.name === STABLE.name)).toEqual([
      { name: STABLE.name, replicas: 4 },
    ]);
    expect(maxHeld).toBe(12);
    expect((h.status() as { pool?: unknown }).pool).toEqual({ stableReplicasAtStart: 8 });
  });

  it("a budget of the canary's full size keeps the stable at 100%: only the canary follows the weight", async () => {
    const h = poolSetup({ nodes: 20, stable: 8, maxSurgeGPUs: 8 });
    await h.runUntil(phaseIs("Promoted"));
    expect(h.ports.workloads.scales.filter((x) => x.name === STABLE.name)).toEqual([]);
    expect(h.ports.workloads.replicasOf(CANARY)).toBe(8);
  });

  it("a budget too small for a step pauses saying how much surge the step needs", async () => {
    const h = poolSetup({ nodes: 20, stable: 8, maxSurgeGPUs: 2 });
    await h.runUntil((s) => s.phase === "Paused");
    const s = h.status();
    expect(s.canaryWeight).toBe(50);
    expect(s.message).toMatch(/raising the canary to 100% needs 4 GPUs .*maxSurgeGPUs is 2/);
    expect(condition(s, "PoolCapacity")).toMatchObject({ status: "False", reason: "SurgeBudgetExceeded" });
    expect(gpusHeld(h)).toBeLessThanOrEqual(10);
    expect(h.ports.workloads.replicasOf(STABLE)).toBe(6);
  });

  it("a rollback under a budget sends 100% back and scales the stable back to N; the canary goes after the delay", async () => {
    const h = poolSetup({ nodes: 20, stable: 8, maxSurgeGPUs: 2 });
    await h.runUntil((s) => s.canaryWeight === 50);
    expect(h.ports.workloads.replicasOf(STABLE)).toBe(6);
    h.fleet.similarityShift = -0.05;
    await h.runUntil(phaseIs("RolledBack"));
    expect(h.ports.router.weightOf(REF)).toBe(0);
    expect(h.ports.workloads.replicasOf(STABLE)).toBe(8);
    expect(h.ports.events.reasons()).toContain("StableRestored");
    expect(h.ports.workloads.replicasOf(CANARY)).toBe(4);
    await h.runUntil(() => h.ports.workloads.replicasOf(CANARY) === 0);
    expect(h.ports.workloads.replicasOf(STABLE)).toBe(8);
  });

  it("a restart resumes with the recorded N, not the stable's shrunken count", async () => {
    const h = poolSetup({ nodes: 20, stable: 8, maxSurgeGPUs: 4 });
    await h.runUntil(() => h.ports.workloads.replicasOf(STABLE) === 4);
    // A new reconciler over the same stores (the reconciler keeps nothing between passes).
    const restarted: Ports = { ...h.ports };
    for (let i = 0; i < 50 && h.status().phase !== "Promoted"; i++) {
      const r = await h.pass(restarted);
      h.ports.clock.advance(r.requeueAfterMs!);
    }
    expect(h.status().phase).toBe("Promoted");
    expect(h.ports.workloads.replicasOf(CANARY)).toBe(8);
    expect(h.ports.workloads.replicasOf(STABLE)).toBe(4);
  });

  it("a status that lost the recorded N mid-rollout holds instead of sizing from the shrunken stable", async () => {
    const h = poolSetup({ nodes: 20, stable: 8, maxSurgeGPUs: 4 });
    await h.runUntil(() => h.ports.workloads.replicasOf(STABLE) === 4);
    const stored = h.ports.rollouts.peek(REF)!;
    const { pool: _lost, ...status } = stored.status as VoiceRolloutStatus & { pool?: unknown };
    h.ports.rollouts.put({ ...stored, status });
    await h.pass();
    expect(h.status().phase).toBe("Paused");
    expect(h.status().message).toMatch(/status.pool\) is missing mid-rollout/);
    expect(h.ports.workloads.replicasOf(STABLE)).toBe(4);
    expect(h.ports.workloads.replicasOf(CANARY)).toBe(4);
  });
});

describe("reconcile: on-call answers that stick, and pauses that do not wait for ever", () => {
  const withApproval = (approval: VoiceRollout["spec"]["approval"], steps: StepInput[] = STEPS) => {
    const r = rolloutOf(steps);
    return { ...r, spec: { ...r.spec, approval } };
  };
  const event = (h: Harness, reason: string) => h.ports.events.events.filter((e) => e.reason === reason);

  it("a non-critical pause says why it is not a rollback and offers abort beside approve", async () => {
    const h = setup();
    h.fleet.costFactor = 1.5;
    await h.runUntil(phaseIs("Paused"));
    const paused = event(h, "Paused").at(-1)!;
    expect(paused.message).toMatch(/^step 2 of 4 \(analysis 2m\.\.10m\): cost/);
    expect(paused.message).toContain(
      'cost is non-critical, so paused rather than rolled back: voicectl rollout approve tts-v42 -n voice --reason "..." --accept cost',
    );
    expect(paused.message).toContain('or voicectl rollout abort tts-v42 -n voice --reason "..."');
    expect(paused.message).toContain("waits for a person for up to 4h, then it rolls back");
    expect(h.status().step).toBe("2/4");
    expect(h.status().currentStepIndex).toBe(1);
  });

  it("approve --accept sticks: the next analysis step does not pause for the same finding, and the promotion says who pushed it", async () => {
    const h = setup();
    h.fleet.costFactor = 1.5;
    await h.runUntil(phaseIs("Paused"));
    h.ports.rollouts.addCommand(NS, "approve-1", {
      rollout: REF.name,
      action: "approve",
      user: "ana@example.com",
      reason: "cost is known to rise with this build",
      accept: [{ metric: "cost" }],
    });
    await h.runUntil(phaseIs("Promoted"));
    // No second pause at 50%: the only pause was the one approved.
    expect(event(h, "Paused")).toHaveLength(1);
    const s = h.status();
    expect(s.acceptedFindings).toEqual([
      expect.objectContaining({ metric: "cost", slice: {}, upTo: null, user: "ana@example.com", step: 1 }),
    ]);
    expect(s.history?.[0]).toMatchObject({
      command: "approve-1",
      accepted: [
        expect.stringMatching(
          /^cost in \(all\) \(worsening \+\d+(\.\d+)?% when accepted\) accepted for the rest/,
        ),
      ],
      over: expect.arrayContaining([expect.stringMatching(/^cost in /)]),
    });
    expect(event(h, "Approved")[0]!.message).toContain("accepting cost in (all)");
    expect(event(h, "AnalysisPassed").at(-1)!.message).toMatch(
      /failing within what approvers accepted \(cost in /,
    );
    expect(event(h, "Promoted")[0]!.message).toMatch(
      /^promoted with 1 approval over failing findings \(cost in .+\); the canary takes 100% of traffic$/,
    );
    expect(s.step).toBe("4/4");
  });

  it("with a margin, an accepted finding that worsens past it pauses again, naming what was accepted", async () => {
    const h = setup();
    h.fleet.costFactor = 1.5;
    await h.runUntil(phaseIs("Paused"));
    h.ports.rollouts.addCommand(NS, "approve-1", {
      rollout: REF.name,
      action: "approve",
      user: "ana@example.com",
      reason: "cost is known to rise with this build",
      accept: [{ metric: "cost", margin: "10%" }],
    });
    await h.pass();
    expect(h.status().phase).toBe("Progressing");
    h.fleet.costFactor = 3;
    await h.runUntil(phaseIs("Paused"));
    expect(h.status().pause?.reason).toMatch(/worse than accepted by ana@example.com at step 2 of 4/);
    expect(h.status().pause?.reason).toMatch(/accepted up to a worsening of \+\d+(\.\d+)?% \(margin 10%\)/);
  });

  it("Abort (the default): a pause nobody answers rolls back at its deadline, looked at again exactly then", async () => {
    const steps: StepInput[] = [{ setWeight: 10 }, { pause: {} }, { setWeight: 100 }];
    const h = setup({ steps });
    h.ports.rollouts.put(withApproval({ deadline: "30m", onDeadline: "Abort" }, steps));
    await h.runUntil(phaseIs("Paused"));
    const since = Date.parse(h.status().pause!.since);
    expect(h.status().pause?.deadline).toBe(new Date(since + 30 * MIN).toISOString());
    await h.runUntil(phaseIs("RolledBack"));
    expect(h.ports.clock.now()).toBe(since + 30 * MIN);
    expect(h.ports.router.weightOf(REF)).toBe(0);
    expect(event(h, "ApprovalExpired")).toEqual([
      expect.objectContaining({
        type: "Warning",
        message: expect.stringMatching(
          /^rolled back: no approval within 30m at step 2 of 3 \(pause until approved\)/,
        ),
      }),
    ]);
    expect(condition(h.status(), "Degraded")).toMatchObject({ status: "True", reason: "RolledBack" });
  });

  it("Escalate: stays paused past the deadline with the ApprovalOverdue condition and one Event; approve clears it", async () => {
    const steps: StepInput[] = [{ setWeight: 10 }, { pause: {} }, { setWeight: 100 }];
    const h = setup({ steps });
    h.ports.rollouts.put(withApproval({ deadline: "1h", onDeadline: "Escalate" }, steps));
    await h.runUntil((s) => condition(s, "ApprovalOverdue")?.status === "True", 2 * 60 * MIN);
    expect(h.status().phase).toBe("Paused");
    expect(h.status().canaryWeight).toBe(10);
    for (let i = 0; i < 3; i++) {
      h.ports.clock.advance(10 * MIN);
      await h.pass();
    }
    expect(event(h, "ApprovalOverdue")).toHaveLength(1);
    h.ports.rollouts.addCommand(NS, "approve-1", { rollout: REF.name, action: "approve", reason: "seen it" });
    await h.runUntil(phaseIs("Promoted"));
    expect(condition(h.status(), "ApprovalOverdue")).toMatchObject({ status: "False", reason: "Answered" });
  });

  it("a rollout stored without spec.approval gets the default: 4h, then a rollback", async () => {
    const steps: StepInput[] = [{ setWeight: 10 }, { pause: {} }, { setWeight: 100 }];
    const h = setup({ steps });
    const r = rolloutOf(steps);
    const { approval: _dropped, ...spec } = r.spec;
    h.ports.rollouts.put({ ...r, spec: spec as VoiceRollout["spec"] });
    await h.runUntil(phaseIs("Paused"));
    const p = h.status().pause!;
    expect(Date.parse(p.deadline!) - Date.parse(p.since)).toBe(4 * 60 * MIN);
  });
});
