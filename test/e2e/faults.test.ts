// Fault tolerance on a real control plane (issue 6): the operator as its own process, killed at reconcile
// boundaries, failing over between two replicas, with Prometheus down, a second writer racing it, the canary
// Deployment deleted, the HTTPRoute edited by hand, and the API server hanging. Every part is real: the
// Kubernetes control plane built from source, Prometheus from Debian's package, the fleet exporter, and the
// gateway stand-in that routes by the HTTPRoute's weights and records every weight it ever saw (so a double
// shift, a skipped step or lost stable traffic shows up in `plane.weights`).
//
// One cluster for the file; each rollout has its own namespace, data plane, operator(s) and leader Lease, and
// its namespace is deleted afterwards to give its GPUs back.
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scratch } from "../support/cli.js";
import { repositoryRoot, startCluster, type TestCluster } from "../support/cluster.js";
import { routeCanaryWeight, type DataPlane } from "../support/dataplane.js";
import {
  CANARY,
  prepareExampleRollout,
  rolloutYaml,
  setUpOperatorCluster,
  STABLE,
  startOperatorProcess,
  type OperatorProcess,
  type OperatorProcessOptions,
} from "../support/operator.js";
import { startPrometheus, type PrometheusServer } from "../support/prometheus.js";
import { startTcpProxy } from "../support/tcp-proxy.js";
import { sleep, waitFor } from "../support/wait.js";

/** Real seconds between looks; at 60x each look holds this many simulated minutes of traffic. */
const INTERVAL_S = 3;

/** Two analysis steps around a second weight: the shape most rollouts have. */
const TWO_STEPS = `    - setWeight: 25
    - analysis: { minDuration: 6s, maxDuration: 120s }
    - setWeight: 50
    - analysis: { minDuration: 6s, maxDuration: 120s }`;

let cluster: TestCluster;
let operatorKubeconfig: string;
let approverKubeconfig: string;

// Boundaries of the sweep, for the rollout below (setWeight 25, pause for approval, setWeight 50, analysis):
// - every transition (a status write that moves phase, weight, step or history: 4 of them), killed right
//   before and right after the write;
// - every weight write (3), killed right after it (between the route write and the Events and commands);
//   right before it is the same instant as right after the transition that asked for it (the reconciler
//   writes the route straight after the status), so it is not run twice;
// - the one command (the approval), right after it is marked applied (right before is again the instant
//   after the approval's weight write);
// - a look taken but not saved, and a look saved but not yet in status.
// Look-only status writes are left out: their number depends on timing, and a kill there is the same as a
// kill right after the look save before it. The in-memory sweep (src/operator/faults.test.ts) runs every
// occurrence of every kind, before and after.
const SWEEP: readonly string[] = [
  ...[1, 2, 3, 4].flatMap((n) => [`transition:${n}:before`, `transition:${n}:after`]),
  ...[1, 2, 3].map((n) => `weight:${n}:after`),
  "command:1:after",
  "look:1:before",
  "look:2:after",
];

/**
 * At most this many sweep rollouts at once: every data plane's fleet exporter runs in this test process, and
 * on a loaded machine more of them at once make Prometheus's 1 s scrapes time out (no data, no promotion).
 */
const SWEEP_CONCURRENCY = 3;
let free = SWEEP_CONCURRENCY;
const queued: (() => void)[] = [];
async function limited<T>(fn: () => Promise<T>): Promise<T> {
  while (free === 0) await new Promise<void>((resolve) => queued.push(resolve));
  free--;
  try {
    return await fn();
  } finally {
    free++;
    queued.shift()?.();
  }
}

/** Lease names the tests use: one per rollout, so operators of different namespaces do not compete. */
const leaseOf = (ns: string) => `fault-${ns}`;
const nsOf = (boundary: string) => `k-${boundary.replace(/:/g, "-")}`;
const LEASES = [
  ...SWEEP.map((b) => leaseOf(nsOf(b))),
  ...["failover", "handover", "promdown", "conflicts", "deleted", "handedit", "stall"].map(leaseOf),
];

