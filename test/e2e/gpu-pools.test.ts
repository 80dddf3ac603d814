// GPU node pools on a real control plane (kwok nodes with nvidia.com/gpu): a canary that cannot fit pool l4
// pauses with the missing count and creates no Pending pods; freeing GPUs resumes it by itself. The operator
// runs as its own process with the voicectl-operator role (which lists nodes and pods).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCluster, type TestCluster } from "../support/cluster.js";
import { waitFor as waitUntil } from "../support/wait.js";
import {
  CANARY,
  prepareNamespace,
  setUpOperatorCluster,
  STABLE,
  startOperatorProcess,
  type OperatorProcess,
} from "../support/operator.js";

const NS = "pools";
let cluster: TestCluster;
let operator: OperatorProcess | undefined;

/** Waits as test/support/wait.ts does; a timeout shows the operator's last log lines. */
const waitFor = <T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> =>
  waitUntil(what, timeoutMs, probe, {
    context: () => `operator log tail:\n${(operator?.logs ?? []).slice(-15).join("\n")}`,
  });

interface View {
  phase?: string;
  canaryWeight?: number;
  message?: string;
  conditions?: { type: string; status: string; reason: string; message: string }[];
}
const status = async () =>
  ((await cluster.json(["-n", NS, "get", "voicerollout", "tts"]))["status"] ?? {}) as View;

async function canaryPods(): Promise<{ phase: string }[]> {
  const list = await cluster.json(["-n", NS, "get", "pods", "-l", `version=${CANARY}`]);
  return ((list["items"] ?? []) as { status?: { phase?: string } }[]).map((p) => ({
    phase: p.status?.phase ?? "",
  }));
}

beforeAll(async () => {
  // Pool l4: 4 nodes of 1 GPU. The stable takes 2, a blocker 1: 1 free, and the canary wants 2.
  cluster = await startCluster({ l4Nodes: 4, h100Nodes: 1 });
  const ids = await setUpOperatorCluster(cluster);
  await prepareNamespace(cluster, NS);
  await cluster.apply(`
apiVersion: apps/v1
kind: Deployment
metadata: { name: blocker, namespace: ${NS} }
spec:
  replicas: 1
  selector: { matchLabels: { app: blocker } }
  template:
    metadata: { labels: { app: blocker } }
    spec:
      nodeSelector: { voicectl.dev/pool: l4 }
      containers:
        - { name: c, image: example.com/blocker, resources: { limits: { nvidia.com/gpu: 1 } } }
`);
  await waitFor("the stable and the blocker running", 60_000, async () => {
    const pods = await cluster.json(["-n", NS, "get", "pods", "--field-selector=status.phase=Running"]);
    return ((pods["items"] as unknown[]) ?? []).length === 3 ? true : undefined;
  });
  operator = startOperatorProcess({
    kubeconfig: ids.operator,
    // No Prometheus is needed to size the canary: looks fail and stay nodata, which never promotes.
    prometheusUrl: "http://127.0.0.1:9",
    namespace: NS,
  });
}, 300_000);

afterAll(async () => {
  await operator?.stop();
  await cluster?.stop();
});

describe("GPU node pools on a real cluster", () => {
  it("a canary that cannot fit pool l4 pauses with the missing count, no Pending pods; freeing GPUs resumes it", async () => {
    await cluster.apply(`
apiVersion: voicectl.dev/v1alpha1
kind: VoiceRollout
metadata: { name: tts, namespace: ${NS} }
spec:
  stable: { deployment: ${STABLE} }
  canary: { deployment: ${CANARY}, replicas: 2 }
  policyRef: { name: tts-studio }
  traffic: { gatewayAPI: { httpRoute: tts } }
  nodePool: { name: l4, gpusPerReplica: 1, pricePerGPUHour: 0.8 }
  analysis: { interval: 4s }
  steps:
    - setWeight: 25
    - pause: {}
`);
    const paused = await waitFor("the rollout paused for GPUs", 60_000, async () => {
      const s = await status();
      return s.phase === "Paused" ? s : undefined;
    });
    expect(paused.message).toMatch(/^pool l4 has 1 free nvidia.com\/gpu, the canary needs 2 more/);
    expect(paused.conditions?.find((c) => c.type === "PoolCapacity")).toMatchObject({
      status: "False",
      reason: "InsufficientGPUs",
    });
    expect(paused.canaryWeight).toBe(0);
    // Polled again (the operator's --poll is 1s) without scaling into Pending pods.
    await new Promise((r) => setTimeout(r, 3000));
    const d = await cluster.json(["-n", NS, "get", "deployment", CANARY]);
    expect((d["spec"] as { replicas?: number }).replicas).toBe(0);
    expect(await canaryPods()).toEqual([]);

    const del = await cluster.kubectl(["-n", NS, "delete", "deployment", "blocker", "--wait=true"]);
    expect(del.code).toBe(0);
    const resumed = await waitFor("the canary at 25% on its 2 replicas", 90_000, async () => {
      const s = await status();
      return s.canaryWeight === 25 ? s : undefined;
    });
    expect(resumed.conditions?.find((c) => c.type === "PoolCapacity")).toMatchObject({ status: "True" });
    const pods = await canaryPods();
    expect(pods).toHaveLength(2);
    expect(pods.every((p) => p.phase === "Running")).toBe(true);
  }, 240_000);
});
