import { describe, expect, it } from "vitest";
import {
  ANALYSE,
  CANARY,
  MIN,
  NS,
  POLICY_REF,
  rolloutOf,
  SIMILARITY_POLICY,
  similarityLook,
  STABLE,
  type StepInput,
} from "../../../test/support/reconciler-harness.js";
import type { VoiceRolloutStatus } from "../../core/resource/voicerollout.js";
import { Controller } from "../controller.js";
import { createLogger } from "../log.js";
import { memoryPorts, type MemoryPorts } from "../memory.js";
import type { RolloutRef } from "../ports.js";
import { WorkQueue } from "../queue.js";
import { reconcile } from "../reconciler.js";
import { backoffMs, deliverOutbox } from "./deliver.js";
import { MAX_OUTBOX, withOutbox } from "./outbox.js";
import { WEBHOOK_API_VERSION, type WebhookPayload } from "./payload.js";

/** The rollout is named as its canary Deployment is. */
const REF: RolloutRef = CANARY;
const HOOK = "https://hooks.example.com/T000/secret-token";
const AM = "http://alertmanager.monitoring:9093";

/** Waits for approval at 10%, then analyses at 50%: the shape of a rollout that pauses and rolls back. */
const STEPS: StepInput[] = [{ setWeight: 10 }, { pause: {} }, { setWeight: 50 }, ANALYSE];

interface Fleet {
  shift: number;
}

/** Analyses at 10% for long enough that only a stuck condition can be told. */
const LONG: StepInput[] = [{ setWeight: 10 }, { analysis: { minDuration: "30m", maxDuration: "60m" } }];

function setup(
  options: { sinks?: ("webhook" | "alertmanager" | "slack")[]; ready?: boolean; steps?: StepInput[] } = {},
) {
  const fleet: Fleet = { shift: 0 };
  const ports = memoryPorts((_from, to, weight) => similarityLook(to, weight, fleet.shift));
  const kinds = options.sinks ?? ["webhook"];
  const sinks = kinds.map((type) => ({
    name: type === "alertmanager" ? "alerts" : type === "slack" ? "chat" : "oncall",
    type,
    urlFrom: { secretKeyRef: { name: "voicectl-sinks", key: type } },
  }));
  ports.notifications.setSecret(NS, "voicectl-sinks", "webhook", HOOK);
  ports.notifications.setSecret(NS, "voicectl-sinks", "alertmanager", AM);
  ports.notifications.setSecret(NS, "voicectl-sinks", "slack", "https://hooks.slack.example/services/X");
  const rollout = rolloutOf(REF.name, {
    steps: options.steps ?? STEPS,
    notifications: { sinks, stuckAfter: "3m" },
  });
  ports.rollouts.put({ ...rollout, metadata: { ...rollout.metadata, uid: "0b4c6a1e-uid" } });
  ports.policies.set(POLICY_REF, SIMILARITY_POLICY);
  ports.workloads.set(REF, { replicas: 0 });
  ports.workloads.set(STABLE, { replicas: 4, readyReplicas: 4 });
  ports.router.setWeight(REF, 0);
  const status = (): VoiceRolloutStatus => ports.rollouts.peek(REF)!.status ?? {};
  /** One reconcile, the canary made ready after it as a real Deployment would become. */
  const pass = async (p: MemoryPorts = ports) => {
    const r = await reconcile(REF, p);
    const replicas = ports.workloads.replicasOf(REF);
    if (options.ready !== false && replicas !== undefined) ports.workloads.setReady(REF, replicas);
    return r;
  };
  return { ports, fleet, status, pass };
}

type H = ReturnType<typeof setup>;

/** Passes (each followed by a delivery, as the controller runs them) until `done`, moving the clock. */
async function runUntil(h: H, done: (s: VoiceRolloutStatus) => boolean, maxMs = 60 * MIN): Promise<void> {
  const end = h.ports.clock.now() + maxMs;
  while (h.ports.clock.now() <= end) {
    const r = await h.pass();
    const d = await deliverOutbox(REF, h.ports);
    if (done(h.status())) return;
    const wait = Math.min(r.requeueAfterMs ?? MIN, d.retryAfterMs ?? Infinity);
    h.ports.clock.advance(Math.max(wait, 1));
  }
  throw new Error(`not done after ${maxMs / MIN} min: ${h.status().message}`);
}

function webhooks(h: H): WebhookPayload[] {
  return h.ports.notifications.to(HOOK) as WebhookPayload[];
}

