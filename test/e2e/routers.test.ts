// The traffic routers on a real control plane with the real CRDs (test/cluster installs Gateway API's from
// sigs.k8s.io/gateway-api, Istio's VirtualService from istio.io/api and KServe's InferenceService from
// github.com/kserve/kserve): weights written where both versions are named and nowhere else, written once
// (a user allowed only to read can repeat the call, so a second write would be refused), header values
// pinned to stable and unpinned, a KServe status that contradicts the spec reported, and the informers
// watching VirtualServices and InferenceServices only while the API server serves them. All calls go
// through the dispatcher the operator uses (kubernetesRouter), so spec.traffic picks the router.
import { CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { voiceRolloutSpecSchema, type VoiceRollout } from "../../src/core/resource/voicerollout.js";
import { KubernetesApiError } from "../../src/adapters/kubernetes/api-errors.js";
import { RolloutInformers } from "../../src/adapters/kubernetes/informers.js";
import { kubernetesRouter } from "../../src/adapters/kubernetes/router.js";
import { PinningUnsupportedError, TrafficMismatchError } from "../../src/operator/ports.js";
import { kubeConfigFrom, readOnlyRoleManifest, startCluster, type TestCluster } from "../support/cluster.js";
import { waitFor } from "../support/wait.js";

const NS = "voice";
let cluster: TestCluster;
let kc: KubeConfig;

/** Polls until `check` returns a value other than undefined/false (test/support/wait.ts), for up to a minute. */
const until = <T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false) =>
  waitFor(what, 60_000, check, { intervalMs: 150 });

async function getJson<T>(...args: string[]): Promise<T> {
  return JSON.parse(await cluster.kubectlOk(["get", ...args, "-n", NS, "-o", "json"])) as T;
}

function rollout(name: string, traffic: Record<string, unknown>): VoiceRollout {
  return {
    apiVersion: "voicectl.dev/v1alpha1",
    kind: "VoiceRollout",
    metadata: { namespace: NS, name },
    spec: voiceRolloutSpecSchema.parse({
      stable: { deployment: "tts-v41" },
      canary: { deployment: "tts-v42" },
      policyRef: { name: "voice-studio" },
      // The schema refuses pinning through KServe; the KServe router's own refusal is tested with pins passed in.
      traffic:
        "kserve" in traffic ? traffic : { ...traffic, pinning: { label: "voice_id", header: "x-voice-id" } },
      steps: [{ setWeight: 10 }],
    }),
  };
}

/** A user whose Role allows only reads of `resource`: any write through it is refused with 403. */
async function readOnlyRouter(user: string, apiGroup: string, resource: string) {
  await cluster.apply(readOnlyRoleManifest(user, NS, [{ apiGroups: [apiGroup], resources: [resource] }]));
  const userKc = kubeConfigFrom(cluster.userKubeconfig(user));
  const custom = userKc.makeApiClient(CustomObjectsApi);
  const [group, version] = apiGroup === "serving.kserve.io" ? [apiGroup, "v1beta1"] : [apiGroup, "v1"];
  // RBAC takes effect within a moment of the RoleBinding; wait until a read goes through.
  await until(`RBAC for ${user}`, async () =>
    (await custom.listNamespacedCustomObject({ group, version, namespace: NS, plural: resource }))
      ? true
      : false,
  );
  return kubernetesRouter(userKc);
}

const refusal = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

beforeAll(async () => {
  cluster = await startCluster({ h100Nodes: 0, l4Nodes: 1 });
  kc = kubeConfigFrom(cluster.kubeconfig);
  await cluster.kubectlOk(["create", "namespace", NS]);
  for (const crd of [
    "httproutes.gateway.networking.k8s.io",
    "virtualservices.networking.istio.io",
    "inferenceservices.serving.kserve.io",
  ]) {
    const r = await cluster.kubectl(["get", "crd", crd]);
    if (r.code !== 0) throw new Error(`CRD ${crd} is not installed by test/cluster/up.sh`);
  }
});

