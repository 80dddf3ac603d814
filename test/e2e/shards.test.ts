// Sharding on a real control plane (issue 13): three `voicectl operator` processes with --shards 3 share six
// rollouts through three shard Leases. One replica is SIGKILLed mid-rollout and its shard's Lease moves to a
// survivor once it expires; a fresh replica (the killed one's restart) then asks the survivor holding two
// shards for one and gets it. Throughout, every rollout is driven by exactly one replica at a time (each
// Event that shifted a weight names as its reporting instance the replica holding the rollout's shard Lease
// at that moment, from a watch on the Leases), and no weight is shifted twice: a watch on the HTTPRoutes
// sees every weight each route ever carried, and each WeightSet Event appears once per rollout and weight.
//
// The rollouts pause between weights instead of analysing: what is under test is who drives them, not the
// analysis (test/e2e/operator.test.ts and faults.test.ts cover that with a real Prometheus), so the operators'
// --prometheus points at a port nothing listens on and is never asked.
import { KubeConfig, Watch } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shardOf } from "../../src/operator/shards.js";
import { startCluster, type TestCluster } from "../support/cluster.js";
import { routeCanaryWeight } from "../support/dataplane.js";
import { renderChart } from "../support/helm.js";
import {
  numberedWorkloads,
  POLICY,
  setUpOperatorCluster,
  startOperatorProcess,
  type OperatorProcess,
} from "../support/operator.js";
import { sleep, waitFor } from "../support/wait.js";

const NS = "shards";
const SHARDS = 3;
const ROLLOUTS = 6;
/** test/support/operator.ts starts operators with --lease-duration 6s: the retry period is a fifth of it. */
const LEASE_MS = 6_000;
const RETRY_MS = 1_200;
const LEASE = "voicectl-operator";

const rollout = (i: number) => `apiVersion: voicectl.dev/v1alpha1
kind: VoiceRollout
metadata: { name: tts-${i} }
spec:
  stable: { deployment: tts-${i}-v41 }
  canary: { deployment: tts-${i}-v42, replicas: 1 }
  policyRef: { name: tts-studio }
  traffic: { gatewayAPI: { httpRoute: tts-${i} } }
  steps:
    - setWeight: 10
    - pause: { duration: 20s }
    - setWeight: 40
    - pause: { duration: 10s }
    - setWeight: 100
`;

let cluster: TestCluster;
let operatorKubeconfig: string;
const operators: OperatorProcess[] = [];
/** Every canary weight each route carried, in order, consecutive repeats folded. */
const weights = new Map<string, number[]>();
/** Every change of a shard Lease's holder, when this process saw it. */
const holderChanges: { shard: number; holder: string; at: number }[] = [];
const stopWatches: (() => void)[] = [];

beforeAll(async () => {
  cluster = await startCluster({ l4Nodes: 2 });
  operatorKubeconfig = (await setUpOperatorCluster(cluster)).operator;
  // The chart's own Role with shards: get and update on exactly the shard Leases.
  await cluster.apply(
    await renderChart({
      set: { "prometheus.url": "http://prometheus.invalid:9090", "leaderElection.shards": String(SHARDS) },
      showOnly: ["templates/operator/leader-election-role.yaml"],
    }),
  );
  await cluster.kubectlOk(["create", "namespace", NS]);
  await cluster.kubectlOk(
    ["-n", NS, "apply", "-f", "-"],
    [POLICY, ...Array.from({ length: ROLLOUTS }, (_, i) => numberedWorkloads(i))].join("\n---\n"),
  );
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfig);
  const req = await new Watch(kc).watch(
    `/apis/gateway.networking.k8s.io/v1/namespaces/${NS}/httproutes`,
    {},
    (_type, route: { metadata?: { name?: string } }) => {
      const name = route.metadata?.name ?? "";
      const i = /^tts-(\d+)$/.exec(name)?.[1];
      if (i === undefined) return;
      const w = routeCanaryWeight(route, `tts-${i}-v41`, `tts-${i}-v42`);
      if (w === null) return;
      const seen = weights.get(name) ?? [];
      if (seen.at(-1) !== w) seen.push(w);
      weights.set(name, seen);
    },
    () => {},
  );
  stopWatches.push(() => req.abort());
  const leases = await new Watch(kc).watch(
    "/apis/coordination.k8s.io/v1/namespaces/voicectl-system/leases",
    {},
    (_type, lease: { metadata?: { name?: string }; spec?: { holderIdentity?: string } }) => {
      const shard = Number(/-shard-(\d+)$/.exec(lease.metadata?.name ?? "")?.[1] ?? NaN);
      if (Number.isNaN(shard)) return;
      const holder = lease.spec?.holderIdentity ?? "";
      const last = holderChanges.filter((c) => c.shard === shard).at(-1);
      if (last?.holder !== holder) holderChanges.push({ shard, holder, at: Date.now() });
    },
    () => {},
  );
  stopWatches.push(() => leases.abort());
}, 300_000);

