// The operator's Kubernetes adapters against a real control plane (test/cluster: kube-apiserver, controller
// manager, scheduler and kwok built from source): optimistic concurrency on status, commands applied once and
// in order, Deployments scaled through the scale subresource onto fake L4 GPU nodes, HTTPRoute weights
// written once, analysis state in an owned ConfigMap, Events, informers that survive a broken connection, and
// leader election with failover (docs/operator.md, docs/architecture.md#the-reconciler,
// docs/testing.md#real-components).
import { readFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { addLook, initialOnlineState } from "../../src/core/analysis/online.js";
import type { CellBatch, Look } from "../../src/core/analysis/look.js";
import { planJudge } from "../../src/core/judge/plan.js";
import { createRng } from "../../src/core/stats/random.js";
import type { VoiceRollout, VoiceRolloutCommand } from "../../src/core/resource/voicerollout.js";
import {
  ConfigMapAnalysisStore,
  CONFIGMAP_LIMIT_BYTES,
  encodeAnalysis,
} from "../../src/adapters/kubernetes/analysis-store.js";
import { KubernetesApiError } from "../../src/adapters/kubernetes/api-errors.js";
import { KubernetesEventRecorder, NOTE_LIMIT_BYTES } from "../../src/adapters/kubernetes/events.js";
import { GatewayApiRouter } from "../../src/adapters/kubernetes/gateway-api.js";
import { kubernetesPorts } from "../../src/adapters/kubernetes/index.js";
import { RolloutInformers, type WatchedKind } from "../../src/adapters/kubernetes/informers.js";
import { LeaderElector } from "../../src/adapters/kubernetes/leader.js";
import { KubernetesPolicyStore } from "../../src/adapters/kubernetes/policies.js";
import { KubernetesRolloutStore } from "../../src/adapters/kubernetes/rollouts.js";
import { KubernetesWorkloads } from "../../src/adapters/kubernetes/workloads.js";
import { ConflictError, RouteChangedByHandError } from "../../src/operator/ports.js";
import { kubeConfigFrom, readOnlyRoleManifest, startCluster, type TestCluster } from "../support/cluster.js";
import { sleep, waitFor } from "../support/wait.js";
import { makePolicy } from "../support/policy.js";

const NS = "voice";
let cluster: TestCluster;
let kc: KubeConfig;

/** Polls until `check` returns a value other than undefined/false (test/support/wait.ts), for up to a minute. */
const until = <T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false) =>
  waitFor(what, 60_000, check, { intervalMs: 150 });

async function getJson<T = Record<string, unknown>>(...args: string[]): Promise<T> {
  return JSON.parse(await cluster.kubectlOk(["get", ...args, "-o", "json"])) as T;
}

const studio = parse(readFileSync("policies/voice-studio.yaml", "utf8")) as Record<string, unknown>;
const policyManifest = (name: string, namespace: string) =>
  stringify({ ...studio, metadata: { name, namespace } });

interface RolloutInput {
  name: string;
  namespace?: string;
  stable?: string;
  canary?: string;
  policy?: string;
  route?: string;
}
const rolloutManifest = (r: RolloutInput) =>
  stringify({
    apiVersion: "voicectl.dev/v1alpha1",
    kind: "VoiceRollout",
    metadata: { name: r.name, namespace: r.namespace ?? NS },
    spec: {
      stable: { deployment: r.stable ?? "tts-v41" },
      canary: { deployment: r.canary ?? "tts-v42", replicas: 1 },
      policyRef: { name: r.policy ?? "voice-studio" },
      traffic: { gatewayAPI: { httpRoute: r.route ?? "tts" } },
      nodePool: { name: "l4", gpusPerReplica: 1, pricePerGPUHour: 0.8 },
      steps: [{ setWeight: 10 }, { pause: {} }, { setWeight: 50 }],
    },
  });

const commandManifest = (name: string, rollout: string, namespace = NS) =>
  stringify({
    apiVersion: "voicectl.dev/v1alpha1",
    kind: "VoiceRolloutCommand",
    metadata: { name, namespace },
    spec: { rollout, action: "approve", reason: "listened to 20 samples", user: "alice" },
  });

/** A GPU Deployment on the L4 pool: kwok's pod-ready stage makes its pods Ready once scheduled. */
const deploymentManifest = (name: string, replicas: number, namespace = NS) =>
  stringify({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          nodeSelector: { "voicectl.dev/pool": "l4" },
          // kwok nodes are fake; tolerate kwok's taint if the cluster script sets one.
          tolerations: [{ key: "kwok.x-k8s.io/node", operator: "Exists", effect: "NoSchedule" }],
          containers: [
            {
              name: "tts",
              image: "registry.example/tts:" + name,
              resources: { limits: { "nvidia.com/gpu": "1", cpu: "1" }, requests: { cpu: "1" } },
            },
          ],
        },
      },
    },
  });