afterAll(async () => {
  await cluster?.stop();
});

interface VsRoute {
  name?: string;
  match?: unknown[];
  route: { destination: { host: string }; weight?: number }[];
}
const vsHttp = async (name: string) =>
  (await getJson<{ spec: { http: VsRoute[] } }>("virtualservice", name)).spec.http;

describe("Istio VirtualService router", () => {
  const http = [
    {
      // A tenant sent to stable by hand: never touched.
      name: "tenant",
      match: [{ headers: { "x-tenant": { exact: "audiobooks" } } }],
      route: [{ destination: { host: "tts-v41", port: { number: 80 } } }],
    },
    {
      // Another service behind the same host: not the rollout's business.
      name: "asr",
      match: [{ uri: { prefix: "/v1/asr" } }],
      route: [
        { destination: { host: "asr-v1", port: { number: 80 } }, weight: 50 },
        { destination: { host: "asr-v2", port: { number: 80 } }, weight: 50 },
      ],
    },
    {
      name: "tts",
      match: [{ uri: { prefix: "/v1/tts" } }],
      timeout: "30s",
      route: [
        { destination: { host: "tts-v41.voice.svc.cluster.local", port: { number: 80 } }, weight: 100 },
        { destination: { host: "tts-v42", port: { number: 80 } }, weight: 0 },
      ],
    },
  ];
  const manifest = (name: string) =>
    stringify({
      apiVersion: "networking.istio.io/v1",
      kind: "VirtualService",
      metadata: { name, namespace: NS },
      spec: { hosts: ["tts.example.com"], gateways: ["voice-gateway"], http },
    });

  it("sets weights on the route naming both hosts, once, and leaves the others alone", async () => {
    await cluster.apply(manifest("tts"));
    const r = rollout("istio", { istio: { virtualService: "tts" } });
    const router = kubernetesRouter(kc);
    expect(await router.canaryWeight(r)).toBe(0);
    const before = await vsHttp("tts");

    await router.setCanaryWeight(r, 30);
    const after = await vsHttp("tts");
    expect(after[2]!.route.map((d) => [d.destination.host, d.weight])).toEqual([
      ["tts-v41.voice.svc.cluster.local", 70],
      ["tts-v42", 30],
    ]);
    expect(after.slice(0, 2)).toEqual(before.slice(0, 2));
    expect(await router.canaryWeight(r)).toBe(30);
    // The weight written is recorded on the object in the same update: an edit by hand shows as different.
    expect(await router.observe(r)).toEqual({ weight: 30, written: 30 });
    // ...and managedFields say who made it (Flux, played by kubectl with its field manager).
    const edit = JSON.stringify([
      { op: "replace", path: "/spec/http/2/route/0/weight", value: 50 },
      { op: "replace", path: "/spec/http/2/route/1/weight", value: 50 },
    ]);
    const patched = await cluster.kubectl([
      ...["-n", NS, "patch", "virtualservice", "tts", "--type=json", "-p", edit],
      "--field-manager=kustomize-controller",
    ]);
    expect(patched.code, patched.stderr).toBe(0);
    expect(await router.observe(r)).toEqual({ weight: 50, written: 30, changedBy: "kustomize-controller" });
    await router.setCanaryWeight(r, 30, { overrideHandEdit: true });
    expect(await router.observe(r)).toEqual({ weight: 30, written: 30 });

    const readOnly = await readOnlyRouter("vs-reader", "networking.istio.io", "virtualservices");
    await readOnly.setCanaryWeight(r, 30);
    const refused = await refusal(readOnly.setCanaryWeight(r, 40));
    expect(refused).toBeInstanceOf(KubernetesApiError);
    expect((refused as KubernetesApiError).status).toBe(403);
    expect((refused as Error).message).toContain("virtualservice voice/tts");
    expect(await router.canaryWeight(r)).toBe(30);
  });

  it("pins a header value to stable ahead of the split route, once, and unpins", async () => {
    const r = rollout("istio", { istio: { virtualService: "tts" } });
    const router = kubernetesRouter(kc);
    const before = await vsHttp("tts");
    await router.setPins(r, "x-voice-id", ["v7"]);
    const pinned = await vsHttp("tts");
    expect(pinned.map((h) => h.name)).toEqual(["tenant", "asr", "voicectl-pin-0", "tts"]);
    expect(pinned[2]).toEqual({
      name: "voicectl-pin-0",
      timeout: "30s",
      match: [{ uri: { prefix: "/v1/tts" }, headers: { "x-voice-id": { exact: "v7" } } }],
      route: [{ destination: { host: "tts-v41.voice.svc.cluster.local", port: { number: 80 } } }],
    });
    expect(await router.pinnedValues(r, "x-voice-id")).toEqual(["v7"]);
    // Weights still go to the split route only; the pin keeps its lone stable destination.
    await router.setCanaryWeight(r, 60);
    expect((await vsHttp("tts"))[2]).toEqual(pinned[2]);
    expect(await router.canaryWeight(r)).toBe(60);

    const readOnly = await readOnlyRouter("vs-reader", "networking.istio.io", "virtualservices");
    await readOnly.setPins(r, "x-voice-id", ["v7"]);
    const refused = await refusal(readOnly.setPins(r, "x-voice-id", []));
    expect((refused as KubernetesApiError).status).toBe(403);

    await router.setPins(r, "x-voice-id", []);
    const unpinned = await vsHttp("tts");
    expect(unpinned.map((h) => h.name)).toEqual(["tenant", "asr", "tts"]);
    expect(unpinned.slice(0, 2)).toEqual(before.slice(0, 2));
    expect(await router.pinnedValues(r, "x-voice-id")).toEqual([]);
  });

  it("touches only the named routes when spec.traffic.istio.routes names some", async () => {
    await cluster.apply(
      stringify({
        apiVersion: "networking.istio.io/v1",
        kind: "VirtualService",
        metadata: { name: "two", namespace: NS },
        spec: {
          hosts: ["tts"],
          http: ["eu", "us"].map((name) => ({
            name,
            match: [{ headers: { "x-region": { exact: name } } }],
            route: [
              { destination: { host: "tts-v41" }, weight: 100 },
              { destination: { host: "tts-v42" }, weight: 0 },
            ],
          })),
        },
      }),
    );
    const router = kubernetesRouter(kc);
    await router.setCanaryWeight(rollout("istio", { istio: { virtualService: "two", routes: ["us"] } }), 20);
    expect((await vsHttp("two")).map((h) => h.route.map((d) => d.weight))).toEqual([
      [100, 0],
      [80, 20],
    ]);
    const missing = await refusal(
      router.setCanaryWeight(rollout("istio", { istio: { virtualService: "two", routes: ["apac"] } }), 20),
    );
    expect((missing as Error).message).toBe("virtualservice voice/two has no http route named apac");
  });

  it("re-reads and retries when writers race, and reports null with no split route", async () => {
    await cluster.apply(manifest("raced"));
    const r = rollout("istio", { istio: { virtualService: "raced" } });
    const weights = [5, 15, 25, 35, 45];
    await Promise.all(
      weights.map((w) => kubernetesRouter(kc, { attempts: weights.length }).setCanaryWeight(r, w)),
    );
    const split = (await vsHttp("raced"))[2]!.route.map((d) => d.weight!);
    expect(weights).toContain(split[1]);
    expect(split[0]! + split[1]!).toBe(100);

    const elsewhere = {
      ...r,
      spec: { ...r.spec, canary: { ...r.spec.canary, deployment: "tts-v99" } },
    };
    expect(await kubernetesRouter(kc).canaryWeight(elsewhere)).toBeNull();
    await expect(kubernetesRouter(kc).setCanaryWeight(elsewhere, 10)).rejects.toThrow(
      "virtualservice voice/raced has no http route with destinations to both host tts-v41 and host tts-v99",
    );
  });
});

