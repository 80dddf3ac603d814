// bench/operator/latency: how long after the operator records a decision (the status write that changes
// status.canaryWeight) the HTTPRoute carries the new weight, on a real control plane with the operator as its
// own process, a real Prometheus and the simulated fleet. Both times are when a watch of this bench received
// the change, so the watch's delivery delay cancels out.
//
// Baseline, in the same process and cluster: the same two writes done back to back by the same adapters with
// nothing in between (KubernetesRolloutStore.updateStatus, then GatewayApiRouter.setCanaryWeight). The ratio
// is the operator's overhead over the least a controller that writes status first could take.
//
//   npm run bench:operator -- [--reps N]   (needs the cluster binaries: npm run cluster:build)
import { performance } from "node:perf_hooks";
import { KubeConfig, Watch } from "@kubernetes/client-node";
import { GatewayApiRouter } from "../../src/adapters/kubernetes/gateway-api.js";
import { KubernetesRolloutStore } from "../../src/adapters/kubernetes/rollouts.js";
import { startCluster } from "../../test/support/cluster.js";
import { routeCanaryWeight } from "../../test/support/dataplane.js";
import {
  CANARY,
  prepareExampleRollout,
  prepareNamespace,
  rolloutYaml,
  setUpOperatorCluster,
  STABLE,
  startOperatorProcess,
} from "../../test/support/operator.js";

interface Watched {
  readonly metadata: { readonly namespace: string };
  readonly status?: { readonly canaryWeight?: number };
}

interface Seen {
  readonly at: number;
  readonly weight: number;
}

const INTERVAL_S = 4;
const reps = Number(process.argv[process.argv.indexOf("--reps") + 1] ?? "3") || 3;
const log = (msg: string) =>
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

function record(map: Map<string, Seen[]>, ns: string, weight: number | null | undefined): void {
  if (weight === null || weight === undefined) return;
  const list = map.get(ns) ?? [];
  if (list.at(-1)?.weight !== weight) list.push({ at: performance.now(), weight });
  map.set(ns, list);
}

/** For every route weight change, the time since status first carried that weight. */
function gaps(status: Seen[], route: Seen[]): { weight: number; ms: number }[] {
  const out: { weight: number; ms: number }[] = [];
  for (const r of route) {
    const s = status.filter((x) => x.weight === r.weight && x.at <= r.at).at(-1);
    if (s) out.push({ weight: r.weight, ms: r.at - s.at });
  }
  return out;
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
};