const routeManifest = (name: string, stable: string, canary: string, namespace = NS) =>
  stringify({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name, namespace },
    spec: {
      parentRefs: [{ name: "voice-gateway" }],
      rules: [
        {
          // A tenant pinned to stable: never touched by the rollout.
          matches: [{ headers: [{ name: "x-tenant", value: "audiobooks" }] }],
          backendRefs: [{ name: stable, port: 80 }],
        },
        {
          backendRefs: [
            { name: stable, port: 80, weight: 100 },
            { name: canary, port: 80, weight: 0 },
          ],
        },
      ],
    },
  });

/** A Role allowing only reads of `resources`: any write through it fails with 403, proving there was none. */
function readOnlyKubeconfig(user: string, rules: { apiGroups: string[]; resources: string[] }[]) {
  return { manifest: readOnlyRoleManifest(user, NS, rules), kubeconfig: cluster.userKubeconfig(user) };
}

beforeAll(async () => {
  cluster = await startCluster({ h100Nodes: 0, l4Nodes: 4 });
  kc = kubeConfigFrom(cluster.kubeconfig);
  await cluster.kubectlOk(["create", "namespace", NS]);
  const gateway = await cluster.kubectl(["get", "crd", "httproutes.gateway.networking.k8s.io"]);
  if (gateway.code !== 0) throw new Error("the Gateway API CRDs are not installed by test/cluster/up.sh");
  await cluster.apply(policyManifest("voice-studio", NS));
  await cluster.apply(rolloutManifest({ name: "tts" }));
});

afterAll(async () => {
  await cluster?.stop();
});