interface HttpRule {
  name?: string;
  matches?: { path?: unknown; headers?: { name: string; value: string }[] }[];
  backendRefs: { name: string; weight?: number }[];
}
const routeRules = async (name: string) =>
  (await getJson<{ spec: { rules: HttpRule[] } }>("httproute", name)).spec.rules;

describe("Gateway API router pins", () => {
  it("pins header values with rules before the split rule, once, keeps weights apart, and unpins", async () => {
    await cluster.apply(
      stringify({
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "HTTPRoute",
        metadata: { name: "tts", namespace: NS },
        spec: {
          parentRefs: [{ name: "voice-gateway" }],
          rules: [
            {
              matches: [{ path: { type: "PathPrefix", value: "/v1/asr" } }],
              backendRefs: [{ name: "asr", port: 80 }],
            },
            {
              matches: [{ path: { type: "PathPrefix", value: "/v1/tts" } }],
              backendRefs: [
                { name: "tts-v41", port: 80, weight: 0 },
                { name: "tts-v42", port: 80, weight: 100 },
              ],
            },
          ],
        },
      }),
    );
    const r = rollout("gateway", { gatewayAPI: { httpRoute: "tts" } });
    const router = kubernetesRouter(kc);
    const before = await routeRules("tts");
    await router.setPins(r, "x-voice-id", ["v2", "v1"]);
    const pinned = await routeRules("tts");
    expect(pinned.map((x) => x.name)).toEqual([undefined, "voicectl-pin-0", "voicectl-pin-1", undefined]);
    expect(pinned[1]!.matches).toEqual([
      {
        path: { type: "PathPrefix", value: "/v1/tts" },
        headers: [{ type: "Exact", name: "x-voice-id", value: "v1" }],
      },
    ]);
    // The stable alone, with a weight that sends it traffic although the split gives stable 0.
    expect(pinned[1]!.backendRefs.map((b) => [b.name, b.weight])).toEqual([["tts-v41", 1]]);
    expect(await router.pinnedValues(r, "x-voice-id")).toEqual(["v1", "v2"]);

    const readOnly = await readOnlyRouter("route-reader", "gateway.networking.k8s.io", "httproutes");
    await readOnly.setPins(r, "x-voice-id", ["v1", "v2"]);
    expect(((await refusal(readOnly.setPins(r, "x-voice-id", ["v1"]))) as KubernetesApiError).status).toBe(
      403,
    );

    await router.setCanaryWeight(r, 40);
    const weighted = await routeRules("tts");
    expect(weighted.slice(0, 3)).toEqual(pinned.slice(0, 3));
    expect(weighted[3]!.backendRefs.map((b) => b.weight)).toEqual([60, 40]);

    await router.setPins(r, "x-voice-id", []);
    const unpinned = await routeRules("tts");
    expect(unpinned).toHaveLength(2);
    expect(unpinned[0]).toEqual(before[0]);
    expect(unpinned[1]!.backendRefs.map((b) => b.weight)).toEqual([60, 40]);
  });
});

