// bench/kube-agents: what reusing connections to the API server saves. The same reads and writes an
// operator pass makes (get a ConfigMap, replace it, get a Deployment), through client-node's KubeConfig as
// it comes (a new https.Agent, so a new connection and TLS handshake, for every request) and through
// PooledKubeConfig (src/adapters/kubernetes/agents.ts: one keep-alive agent), against a real API server
// (test/support/cluster.ts), in the same process, alternating rounds so neither gets a warmer machine.
// Reports requests per second, this process's CPU per request, and the ratios.
//
//   npm run bench:kube-agents -- [--requests 600] [--rounds 3] [--concurrency 4]
import { cpus, loadavg } from "node:os";
import { AppsV1Api, CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { PooledKubeConfig } from "../../src/adapters/kubernetes/agents.js";
import { startCluster } from "../../test/support/cluster.js";

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(v) || v <= 0) throw new Error(`--${name} expects a positive integer`);
  return v;
};
const REQUESTS = arg("requests", 600);
const ROUNDS = arg("rounds", 3);
const CONCURRENCY = arg("concurrency", 4);
const NS = "default";

interface Round {
  readonly seconds: number;
  readonly cpuSeconds: number;
}

/** REQUESTS requests, CONCURRENCY at a time, in triples shaped like a pass: get, replace, get. */
async function round(kc: KubeConfig): Promise<Round> {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let next = 0;
  const worker = async (w: number) => {
    while (next < REQUESTS) {
      next += 3;
      const name = `bench-${w}`;
      const cm = await core.readNamespacedConfigMap({ name, namespace: NS });
      cm.data = { n: String(next) };
      await core.replaceNamespacedConfigMap({ name, namespace: NS, body: cm });
      await apps.readNamespacedDeployment({ name: "bench", namespace: NS });
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, w) => worker(w)));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

async function main(): Promise<void> {
  const cluster = await startCluster({ h100Nodes: 0, l4Nodes: 1 });
  try {
    const setup = await cluster.kubectl(
      ["-n", NS, "apply", "-f", "-"],
      [
        ...Array.from(
          { length: CONCURRENCY },
          (_, w) => `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: bench-${w} }\ndata: { n: "0" }`,
        ),
        `apiVersion: apps/v1
kind: Deployment
metadata: { name: bench }
spec:
  replicas: 0
  selector: { matchLabels: { app: bench } }
  template:
    metadata: { labels: { app: bench } }
    spec: { containers: [{ name: c, image: example.invalid/bench }] }`,
      ].join("\n---\n"),
    );
    if (setup.code !== 0) throw new Error(setup.stderr);
    const plain = new KubeConfig();
    plain.loadFromFile(cluster.kubeconfig);
    const pooled = new PooledKubeConfig();
    pooled.loadFromFile(cluster.kubeconfig);
    // One warm-up round each (JIT, the API server's caches), then alternating measured rounds.
    await round(plain);
    await round(pooled);
    const results = { plain: [] as Round[], pooled: [] as Round[] };
    for (let r = 0; r < ROUNDS; r++) {
      results.plain.push(await round(plain));
      results.pooled.push(await round(pooled));
    }
    pooled.closeConnections();
    const sum = (rs: Round[], f: (r: Round) => number) => rs.reduce((a, r) => a + f(r), 0);
    const rate = (rs: Round[]) => (REQUESTS * rs.length) / sum(rs, (r) => r.seconds);
    const cpuMs = (rs: Round[]) => (1000 * sum(rs, (r) => r.cpuSeconds)) / (REQUESTS * rs.length);
    const row = (name: string, rs: Round[]) =>
      `| ${name} | ${REQUESTS * rs.length} | ${rate(rs).toFixed(0)} | ${cpuMs(rs).toFixed(2)} |`;
    const out = [
      `${ROUNDS} rounds of ${REQUESTS} requests (get ConfigMap, replace it, get Deployment), ${CONCURRENCY} at a time; ${cpus().length} CPUs (${cpus()[0]?.model.trim() ?? "?"}), node ${process.version}, load ${loadavg()[0]!.toFixed(2)}`,
      "",
      "| client | requests | requests/s | client CPU ms per request |",
      "|---|---|---|---|",
      row("KubeConfig (a new agent per request)", results.plain),
      row("PooledKubeConfig (keep-alive agent)", results.pooled),
      "",
      `ratios, pooled against new-agent-per-request: requests/s x${(rate(results.pooled) / rate(results.plain)).toFixed(2)}, client CPU per request x${(cpuMs(results.pooled) / cpuMs(results.plain)).toFixed(2)}`,
    ];
    process.stdout.write(out.join("\n") + "\n");
  } finally {
    await cluster.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bench/kube-agents failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
