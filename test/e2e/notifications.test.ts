// Notifications on a real control plane (issue 15): the operator as its own process, a webhook receiver on
// loopback, a rollout that waits for approval and then rolls back (clone-drift: one cloned voice drifts).
// Exactly once per event is checked as the receiver sees it (distinct ids) and as the operator books it
// (status.notifications: produced = seq, delivered, dropped), across the operator killed at three boundaries
// (after a send, before its record; after the transition's write, before the send), and a sink down while the
// leader is SIGKILLed and a standby takes over. Every figure is printed as "notifications: ..." for the
// reliability report.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCluster, type TestCluster } from "../support/cluster.js";
import type { DataPlane } from "../support/dataplane.js";
import { renderChart } from "../support/helm.js";
import {
  prepareExampleRollout,
  rolloutYaml,
  setUpOperatorCluster,
  startOperatorProcess,
  type OperatorProcess,
  type OperatorProcessOptions,
} from "../support/operator.js";
import { waitFor } from "../support/wait.js";

const INTERVAL_S = 3;
/** Waits for approval at 25%: the drifting voice is seen at the next look and rolls the canary back. */
const STEPS = `    - setWeight: 25
    - pause: {}
    - setWeight: 50
    - analysis: { minDuration: 6s, maxDuration: 120s }`;
const SECRET = "voicectl-sinks";
const NAMESPACES = ["notify-rbac", "notify-failover"];
/**
 * How long the sink stays down after the leader is killed (seconds). Short by default; the reliability
 * figure of issue 15 (a sink down for 10 minutes) is VOICECTL_E2E_SINK_DOWN_S=600, which also waits for
 * the 5-minute backoff cap.
 */
const SINK_DOWN_S = Number(process.env["VOICECTL_E2E_SINK_DOWN_S"] ?? 8);

let cluster: TestCluster;
let operatorKubeconfig: string;

interface Received {
  readonly id: string;
  readonly event: string;
  readonly idempotencyKey: string | undefined;
  readonly body: Record<string, unknown>;
}