/** Approves the pending pause and drives the rollout into a critical regression: paused, then rolled back. */
async function pauseThenRollBack(h: H): Promise<void> {
  await runUntil(h, (s) => s.phase === "Paused");
  h.ports.rollouts.addCommand(NS, "approve-1", {
    rollout: REF.name,
    action: "approve",
    reason: "looks fine",
  });
  h.fleet.shift = -0.05;
  await runUntil(h, (s) => s.phase === "RolledBack");
}

describe("notifications", () => {
  it("sends one notification per transition, each with its evidence and the commands that answer it", async () => {
    const h = setup();
    await pauseThenRollBack(h);
    // Let more passes run after the end: nothing new is told.
    for (let i = 0; i < 5; i++) {
      await h.pass();
      await deliverOutbox(REF, h.ports);
      h.ports.clock.advance(MIN);
    }
    const got = webhooks(h);
    expect(got.map((p) => p.event)).toEqual(["awaiting-approval", "rolled-back"]);
    expect(new Set(got.map((p) => p.id)).size).toBe(got.length);
    expect(got.map((p) => p.id)).toEqual(["0b4c6a1e-uid/1", "0b4c6a1e-uid/2"]);
    const [paused, rolledBack] = got as [WebhookPayload, WebhookPayload];
    expect(paused.apiVersion).toBe(WEBHOOK_API_VERSION);
    expect(paused.step).toBe(2);
    expect(paused.commands).toEqual({
      approve: "voicectl rollout approve tts-v42 -n voice --reason '...'",
      abort: "voicectl rollout abort tts-v42 -n voice --reason '...'",
    });
    expect(rolledBack.severity).toBe("critical");
    expect(rolledBack.commands).toEqual({});
    const f = rolledBack.findings[0]!;
    expect(f).toMatchObject({
      metric: "speaker_similarity",
      slice: {},
      verdict: "fail",
      critical: true,
      budget: 0.01,
    });
    expect(f.baseline).toBeCloseTo(0.72, 2);
    expect(f.canary).toBeCloseTo(0.67, 2);
    expect(f.interval!.lower).toBeGreaterThan(0.01);
    expect(f.samples!.canary).toBeGreaterThan(0);
    // The outbox is empty and its bookkeeping adds up: 2 produced, 2 delivered.
    expect(h.status().notifications).toMatchObject({ seq: 2, delivered: 2, outbox: [] });
    // The sink's URL is a secret: never in status or Events.
    expect(JSON.stringify(h.status())).not.toContain("secret-token");
    expect(JSON.stringify(h.ports.events.events)).not.toContain("secret-token");
  });

  it("tells Alertmanager of the open pause and resolves it (endsAt) when it is answered", async () => {
    const h = setup({ sinks: ["webhook", "alertmanager"] });
    await pauseThenRollBack(h);
    const alerts = h.ports.notifications.sent.filter((n) => n.url === `${AM}/api/v2/alerts`);
    const posted = alerts.flatMap((n) => n.body as { labels: Record<string, string>; endsAt: string }[]);
    const waiting = posted.filter((a) => a.labels["alertname"] === "VoiceRolloutAwaitingApproval");
    expect(waiting).toHaveLength(2);
    // First firing (endsAt far ahead), then resolved at the approval.
    expect(Date.parse(waiting[0]!.endsAt)).toBeGreaterThan(h.ports.clock.now());
    expect(Date.parse(waiting[1]!.endsAt)).toBeLessThanOrEqual(h.ports.clock.now());
    expect(waiting[1]!.labels).toEqual(waiting[0]!.labels);
    expect(posted.filter((a) => a.labels["alertname"] === "VoiceRolloutRolledBack")).toHaveLength(1);
    // The resolution is not sent to the webhook: nobody is told twice of one pause.
    expect(webhooks(h).map((p) => p.event)).toEqual(["awaiting-approval", "rolled-back"]);
  });

  it("retries a sink that is down with exponential backoff, then delivers each notification once, in order", async () => {
    const h = setup();
    h.ports.notifications.down.add(HOOK);
    await pauseThenRollBack(h);
    const before = h.ports.notifications.refused.length;
    expect(before).toBeGreaterThan(1);
    const pending = h.status().notifications!.outbox;
    expect(pending.map((e) => e.event)).toEqual(["awaiting-approval", "rolled-back"]);
    expect(pending[0]!.lastError).toBe("sink answered HTTP 503");
    // The waits between refused attempts grow: 1s, 2s, 4s ...
    const attempts = pending[0]!.attempts;
    expect(Date.parse(pending[0]!.nextAttemptAt!) - h.ports.clock.now()).toBeLessThanOrEqual(
      backoffMs(attempts),
    );
    // Nothing sent before its time.
    expect((await deliverOutbox(REF, h.ports)).failed).toBe(0);
    expect(h.ports.notifications.refused.length).toBe(before);
    // Down for 10 minutes, then back.
    for (let t = 0; t < 10; t++) {
      h.ports.clock.advance(MIN);
      await h.pass();
      await deliverOutbox(REF, h.ports);
    }
    h.ports.notifications.down.clear();
    h.ports.clock.advance(backoffMs(20));
    const d = await deliverOutbox(REF, h.ports);
    expect(d).toMatchObject({ delivered: 2, failed: 0, retryAfterMs: null });
    expect(webhooks(h).map((p) => p.event)).toEqual(["awaiting-approval", "rolled-back"]);
    expect(h.status().notifications).toMatchObject({ seq: 2, delivered: 2, outbox: [] });
    // At most one attempt per backoff window: 1+2+4+...+300s over ~20 minutes is well under 30 attempts.
    expect(h.ports.notifications.refused.length).toBeLessThan(30);
  });

  it("a crash between the send and the status write re-sends the same id and the same bytes, and counts it once", async () => {
    const h = setup();
    await runUntil(h, (s) => (s.notifications?.seq ?? 0) >= 1 && s.phase === "Paused");
    // runUntil delivered it already; play the crash on the next notification instead.
    h.ports.rollouts.addCommand(NS, "approve-1", { rollout: REF.name, action: "approve", reason: "ok" });
    h.fleet.shift = -0.05;
    for (let i = 0; i < 30 && h.status().phase !== "RolledBack"; i++) {
      const r = await h.pass();
      h.ports.clock.advance(r.requeueAfterMs ?? MIN);
    }
    // The process dies after the POST succeeded and before the status write recording it.
    h.ports.rollouts.faults.failNext("updateStatus", new Error("SIGKILL"));
    await expect(deliverOutbox(REF, h.ports)).rejects.toThrow("SIGKILL");
    expect(h.status().notifications!.outbox).toHaveLength(1);
    await deliverOutbox(REF, h.ports);
    const got = webhooks(h);
    const rolledBack = got.filter((p) => p.event === "rolled-back");
    expect(rolledBack).toHaveLength(2);
    expect(rolledBack[0]).toEqual(rolledBack[1]);
    const headers = h.ports.notifications.sent
      .filter((n) => n.url === HOOK)
      .map((n) => n.headers["Idempotency-Key"]);
    expect(headers.slice(-2)).toEqual([rolledBack[0]!.id, rolledBack[0]!.id]);
    // A receiver deduping on id has each notification once; the operator counts it once.
    expect(new Set(got.map((p) => p.id)).size).toBe(2);
    expect(h.status().notifications).toMatchObject({ seq: 2, delivered: 2, outbox: [] });
  });

  it("two reconciles racing write each notification once (the loser's status write conflicts)", async () => {
    const h = setup({ ready: true });
    // A second operator's view of the same store: same rollouts, its own everything else is shared too.
    let passes = 0;
    let conflicts = 0;
    while (h.status().phase !== "Paused" && passes++ < 20) {
      const [a, b] = await Promise.all([reconcile(REF, h.ports), reconcile(REF, h.ports)]);
      if (a.conflict || b.conflict) conflicts++;
      h.ports.workloads.setReady(REF, h.ports.workloads.replicasOf(REF) ?? 0);
      h.ports.clock.advance(Math.max(1, Math.min(a.requeueAfterMs ?? MIN, b.requeueAfterMs ?? MIN)));
    }
    expect(h.status().phase).toBe("Paused");
    expect(conflicts).toBeGreaterThan(0);
    const outbox = h.status().notifications!.outbox;
    expect(outbox.map((e) => e.event)).toEqual(["awaiting-approval"]);
    // Deliveries racing each other and a reconcile: the receiver may see the id twice (at-least-once),
    // the operator's bookkeeping counts it once and the outbox ends empty.
    await Promise.all([deliverOutbox(REF, h.ports), deliverOutbox(REF, h.ports), reconcile(REF, h.ports)]);
    await deliverOutbox(REF, h.ports);
    expect(h.status().notifications).toMatchObject({ seq: 1, delivered: 1, outbox: [] });
    const ids = webhooks(h).map((p) => p.id);
    expect(new Set(ids)).toEqual(new Set(["0b4c6a1e-uid/1"]));
  });

  it("a status write lost to another writer drops the pass's notification with its transition, then writes both once", async () => {
    const h = setup();
    await h.pass(); // setWeight 10
    h.ports.clock.advance(MIN);
    // Another writer changes the status between this pass's read and its write.
    const store = h.ports.rollouts;
    const write = store.updateStatus.bind(store);
    let raced = false;
    store.updateStatus = async (r, st) => {
      if (!raced) {
        raced = true;
        await write(r, { ...r.status, message: "another writer" });
      }
      return write(r, st);
    };
    const r = await h.pass();
    expect(r.conflict).toBe(true);
    expect(h.status().notifications?.seq ?? 0).toBe(0);
    await h.pass();
    expect(h.status().notifications!.outbox.map((e) => e.event)).toEqual(["awaiting-approval"]);
    await h.pass();
    expect(h.status().notifications!.seq).toBe(1);
  });

  it("tells of a canary that stays unready longer than stuckAfter, once, and resolves it", async () => {
    const h = setup({ sinks: ["webhook", "alertmanager"], ready: false, steps: LONG });
    for (let i = 0; i < 20; i++) {
      await h.pass();
      await deliverOutbox(REF, h.ports);
      h.ports.clock.advance(15_000);
    }
    const stuck = webhooks(h).filter((p) => p.event === "stuck");
    expect(stuck).toHaveLength(1);
    expect(stuck[0]!.reason).toBe("CanaryNotReady");
    expect(stuck[0]!.message).toContain("3m");
    expect(h.status().notifications!.open).toEqual(["stuck:CanaryNotReady"]);
    h.ports.workloads.setReady(REF, 2);
    await h.pass();
    await deliverOutbox(REF, h.ports);
    expect(h.status().notifications!.open).toBeUndefined();
    const resolved = h.ports.notifications.sent
      .filter((n) => n.url.startsWith(AM))
      .flatMap((n) => n.body as { labels: Record<string, string>; endsAt: string }[])
      .filter((a) => a.labels["reason"] === "CanaryNotReady");
    expect(resolved).toHaveLength(2);
    expect(Date.parse(resolved[1]!.endsAt)).toBeLessThanOrEqual(h.ports.clock.now());
  });

  it("tells of a policy that cannot be used and of a metric source down for longer than stuckAfter", async () => {
    const h = setup();
    await h.pass();
    h.ports.policies.setInvalid(POLICY_REF, "spec.metrics[0].budget: expected absolute or relative");
    await h.pass();
    await deliverOutbox(REF, h.ports);
    expect(webhooks(h).map((p) => [p.event, p.reason])).toEqual([["stuck", "PolicyUnavailable"]]);

    const down = setup({ steps: LONG });
    await down.pass();
    down.ports.metrics.failNext(100);
    for (let i = 0; i < 8; i++) {
      down.ports.clock.advance(MIN);
      await down.pass();
      await deliverOutbox(REF, down.ports);
    }
    expect(webhooks(down).map((p) => [p.event, p.reason])).toEqual([["stuck", "MetricsSourceDown"]]);
  });

  it("keeps the outbox bounded, counting what it drops", () => {
    const h = setup();
    const rollout = h.ports.rollouts.peek(REF)!;
    let status: VoiceRolloutStatus = { phase: "Progressing", currentStepIndex: 3, canaryWeight: 50 };
    for (let i = 0; i < MAX_OUTBOX + 5; i++)
      status = withOutbox({
        rollout,
        previous: status,
        next: { phase: "Promoted", canaryWeight: 100 },
        events: [{ type: "Normal", reason: "Promoted", message: `promoted ${i}` }],
        now: 0,
        canaryWaiting: false,
        metricsDown: false,
      });
    expect(status.notifications!.outbox).toHaveLength(MAX_OUTBOX);
    expect(status.notifications!.dropped).toBe(5);
    expect(status.notifications!.outbox[0]!.message).toBe("promoted 5");
    expect(status.notifications!.seq).toBe(MAX_OUTBOX + 5);
  });

  it("the controller delivers after the pass and comes back for a retry; logs never carry the URL", async () => {
    const h = setup();
    const lines: string[] = [];
    h.ports.notifications.down.add(HOOK);
    const controller = new Controller({
      ports: h.ports,
      queue: new WorkQueue(h.ports.clock),
      log: createLogger({ write: (l) => lines.push(l), now: () => h.ports.clock.now() }),
    });
    const step = async () => {
      controller.enqueue(REF);
      await controller.processNext();
      h.ports.workloads.setReady(REF, h.ports.workloads.replicasOf(REF) ?? 0);
    };
    for (let i = 0; i < 4; i++) await step();
    expect(h.status().phase).toBe("Paused");
    expect(h.ports.notifications.refused.length).toBeGreaterThan(0);
    h.ports.notifications.down.clear();
    h.ports.clock.advance(backoffMs(5));
    await step();
    expect(webhooks(h).map((p) => p.event)).toEqual(["awaiting-approval"]);
    expect(lines.some((l) => l.includes("notification not delivered"))).toBe(true);
    expect(lines.join("\n")).not.toContain("secret-token");
    await controller.stop();
  });
});