interface Isvc {
  metadata: { resourceVersion?: string };
  spec: { predictor: { canaryTrafficPercent?: number } };
  status?: unknown;
}

describe("KServe InferenceService router", () => {
  const custom = () => kc.makeApiClient(CustomObjectsApi);
  const isvcRef = (name: string) => ({
    group: "serving.kserve.io",
    version: "v1beta1",
    namespace: NS,
    plural: "inferenceservices",
    name,
  });
  const manifest = (name: string, mode: string) =>
    stringify({
      apiVersion: "serving.kserve.io/v1beta1",
      kind: "InferenceService",
      metadata: { name, namespace: NS, annotations: { "serving.kserve.io/deploymentMode": mode } },
      spec: {
        predictor: {
          model: { modelFormat: { name: "pytorch" }, storageUri: "pvc://models/tts-v42" },
        },
      },
    });
  /** Writes status as KServe's controller would (there is no KServe controller in this cluster). */
  async function setStatus(name: string, predictor: Record<string, unknown>) {
    const obj = (await custom().getNamespacedCustomObject(isvcRef(name))) as Isvc;
    obj.status = { deploymentMode: "Serverless", components: { predictor } };
    await custom().replaceNamespacedCustomObjectStatus({ ...isvcRef(name), body: obj });
  }

  it("writes canaryTrafficPercent once, and reports a status that serves something else", async () => {
    await cluster.apply(manifest("tts", "Serverless"));
    const r = rollout("kserve", { kserve: { inferenceService: "tts" } });
    const router = kubernetesRouter(kc);
    // Unset: KServe does not split (the latest ready revision takes everything).
    expect(await router.canaryWeight(r)).toBeNull();

    await router.setCanaryWeight(r, 10);
    expect((await getJson<Isvc>("inferenceservice", "tts")).spec.predictor.canaryTrafficPercent).toBe(10);
    expect(await router.canaryWeight(r)).toBe(10);
    expect(await router.observe(r)).toEqual({ weight: 10, written: 10 });
    // A GitOps sync writing Git's percent back is named by its field manager (played by kubectl).
    const patched = await cluster.kubectl([
      ...["-n", NS, "patch", "inferenceservice", "tts", "--type=merge"],
      ...["-p", JSON.stringify({ spec: { predictor: { canaryTrafficPercent: 40 } } })],
      "--field-manager=argocd-controller",
    ]);
    expect(patched.code, patched.stderr).toBe(0);
    expect(await router.observe(r)).toEqual({ weight: 40, written: 10, changedBy: "argocd-controller" });
    await router.setCanaryWeight(r, 10, { overrideHandEdit: true });
    expect(await router.observe(r)).toEqual({ weight: 10, written: 10 });
    const readOnly = await readOnlyRouter("isvc-reader", "serving.kserve.io", "inferenceservices");
    await readOnly.setCanaryWeight(r, 10);
    expect(((await refusal(readOnly.setCanaryWeight(r, 20))) as KubernetesApiError).status).toBe(403);

    // KServe made revision 2 from the new spec, but it never became ready: "latest ready" is still 1, so
    // the 10% KServe was asked to give the canary goes to the old revision.
    await setStatus("tts", {
      latestCreatedRevision: "tts-predictor-00002",
      latestReadyRevision: "tts-predictor-00001",
      latestRolledoutRevision: "tts-predictor-00001",
      traffic: [
        { revisionName: "tts-predictor-00001", latestRevision: true, percent: 10, tag: "latest" },
        { revisionName: "tts-predictor-00001", latestRevision: false, percent: 90, tag: "prev" },
      ],
    });
    const read = await refusal(router.canaryWeight(r));
    expect(read).toBeInstanceOf(TrafficMismatchError);
    expect(read).toMatchObject({ written: 10, served: 0 });
    expect((read as Error).message).toContain(
      "inferenceservice voice/tts: spec.predictor.canaryTrafficPercent is 10 but status.components.predictor.traffic gives canary revision tts-predictor-00002 0%: the canary revision is not ready",
    );
    // The same weight again writes nothing, and does not pass the contradiction off as done.
    expect(await refusal(router.setCanaryWeight(r, 10))).toBeInstanceOf(TrafficMismatchError);

    await setStatus("tts", {
      latestCreatedRevision: "tts-predictor-00002",
      latestReadyRevision: "tts-predictor-00002",
      latestRolledoutRevision: "tts-predictor-00001",
      traffic: [
        { revisionName: "tts-predictor-00002", latestRevision: true, percent: 10, tag: "latest" },
        { revisionName: "tts-predictor-00001", latestRevision: false, percent: 90, tag: "prev" },
      ],
    });
    expect(await router.canaryWeight(r)).toBe(10);
    await router.setCanaryWeight(r, 10);

    // KServe cannot match on a header: a pin is refused with why, removing pins is a no-op.
    await router.setPins(r, "x-voice-id", []);
    await expect(router.setPins(r, "x-voice-id", ["v7"])).rejects.toThrow(PinningUnsupportedError);
  });

  it("refuses to write where KServe ignores canaryTrafficPercent (Standard/RawDeployment mode)", async () => {
    await cluster.apply(manifest("raw", "RawDeployment"));
    const r = rollout("kserve", { kserve: { inferenceService: "raw" } });
    const router = kubernetesRouter(kc);
    expect(await router.canaryWeight(r)).toBeNull();
    await expect(router.setCanaryWeight(r, 10)).rejects.toThrow(
      "inferenceservice voice/raw cannot split traffic: it runs in deploymentMode RawDeployment, where KServe ignores spec.predictor.canaryTrafficPercent",
    );
    expect(
      (await getJson<Isvc>("inferenceservice", "raw")).spec.predictor.canaryTrafficPercent,
    ).toBeUndefined();
  });

  it("names the object when it does not exist", async () => {
    const r = rollout("kserve", { kserve: { inferenceService: "absent" } });
    const err = await refusal(kubernetesRouter(kc).setCanaryWeight(r, 10));
    expect(err).toBeInstanceOf(KubernetesApiError);
    expect((err as KubernetesApiError).status).toBe(404);
    expect((err as Error).message).toContain("reading inferenceservice voice/absent");
  });
});