beforeAll(async () => {
  // Enough GPUs on pool l4 (one per node) for the concurrent rollouts' stable and canary replicas.
  cluster = await startCluster({ l4Nodes: 32 });
  const ids = await setUpOperatorCluster(cluster);
  operatorKubeconfig = ids.operator;
  approverKubeconfig = ids.approver;
  // The chart's Role lets the operator renew its one Lease; these tests give each rollout its own.
  await cluster.apply(`
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: { name: voicectl-fault-test-leases, namespace: voicectl-system }
rules:
  - apiGroups: [coordination.k8s.io]
    resources: [leases]
    resourceNames: [${LEASES.join(", ")}]
    verbs: [get, update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: voicectl-fault-test-leases, namespace: voicectl-system }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: voicectl-fault-test-leases }
subjects: [{ kind: User, name: voicectl-operator, apiGroup: rbac.authorization.k8s.io }]
`);
}, 300_000);

afterAll(async () => {
  await cluster?.stop();
});

interface RolloutView {
  phase?: string;
  canaryWeight?: number;
  currentStepIndex?: number;
  message?: string;
  pause?: { kind: string; reason: string } | null;
  history?: { action: string; user: string; reason: string; command?: string }[];
  analysis?: { looks: number; restarts?: number };
  lastDecision?: { findings: { metric: string; verdict: string; reason?: string }[] } | null;
}

async function rolloutStatus(ns: string): Promise<RolloutView> {
  const vr = await cluster.json(["-n", ns, "get", "voicerollout", "tts"]);
  return (vr["status"] ?? {}) as RolloutView;
}

async function routeWeight(ns: string): Promise<number | null> {
  return routeCanaryWeight(await cluster.json(["-n", ns, "get", "httproute", "tts"]), STABLE, CANARY);
}

async function leaseHolder(name: string): Promise<string> {
  const lease = await cluster.json(["-n", "voicectl-system", "get", "lease", name]);
  return (lease["spec"] as { holderIdentity?: string }).holderIdentity ?? "";
}

async function replicas(ns: string, deployment: string): Promise<number> {
  const d = await cluster.json(["-n", ns, "get", "deployment", deployment]);
  return (d["spec"] as { replicas?: number }).replicas ?? 0;
}

/** One rollout's world: a namespace, its data plane, the operators started for it. */
class Scene {
  readonly operators: OperatorProcess[] = [];
  readonly cleanups: (() => Promise<void>)[] = [];
  plane!: DataPlane;
  closed = false;
  constructor(readonly ns: string) {}

  static async open(ns: string, scenario = "examples/scenarios/aa.yaml"): Promise<Scene> {
    const s = new Scene(ns);
    s.plane = await prepareExampleRollout(cluster, ns, scenario);
    return s;
  }

  operator(options: Partial<OperatorProcessOptions> = {}): OperatorProcess {
    const op = startOperatorProcess({
      kubeconfig: operatorKubeconfig,
      prometheusUrl: this.plane.prometheus.url,
      namespace: this.ns,
      leaderElectionId: leaseOf(this.ns),
      ...options,
    });
    this.operators.push(op);
    return op;
  }

  async start(steps: string): Promise<void> {
    const r = await cluster.kubectl(["-n", this.ns, "apply", "-f", "-"], rolloutYaml(steps, INTERVAL_S));
    if (r.code !== 0) throw new Error(r.stderr);
  }

  status(): Promise<RolloutView> {
    return rolloutStatus(this.ns);
  }

  weights(): number[] {
    return this.plane.weights.map((w) => w.weight);
  }

  /** Waits as test/support/wait.ts does; a timeout shows this scene's status, weights and operator logs. */
  waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
    return waitFor(`${this.ns}: ${what}`, timeoutMs, probe, {
      context: async () =>
        `status: ${JSON.stringify(await this.status().catch(() => ({})))}\n` +
        `weights seen: ${JSON.stringify(this.weights())}\n` +
        `operator log tail:\n${this.operators.flatMap((o) => o.logs.slice(-12)).join("\n")}`,
    });
  }

  phase(phase: string, timeoutMs = 180_000): Promise<RolloutView> {
    return this.waitFor(phase, timeoutMs, async () => {
      const s = await this.status();
      return s.phase === phase ? s : undefined;
    });
  }

  /** `voicectl rollout approve|abort` as its own process (tests run concurrently: no shared CLI state). */
  async command(action: "approve" | "abort", reason: string): Promise<void> {
    const args = [join(repositoryRoot(), "dist/src/cli/main.js"), "rollout", action, "tts", "-n", this.ns];
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(
        process.execPath,
        [...args, "--kubeconfig", approverKubeconfig, "--reason", reason],
        { stdio: ["ignore", "ignore", "pipe"] },
      );
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      child.on("close", (code) => resolve({ code, stderr }));
    });
    if (r.code !== 0) throw new Error(`rollout ${action}: exit ${r.code}: ${r.stderr}`);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const op of this.operators.splice(0)) await op.stop();
    for (const c of this.cleanups.splice(0)) await c();
    await this.plane?.stop();
    await cluster.kubectl(["delete", "namespace", this.ns, "--wait=false"]);
  }
}