/** A webhook receiver on loopback: records every accepted POST; while down it answers 503 and records nothing. */
class Receiver {
  readonly received: Received[] = [];
  refused = 0;
  up = true;
  private server!: Server;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      let text = "";
      req.on("data", (d: Buffer) => (text += d.toString()));
      req.on("end", () => {
        if (!this.up) {
          this.refused++;
          res.writeHead(503).end();
          return;
        }
        const body = JSON.parse(text) as Record<string, unknown>;
        const key = req.headers["idempotency-key"];
        this.received.push({
          id: String(body["id"]),
          event: String(body["event"]),
          idempotencyKey: typeof key === "string" ? key : undefined,
          body,
        });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  /** Each id once, in order of first arrival: what a receiver deduping on `id` keeps. */
  unique(): Received[] {
    const seen = new Set<string>();
    return this.received.filter((r) => (seen.has(r.id) ? false : (seen.add(r.id), true)));
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

interface Notifications {
  seq: number;
  delivered: number;
  dropped?: number;
  outbox: { id: string; event: string; attempts: number; lastError?: string }[];
}

interface View {
  phase?: string;
  notifications?: Notifications;
}

beforeAll(async () => {
  cluster = await startCluster({ l4Nodes: 8 });
  operatorKubeconfig = (await setUpOperatorCluster(cluster)).operator;
}, 300_000);

afterAll(async () => {
  await cluster?.stop();
});

class Scene {
  readonly operators: OperatorProcess[] = [];
  readonly receiver = new Receiver();
  plane!: DataPlane;
  constructor(readonly ns: string) {}

  async open(): Promise<void> {
    this.plane = await prepareExampleRollout(cluster, this.ns, "examples/scenarios/clone-drift.yaml");
    // The chart's Role for this Secret (get, by name, in this namespace only), bound as setUpOperatorCluster
    // binds the others: to the operator's user rather than the chart's ServiceAccount.
    await cluster.apply(
      await renderChart({
        set: {
          "prometheus.url": "http://prometheus.invalid:9090",
          "notifications.secrets[0].namespace": this.ns,
          "notifications.secrets[0].name": SECRET,
        },
        showOnly: ["templates/operator/notification-secrets-role.yaml"],
      }),
    );
    await cluster.apply(`
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: voicectl-operator-notifications, namespace: ${this.ns} }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: voicectl-notification-${SECRET} }
subjects: [{ kind: User, name: voicectl-operator, apiGroup: rbac.authorization.k8s.io }]
`);
    const url = await this.receiver.start();
    await cluster.apply(`
apiVersion: v1
kind: Secret
metadata: { name: ${SECRET}, namespace: ${this.ns} }
stringData: { webhook: "${url}" }
`);
  }

  operator(options: Partial<OperatorProcessOptions> = {}): OperatorProcess {
    const op = startOperatorProcess({
      kubeconfig: operatorKubeconfig,
      prometheusUrl: this.plane.prometheus.url,
      namespace: this.ns,
      leaderElectionId: "voicectl-operator",
      ...options,
    });
    this.operators.push(op);
    return op;
  }

  async start(): Promise<void> {
    const yaml = `${rolloutYaml(STEPS, INTERVAL_S)}
  notifications:
    sinks:
      - name: oncall
        type: webhook
        urlFrom: { secretKeyRef: { name: ${SECRET}, key: webhook } }
`;
    const r = await cluster.kubectl(["-n", this.ns, "apply", "-f", "-"], yaml);
    if (r.code !== 0) throw new Error(r.stderr);
  }

  async status(): Promise<View> {
    return ((await cluster.json(["-n", this.ns, "get", "voicerollout", "tts"]))["status"] ?? {}) as View;
  }

  waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
    return waitFor(`${this.ns}: ${what}`, timeoutMs, probe, {
      context: async () =>
        `status.notifications: ${JSON.stringify((await this.status().catch(() => ({}) as View)).notifications)}\n` +
        `received: ${JSON.stringify(this.receiver.received.map((r) => [r.id, r.event]))}\n` +
        `operator log tail:\n${this.operators.flatMap((o) => o.logs.slice(-12)).join("\n")}`,
    });
  }

  /** Waits until the rollout has rolled back and its outbox is empty. */
  async settled(): Promise<View> {
    return this.waitFor("rolled back, outbox empty", 420_000, async () => {
      const s = await this.status();
      return s.phase === "RolledBack" && s.notifications && s.notifications.outbox.length === 0
        ? s
        : undefined;
    });
  }

  /** Produced, delivered, duplicates at the receiver and lost, printed for the report. */
  figures(label: string, s: View): { produced: number; delivered: number; duplicates: number; lost: number } {
    const n = s.notifications!;
    const unique = this.receiver.unique();
    const f = {
      produced: n.seq,
      delivered: n.delivered,
      duplicates: this.receiver.received.length - unique.length,
      lost: n.seq - unique.length,
    };
    console.log(
      `notifications: ${label}: produced ${f.produced}, delivered (operator) ${f.delivered}, received ${this.receiver.received.length}, distinct ids ${unique.length}, duplicate receipts ${f.duplicates} (same id), lost ${f.lost}, dropped ${n.dropped ?? 0}, refused while down ${this.receiver.refused}`,
    );
    return f;
  }

  async close(): Promise<void> {
    for (const op of this.operators.splice(0)) await op.stop();
    await this.receiver.stop();
    await this.plane?.stop();
    await cluster.kubectl(["delete", "namespace", this.ns, "--wait=false"]);
  }
}

async function inScene(ns: string, body: (s: Scene) => Promise<void>): Promise<void> {
  const s = new Scene(ns);
  try {
    await s.open();
    await body(s);
  } finally {
    await s.close();
  }
}

function expectStory(s: Scene): void {
  const unique = s.receiver.unique();
  expect(unique.map((r) => r.event)).toEqual(["awaiting-approval", "rolled-back"]);
  for (const r of s.receiver.received) expect(r.idempotencyKey).toBe(r.id);
  // Any repeated id carried the same bytes: a receiver deduping on id loses nothing.
  for (const r of s.receiver.received) expect(r.body).toEqual(unique.find((u) => u.id === r.id)!.body);
  const [paused, rolledBack] = unique.map((r) => r.body) as [
    Record<string, unknown>,
    Record<string, unknown>,
  ];
  expect(paused["commands"]).toEqual({
    approve: `voicectl rollout approve tts -n ${s.ns} --reason '...'`,
    abort: `voicectl rollout abort tts -n ${s.ns} --reason '...'`,
  });
  const findings = rolledBack["findings"] as {
    metric: string;
    slice: Record<string, string>;
    critical: boolean;
  }[];
  expect(findings[0]).toMatchObject({
    metric: "speaker_similarity",
    slice: { voice_id: "mia-chen" },
    critical: true,
  });
  expect(findings[0]).toHaveProperty("interval");
  expect(findings[0]).toHaveProperty("samples");
}

describe("notifications from the operator, exactly once per event", () => {
  it("the operator may read the sinks' Secret by name, and no other Secret", async () => {
    await inScene(NAMESPACES[0]!, async (s) => {
      const can = async (...args: string[]) =>
        (
          await cluster.kubectl(["auth", "can-i", ...args, "-n", s.ns, "--as", "voicectl-operator"])
        ).stdout.trim();
      expect(await can("get", `secrets/${SECRET}`)).toBe("yes");
      expect(await can("get", "secrets/another")).toBe("no");
      expect(await can("list", "secrets")).toBe("no");
      expect(await can("watch", "secrets")).toBe("no");
    });
  });

  // Where the operator dies (exit 137, as a SIGKILLed container) and how many receipts repeat an id:
  // - right after the first send, before status records it: the successor sends it again, same id;
  // - right after the status write holding the rollback and its notification, before any send of it;
  // - right after the second send, before status records it.
  it.each([
    ["notify:1:after", ["awaiting-approval"], 1],
    ["transition:3:after", ["awaiting-approval"], 0],
    ["notify:2:after", ["awaiting-approval", "rolled-back"], 1],
  ] as const)(
    "a rollout that waits and rolls back notifies each event once, the operator killed at %s and restarted",
    async (boundary, before, duplicates) => {
      await inScene(`notify-${boundary.replace(/:/g, "-")}`, async (s) => {
        const first = s.operator({ env: { VOICECTL_FAULT_EXIT_AT: boundary } });
        await s.start();
        let code: number | null | undefined;
        void first.exited.then((c) => (code = c));
        await s.waitFor(`the operator to die at ${boundary}`, 120_000, async () =>
          code !== undefined ? true : undefined,
        );
        expect(code).toBe(137);
        expect(s.receiver.received.map((r) => r.event)).toEqual(before);
        // A fresh operator (once the dead one's Lease expires) sends what is pending, a repeat with its id.
        s.operator();
        const done = await s.settled();
        expectStory(s);
        const f = s.figures(`killed at ${boundary}`, done);
        expect(f).toEqual({ produced: 2, delivered: 2, lost: 0, duplicates });
        // Nothing new after the end: later passes tell nothing.
        await new Promise((r) => setTimeout(r, 4_000));
        expect(s.receiver.received).toHaveLength(2 + duplicates);
      });
    },
  );

  it(
    "a sink down for a while and the leader SIGKILLed meanwhile: the standby delivers everything once when it is back",
    async () => {
      await inScene(NAMESPACES[1]!, async (s) => {
        s.receiver.up = false;
        const a = s.operator();
        const b = s.operator();
        await s.start();
        // Both notifications are produced while the sink refuses them, and retried with backoff.
        const held = await s.waitFor("both notifications held in the outbox", 120_000, async () => {
          const st = await s.status();
          const box = st.notifications?.outbox ?? [];
          return st.phase === "RolledBack" && box.length === 2 && box[0]!.attempts >= 2 ? st : undefined;
        });
        expect(held.notifications!.outbox[0]!.lastError).toBe("sink answered HTTP 503");
        // The leader dies while the sink is still down.
        const leader = await s.waitFor("the leader", 30_000, async () => {
          const lease = await cluster.json(["-n", "voicectl-system", "get", "lease", "voicectl-operator"]);
          return (lease["spec"] as { holderIdentity?: string }).holderIdentity || undefined;
        });
        const started = (op: OperatorProcess) =>
          op.logs.some((l) => l.includes('"msg":"operator started"') && l.includes(`"identity":"${leader}"`));
        const [dead] = [a, b].filter(started);
        expect(dead).toBeDefined();
        dead!.child.kill("SIGKILL");
        await dead!.exited;
        await new Promise((r) => setTimeout(r, SINK_DOWN_S * 1000));
        s.receiver.up = true;
        const done = await s.settled();
        expectStory(s);
        const f = s.figures(`sink down ${SINK_DOWN_S}s after the leader's SIGKILL, standby delivers`, done);
        expect(f).toMatchObject({ produced: 2, delivered: 2, lost: 0, duplicates: 0 });
        expect(s.receiver.refused).toBeGreaterThanOrEqual(2);
      });
    },
    600_000 + SINK_DOWN_S * 1000,
  );
});
