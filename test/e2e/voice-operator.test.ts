// The operator on real audio (issue 12): a TTS model server (test/voice-server: flite, real synthesis) runs
// the stable and the canary version, samples every clip to the scorer (scorer/), Prometheus scrapes the
// scorer, and `voicectl operator`, its own process on a real control plane, judges the rollout and moves the
// HTTPRoute's weights. A traffic driver here plays the gateway: it reads the route's canary weight every
// second and sends that share of its TTS requests to the canary's model server, so the scored samples follow
// the operator's weights. The canary's cloned voice leo speaks as another man: the operator rolls back,
// naming leo; an A/A-ish canary (the same voices, 5% slower) is promoted.
//
// Two flite voices only (fast to synthesise; the piper voice is covered by voice-audio.test.ts), cached per
// text and voice, so the scorer is what bounds the pace. Runtime: 1 to 2 minutes on 2 cores (bench/RESULTS.md).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CustomObjectsApi } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { kubeConfigFrom, repositoryRoot, startCluster, type TestCluster } from "../support/cluster.js";
import { routeCanaryWeight } from "../support/dataplane.js";
import {
  CANARY,
  rolloutYaml,
  setUpOperatorCluster,
  STABLE,
  startOperatorProcess,
  type OperatorProcess,
} from "../support/operator.js";
import { startPrometheus, type PrometheusServer } from "../support/prometheus.js";
import { startVoiceChain, TEXTS as ALL_TEXTS, type VoiceChain } from "../support/voice-chain.js";
import { waitFor as waitUntil } from "../support/wait.js";

const ROOT = repositoryRoot();
const NS = "voice-drift";
// The A/A rollout's own namespace and version labels: the scorer's series of the drift rollout stay apart.
const NS_AA = "voice-aa";
const AA = { stable: "aa-v41", canary: "aa-v42" };
const STABLE_VOICES = ["ava=flite:slt", "leo=flite:kal"];
// Clone drift: leo's voice now speaks with another man's voice; ava is unchanged.
const CANARY_VOICES = ["ava=flite:slt", "leo=flite:rms"];
// A/A-ish: the same voices, 5% slower.
const AA_VOICES = [...STABLE_VOICES, "--length-scale=1.05"];
const VOICES = ["ava", "leo"];
const INTERVAL_S = 3;

// The first 12 texts: enough variety for two voices' requests.
const TEXTS = ALL_TEXTS.slice(0, 12);

let cluster: TestCluster | undefined;
let dir = "";
let prom: PrometheusServer | undefined;
let operator: OperatorProcess | undefined;
let chain: VoiceChain | undefined;
let operatorKubeconfig = "";

const waitFor = <T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> =>
  waitUntil(what, timeoutMs, probe, {
    context: async () => `operator log tail:\n${(operator?.logs ?? []).slice(-15).join("\n")}`,
  });

interface RolloutView {
  phase?: string;
  canaryWeight?: number;
  message?: string;
  lastDecision?: {
    decision: string;
    findings: { metric: string; slice: Record<string, string>; verdict: string; critical: boolean }[];
  } | null;
}

async function rolloutStatus(ns: string): Promise<RolloutView> {
  const vr = await cluster!.json(["-n", ns, "get", "voicerollout", "tts"]);
  return (vr["status"] ?? {}) as RolloutView;
}

/**
 * The gateway: every second it reads the route's canary weight, and between reads it sends TTS requests one
 * after another, each voice in turn, the canary getting the share the weight says (by deficit, so a share
 * holds from the first requests on, not only on average).
 */