/** Runs `body` in a fresh scene and always tears it down. */
async function inScene(ns: string, body: (s: Scene) => Promise<void>, scenario?: string): Promise<void> {
  const s = await Scene.open(ns, scenario);
  try {
    await body(s);
  } finally {
    await s.close();
  }
}

/** The identity an operator process logged at start. */
async function identityOf(s: Scene, op: OperatorProcess): Promise<string> {
  return s.waitFor("the operator's identity", 30_000, async () => {
    for (const line of op.logs) {
      try {
        const l = JSON.parse(line) as { msg?: string; fields?: { identity?: string } };
        if (l.msg === "operator started" && l.fields?.identity) return l.fields.identity;
      } catch {
        // not a JSON line
      }
    }
    return undefined;
  });
}

describe("the operator killed at every reconcile boundary of a full rollout", () => {
  for (const boundary of SWEEP)
    it.concurrent(
      `killed at ${boundary}, restarted at once: promotes, each weight once, the approval once`,
      async ({ expect }) => {
        await limited(() =>
          inScene(nsOf(boundary), async (s) => {
            const doomed = s.operator({ env: { VOICECTL_FAULT_EXIT_AT: boundary } });
            await s.start(`    - setWeight: 25
    - pause: {}
    - setWeight: 50
    - analysis: { minDuration: 6s, maxDuration: 120s }`);
            let exitCode: number | null | undefined;
            let approved = 0;
            void doomed.exited.then((code) => {
              exitCode = code;
              // Restarted at once, as a Deployment would, without the fault.
              if (!s.closed) s.operator();
            });
            const done = await s.waitFor("Promoted", 240_000, async () => {
              const st = await s.status();
              // Approve a pause the gateway serves, as a person watching it would: status is written before
              // the route, and a restarted operator puts the route back to the status's weight first, so an
              // approval sent on status alone could move the route on before the gateway's next read.
              if (
                st.phase === "Paused" &&
                st.pause?.kind === "approval" &&
                approved === 0 &&
                s.weights().at(-1) === st.canaryWeight
              ) {
                approved++;
                await s.command("approve", "canary looks good at 25%");
              }
              return st.phase === "Promoted" ? st : undefined;
            });
            expect(done.canaryWeight).toBe(100);
            // Status says Promoted before the route carries 100 (status is written first): wait until the
            // gateway has seen it. Killed right after writing Promoted, the route is the restarted process's.
            await s.waitFor("the gateway at 100", 60_000, async () =>
              (await routeWeight(s.ns)) === 100 && s.weights().at(-1) === 100 ? true : undefined,
            );
            // The boundary was reached and the process died there (not a rollout that never got that far);
            // the last boundaries come after the status write that says Promoted, so wait for the exit.
            await Promise.race([doomed.exited, new Promise((r) => setTimeout(r, 30_000))]);
            expect(exitCode).toBe(137);
            // No double shift and no skipped step: the gateway saw each weight once, in order.
            await s.waitFor("the gateway at 100", 60_000, async () =>
              s.weights().at(-1) === 100 ? true : undefined,
            );
            expect(s.weights()).toEqual([25, 50, 100]);
            // The approval was applied exactly once, and its command marked applied.
            expect(done.history?.map((h) => h.action)).toEqual(["approve"]);
            const commands = await cluster.json(["-n", s.ns, "get", "voicerolloutcommands"]);
            const items = (commands["items"] ?? []) as { status?: { appliedAt?: string } }[];
            expect(items.length).toBe(1);
            expect(items[0]!.status?.appliedAt).toBeDefined();
          }),
        );
      },
      // Includes the wait for a free slot.
      900_000,
    );
});