afterAll(async () => {
  for (const stop of stopWatches) stop();
  await Promise.all(operators.map((o) => o.stop()));
  await cluster?.stop();
});

async function leaseHolders(): Promise<string[]> {
  return Promise.all(
    Array.from({ length: SHARDS }, async (_, s) => {
      const r = await cluster.kubectl([
        "-n",
        "voicectl-system",
        "get",
        "lease",
        `${LEASE}-shard-${s}`,
        "-o",
        "json",
      ]);
      if (r.code !== 0) return "";
      const lease = JSON.parse(r.stdout) as { spec?: { holderIdentity?: string } };
      return lease.spec?.holderIdentity ?? "";
    }),
  );
}

function identityOf(op: OperatorProcess): Promise<string> {
  return waitFor("the operator's identity", 30_000, () => {
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

interface WeightEvent {
  readonly rollout: string;
  readonly weight: number;
  readonly by: string;
  readonly at: number;
}

async function weightEvents(): Promise<WeightEvent[]> {
  const list = await cluster.json<{
    items: {
      reason?: string;
      note?: string;
      reportingInstance?: string;
      eventTime?: string;
      regarding?: { name?: string };
    }[];
  }>(["-n", NS, "get", "events.v1.events.k8s.io"]);
  return list.items
    .filter((e) => e.reason === "WeightSet")
    .map((e) => ({
      rollout: e.regarding?.name ?? "",
      weight: Number(/canary weight (\d+)%/.exec(e.note ?? "")?.[1]),
      by: e.reportingInstance ?? "",
      at: Date.parse(e.eventTime ?? ""),
    }));
}

async function phases(): Promise<Map<string, string>> {
  const list = await cluster.json<{
    items: { metadata: { name: string }; status?: { phase?: string; canaryWeight?: number } }[];
  }>(["-n", NS, "get", "voicerollouts"]);
  return new Map(
    list.items.map((r) => [r.metadata.name, `${r.status?.phase ?? ""}@${r.status?.canaryWeight ?? 0}`]),
  );
}

describe("sharded operators on a real control plane", () => {
  it("three replicas share three shards, a SIGKILLed replica's shard moves once its Lease expires, a restarted one is handed a shard, no weight is shifted twice", async () => {
    for (let r = 0; r < 3; r++) {
      operators.push(
        startOperatorProcess({
          kubeconfig: operatorKubeconfig,
          prometheusUrl: "http://127.0.0.1:9",
          extraArgs: ["--shards", String(SHARDS), "--expected-replicas", "3"],
        }),
      );
    }
    const ids = await Promise.all(operators.map(identityOf));
    const context = () =>
      `operator logs:\n${operators.flatMap((o, i) => o.logs.slice(-15).map((l) => `[${i}] ${l}`)).join("\n")}`;

    // Fair share 1: each replica takes one shard, none two, none is left out.
    const holders = await waitFor(
      "every shard held, one per replica",
      60_000,
      async () => {
        const h = await leaseHolders();
        return h.every((x) => x !== "") && new Set(h).size === SHARDS ? h : undefined;
      },
      { context },
    );
    expect([...holders].sort()).toEqual([...ids].sort());

    // Two rollouts per shard, whichever names hash there.
    const byShard = new Map<number, string[]>();
    for (let i = 0; i < ROLLOUTS; i++) {
      const s = shardOf(`${NS}/tts-${i}`, SHARDS);
      byShard.set(s, [...(byShard.get(s) ?? []), `tts-${i}`]);
    }
    await cluster.kubectlOk(
      ["-n", NS, "apply", "-f", "-"],
      Array.from({ length: ROLLOUTS }, (_, i) => rollout(i)).join("\n---\n"),
    );
    await waitFor(
      "every rollout at weight 10",
      90_000,
      async () =>
        [...(await phases()).values()].filter((p) => p.endsWith("@10")).length === ROLLOUTS
          ? true
          : undefined,
      { context: async () => `${JSON.stringify([...(await phases())])}\n${context()}` },
    );

    // Kill the replica holding the shard of tts-0, mid-pause: its Lease is left to expire, as after a crash.
    const victimShard = shardOf(`${NS}/tts-0`, SHARDS);
    const victim = ids.indexOf(holders[victimShard]!);
    operators[victim]!.child.kill("SIGKILL");
    const killedAt = Date.now();
    await operators[victim]!.exited;
    const newHolder = await waitFor(
      "the dead replica's shard taken over",
      4 * LEASE_MS,
      async () => {
        const h = (await leaseHolders())[victimShard];
        return h !== undefined && h !== "" && h !== ids[victim] ? h : undefined;
      },
      { intervalMs: 100, context },
    );
    const movedAfterMs = Date.now() - killedAt;
    expect(ids.filter((_, k) => k !== victim)).toContain(newHolder);
    // The restarted replica: no shard is free, so it asks the survivor holding two for one.
    operators.push(
      startOperatorProcess({
        kubeconfig: operatorKubeconfig,
        prometheusUrl: "http://127.0.0.1:9",
        extraArgs: ["--shards", String(SHARDS), "--expected-replicas", "3"],
      }),
    );
    const fresh = await identityOf(operators[3]!);
    const restartedAt = Date.now();
    const spread = await waitFor(
      "the restarted replica handed a shard, one per replica again",
      30_000,
      async () => {
        const h = await leaseHolders();
        return h.includes(fresh) && new Set(h).size === SHARDS && !h.includes(ids[victim]!) ? h : undefined;
      },
      { intervalMs: 200, context },
    );
    const handedAfterMs = Date.now() - restartedAt;
    // The Lease expires a lease duration after the last renewal a survivor saw (at most a retry period before
    // the kill), and a survivor takes it on its next attempt (a retry period later), whether or not it already
    // holds its fair share: a lease duration and two retry periods, and one more for this poll and the load.
    expect(movedAfterMs).toBeLessThan(LEASE_MS + 3 * RETRY_MS);
    process.stderr.write(
      `shards: shard ${victimShard} moved ${movedAfterMs} ms after the SIGKILL; the restarted replica held ` +
        `shard ${spread.indexOf(fresh)} ${handedAfterMs} ms after it started\n`,
    );

    await waitFor(
      "every rollout promoted",
      120_000,
      async () => ([...(await phases()).values()].every((p) => p === "Promoted@100") ? true : undefined),
      { context: async () => `${JSON.stringify([...(await phases())])}\n${context()}` },
    );
    await sleep(1000); // the watch's last events

    // No double shift: every route went 0 -> 10 -> 40 -> 100 once, in order.
    for (let i = 0; i < ROLLOUTS; i++) expect(weights.get(`tts-${i}`), `tts-${i}`).toEqual([0, 10, 40, 100]);
    const events = await weightEvents();
    for (let i = 0; i < ROLLOUTS; i++) {
      const mine = events
        .filter((e) => e.rollout === `tts-${i}`)
        .map((e) => e.weight)
        .sort((a, b) => a - b);
      expect(mine, `WeightSet Events of tts-${i}`).toEqual([10, 40, 100]);
    }
    // Driven by exactly one replica at a time: each shift's Event names the replica that held the rollout's
    // shard Lease right then. The watch sees a change shortly after it is written: a second of slack.
    const heldAt = (shard: number, at: number, slackMs: number): Set<string> => {
      const changes = holderChanges.filter((c) => c.shard === shard);
      const out = new Set<string>();
      changes.forEach((c, k) => {
        const until = changes[k + 1]?.at ?? Infinity;
        if (c.at - slackMs <= at && at <= until + slackMs && c.holder !== "") out.add(c.holder);
      });
      return out;
    };
    for (const [shard, names] of byShard) {
      for (const name of names) {
        for (const e of events.filter((x) => x.rollout === name)) {
          expect([...heldAt(shard, e.at, 1000)], `${name} at ${e.weight}, by ${e.by}`).toContain(e.by);
        }
      }
    }
    // The killed replica's shard was finished by others; it did nothing after its death.
    expect(events.filter((e) => e.by === ids[victim] && e.at > killedAt)).toEqual([]);
    expect(new Set(events.map((e) => e.by)).size).toBeGreaterThanOrEqual(3);
  });
});
