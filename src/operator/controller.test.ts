import { describe, expect, it } from "vitest";
import { Controller, keyOf, refOf, type ReconcileFn } from "./controller.js";
import { createLogger } from "./log.js";
import { ManualClock, memoryPorts } from "./memory.js";
import { OperatorMetrics } from "./metrics.js";
import { ConflictError, type RolloutRef } from "./ports.js";
import { WorkQueue } from "./queue.js";
import type { ReconcileResult } from "./reconciler.js";

const A: RolloutRef = { namespace: "voice", name: "tts-v42" };
const B: RolloutRef = { namespace: "voice", name: "asr-v7" };

/** Lets every pending promise callback run. */
const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
};

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const OK: ReconcileResult = { requeueAfterMs: 60_000, phase: "Progressing", canaryWeight: 10, decisions: [] };

function harness(run: ReconcileFn, workers = 3) {
  const clock = new ManualClock();
  const ports = memoryPorts(() => ({ at: 0, canaryWeight: 0, cells: [] }), clock);
  const lines: string[] = [];
  const metrics = new OperatorMetrics();
  const controller = new Controller({
    ports,
    workers,
    queue: new WorkQueue(clock, { baseMs: 1000, maxMs: 60_000 }),
    metrics,
    log: createLogger({ write: (l) => lines.push(l), now: () => clock.now() }),
    reconcile: run,
  });
  return { clock, controller, lines, metrics };
}