describe("fault tolerance on a real control plane", () => {
  it("leader failover: the leader SIGKILLed mid-rollout, the standby takes over once the Lease expires", async () => {
    await inScene("failover", async (s) => {
      const a = s.operator();
      const b = s.operator();
      const ids = [await identityOf(s, a), await identityOf(s, b)];
      await s.start(TWO_STEPS);
      await s.waitFor("a look at weight 25", 90_000, async () => {
        const st = await s.status();
        return st.canaryWeight === 25 && (st.analysis?.looks ?? 0) >= 1 ? st : undefined;
      });
      const leader = await leaseHolder(leaseOf(s.ns));
      expect(ids).toContain(leader);
      const [dead, standby] = leader === ids[0] ? [a, ids[1]!] : [b, ids[0]!];
      dead.child.kill("SIGKILL");
      await dead.exited;
      const done = await s.phase("Promoted");
      expect(done.canaryWeight).toBe(100);
      await s.waitFor("the gateway at 100", 60_000, async () =>
        s.weights().at(-1) === 100 ? true : undefined,
      );
      expect(s.weights()).toEqual([25, 50, 100]);
      expect(await leaseHolder(leaseOf(s.ns))).toBe(standby);
      // The analysis state lived in its ConfigMap, not in the dead leader: nothing was lost.
      expect(done.analysis?.restarts ?? 0).toBe(0);
    });
  });

  it("leader handover: a SIGTERMed leader releases the Lease on its way out", async () => {
    await inScene("handover", async (s) => {
      const a = s.operator();
      const b = s.operator();
      const ids = [await identityOf(s, a), await identityOf(s, b)];
      await s.start(TWO_STEPS);
      await s.waitFor("weight 25", 90_000, async () =>
        (await s.status()).canaryWeight === 25 ? true : undefined,
      );
      const leader = await leaseHolder(leaseOf(s.ns));
      const [leaving, standby] = leader === ids[0] ? [a, ids[1]!] : [b, ids[0]!];
      leaving.child.kill("SIGTERM");
      expect(await leaving.exited).toBe(0);
      // Read right after the exit: an unreleased Lease would still name the old leader for its whole
      // duration; a released one names nobody, or already the standby.
      expect([standby, ""]).toContain(await leaseHolder(leaseOf(s.ns)));
      const done = await s.phase("Promoted");
      await s.waitFor("the gateway at 100", 60_000, async () =>
        s.weights().at(-1) === 100 ? true : undefined,
      );
      expect(s.weights()).toEqual([25, 50, 100]);
      expect(done.analysis?.restarts ?? 0).toBe(0);
      expect(await leaseHolder(leaseOf(s.ns))).toBe(standby);
    });
  });

  it("Prometheus down mid-analysis: pauses at maxDuration with a reason, traffic stays; back, nothing promotes", async () => {
    await inScene("promdown", async (s) => {
      // The operator reaches Prometheus through a fixed address, as through a Service, so a new Prometheus
      // can take the old one's place.
      const proxy = await startTcpProxy({ port: s.plane.prometheus.port });
      const replaced: { prometheus?: PrometheusServer } = {};
      s.cleanups.push(async () => {
        await replaced.prometheus?.stop();
        await proxy.close();
      });
      s.operator({ prometheusUrl: `http://${proxy.address}` });
      await s.start(`    - setWeight: 25
    - analysis: { minDuration: 6s, maxDuration: 20s }
    - setWeight: 50`);
      await s.waitFor("weight 25 on the route", 90_000, async () =>
        s.weights().includes(25) ? true : undefined,
      );
      await s.plane.prometheus.stop();
      const paused = await s.phase("Paused", 120_000);
      expect(paused.pause?.kind).toBe("analysis");
      expect(paused.pause?.reason).toMatch(/analysis ran out of time unsettled/);
      expect(paused.message).toMatch(/no data: metric source unavailable: Prometheus at \S+ is unreachable/);
      expect(paused.canaryWeight).toBe(25);
      expect(await routeWeight(s.ns)).toBe(25);

      // A new Prometheus (an empty TSDB: the outage's window has no samples anywhere) behind the same address.
      const replacement = await startPrometheus({
        targets: [{ address: s.plane.exporter.address, labels: { namespace: s.ns } }],
      });
      replaced.prometheus = replacement;
      proxy.setTarget(replacement.port);
      const looks = paused.analysis?.looks ?? 0;
      const after = await s.waitFor("three more looks", 60_000, async () => {
        const st = await s.status();
        return (st.analysis?.looks ?? 0) >= looks + 3 ? st : undefined;
      });
      expect(after.phase).toBe("Paused");
      expect(after.canaryWeight).toBe(25);
      expect(s.weights()).toEqual([25]);
    });
  });

  it("a second writer racing the operator on the rollout: conflicts are retried, the rollout finishes", async () => {
    await inScene("conflicts", async (s) => {
      const op = s.operator({ extraArgs: ["--log-level", "debug"] });
      await s.start(TWO_STEPS);
      const kc = new KubeConfig();
      kc.loadFromFile(cluster.kubeconfig);
      const api = kc.makeApiClient(CustomObjectsApi);
      let racing = true;
      let patches = 0;
      const race = (async () => {
        while (racing) {
          try {
            await api.patchNamespacedCustomObject(
              {
                group: "voicectl.dev",
                version: "v1alpha1",
                namespace: s.ns,
                plural: "voicerollouts",
                name: "tts",
                body: {
                  metadata: {
                    annotations: { "fault-test/tick": String(patches) },
                    labels: { "fault-test/tick": String(patches % 10) },
                  },
                },
              },
              setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
            );
            patches++;
          } catch {
            // The rollout may not exist yet.
          }
          await sleep(25);
        }
      })();
      try {
        const done = await s.phase("Promoted");
        expect(done.canaryWeight).toBe(100);
      } finally {
        racing = false;
        await race;
      }
      await s.waitFor("the gateway at 100", 60_000, async () =>
        s.weights().at(-1) === 100 ? true : undefined,
      );
      expect(s.weights()).toEqual([25, 50, 100]);
      expect(patches).toBeGreaterThan(0);
      // It did lose races (the test would prove nothing otherwise), and went on.
      expect(op.logs.some((l) => l.includes("status write lost a race"))).toBe(true);
    });
  });

  it("the canary Deployment deleted mid-rollout: Failed with a reason, stable gets 100% at once", async () => {
    await inScene("deleted", async (s) => {
      s.operator();
      await s.start(`    - setWeight: 25
    - analysis: { minDuration: 60s, maxDuration: 120s }
    - setWeight: 100`);
      await s.waitFor("a look at weight 25", 90_000, async () => {
        const st = await s.status();
        return st.canaryWeight === 25 && (st.analysis?.looks ?? 0) >= 1 ? st : undefined;
      });
      const r = await cluster.kubectl(["-n", s.ns, "delete", "deployment", CANARY]);
      expect(r.code).toBe(0);
      const failed = await s.phase("Failed", 60_000);
      // Status is written before the route: wait for the route and the gateway to follow.
      await s.waitFor("the gateway at 0", 60_000, async () =>
        (await routeWeight(s.ns)) === 0 && s.weights().at(-1) === 0 ? true : undefined,
      );
      expect(failed.message).toMatch(/canary Deployment tts-v42 does not exist/);
      expect(failed.canaryWeight).toBe(0);
      expect(await routeWeight(s.ns)).toBe(0);
      expect(s.weights()).toEqual([25, 0]);
      expect(await replicas(s.ns, STABLE)).toBe(2);
    });
  });

  it("the HTTPRoute edited by hand: pauses with a reason, leaves it alone; an approval sets it back and the rollout finishes", async () => {
    await inScene("handedit", async (s) => {
      s.operator();
      await s.start(`    - setWeight: 25
    - analysis: { minDuration: 30s, maxDuration: 300s }
    - setWeight: 100`);
      await s.waitFor("the route at 25", 90_000, async () => {
        const st = await s.status();
        return st.canaryWeight === 25 && (await routeWeight(s.ns)) === 25 ? st : undefined;
      });
      // Someone moves the split to 20/80 with kubectl, in the middle of the analysis at 25%.
      const patch = JSON.stringify([
        { op: "replace", path: "/spec/rules/0/backendRefs/0/weight", value: 20 },
        { op: "replace", path: "/spec/rules/0/backendRefs/1/weight", value: 80 },
      ]);
      const edit = await cluster.kubectl([
        "-n",
        s.ns,
        "patch",
        "httproute",
        "tts",
        "--type=json",
        "-p",
        patch,
      ]);
      expect(edit.code, edit.stderr).toBe(0);
      const reason =
        "HTTPRoute tts was changed by kubectl-patch (not voicectl): canary weight 80%, expected 25%; approve to set it back and run step 2 again, or abort to roll back";
      const paused = await s.waitFor("the pause", 60_000, async () => {
        const st = await s.status();
        return st.phase === "Paused" ? st : undefined;
      });
      expect(paused.pause).toMatchObject({ kind: "approval", reason });
      expect(paused.canaryWeight).toBe(25);
      const vr = await cluster.json(["-n", s.ns, "get", "voicerollout", "tts"]);
      const conditions = (vr["status"] as { conditions: { type: string; reason: string }[] }).conditions;
      expect(conditions.find((c) => c.type === "Paused")?.reason).toBe("RouteChangedByHand");
      // Events are recorded after the status write: wait for it.
      const handEvents = async () => {
        const events = await cluster.json(["-n", s.ns, "get", "events.events.k8s.io"]);
        return (events["items"] as { reason: string; note: string }[])
          .filter((e) => e.reason === "RouteChangedByHand")
          .map((e) => e.note);
      };
      await s.waitFor("the RouteChangedByHand Event", 30_000, async () =>
        (await handEvents()).length > 0 ? true : undefined,
      );

      // Left alone for several analysis intervals: the person's 80% stands, nothing moves.
      await sleep(4 * INTERVAL_S * 1000);
      expect(await routeWeight(s.ns)).toBe(80);
      expect((await s.status()).phase).toBe("Paused");
      expect(await handEvents()).toEqual([reason]);

      await s.command("approve", "load test over");
      const done = await s.phase("Promoted");
      await s.waitFor("the gateway at 100", 60_000, async () =>
        s.weights().at(-1) === 100 ? true : undefined,
      );
      // Set back to 25 for the whole analysis step again (not skipped), then promoted.
      expect(s.weights()).toEqual([25, 80, 25, 100]);
      expect(done.history?.map((h) => [h.action, h.reason])).toEqual([["approve", "load test over"]]);
    });
  });

  it("the API server hanging mid-rollout: no promotion and no shift while it hangs; it recovers and finishes once", async () => {
    await inScene("stall", async (s) => {
      // The operator reaches the API server through a proxy that can hang every connection (TLS passes
      // through untouched: the serving certificate is for 127.0.0.1).
      const api = new URL(cluster.server);
      const proxy = await startTcpProxy({ port: Number(api.port) });
      s.cleanups.push(() => proxy.close());
      const kubeconfig = scratch()("operator-through-proxy.kubeconfig");
      writeFileSync(
        kubeconfig,
        readFileSync(operatorKubeconfig, "utf8").replace(
          `server: ${cluster.server}`,
          `server: https://${proxy.address}`,
        ),
      );
      const op = s.operator({ kubeconfig });
      await s.start(TWO_STEPS);
      const before = await s.waitFor("a look at weight 25", 90_000, async () => {
        const st = await s.status();
        return st.canaryWeight === 25 && (st.analysis?.looks ?? 0) >= 1 ? st : undefined;
      });
      proxy.setMode("stall");
      // Longer than the Lease (6 s): the leader cannot renew, steps down and exits; its replacement
      // (started by the harness, as a Deployment would) hangs at start.
      await sleep(12_000);
      const during = await s.status();
      expect(during.phase).not.toBe("Promoted");
      expect(during.canaryWeight).toBe(before.canaryWeight);
      expect(s.weights()).toEqual([25]);
      proxy.setMode("forward");
      const done = await s.phase("Promoted");
      expect(done.canaryWeight).toBe(100);
      await s.waitFor("the gateway at 100", 60_000, async () =>
        s.weights().at(-1) === 100 ? true : undefined,
      );
      expect(s.weights()).toEqual([25, 50, 100]);
      // It did hang (and stepped down: no leader may act on a Lease it cannot renew).
      expect(op.logs.some((l) => l.includes("lost the leader Lease"))).toBe(true);
    });
  });
});