describe("RolloutStore", () => {
  const store = () => new KubernetesRolloutStore(kc);

  it("reads a rollout with its spec defaults, and null for one that does not exist", async () => {
    const r = await store().get({ namespace: NS, name: "tts" });
    expect(r?.spec.canary.deployment).toBe("tts-v42");
    expect(r?.spec.analysis.interval).toBe("1m");
    expect(r?.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(await store().get({ namespace: NS, name: "nope" })).toBeNull();
  });

  it("writes status through the subresource, and refuses a write from a stale read with ConflictError", async () => {
    const read = (await store().get({ namespace: NS, name: "tts" }))!;
    const written = await store().updateStatus(read, { phase: "Progressing", canaryWeight: 10 });
    expect(written.status).toEqual({ phase: "Progressing", canaryWeight: 10 });
    expect(written.metadata.resourceVersion).not.toBe(read.metadata.resourceVersion);

    // `read` is now stale: a second writer holding it must not overwrite the first.
    await expect(store().updateStatus(read, { phase: "Paused", canaryWeight: 0 })).rejects.toBeInstanceOf(
      ConflictError,
    );
    const stored = await getJson<VoiceRollout>("voicerollout", "tts", "-n", NS);
    expect(stored.status).toEqual({ phase: "Progressing", canaryWeight: 10 });
    // The status subresource never changes the spec, even when the body carries one.
    expect(stored.spec.steps).toHaveLength(3);
  });

  it("lists pending commands oldest first and marks them applied once", async () => {
    await cluster.apply(commandManifest("zeta", "tts"));
    const zeta = await getJson<VoiceRolloutCommand>("voicerolloutcommand", "zeta", "-n", NS);
    // Creation timestamps have one-second resolution: wait for the next second so zeta is strictly older.
    const zetaSecond = Date.parse(zeta.metadata.creationTimestamp!);
    await until("the next second", () => Date.now() >= zetaSecond + 1100);
    await cluster.apply(
      [
        commandManifest("beta", "tts"),
        commandManifest("alpha", "tts"),
        commandManifest("other", "another-rollout"),
        commandManifest("done", "tts"),
      ].join("---\n"),
    );
    const s = store();
    const done = (await s.pendingCommands({ namespace: NS, name: "tts" })).find(
      (c) => c.metadata.name === "done",
    )!;
    await s.markApplied(done, "approved step 1", Date.parse("2026-01-02T03:04:05Z"));

    const pending = await s.pendingCommands({ namespace: NS, name: "tts" });
    // alpha and beta may share a second with each other (then the name decides) but not with zeta.
    expect(pending.map((c) => c.metadata.name)).toEqual(["zeta", "alpha", "beta"]);
    const stored = await getJson<VoiceRolloutCommand>("voicerolloutcommand", "done", "-n", NS);
    expect(stored.status).toEqual({ appliedAt: "2026-01-02T03:04:05.000Z", result: "approved step 1" });

    // Marking from a stale read (someone applied it since) is refused rather than applied twice.
    await expect(s.markApplied(done, "approved again", Date.now())).rejects.toBeInstanceOf(ConflictError);
  });
});

describe("PolicyStore", () => {
  it("returns the policy, or an error naming the object and the field path", async () => {
    const policies = new KubernetesPolicyStore(kc);
    const ok = await policies.get({ namespace: NS, name: "voice-studio" });
    expect("policy" in ok && ok.policy.spec.metrics.map((m) => m.name)).toContain("speaker_similarity");

    const missing = await policies.get({ namespace: NS, name: "absent" });
    expect(missing).toEqual({
      error: 'rolloutpolicy/voice/absent: no RolloutPolicy named "absent" in namespace voice',
    });

    // Valid for the CRD's schema but not for the policy's own checks: a rate limit is a fraction.
    const spec = studio["spec"] as { metrics: { name: string; budget: object }[] };
    const metrics = spec.metrics.map((m) =>
      m.name === "silence_truncation" ? { ...m, budget: { ...m.budget, limit: 2 } } : m,
    );
    const index = metrics.findIndex((m) => m.name === "silence_truncation");
    await cluster.apply(
      stringify({ ...studio, metadata: { name: "bad-limit", namespace: NS }, spec: { ...spec, metrics } }),
    );
    const bad = await policies.get({ namespace: NS, name: "bad-limit" });
    expect("error" in bad && bad.error).toBe(
      `rolloutpolicy/voice/bad-limit: spec.metrics[${index}].budget.limit: expected a rate limit between 0 and 1 (rates are fractions: 0.002 is 0.2%)`,
    );
  });
});

describe("Workloads", () => {
  it("reports replicas, readiness and GPUs per replica, and scales through the scale subresource", async () => {
    await cluster.apply([deploymentManifest("tts-v41", 2), deploymentManifest("tts-v42", 0)].join("---\n"));
    const w = new KubernetesWorkloads(kc);
    const ready = await until("tts-v41 ready on the L4 pool", async () => {
      const d = await w.deployment({ namespace: NS, name: "tts-v41" });
      return d && d.readyReplicas === 2 ? d : undefined;
    });
    expect(ready).toEqual({ replicas: 2, readyReplicas: 2, gpusPerReplica: 1 });
    expect(await w.deployment({ namespace: NS, name: "tts-v42" })).toEqual({
      replicas: 0,
      readyReplicas: 0,
      gpusPerReplica: 1,
    });
    expect(await w.deployment({ namespace: NS, name: "absent" })).toBeNull();

    await w.scale({ namespace: NS, name: "tts-v42" }, 1);
    const canary = await until("tts-v42 scaled up and ready", async () => {
      const d = await w.deployment({ namespace: NS, name: "tts-v42" });
      return d && d.readyReplicas === 1 ? d : undefined;
    });
    expect(canary.replicas).toBe(1);
    // The replicas are recorded as the operator's, the field GitOps tools are told to leave to it.
    const scaled = JSON.parse(
      await cluster.kubectlOk([
        "get",
        "deployment",
        "tts-v42",
        "-n",
        NS,
        "-o",
        "json",
        "--show-managed-fields",
      ]),
    ) as { metadata: { managedFields: { manager: string; subresource?: string; fieldsV1: unknown }[] } };
    expect(
      scaled.metadata.managedFields.find(
        (m) => m.manager === "voicectl-operator" && m.subresource === "scale",
      )?.fieldsV1,
    ).toEqual({ "f:spec": { "f:replicas": {} } });
    const pods = await getJson<{ items: { spec: { nodeName?: string } }[] }>(
      "pods",
      "-n",
      NS,
      "-l",
      "app=tts-v42",
    );
    const nodes = await getJson<{ items: { metadata: { name: string } }[] }>(
      "nodes",
      "-l",
      "voicectl.dev/pool=l4",
    );
    expect(nodes.items.map((n) => n.metadata.name)).toContain(pods.items[0]?.spec.nodeName);
  });

  it("does not write when the Deployment already has that many replicas", async () => {
    const reader = readOnlyKubeconfig("scale-reader", [
      { apiGroups: ["apps"], resources: ["deployments", "deployments/scale"] },
    ]);
    await cluster.apply(reader.manifest);
    const w = new KubernetesWorkloads(kubeConfigFrom(reader.kubeconfig));
    // Allowed to read only: the same count succeeds because nothing is written; another count is refused.
    await until(
      "RBAC for scale-reader",
      async () => (await w.deployment({ namespace: NS, name: "tts-v42" })) ?? false,
    );
    await w.scale({ namespace: NS, name: "tts-v42" }, 1);
    const refused = await w.scale({ namespace: NS, name: "tts-v42" }, 2).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(KubernetesApiError);
    expect((refused as KubernetesApiError).status).toBe(403);
  });
});

describe("Gateway API router", () => {
  it("sets canary and stable weights in the rule naming both, once", async () => {
    await cluster.apply(routeManifest("tts", "tts-v41", "tts-v42"));
    const rollout = (await new KubernetesRolloutStore(kc).get({ namespace: NS, name: "tts" }))!;
    const router = new GatewayApiRouter(kc);
    expect(await router.canaryWeight(rollout)).toBe(0);

    await router.setCanaryWeight(rollout, 30);
    const route = await getJson<{ spec: { rules: { backendRefs: { name: string; weight?: number }[] }[] } }>(
      "httproute",
      "tts",
      "-n",
      NS,
    );
    const weights = route.spec.rules.map((r) => r.backendRefs.map((b) => [b.name, b.weight]));
    // The pinned rule keeps its single backend (the CRD defaults its weight to 1); the split rule is 70/30.
    expect(weights).toEqual([
      [["tts-v41", 1]],
      [
        ["tts-v41", 70],
        ["tts-v42", 30],
      ],
    ]);
    expect(await router.canaryWeight(rollout)).toBe(30);

    // Setting the same weight again must not write: a reader that may not update the route can do it.
    const reader = readOnlyKubeconfig("route-reader", [
      { apiGroups: ["gateway.networking.k8s.io"], resources: ["httproutes"] },
    ]);
    await cluster.apply(reader.manifest);
    const readOnly = new GatewayApiRouter(kubeConfigFrom(reader.kubeconfig));
    await until("RBAC for route-reader", async () => (await readOnly.canaryWeight(rollout)) === 30);
    await readOnly.setCanaryWeight(rollout, 30);
    const refused = await readOnly.setCanaryWeight(rollout, 40).catch((e: unknown) => e);
    expect((refused as KubernetesApiError).status).toBe(403);
    expect(await router.canaryWeight(rollout)).toBe(30);
  });

  it("records the weight it wrote on the route in the same update, so an edit by hand shows as different", async () => {
    const rollout = (await new KubernetesRolloutStore(kc).get({ namespace: NS, name: "tts" }))!;
    const router = new GatewayApiRouter(kc);
    await router.setCanaryWeight(rollout, 25);
    const read = async () =>
      getJson<{
        metadata: { annotations?: Record<string, string>; resourceVersion: string };
        spec: { rules: unknown[] };
      }>("httproute", "tts", "-n", NS);
    const written = await read();
    expect(written.metadata.annotations?.["canary-weight.voicectl.dev/tts"]).toBe("25");
    expect(await router.observe(rollout)).toEqual({ weight: 25, written: 25 });

    // voicectl's own write is recorded under its field manager, and is nobody else's change.
    const managed = JSON.parse(
      await cluster.kubectlOk(["get", "httproute", "tts", "-n", NS, "-o", "json", "--show-managed-fields"]),
    ) as { metadata: { managedFields?: { manager: string }[] } };
    expect(managed.metadata.managedFields?.map((m) => m.manager)).toContain("voicectl-operator");
    expect((await router.observe(rollout)).changedBy).toBeUndefined();

    // A GitOps controller sets the split to 20/80 (played by kubectl with Argo CD's field manager); the record
    // of voicectl's write stays 25, and managedFields say who wrote the weights.
    const patch = JSON.stringify([
      { op: "replace", path: "/spec/rules/1/backendRefs/0/weight", value: 20 },
      { op: "replace", path: "/spec/rules/1/backendRefs/1/weight", value: 80 },
    ]);
    const r = await cluster.kubectl([
      ...["-n", NS, "patch", "httproute", "tts", "--type=json", "-p", patch],
      "--field-manager=argocd-controller",
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(await router.observe(rollout)).toEqual({
      weight: 80,
      written: 25,
      changedBy: "argocd-controller",
    });

    // Not undone by an ordinary write: refused, nothing written. Only on purpose (a rollback, an approval).
    const refused = await router.setCanaryWeight(rollout, 50).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RouteChangedByHandError);
    expect((refused as Error).message).toBe(
      "httproute voice/tts carries canary weight 80%, not the 25% voicectl wrote: changed by someone else, not overwritten with 50%",
    );
    expect(await router.observe(rollout)).toEqual({
      weight: 80,
      written: 25,
      changedBy: "argocd-controller",
    });
    // A plain kubectl patch is named by kubectl's own field manager.
    const plain = JSON.stringify([{ op: "replace", path: "/spec/rules/1/backendRefs/1/weight", value: 70 }]);
    const p = await cluster.kubectl(["-n", NS, "patch", "httproute", "tts", "--type=json", "-p", plain]);
    expect(p.code, p.stderr).toBe(0);
    expect(await router.observe(rollout)).toEqual({ weight: 78, written: 25, changedBy: "kubectl-patch" });
    await router.setCanaryWeight(rollout, 25, { overrideHandEdit: true });
    expect(await router.observe(rollout)).toEqual({ weight: 25, written: 25 });
    // Written once more, and then no more: the same weight again changes nothing.
    const version = (await read()).metadata.resourceVersion;
    await router.setCanaryWeight(rollout, 25);
    expect((await read()).metadata.resourceVersion).toBe(version);
    await router.setCanaryWeight(rollout, 30);
  });

  it("re-reads and retries when writers race on the route", async () => {
    await cluster.apply(routeManifest("raced", "tts-v41", "tts-v42"));
    const rollout = (await new KubernetesRolloutStore(kc).get({ namespace: NS, name: "tts" }))!;
    const raced = { ...rollout, spec: { ...rollout.spec, traffic: { gatewayAPI: { httpRoute: "raced" } } } };
    // Five routers reading the same resourceVersion at once: all but one get 409 on their first write.
    const weights = [5, 15, 25, 35, 45];
    await Promise.all(
      weights.map((w) => new GatewayApiRouter(kc, { attempts: weights.length }).setCanaryWeight(raced, w)),
    );
    const route = await getJson<{ spec: { rules: { backendRefs: { name: string; weight: number }[] }[] } }>(
      "httproute",
      "raced",
      "-n",
      NS,
    );
    const split = route.spec.rules[1]!.backendRefs.map((b) => b.weight);
    expect(weights).toContain(split[1]);
    expect(split[0]! + split[1]!).toBe(100);
  });

  it("reports null, and refuses to set a weight, when no rule names both Services", async () => {
    await cluster.apply(routeManifest("elsewhere", "tts-v41", "tts-v99"));
    const rollout = (await new KubernetesRolloutStore(kc).get({ namespace: NS, name: "tts" }))!;
    const other = {
      ...rollout,
      spec: { ...rollout.spec, traffic: { gatewayAPI: { httpRoute: "elsewhere" } } },
    };
    const router = new GatewayApiRouter(kc);
    expect(await router.canaryWeight(other)).toBeNull();
    await expect(router.setCanaryWeight(other, 10)).rejects.toThrow(
      "httproute voice/elsewhere has no rule with backendRefs to both Service tts-v41 and Service tts-v42",
    );
  });
});

/**
 * A state as the online analysis builds it from live traffic: 300 voices, TTFA p95 (a histogram test) and
 * speaker similarity (a mean) per voice and overall, after ten looks of sampled requests. Sampled, not
 * patterned, values: the gzip'd size reported is what real state would take.
 */
function bigState() {
  const policy = makePolicy([
    {
      name: "ttfa_p95",
      column: "ttfa_ms",
      aggregate: "p95",
      budget: { relative: 0.3 },
      sliceBy: ["voice_id"],
    },
    {
      name: "speaker_similarity",
      direction: "higherIsBetter",
      critical: true,
      budget: { absolute: 0.01 },
      sliceBy: ["voice_id"],
    },
  ]);
  const plan = planJudge(policy);
  const rng = createRng(7);
  // The simulator's default layout for TTFA in ms: 1 x 1.1^k, 117 bounds, then +Inf.
  const bounds = Array.from({ length: 117 }, (_, k) => 1.1 ** k);
  let state = initialOnlineState();
  for (let look = 0; look < 10; look++) {
    const cells: CellBatch[] = [];
    for (let v = 0; v < 300; v++) {
      for (const arm of ["baseline", "canary"] as const) {
        const n = 20 + rng.poisson(60);
        const counts = new Array<number>(bounds.length + 1).fill(0);
        let sum = 0;
        let sumSquares = 0;
        for (let i = 0; i < n; i++) {
          const ttfa = rng.lognormal(Math.log(250 + v), 0.35);
          const k = bounds.findIndex((le) => ttfa <= le);
          counts[k < 0 ? bounds.length : k]! += 1;
          const similarity = rng.normal(0.82, 0.035);
          sum += similarity;
          sumSquares += similarity * similarity;
        }
        let running = 0;
        const buckets = [...bounds, Infinity].map((le, k) => ({ le, count: (running += counts[k]!) }));
        cells.push({
          arm,
          labels: { voice_id: `voice-${v}` },
          metrics: {
            ttfa_p95: { kind: "histogram", buckets },
            speaker_similarity: { kind: "moments", count: n, sum, sumSquares },
          },
        });
      }
    }
    const l: Look = { at: look * 60_000, canaryWeight: 10, cells };
    state = addLook(plan, state, l);
  }
  return state;
}

describe("analysis state store", () => {
  it("round-trips a 300-slice state through an owned, labelled ConfigMap, within the size limit", async () => {
    const rollout = (await new KubernetesRolloutStore(kc).get({ namespace: NS, name: "tts" }))!;
    const store = new ConfigMapAnalysisStore(kc);
    expect(await store.load(rollout)).toBeNull();

    const state = bigState();
    // Per metric: one test on all traffic and one per voice.
    expect(Object.keys(state.tests)).toHaveLength(2 * 301);
    const stored = { state, lastLookAt: 1_767_000_000_000, unavailable: { mos: "no series" } };
    const bytes = await encodeAnalysis(stored);
    const json = Buffer.byteLength(JSON.stringify(stored));
    console.info(
      `analysis state, 300 voices x 2 metrics (${Object.keys(state.tests).length} tests): ` +
        `${json} bytes of JSON, ${bytes.length} bytes gzip'd (ConfigMap limit ${CONFIGMAP_LIMIT_BYTES})`,
    );
    expect(bytes.length).toBeLessThan(CONFIGMAP_LIMIT_BYTES);

    await store.save(rollout, stored);
    expect(await store.load(rollout)).toEqual(stored);
    expect(store.location(rollout)).toBe("tts-analysis");

    const cm = await getJson<{
      metadata: { labels: Record<string, string>; ownerReferences: Record<string, unknown>[] };
    }>("configmap", "tts-analysis", "-n", NS);
    expect(cm.metadata.labels).toEqual({ "voicectl.dev/rollout": "tts" });
    expect(cm.metadata.ownerReferences).toEqual([
      {
        apiVersion: "voicectl.dev/v1alpha1",
        kind: "VoiceRollout",
        name: "tts",
        uid: rollout.metadata.uid,
        controller: true,
      },
    ]);

    // Saved again (the next look): replaced in place.
    await store.save(rollout, { ...stored, lastLookAt: stored.lastLookAt + 60_000 });
    expect((await store.load(rollout))?.lastLookAt).toBe(stored.lastLookAt + 60_000);

    // Evidence about another canary is not evidence about this one.
    const otherCanary = {
      ...rollout,
      spec: { ...rollout.spec, canary: { ...rollout.spec.canary, version: "v43" } },
    };
    expect(await store.load(otherCanary)).toBeNull();

    await store.remove(rollout);
    expect(await store.load(rollout)).toBeNull();
    await store.remove(rollout); // already gone: not an error
  });

  it("is garbage-collected with its rollout", async () => {
    await cluster.apply(rolloutManifest({ name: "short-lived" }));
    const rollout = (await new KubernetesRolloutStore(kc).get({ namespace: NS, name: "short-lived" }))!;
    await new ConfigMapAnalysisStore(kc).save(rollout, { state: initialOnlineState(), lastLookAt: 0 });
    await cluster.kubectlOk(["get", "configmap", "short-lived-analysis", "-n", NS]);
    await cluster.kubectlOk(["delete", "voicerollout", "short-lived", "-n", NS]);
    await until("the garbage collector to delete short-lived-analysis", async () => {
      const r = await cluster.kubectl(["get", "configmap", "short-lived-analysis", "-n", NS]);
      return r.code !== 0 && r.stderr.includes("NotFound");
    });
  });
});

describe("EventRecorder", () => {
  it("records events.k8s.io/v1 Events about the rollout, with long notes cut to the API's limit", async () => {
    const rollout = (await new KubernetesRolloutStore(kc).get({ namespace: NS, name: "tts" }))!;
    const events = new KubernetesEventRecorder(kc, { reportingInstance: "voicectl-operator-0" });
    await events.record(rollout, "Normal", "Approved", "alice approved step 1: listened to 20 samples");
    await events.record(
      rollout,
      "Warning",
      "RolledBack",
      `speaker_similarity failed for ${"voice ".repeat(400)}`,
    );

    const list = await getJson<{ items: Record<string, unknown>[] }>("events.events.k8s.io", "-n", NS);
    const mine = list.items.filter((e) => (e["regarding"] as { name?: string })["name"] === "tts");
    expect(
      mine.map((e) => [e["type"], e["reason"], e["reportingController"], e["reportingInstance"]]),
    ).toEqual([
      ["Normal", "Approved", "voicectl.dev/operator", "voicectl-operator-0"],
      ["Warning", "RolledBack", "voicectl.dev/operator", "voicectl-operator-0"],
    ]);
    expect(mine[0]!["regarding"]).toMatchObject({
      apiVersion: "voicectl.dev/v1alpha1",
      kind: "VoiceRollout",
      namespace: NS,
      uid: rollout.metadata.uid,
    });
    expect(mine[0]!["note"]).toBe("alice approved step 1: listened to 20 samples");
    const long = mine[1]!["note"] as string;
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(NOTE_LIMIT_BYTES);
    expect(long.endsWith("…")).toBe(true);

    // kubectl's own view, as an engineer would look.
    const described = await cluster.kubectlOk(["events", "-n", NS, "--for", "voicerollout/tts"]);
    expect(described).toContain("RolledBack");
  });
});

/** A TCP proxy in front of the API server that a test can cut: every connection dropped, new ones refused. */
class CuttableProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async open(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
    this.server = server;
    this.port = (server.address() as { port: number }).port;
  }

  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}

function viaProxy(base: KubeConfig, port: number): KubeConfig {
  const cluster = base.getCurrentCluster()!;
  const out = new KubeConfig();
  out.loadFromOptions({
    clusters: [{ ...cluster, server: `https://127.0.0.1:${port}` }],
    users: base.users,
    contexts: base.contexts,
    currentContext: base.currentContext,
  });
  return out;
}

describe("informers", () => {
  const INF = "informed";
  let proxy: CuttableProxy | undefined;
  let informers: RolloutInformers | undefined;

  afterAll(async () => {
    await informers?.stop();
    await proxy?.cut();
  });

  it("maps changes of every kind to the rollouts they concern, and keeps working after the connection breaks", async () => {
    await cluster.kubectlOk(["create", "namespace", INF]);
    await cluster.apply(
      [
        policyManifest("pol-x", INF),
        deploymentManifest("dep-x", 0, INF),
        routeManifest("route-x", "svc-a", "svc-b", INF),
        rolloutManifest({
          name: "r-self",
          namespace: INF,
          stable: "a1",
          canary: "a2",
          policy: "p1",
          route: "h1",
        }),
        rolloutManifest({
          name: "r-cmd",
          namespace: INF,
          stable: "b1",
          canary: "b2",
          policy: "p2",
          route: "h2",
        }),
        rolloutManifest({
          name: "r-pol",
          namespace: INF,
          stable: "c1",
          canary: "c2",
          policy: "pol-x",
          route: "h3",
        }),
        rolloutManifest({
          name: "r-dep",
          namespace: INF,
          stable: "d1",
          canary: "dep-x",
          policy: "p4",
          route: "h4",
        }),
        rolloutManifest({
          name: "r-route",
          namespace: INF,
          stable: "e1",
          canary: "e2",
          policy: "p5",
          route: "route-x",
        }),
      ].join("---\n"),
    );

    const server = new URL(cluster.server);
    proxy = new CuttableProxy({ host: server.hostname, port: Number(server.port) });
    await proxy.open();
    const seen: string[] = [];
    const errors: WatchedKind[] = [];
    informers = new RolloutInformers(viaProxy(kc, proxy.port), {
      onKey: (key) => seen.push(key),
      onError: (kind) => errors.push(kind),
      initialBackoffMs: 200,
      maxBackoffMs: 1000,
    });
    informers.start();
    await until("informers synced", () => informers!.synced());
    // A fresh CRD's watch cache may answer 429 for a moment: the supervised informers retry through that,
    // and a recovery re-enqueues every rollout, which must not be mistaken for a mapping below.
    await until("informers healthy", () => informers!.healthy());
    const startupErrors = errors.length;
    await until("the initial list", () => seen.includes(`${INF}/r-route`));

    let round = 0;
    const changes: { kind: WatchedKind; change: () => Promise<unknown>; key: string }[] = [
      {
        kind: "VoiceRollout",
        // A spec change: the operator's own status writes (same generation) are not enqueued, see below.
        change: () => specChange("r-self", `${round + 2}m`),
        key: "r-self",
      },
      {
        kind: "VoiceRolloutCommand",
        change: () => cluster.apply(commandManifest(`cmd-${round}`, "r-cmd", INF)),
        key: "r-cmd",
      },
      {
        kind: "RolloutPolicy",
        change: () =>
          cluster.kubectlOk([
            "annotate",
            "rolloutpolicy",
            "pol-x",
            "-n",
            INF,
            `round=${round}`,
            "--overwrite",
          ]),
        key: "r-pol",
      },
      {
        kind: "Deployment",
        change: () =>
          cluster.kubectlOk(["annotate", "deployment", "dep-x", "-n", INF, `round=${round}`, "--overwrite"]),
        key: "r-dep",
      },
      {
        kind: "HTTPRoute",
        change: () =>
          cluster.kubectlOk(["annotate", "httproute", "route-x", "-n", INF, `round=${round}`, "--overwrite"]),
        key: "r-route",
      },
    ];
    const specChange = (name: string, interval: string) =>
      cluster.kubectlOk([
        "-n",
        INF,
        "patch",
        "voicerollout",
        name,
        "--type=merge",
        "-p",
        JSON.stringify({ spec: { analysis: { interval } } }),
      ]);
    const checkEveryKind = async () => {
      for (const { kind, change, key } of changes) {
        seen.length = 0;
        await change();
        await until(`${kind} change -> ${INF}/${key}`, () => seen.includes(`${INF}/${key}`));
        // Only the rollout the object concerns (other namespaces' objects are the other tests' business).
        // The deployment controller writes dep-x's status when it likes, so r-dep may show up at any time.
        const others = new Set(seen.filter((k) => k.startsWith(`${INF}/`) && k !== `${INF}/${key}`));
        others.delete(`${INF}/r-dep`);
        expect([kind, [...others]]).toEqual([kind, []]);
      }
    };
    await checkEveryKind();
    expect(errors).toHaveLength(startupErrors);

    // A status-only write (what the operator's every pass makes) comes back as an update of the same
    // generation and is not enqueued. The watch delivers one kind's events in order, so once a later spec
    // change of another rollout has been seen, the status write has been passed over.
    seen.length = 0;
    await cluster.kubectlOk([
      ...["-n", INF, "patch", "voicerollout", "r-self", "--subresource=status", "--type=merge", "-p"],
      JSON.stringify({ status: { message: "written by the operator" } }),
    ]);
    await specChange("r-cmd", "9m");
    await until("the later spec change", () => seen.includes(`${INF}/r-cmd`));
    expect(seen).not.toContain(`${INF}/r-self`);

    // Break it for real: every watch connection is dropped and reconnecting is refused for a while, which
    // client-node's informer reports as an error and then stops for good.
    await proxy.cut();
    await until("every informer to fail and retry", () =>
      (["VoiceRollout", "VoiceRolloutCommand", "RolloutPolicy", "Deployment", "HTTPRoute"] as const).every(
        (k) => errors.filter((e) => e === k).length >= 2,
      ),
    );
    round = 1;
    await proxy.open(); // same port: the supervised informers reconnect on their next attempt
    await until("informers to recover", () => informers!.healthy());
    await checkEveryKind();
  });

  it("watches one namespace when asked", async () => {
    const seen: string[] = [];
    const scoped = new RolloutInformers(kc, { namespace: "informed", onKey: (k) => seen.push(k) });
    try {
      scoped.start();
      await until("scoped informers synced", () => scoped.synced());
      await until("the scoped list", () => seen.includes("informed/r-route"));
      expect(seen.filter((k) => !k.startsWith("informed/"))).toEqual([]);
      expect(scoped.rolloutKeys().sort()).toEqual(
        ["informed/r-cmd", "informed/r-dep", "informed/r-pol", "informed/r-route", "informed/r-self"].sort(),
      );
    } finally {
      await scoped.stop();
    }
  });
});

describe("leader election", () => {
  const timing = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 300 };

  function candidate(identity: string, log: string[], config: KubeConfig = kc, lease = "voicectl-operator") {
    return new LeaderElector(config, {
      namespace: NS,
      name: lease,
      identity,
      ...timing,
      onStartedLeading: () => log.push(`${identity} started`),
      onStoppedLeading: () => log.push(`${identity} stopped`),
    });
  }

  /** Never two leaders at once: each "started" is preceded by the previous leader's "stopped". */
  function expectOneAtATime(log: string[]) {
    let leader: string | undefined;
    for (const entry of log) {
      const [who, what] = entry.split(" ");
      if (what === "started") {
        expect(leader, `${who} started while ${leader} led`).toBeUndefined();
        leader = who;
      } else if (who === leader) leader = undefined;
    }
  }

  it("elects exactly one of two candidates; the other takes over when the first stops", async () => {
    const log: string[] = [];
    const a = candidate("a", log);
    const b = candidate("b", log);
    a.start();
    await until("a to lead", () => a.isLeader());
    b.start();
    // Several retry periods in which b reads the Lease and finds it held.
    await until("b to see a as leader", () => b.leader() === "a");
    await sleep(timing.leaseDurationMs + 500); // past one lease duration: a's renewals keep it
    expect([a.isLeader(), b.isLeader()]).toEqual([true, false]);
    const lease = await getJson<{ spec: { holderIdentity: string; leaseDurationSeconds: number } }>(
      "lease",
      "voicectl-operator",
      "-n",
      NS,
    );
    expect(lease.spec).toMatchObject({ holderIdentity: "a", leaseDurationSeconds: 3 });

    await a.stop(); // releases the Lease
    await until("b to take over", () => b.isLeader());
    expect(a.isLeader()).toBe(false);
    await b.stop();
    expect(log).toEqual(["a started", "a stopped", "b started", "b stopped"]);
    expectOneAtATime(log);
  });

  it("takes over an expired Lease, and a leader cut off from the API server steps down", async () => {
    const log: string[] = [];
    const server = new URL(cluster.server);
    const proxy = new CuttableProxy({ host: server.hostname, port: Number(server.port) });
    await proxy.open();
    const a = candidate("a", log, viaProxy(kc, proxy.port), "failover");
    const b = candidate("b", log, kc, "failover");
    try {
      a.start();
      await until("a to lead", () => a.isLeader());
      b.start();
      await until("b to see a as leader", () => b.leader() === "a");
      await proxy.cut(); // a can no longer renew: it must stop acting before its Lease expires for b
      await until("b to take over", () => b.isLeader());
      expect(a.isLeader()).toBe(false);
      expect(log).toEqual(["a started", "a stopped", "b started"]);
      const lease = await getJson<{ spec: { holderIdentity: string; leaseTransitions: number } }>(
        "lease",
        "failover",
        "-n",
        NS,
      );
      expect(lease.spec).toMatchObject({ holderIdentity: "b", leaseTransitions: 1 });
      expectOneAtATime(log);
    } finally {
      await a.stop({ release: false });
      await b.stop();
      await proxy.cut();
    }
  });

  it("takes a Lease that expired long ago at once, and waits out one renewed within its duration", async () => {
    const leaseManifest = (name: string, renewedAgoMs: number) =>
      stringify({
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name, namespace: NS },
        spec: {
          holderIdentity: "crashed-pod",
          leaseDurationSeconds: 15,
          renewTime: new Date(Date.now() - renewedAgoMs).toISOString().replace("Z", "000Z"),
        },
      });
    // A restarted operator finds its predecessor's Lease, last renewed ten minutes ago.
    await cluster.apply(leaseManifest("stale", 600_000));
    // A Lease renewed 5 s ago may still have a live holder: it must be waited out.
    await cluster.apply(leaseManifest("recent", 5_000));
    const log: string[] = [];
    const slow = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 300 };
    const elector = (identity: string, lease: string) =>
      new LeaderElector(kc, {
        namespace: NS,
        name: lease,
        identity,
        ...slow,
        onStartedLeading: () => log.push(`${identity} started`),
      });
    const onStale = elector("restarted", "stale");
    const onRecent = elector("patient", "recent");
    try {
      const t0 = performance.now();
      onStale.start();
      onRecent.start();
      await until("the restarted operator to take the stale Lease", () => onStale.isLeader());
      // Far less than the 15 s the Lease names: the first attempt (or the second) takes it.
      expect(performance.now() - t0).toBeLessThan(5_000);
      await sleep(2_000);
      expect(onRecent.isLeader()).toBe(false);
      expect(log).toEqual(["restarted started"]);
    } finally {
      await onStale.stop();
      await onRecent.stop();
    }
  });
});

describe("kubernetesPorts", () => {
  it("wires every port to the cluster", async () => {
    const ports = kubernetesPorts(kc, { prometheusUrl: "http://127.0.0.1:1", reportingInstance: "wiring" });
    const rollout = await ports.rollouts.get({ namespace: NS, name: "tts" });
    expect(rollout?.metadata.name).toBe("tts");
    expect(await ports.router.canaryWeight(rollout!)).toBe(30);
    expect((await ports.workloads.deployment({ namespace: NS, name: "tts-v41" }))?.replicas).toBe(2);
    expect("policy" in (await ports.policies.get({ namespace: NS, name: "voice-studio" }))).toBe(true);
    expect(ports.clock.now()).toBeGreaterThan(0);
  });
});