function driveTraffic(ns: string, servers: { stable: string; canary: string }, voices: string[]) {
  const api = kubeConfigFrom(cluster!.kubeconfig).makeApiClient(CustomObjectsApi);
  const weights: { at: number; weight: number }[] = [];
  const sent = { stable: 0, canary: 0, failed: 0 };
  let weight = 0;
  let stopped = false;
  const follow = async () => {
    while (!stopped) {
      try {
        const route = await api.getNamespacedCustomObject({
          group: "gateway.networking.k8s.io",
          version: "v1",
          namespace: ns,
          plural: "httproutes",
          name: "tts",
        });
        const w = routeCanaryWeight(route, STABLE, CANARY) ?? 0;
        if (w !== weight || weights.length === 0) weights.push({ at: Date.now(), weight: w });
        weight = w;
      } catch {
        // A gateway keeps its last configuration while the API server does not answer.
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  };
  const send = async () => {
    // The share is kept per voice: one counter over voices taken in turn would send every other request, so
    // one voice only, to the canary.
    const toCanary = voices.map(() => 0);
    const total = voices.map(() => 0);
    for (let i = 0; !stopped; i++) {
      const v = i % voices.length;
      const voice = voices[v]!;
      const text = TEXTS[Math.floor(i / voices.length) % TEXTS.length]!;
      total[v]!++;
      const canary = weight > 0 && toCanary[v]! < (total[v]! * weight) / 100;
      if (canary) toCanary[v]!++;
      try {
        const r = await fetch(`${canary ? servers.canary : servers.stable}/v1/tts`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            text,
            voice_id: voice,
            language: "en",
            product: "voice-studio",
            tenant: "acme",
          }),
        });
        await r.arrayBuffer();
        if (r.status === 200) sent[canary ? "canary" : "stable"]++;
        else sent.failed++;
      } catch {
        sent.failed++;
      }
      // About four requests a second: what the scorer keeps up with on 2 cores (a queue would only delay looks).
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  const running = Promise.all([follow(), send()]);
  return {
    weights,
    sent,
    async stop() {
      stopped = true;
      await running;
    },
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "voicectl-voice-operator-"));
  chain = await startVoiceChain(dir, STABLE_VOICES);
  const port = chain.scorerPort;
  // Two namespaces of stable and canary at two GPUs each (pool l4).
  cluster = await startCluster({ l4Nodes: 8 });
  operatorKubeconfig = (await setUpOperatorCluster(cluster)).operator;
  await chain.scorerReady;
  // The scorer's series carry the rollout's namespace, as Kubernetes service discovery would label them.
  prom = await startPrometheus({
    targets: [NS, NS_AA].map((namespace) => ({ address: `127.0.0.1:${port}`, labels: { namespace } })),
  });
  // One operator for both namespaces, as one release of the chart would run.
  operator = startOperatorProcess({ kubeconfig: operatorKubeconfig, prometheusUrl: prom.url });
}, 300_000);