async function main(): Promise<void> {
  log("starting a control plane");
  const cluster = await startCluster({ l4Nodes: 24 });
  const statusSeen = new Map<string, Seen[]>();
  const routeSeen = new Map<string, Seen[]>();
  const aborts: AbortController[] = [];
  let stopped = false;
  try {
    const ids = await setUpOperatorCluster(cluster);
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfig);
    const watch = new Watch(kc);
    /** A watch that starts again when the server ends it (a fresh CRD's watch first answers 429). */
    const follow = async (path: string, onObject: (obj: Watched) => void): Promise<void> => {
      const again = () => {
        if (!stopped) setTimeout(() => void follow(path, onObject), 200);
      };
      try {
        aborts.push(await watch.watch(path, {}, (_t, obj: Watched) => onObject(obj), again));
      } catch {
        again();
      }
    };
    await follow("/apis/voicectl.dev/v1alpha1/voicerollouts", (obj) =>
      record(statusSeen, obj.metadata.namespace, obj.status?.canaryWeight),
    );
    await follow("/apis/gateway.networking.k8s.io/v1/httproutes", (obj) =>
      record(routeSeen, obj.metadata.namespace, routeCanaryWeight(obj, STABLE, CANARY)),
    );

    // Baseline: the two writes back to back, through the operator's own adapters.
    const store = new KubernetesRolloutStore(kc);
    const router = new GatewayApiRouter(kc);
    await prepareNamespace(cluster, "baseline");
    const apply = await cluster.kubectl(
      ["-n", "baseline", "apply", "-f", "-"],
      rolloutYaml("    - setWeight: 100", INTERVAL_S),
    );
    if (apply.code !== 0) throw new Error(apply.stderr);
    const weights = [10, 25, 50, 0, 30, 60, 90, 0];
    for (let i = 0; i < reps * 2; i++) {
      for (const w of weights) {
        const rollout = (await store.get({ namespace: "baseline", name: "tts" }))!;
        const stored = await store.updateStatus(rollout, { ...(rollout.status ?? {}), canaryWeight: w });
        await router.setCanaryWeight(stored, w);
        await new Promise((r) => setTimeout(r, 150));
      }
    }

    // The operator: promotions (aa) and critical rollbacks (clone drift), one namespace each.
    const runs: { ns: string; kind: "promote" | "rollback" }[] = [];
    for (let i = 0; i < reps; i++) {
      for (const [kind, scenario, steps, phase] of [
        [
          "promote",
          "examples/scenarios/aa.yaml",
          "    - setWeight: 25\n    - analysis: { minDuration: 4s, maxDuration: 90s }\n    - setWeight: 50\n    - analysis: { minDuration: 4s, maxDuration: 90s }",
          "Promoted",
        ],
        [
          "rollback",
          "examples/scenarios/clone-drift.yaml",
          "    - setWeight: 25\n    - analysis: { minDuration: 60s, maxDuration: 120s }",
          "RolledBack",
        ],
      ] as const) {
        const ns = `${kind}-${i}`;
        log(`${ns}: ${scenario}`);
        const plane = await prepareExampleRollout(cluster, ns, scenario);
        const op = startOperatorProcess({
          kubeconfig: ids.operator,
          prometheusUrl: plane.prometheus.url,
          namespace: ns,
        });
        try {
          const r = await cluster.kubectl(["-n", ns, "apply", "-f", "-"], rolloutYaml(steps, INTERVAL_S));
          if (r.code !== 0) throw new Error(r.stderr);
          const deadline = Date.now() + 180_000;
          for (;;) {
            const got = await cluster.kubectl([
              "-n",
              ns,
              "get",
              "vr",
              "tts",
              "-o",
              "jsonpath={.status.phase}",
            ]);
            if (got.stdout === phase) break;
            if (Date.now() > deadline)
              throw new Error(`${ns}: not ${phase} after 180 s (phase ${got.stdout})`);
            await new Promise((res) => setTimeout(res, 250));
          }
          await new Promise((res) => setTimeout(res, 500)); // let the route's watch event arrive
          runs.push({ ns, kind });
        } finally {
          await op.stop();
          await plane.stop();
          // Free the namespace's GPUs for the next run (pool l4 has 24).
          await cluster.kubectl(["delete", "namespace", ns, "--wait=false"]);
        }
      }
    }

    const base = gaps(statusSeen.get("baseline") ?? [], routeSeen.get("baseline") ?? []).map((g) => g.ms);
    const rows: [string, number[]][] = [
      [
        "promotion steps (weight up)",
        runs
          .filter((r) => r.kind === "promote")
          .flatMap((r) => gaps(statusSeen.get(r.ns) ?? [], routeSeen.get(r.ns) ?? []).map((g) => g.ms)),
      ],
      [
        "critical rollback (weight 0)",
        runs
          .filter((r) => r.kind === "rollback")
          .flatMap((r) =>
            gaps(statusSeen.get(r.ns) ?? [], routeSeen.get(r.ns) ?? [])
              .filter((g) => g.weight === 0)
              .map((g) => g.ms),
          ),
      ],
    ];
    const bm = quantile(base, 0.5);
    const out = [
      `decision (status written) to HTTPRoute weight written, ${reps} rollouts of each kind; baseline: the same two writes back to back (${base.length} pairs)`,
      "",
      "| transitions | n | median ms | p90 ms | max ms | median / baseline median |",
      "| --- | --- | --- | --- | --- | --- |",
      `| baseline: updateStatus then setCanaryWeight | ${base.length} | ${bm.toFixed(1)} | ${quantile(base, 0.9).toFixed(1)} | ${Math.max(...base).toFixed(1)} | 1.00 |`,
      ...rows.map(
        ([name, xs]) =>
          `| operator: ${name} | ${xs.length} | ${quantile(xs, 0.5).toFixed(1)} | ${quantile(xs, 0.9).toFixed(1)} | ${Math.max(...xs).toFixed(1)} | ${(quantile(xs, 0.5) / bm).toFixed(2)} |`,
      ),
    ];
    process.stdout.write(out.join("\n") + "\n");
  } finally {
    stopped = true;
    for (const a of aborts) a.abort();
    await cluster.stop();
  }
}

await main();