describe("informers", () => {
  let informers: RolloutInformers | undefined;
  afterAll(async () => {
    await informers?.stop();
  });

  it("map VirtualService and InferenceService changes to their rollouts, and skip kinds not served", async () => {
    const manifest = (name: string, traffic: Record<string, unknown>) =>
      stringify({
        apiVersion: "voicectl.dev/v1alpha1",
        kind: "VoiceRollout",
        metadata: { name, namespace: NS },
        spec: {
          stable: { deployment: "tts-v41" },
          canary: { deployment: "tts-v42" },
          policyRef: { name: "voice-studio" },
          traffic,
          steps: [{ setWeight: 10 }],
        },
      });
    await cluster.apply(
      [
        manifest("by-vs", { istio: { virtualService: "tts" } }),
        manifest("by-isvc", { kserve: { inferenceService: "tts" } }),
      ].join("---\n"),
    );
    const seen: string[] = [];
    informers = new RolloutInformers(kc, {
      onKey: (k) => seen.push(k),
      initialBackoffMs: 200,
      maxBackoffMs: 1000,
    });
    informers.start();
    await until("informers synced", () => informers!.synced());
    expect(informers.watched()).toEqual(expect.arrayContaining(["VirtualService", "InferenceService"]));
    await until("the initial list", () => seen.includes(`${NS}/by-isvc`) && seen.includes(`${NS}/by-vs`));

    seen.length = 0;
    await cluster.kubectlOk(["annotate", "virtualservice", "tts", "-n", NS, "touched=1"]);
    await until("the VirtualService's rollout", () => seen.includes(`${NS}/by-vs`));
    expect(seen).not.toContain(`${NS}/by-isvc`);
    seen.length = 0;
    await cluster.kubectlOk(["annotate", "inferenceservice", "tts", "-n", NS, "touched=1"]);
    await until("the InferenceService's rollout", () => seen.includes(`${NS}/by-isvc`));
    expect(seen).not.toContain(`${NS}/by-vs`);
    await informers.stop();

    // Without KServe's CRD the InferenceService watch is not started, and start-up does not wait for it.
    await cluster.kubectlOk(["delete", "crd", "inferenceservices.serving.kserve.io", "--wait=true"]);
    await until("InferenceService gone from discovery", async () => {
      const r = await cluster.kubectl(["api-resources", "--api-group=serving.kserve.io", "-o", "name"]);
      return r.code === 0 && !r.stdout.includes("inferenceservices");
    });
    informers = new RolloutInformers(kc, { onKey: () => {}, initialBackoffMs: 200, maxBackoffMs: 1000 });
    informers.start();
    await until("informers synced without KServe", () => informers!.synced());
    expect(informers.watched()).toContain("VirtualService");
    expect(informers.watched()).not.toContain("InferenceService");
    expect(informers.healthy()).toBe(true);
  });
});