afterAll(async () => {
  await operator?.stop();
  await prom?.stop();
  chain?.stop();
  await cluster?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * A namespace with the example workloads, the policy and a model server per version, traffic following the
 * route, and a rollout of one step at 50% with analysis; resolves when the rollout ends (or pauses), the
 * traffic stopped.
 */
async function rolloutOnRealAudio(
  ns: string,
  versions: { stable: string; canary: string },
  canaryVoices: string[],
  voices: string[],
) {
  const c = cluster!;
  // The test policy of the real-audio tests, pinned to the real scorer, under the name the rollout refers to.
  // Similarity only: the drifted clone also speaks with another flite voice's quality (MOS about 0.4 lower on
  // leo), and MOS, non-critical, would pause the rollout for a person before similarity's per-voice slices
  // hold minSamples; voice-audio.test.ts covers MOS's pause.
  const policy = parse(readFileSync(join(ROOT, "test/voice-server/policy.yaml"), "utf8")) as {
    metadata: { name: string };
    spec: { metrics: { name: string }[] };
  };
  policy.metadata.name = "tts-studio";
  policy.spec.metrics = policy.spec.metrics.filter((m) => m.name === "speaker_similarity");
  expect(policy.spec.metrics).toHaveLength(1);
  const workloads = readFileSync(join(ROOT, "examples/rollouts/workloads.yaml"), "utf8");
  await c.kubectlOk(["create", "namespace", ns]);
  await c.kubectlOk(["-n", ns, "apply", "-f", "-"], workloads + "\n---\n" + stringify(policy));
  const servers = {
    stable: await chain!.startVoiceServer(versions.stable, STABLE_VOICES),
    canary: await chain!.startVoiceServer(versions.canary, canaryVoices),
  };
  const traffic = driveTraffic(ns, servers, voices);
  try {
    const t0 = Date.now();
    const rollout = rolloutYaml(
      `    - setWeight: 50
    - analysis: { minDuration: 15s, maxDuration: 240s }
    - setWeight: 100`,
      INTERVAL_S,
    )
      .replace(
        `stable: { deployment: ${STABLE} }`,
        `stable: { deployment: ${STABLE}, version: ${versions.stable} }`,
      )
      .replace(
        `canary: { deployment: ${CANARY},`,
        `canary: { deployment: ${CANARY}, version: ${versions.canary},`,
      );
    expect(rollout).toContain(`version: ${versions.canary}`);
    await c.kubectlOk(["-n", ns, "apply", "-f", "-"], rollout);
    const canaryFrom = await waitFor("canary traffic", 60_000, async () =>
      traffic.weights.find((w) => w.weight > 0),
    );
    const status = await waitFor("the rollout's end", 270_000, async () => {
      const st = await rolloutStatus(ns);
      // A pause is an end too: the test fails on it at once, saying why.
      return ["RolledBack", "Paused", "Promoted", "Failed"].includes(st.phase ?? "") ? st : undefined;
    });
    const endedAt = Date.now();
    const final = status.phase === "Promoted" ? 100 : 0;
    if (status.phase !== "Paused")
      await waitFor(`the route at ${final}`, 30_000, async () =>
        traffic.weights.at(-1)?.weight === final ? true : undefined,
      );
    process.stderr.write(
      `voice-operator ${ns}: ${status.phase} ${((endedAt - canaryFrom.at) / 1000).toFixed(1)} s after canary ` +
        `traffic began (${((endedAt - t0) / 1000).toFixed(1)} s after the rollout was applied); ` +
        `requests stable ${traffic.sent.stable}, canary ${traffic.sent.canary}, failed ${traffic.sent.failed}\n`,
    );
    return { status, traffic };
  } finally {
    await traffic.stop();
  }
}

describe("real audio: model server -> scorer -> Prometheus -> voicectl operator", () => {
  it("the canary whose cloned voice drifts is rolled back by the operator, naming that voice", async () => {
    const { status: s, traffic } = await rolloutOnRealAudio(
      NS,
      { stable: STABLE, canary: CANARY },
      CANARY_VOICES,
      // leo's requests only: with ava's too, the slice of all voices holds minSamples before leo's does and
      // may roll back first, on (all), before leo's slice is judged.
      ["leo"],
    );
    expect(s.phase, JSON.stringify(s)).toBe("RolledBack");
    expect(traffic.sent.failed).toBe(0);
    // The operator's weights, as the gateway saw them: 50, then back to 0; never promoted.
    expect(traffic.weights.map((w) => w.weight).filter((w) => w > 0)).toEqual([50]);
    expect(s.canaryWeight).toBe(0);
    expect(s.message).toMatch(/^critical regression: speaker_similarity \(mean\) in /);
    const fails = (s.lastDecision?.findings ?? []).filter((f) => f.verdict === "fail" && f.critical);
    expect(fails.map((f) => f.metric)).toContain("speaker_similarity");
    expect(fails.every((f) => f.metric === "speaker_similarity")).toBe(true);
    // Named: leo's own slice failed, and no other voice's.
    expect(fails.map((f) => f.slice["voice_id"]).filter((v) => v !== undefined)).toContain("leo");
    expect(new Set(fails.map((f) => f.slice["voice_id"]).filter((v) => v !== undefined))).toEqual(
      new Set(["leo"]),
    );
  }, 400_000);

  it("an A/A-ish canary (the same voices, 5% slower) is promoted by the operator", async () => {
    const { status: s, traffic } = await rolloutOnRealAudio(NS_AA, AA, AA_VOICES, VOICES);
    expect(s.phase, JSON.stringify(s)).toBe("Promoted");
    expect(traffic.sent.failed).toBe(0);
    expect(traffic.weights.map((w) => w.weight).filter((w) => w > 0)).toEqual([50, 100]);
    expect(s.canaryWeight).toBe(100);
    // Promoted on evidence: the last look's decision was promote, and status keeps only findings that did not
    // pass (a slice without data or unsettled would show here).
    expect(s.lastDecision?.decision, JSON.stringify(s)).toBe("promote");
    expect(s.lastDecision?.findings ?? []).toEqual([]);
  }, 400_000);
});