describe("controller", () => {
  it("keys round-trip", () => {
    expect(refOf(keyOf(A))).toEqual(A);
  });

  it("never reconciles one rollout on two workers at once, and re-runs a key added meanwhile", async () => {
    const running = new Map<string, number>();
    let overlap = 0;
    const calls: string[] = [];
    const gates: { resolve: (r: ReconcileResult) => void }[] = [];
    const run: ReconcileFn = async (ref) => {
      const k = keyOf(ref);
      calls.push(k);
      running.set(k, (running.get(k) ?? 0) + 1);
      if (running.get(k)! > 1) overlap++;
      const d = deferred<ReconcileResult>();
      gates.push(d);
      const r = await d.promise;
      running.set(k, running.get(k)! - 1);
      return r;
    };
    const { controller } = harness(run);
    controller.start();
    controller.enqueue(A);
    controller.enqueue(B);
    await settle();
    expect(calls).toEqual(["voice/tts-v42", "voice/asr-v7"]);
    // Watch events for A while it is being reconciled: three workers, still one pass of A at a time.
    controller.enqueue(A);
    controller.enqueue(A);
    await settle();
    expect(calls).toHaveLength(2);
    gates.shift()!.resolve(OK);
    await settle();
    expect(calls).toEqual(["voice/tts-v42", "voice/asr-v7", "voice/tts-v42"]);
    for (const g of gates.splice(0)) g.resolve(OK);
    await settle();
    expect(overlap).toBe(0);
    expect(calls).toHaveLength(3);
    await controller.stop();
  });

  it("requeues at the time the pass asked for", async () => {
    const calls: number[] = [];
    const h = harness(async () => {
      calls.push(h.clock.now());
      return { ...OK, requeueAfterMs: 30_000 };
    });
    const start = h.clock.now();
    h.controller.start();
    h.controller.enqueue(A);
    await settle();
    h.clock.advance(29_999);
    await settle();
    expect(calls).toEqual([start]);
    h.clock.advance(1);
    await settle();
    expect(calls).toEqual([start, start + 30_000]);
    await h.controller.stop();
  });

  it("a lost write race runs again at once; other errors back off, are logged and counted", async () => {
    const results: (ReconcileResult | Error)[] = [
      new ConflictError("the object has been modified"),
      new Error("connection reset"),
      new Error("connection reset"),
      OK,
    ];
    const calls: number[] = [];
    const h = harness(async () => {
      calls.push(h.clock.now());
      const next = results.shift()!;
      if (next instanceof Error) throw next;
      return next;
    }, 1);
    const start = h.clock.now();
    h.controller.start();
    h.controller.enqueue(A);
    await settle();
    // The conflict retried at once; the first error waits 1 s, the second 2 s.
    expect(calls).toEqual([start, start]);
    h.clock.advance(1000);
    await settle();
    expect(calls).toEqual([start, start, start + 1000]);
    h.clock.advance(1999);
    await settle();
    expect(calls).toHaveLength(3);
    h.clock.advance(1);
    await settle();
    expect(calls).toHaveLength(4);
    expect(h.controller.queue.failuresOf(keyOf(A))).toBe(0);
    const warnings = h.lines.map((l) => JSON.parse(l) as { level: string; msg: string; rollout: string });
    expect(warnings.filter((w) => w.level === "warn")).toHaveLength(2);
    expect(warnings[0]).toMatchObject({
      msg: expect.stringMatching(/retrying with backoff/),
      rollout: "voice/tts-v42",
      fields: { retryInMs: 1000, error: { message: "connection reset" } },
    });
    const text = await h.metrics.text();
    expect(text).toMatch(/^voicectl_reconcile_errors_total 2$/m);
    await h.controller.stop();
  });

  it("records the phase, weight and decisions, and drops the series of a rollout that is gone", async () => {
    const results: ReconcileResult[] = [
      {
        requeueAfterMs: 1000,
        phase: "RolledBack",
        canaryWeight: 0,
        decisions: [{ decision: "rollback", reason: "RolledBack" }],
        analysisMs: 250,
      },
      { requeueAfterMs: null, decisions: [] },
    ];
    const h = harness(async () => results.shift()!);
    h.controller.start();
    h.controller.enqueue(A);
    await settle();
    let text = await h.metrics.text();
    expect(text).toContain(
      'voicectl_rollout_phase{namespace="voice",rollout="tts-v42",phase="RolledBack"} 1',
    );
    expect(text).toContain(
      'voicectl_rollout_phase{namespace="voice",rollout="tts-v42",phase="Progressing"} 0',
    );
    expect(text).toContain('voicectl_rollout_canary_weight{namespace="voice",rollout="tts-v42"} 0');
    expect(text).toContain('voicectl_decisions_total{decision="rollback",reason="RolledBack"} 1');
    expect(text).toMatch(/^voicectl_analysis_duration_seconds_count 1$/m);
    expect(text).toMatch(/^voicectl_reconcile_duration_seconds_count 1$/m);
    h.clock.advance(1000);
    await settle();
    text = await h.metrics.text();
    expect(text).not.toContain('rollout="tts-v42"');
    await h.controller.stop();
  });

  it("stop() waits for the pass in flight and takes no more keys", async () => {
    const gate = deferred<ReconcileResult>();
    let calls = 0;
    const h = harness(async () => {
      calls++;
      return gate.promise;
    });
    h.controller.start();
    h.controller.enqueue(A);
    await settle();
    let stopped = false;
    const stopping = h.controller.stop().then(() => (stopped = true));
    h.controller.enqueue(B);
    await settle();
    expect(stopped).toBe(false);
    gate.resolve(OK);
    await stopping;
    expect(calls).toBe(1);
  });

  it("drives a real rollout through the reconciler to its first weight", async () => {
    const clock = new ManualClock();
    const ports = memoryPorts(() => ({ at: 0, canaryWeight: 0, cells: [] }), clock);
    const { voiceRolloutSpecSchema } = await import("../core/resource/voicerollout.js");
    const { makePolicy } = await import("../../test/support/policy.js");
    ports.rollouts.put({
      apiVersion: "voicectl.dev/v1alpha1",
      kind: "VoiceRollout",
      metadata: A,
      spec: voiceRolloutSpecSchema.parse({
        stable: { deployment: "tts-v41" },
        canary: { deployment: "tts-v42", replicas: 1 },
        policyRef: { name: "studio" },
        traffic: { gatewayAPI: { httpRoute: "tts" } },
        steps: [{ setWeight: 10 }, { pause: {} }],
      }),
    });
    ports.policies.set(
      { namespace: "voice", name: "studio" },
      makePolicy([{ name: "cost", budget: { relative: 0.1 } }]),
    );
    ports.workloads.set({ namespace: "voice", name: "tts-v42" }, { replicas: 1, readyReplicas: 1 });
    const controller = new Controller({ ports, workers: 2, queue: new WorkQueue(clock) });
    controller.start();
    controller.enqueue(A);
    await settle();
    expect(ports.rollouts.peek(A)?.status).toMatchObject({ phase: "Paused", canaryWeight: 10 });
    expect(ports.router.writes).toEqual([{ rollout: "voice/tts-v42", weight: 10 }]);
    await controller.stop();
  });
});