describe("notification payloads", () => {
  it("tells of a promotion after an approval, and of an abort, each once", async () => {
    const h = setup();
    await runUntil(h, (s) => s.phase === "Paused");
    h.ports.rollouts.addCommand(NS, "approve-1", { rollout: REF.name, action: "approve", reason: "ok" });
    await runUntil(h, (s) => s.phase === "Promoted");
    expect(webhooks(h).map((p) => p.event)).toEqual(["awaiting-approval", "promoted"]);
    expect(webhooks(h)[1]!.severity).toBe("info");

    const a = setup();
    await runUntil(a, (s) => s.phase === "Paused");
    a.ports.rollouts.addCommand(NS, "abort-1", { rollout: REF.name, action: "abort", reason: "not today" });
    await runUntil(a, (s) => s.phase === "RolledBack");
    const got = webhooks(a);
    expect(got.map((p) => [p.event, p.reason])).toEqual([
      ["awaiting-approval", "AwaitingApproval"],
      ["aborted", "Aborted"],
    ]);
    expect(got[1]!.message).toContain("not today");
  });

  it("Slack gets text and Block Kit with the evidence and the commands; Alertmanager gets labels and annotations", async () => {
    const h = setup({ sinks: ["slack", "alertmanager"] });
    await runUntil(h, (s) => s.phase === "Paused");
    h.fleet.shift = -0.05;
    await runUntil(h, (s) => s.phase === "RolledBack");
    const slack = h.ports.notifications.to("https://hooks.slack.example") as {
      text: string;
      blocks: { type: string }[];
    }[];
    expect(slack).toHaveLength(2);
    expect(slack[0]!.text).toContain("voicectl rollout approve tts-v42 -n voice --reason '...'");
    expect(slack[0]!.text).toContain("voicectl rollout abort tts-v42 -n voice --reason '...'");
    expect(slack[1]!.text).toMatch(/speaker_similarity in all traffic: 0\.72\d* -> 0\.67\d*; worsening/);
    expect(slack[1]!.text).toMatch(/budget 0\.01; n=\d+\/\d+ \(fail, critical\)/);
    expect(slack[1]!.blocks.map((b) => b.type)).toEqual(["section", "section", "context"]);
    const alerts = h.ports.notifications.to(AM).flat() as {
      labels: Record<string, string>;
      annotations: Record<string, string>;
    }[];
    const rolledBack = alerts.find((a) => a.labels["alertname"] === "VoiceRolloutRolledBack")!;
    expect(rolledBack.labels).toEqual({
      alertname: "VoiceRolloutRolledBack",
      namespace: NS,
      rollout: REF.name,
      reason: "RolledBack",
      severity: "critical",
    });
    expect(rolledBack.annotations["evidence_1"]).toContain("speaker_similarity");
    expect(rolledBack.annotations["notification_id"]).toBe("0b4c6a1e-uid/2");
  });

  it("a sink taken out of the spec is not waited for; notifications are dropped (counted) when none is left", () => {
    const h = setup({ sinks: ["webhook", "alertmanager"] });
    const rollout = h.ports.rollouts.peek(REF)!;
    const facts = {
      rollout,
      next: { phase: "RolledBack" as const, canaryWeight: 0 },
      events: [{ type: "Warning" as const, reason: "RolledBack", message: "critical regression" }],
      now: 0,
      canaryWaiting: false,
      metricsDown: false,
    };
    const first = withOutbox({ ...facts, previous: undefined });
    expect(first.notifications!.outbox[0]!.sinks).toEqual(["oncall", "alerts"]);
    const fewer = {
      ...rollout,
      spec: {
        ...rollout.spec,
        notifications: {
          ...rollout.spec.notifications!,
          sinks: rollout.spec.notifications!.sinks.slice(0, 1),
        },
      },
    };
    const second = withOutbox({ ...facts, rollout: fewer, previous: first, events: [] });
    expect(second.notifications!.outbox[0]!.sinks).toEqual(["oncall"]);
    expect(second.notifications!.dropped).toBeUndefined();
    const none = { ...rollout, spec: { ...rollout.spec, notifications: undefined } };
    const third = withOutbox({ ...facts, rollout: none, previous: second, events: [] });
    expect(third.notifications).toEqual({ seq: 1, outbox: [], delivered: 0, dropped: 1 });
  });
});
