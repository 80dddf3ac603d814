// bench/scale: many VoiceRollouts with hundreds of slices each on one operator replica, against the real
// control plane (test/support/cluster.ts). The operator runs as its own process from dist/, exactly as
// deployed (`voicectl operator`), so its RSS is its own and its API traffic goes through a real apiserver.
// Metrics come from a synthetic Prometheus HTTP API served by this process: every query answers with
// `--slices` voices x two versions of histogram buckets and counters (an A/A canary, so every rollout stays
// in its analysis step), which no real Prometheus scraping a simulated fleet could serve for 200 x 300
// series on one machine. The operator cannot tell it from Prometheus: same endpoint, same JSON.
//
// Two phases in one cluster, one operator process:
//   baseline: 1 rollout analysing; then scale: N rollouts analysing. Each phase measures a window of
//   reconcile and analysis durations (deltas of the operator's own histograms on /metrics), operator RSS
//   (/proc/PID/status), and apiserver requests per second (deltas of apiserver_request_total; the
//   apiserver has no per-user label there, so the voicectl.dev and HTTPRoute resources, which only the
//   operator touches during a window, are reported apart from the total, and an idle window before the
//   operator starts gives the cluster's own background).
//
// With --replicas N (issue 13), N operator processes share the rollouts through --shards K shard Leases
// (default K = N): the figures are summed over the replicas (RSS and CPU also per replica), and with
// --failover the replica holding most shards is SIGKILLed after the window: how long until its shards are
// held again, until every rollout is analysed again, and how many weights were shifted twice (WeightSet
// Events beyond the one per rollout, and routes away from 10).
//
//   npm run bench:scale -- [--rollouts 200] [--slices 300] [--interval 30] [--window 120] [--workers 4]
//                                [--replicas 1] [--shards N] [--failover] [--cpu-prof DIR]
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { cpus, freemem, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { repositoryRoot, startCluster, type TestCluster } from "../../test/support/cluster.js";
import { routeCanaryWeight } from "../../test/support/dataplane.js";
import {
  numberedWorkloads as workloads,
  startOperatorProcess,
  type OperatorProcess,
} from "../../test/support/operator.js";
import { SCALE_POLICY } from "./policy.js";

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} expects a positive number`);
  return v;
};
const ROLLOUTS = arg("rollouts", 200);
const SLICES = arg("slices", 300);
const INTERVAL_S = arg("interval", 30);
const WINDOW_S = arg("window", 120);
const WORKERS = arg("workers", 4);
const REPLICAS = arg("replicas", 1);
const SHARDS = arg("shards", REPLICAS);
const FAILOVER = process.argv.includes("--failover");
/** Longer than the tests' 6 s: a replica whose event loop is busy with analysis must still renew in time. */
const LEASE = "15s";
// A directory for a V8 CPU profile of the operator process (written when it stops), to see where its time goes.
const PROFILE_DIR = ((i) => (i >= 0 ? process.argv[i + 1] : undefined))(process.argv.indexOf("--cpu-prof"));
const NS = "scale";
const ROOT = repositoryRoot();

const log = (msg: string) =>
  process.stderr.write(`[scale ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rollout(i: number): string {
  return `apiVersion: voicectl.dev/v1alpha1
kind: VoiceRollout
metadata: { name: tts-${i} }
spec:
  stable: { deployment: tts-${i}-v41 }
  canary: { deployment: tts-${i}-v42, replicas: 1 }
  policyRef: { name: scale }
  traffic: { gatewayAPI: { httpRoute: tts-${i} } }
  analysis: { interval: ${INTERVAL_S}s }
  steps:
    - setWeight: 10
    - analysis: { minDuration: 2h, maxDuration: 3h }
    - setWeight: 100
`;
}

// ---- the synthetic Prometheus ----------------------------------------------------------------------------

const VOICES = Array.from({ length: SLICES }, (_, v) => `voice-${String(v).padStart(3, "0")}`);
/** Upper bounds and the cumulative share of requests under each: the same for both versions (A/A). */
const BUCKETS: Record<string, { le: string[]; share: number[]; mean: number }> = {
  voice_ttfa_seconds: {
    le: ["0.05", "0.1", "0.2", "0.35", "0.5", "+Inf"],
    share: [0.1, 0.45, 0.85, 0.97, 0.995, 1],
    mean: 0.12,
  },
  voice_speaker_similarity: {
    le: ["0.6", "0.65", "0.7", "0.75", "0.8", "+Inf"],
    share: [0.02, 0.1, 0.4, 0.85, 0.99, 1],
    mean: 0.72,
  },
};
const RPS_PER_VOICE = 2;
let queriesServed = 0;

/** The answer to one `sum by (...) (increase(name{...}[Ns]))` query of src/adapters/prometheus/source.ts. */
function answer(query: string): unknown {
  const name = /increase\(([A-Za-z_:][A-Za-z0-9_:]*)\{/.exec(query)?.[1] ?? "";
  const versions = (/version=~"([^"]*)"/.exec(query)?.[1] ?? "")
    .split("|")
    .map((v) => v.replace(/\\(.)/g, "$1"));
  const windowS = Number(/\[(\d+)s\]/.exec(query)?.[1] ?? "60");
  const count = RPS_PER_VOICE * windowS;
  const result: { metric: Record<string, string>; value: [number, string] }[] = [];
  const now = Date.now() / 1000;
  const push = (metric: Record<string, string>, v: number) =>
    result.push({ metric, value: [now, String(v)] });
  const base = name.replace(/_(bucket|sum|count)$/, "");
  for (const version of versions) {
    for (const voice_id of VOICES) {
      if (name.endsWith("_bucket") && BUCKETS[base]) {
        const b = BUCKETS[base];
        b.le.forEach((le, k) => push({ version, voice_id, le }, Math.round(count * b.share[k]!)));
      } else if (name.endsWith("_sum") && BUCKETS[base])
        push({ version, voice_id }, count * BUCKETS[base].mean);
      else if (name === "voice_requests_total" && query.includes('outcome!="ok"'))
        push({ version, voice_id }, Math.round(count * 0.002));
      else push({ version, voice_id }, count);
    }
  }
  return { status: "success", data: { resultType: "vector", result } };
}

async function startFakePrometheus(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      const query =
        new URLSearchParams(body).get("query") ??
        new URL(req.url ?? "/", "http://x").searchParams.get("query") ??
        "";
      queriesServed += 1;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(answer(query)));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}

// ---- measuring -----------------------------------------------------------------------------------------

type Series = Map<string, number>; // `name{labels}` -> value

function parseExposition(text: string): Series {
  const out: Series = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const sp = line.lastIndexOf(" ");
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

/** Histogram deltas between two scrapes: p50, p99 (linear within buckets, as histogram_quantile) and mean. */
function histogram(before: Series, after: Series, name: string) {
  const buckets: { le: number; n: number }[] = [];
  for (const [k, v] of after) {
    const m = new RegExp(`^${name}_bucket\\{(?:.*,)?le="([^"]+)"`).exec(k);
    if (!m) continue;
    const le = m[1] === "+Inf" ? Infinity : Number(m[1]);
    const prev = buckets.find((b) => b.le === le);
    const n = v - (before.get(k) ?? 0);
    if (prev) prev.n += n;
    else buckets.push({ le, n });
  }
  buckets.sort((a, b) => a.le - b.le);
  const sum = (m: Series, suffix: string) =>
    [...m].filter(([k]) => k.startsWith(`${name}_${suffix}`)).reduce((a, [, v]) => a + v, 0);
  const count = sum(after, "count") - sum(before, "count");
  const total = sum(after, "sum") - sum(before, "sum");
  const q = (p: number): number => {
    const rank = p * count;
    let lower = 0;
    let below = 0;
    for (const b of buckets) {
      if (b.n >= rank) {
        if (b.le === Infinity) return lower; // beyond the last bound: report the bound
        const inBucket = b.n - below;
        return lower + (b.le - lower) * (inBucket > 0 ? (rank - below) / inBucket : 1);
      }
      lower = b.le;
      below = b.n;
    }
    return NaN;
  };
  return { count, mean: count > 0 ? total / count : NaN, p50: q(0.5), p99: q(0.99) };
}

/** CPU seconds (user + system) a process has used: /proc/PID/stat fields 14 and 15, in clock ticks of 1/100 s. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) is in parentheses and may hold spaces: count fields after its closing one.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds this bench process has used (the synthetic Prometheus, mostly). */
const benchCpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** apiserver_request_total summed, in all and for the resources only the operator touches in a window. */
async function apiserverRequests(cluster: TestCluster): Promise<{ all: number; operator: number }> {
  const r = await cluster.kubectl(["get", "--raw", "/metrics"]);
  if (r.code !== 0) throw new Error(r.stderr);
  let all = 0;
  let operator = 0;
  for (const line of r.stdout.split("\n")) {
    if (!line.startsWith("apiserver_request_total{")) continue;
    const v = Number(line.slice(line.lastIndexOf(" ") + 1));
    all += v;
    if (/group="voicectl\.dev"|resource="httproutes"/.test(line)) operator += v;
  }
  return { all, operator };
}

async function operatorMetrics(url: string): Promise<Series> {
  return parseExposition(await (await fetch(`${url}/metrics`)).text());
}

/** How many rollouts the operator reports at canary weight 10 (each then analyses every interval). */
function analysing(m: Series): number {
  let n = 0;
  for (const [k, v] of m) if (k.startsWith("voicectl_rollout_canary_weight{") && v === 10) n += 1;
  return n;
}

interface Window {
  readonly rollouts: number;
  readonly seconds: number;
  readonly reconcile: ReturnType<typeof histogram>;
  readonly analysis: ReturnType<typeof histogram>;
  readonly rssMiB: { readonly mean: number; readonly max: number };
  readonly apiAll: number;
  readonly apiOperator: number;
  readonly promQueries: number;
  readonly load: number;
  /** CPU cores the operator process kept busy on average (1.0: one core all the time). */
  readonly operatorCores: number;
  readonly replicaCores: readonly number[];
  /** Peak RSS of each replica (rssMiB is their sum). */
  readonly replicaRssMiB: readonly number[];
  /** The same for this bench process, which serves the synthetic Prometheus. */
  readonly benchCores: number;
}

/** The replicas' metrics added up: counters, histogram buckets and gauges alike, key by key. */
async function summedMetrics(urls: readonly string[]): Promise<Series> {
  const out: Series = new Map();
  for (const m of await Promise.all(urls.map(operatorMetrics)))
    for (const [k, v] of m) out.set(k, (out.get(k) ?? 0) + v);
  return out;
}

async function measure(
  cluster: TestCluster,
  ops: readonly OperatorProcess[],
  urls: readonly string[],
  rollouts: number,
): Promise<Window> {
  const pids = ops.map((op) => op.child.pid!);
  const m0 = await summedMetrics(urls);
  const a0 = await apiserverRequests(cluster);
  const q0 = queriesServed;
  const c0 = pids.map(cpuSeconds);
  const b0 = benchCpuSeconds();
  const t0 = Date.now();
  const rss: number[] = [];
  const perReplica: number[][] = pids.map(() => []);
  while (Date.now() - t0 < WINDOW_S * 1000) {
    const each = pids.map(rssMiB);
    each.forEach((r, i) => perReplica[i]!.push(r));
    rss.push(each.reduce((a, b) => a + b, 0));
    await sleep(1000);
  }
  const m1 = await summedMetrics(urls);
  const a1 = await apiserverRequests(cluster);
  const seconds = (Date.now() - t0) / 1000;
  const cores = pids.map((pid, i) => (cpuSeconds(pid) - c0[i]!) / seconds);
  return {
    rollouts,
    seconds,
    reconcile: histogram(m0, m1, "voicectl_reconcile_duration_seconds"),
    analysis: histogram(m0, m1, "voicectl_analysis_duration_seconds"),
    rssMiB: { mean: rss.reduce((a, b) => a + b, 0) / rss.length, max: Math.max(...rss) },
    replicaRssMiB: perReplica.map((r) => Math.max(...r)),
    apiAll: (a1.all - a0.all) / seconds,
    apiOperator: (a1.operator - a0.operator) / seconds,
    promQueries: (queriesServed - q0) / seconds,
    load: loadavg()[0]!,
    operatorCores: cores.reduce((a, b) => a + b, 0),
    replicaCores: cores,
    benchCores: (benchCpuSeconds() - b0) / seconds,
  };
}

async function applyAll(cluster: TestCluster, docs: string[]): Promise<void> {
  for (let i = 0; i < docs.length; i += 40) {
    const r = await cluster.kubectl(["-n", NS, "apply", "-f", "-"], docs.slice(i, i + 40).join("\n---\n"));
    if (r.code !== 0) throw new Error(r.stderr);
  }
}

async function waitAnalysing(urls: readonly string[], n: number): Promise<number> {
  const t0 = Date.now();
  const deadline = t0 + Math.max(300, n * 3) * 1000;
  for (;;) {
    const got = analysing(await summedMetrics(urls));
    if (got >= n) return (Date.now() - t0) / 1000;
    if (Date.now() > deadline) throw new Error(`only ${got} of ${n} rollouts reached weight 10`);
    await sleep(2000);
  }
}

const f = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : "n/a");
const ms = (s: number) => f(s * 1000, 1);

async function main(): Promise<void> {
  const pods = ROLLOUTS * 2;
  log(`control plane for ${ROLLOUTS} rollouts x ${SLICES} slices (${pods} pods)`);
  const cluster = await startCluster({ l4Nodes: Math.max(8, Math.ceil(pods / 80)) });
  const prom = await startFakePrometheus();
  const ops: OperatorProcess[] = [];
  try {
    // The chart's ClusterRoles bound to the operator's own user; one replica needs no Lease (--no-leader-elect),
    // several get the shard Leases, as the chart's Role with leaderElection.shards grants them.
    await cluster.apply(readFileSync(join(ROOT, "charts/voicectl/templates/cluster-roles.yaml"), "utf8"));
    await cluster.apply(`apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: voicectl-operator }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: voicectl-operator }
subjects: [{ kind: User, name: voicectl-operator, apiGroup: rbac.authorization.k8s.io }]
`);
    if (REPLICAS > 1) {
      const names = Array.from({ length: SHARDS }, (_, i) => `voicectl-operator-shard-${i}`).join(", ");
      await cluster.apply(`apiVersion: v1
kind: Namespace
metadata: { name: voicectl-system }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: { name: voicectl-leader-election, namespace: voicectl-system }
rules:
  - { apiGroups: [coordination.k8s.io], resources: [leases], verbs: [create] }
  - { apiGroups: [coordination.k8s.io], resources: [leases], resourceNames: [${names}], verbs: [get, update] }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: voicectl-leader-election, namespace: voicectl-system }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: voicectl-leader-election }
subjects: [{ kind: User, name: voicectl-operator, apiGroup: rbac.authorization.k8s.io }]
`);
    }
    const operatorKubeconfig = cluster.userKubeconfig("voicectl-operator");
    const ns = await cluster.kubectl(["create", "namespace", NS]);
    if (ns.code !== 0) throw new Error(ns.stderr);
    await applyAll(cluster, [SCALE_POLICY, ...Array.from({ length: ROLLOUTS }, (_, i) => workloads(i))]);

    log("idle window: the cluster's own API traffic, no operator");
    const i0 = await apiserverRequests(cluster);
    const idleStart = Date.now();
    await sleep(Math.min(WINDOW_S, 30) * 1000);
    const i1 = await apiserverRequests(cluster);
    const idleSeconds = (Date.now() - idleStart) / 1000;
    const idle = {
      all: (i1.all - i0.all) / idleSeconds,
      operator: (i1.operator - i0.operator) / idleSeconds,
    };

    for (let r = 0; r < REPLICAS; r++) {
      ops.push(
        startOperatorProcess({
          kubeconfig: operatorKubeconfig,
          prometheusUrl: prom.url,
          namespace: NS,
          extraArgs: [
            ...(REPLICAS > 1
              ? [
                  "--shards",
                  String(SHARDS),
                  "--expected-replicas",
                  String(REPLICAS),
                  "--lease-duration",
                  LEASE,
                ]
              : ["--no-leader-elect"]),
            "--workers",
            String(WORKERS),
          ],
          nodeArgs: PROFILE_DIR ? ["--cpu-prof", "--cpu-prof-dir", PROFILE_DIR] : [],
        }),
      );
    }
    const urls = await Promise.all(ops.map(listenUrl));

    log("baseline: 1 rollout");
    await applyAll(cluster, [rollout(0)]);
    await waitAnalysing(urls, 1);
    await sleep(INTERVAL_S * 1000); // one look done before the window opens
    const baseline = await measure(cluster, ops, urls, 1);

    log(`scale: ${ROLLOUTS} rollouts`);
    const rampStart = Date.now();
    await applyAll(
      cluster,
      Array.from({ length: ROLLOUTS - 1 }, (_, i) => rollout(i + 1)),
    );
    await waitAnalysing(urls, ROLLOUTS);
    const rampSeconds = (Date.now() - rampStart) / 1000;
    await sleep(INTERVAL_S * 1000);
    const scale = await measure(cluster, ops, urls, ROLLOUTS);
    const errors = [...(await summedMetrics(urls))]
      .filter(([k]) => k.startsWith("voicectl_reconcile_errors_total"))
      .reduce((a, [, v]) => a + v, 0);

    const perRollout = (w: Window) => (w.apiOperator - idle.operator) / w.rollouts;
    const machine = `${cpus().length} CPUs (${cpus()[0]?.model.trim() ?? "?"}), ${f(totalmem() / 2 ** 30)} GiB memory (${f(freemem() / 2 ** 30)} free at the end), node ${process.version}`;
    const rows = [baseline, scale].map(
      (w) =>
        `| ${w.rollouts} | ${f(w.seconds, 0)} | ${w.reconcile.count} | ${ms(w.reconcile.p50)} | ${ms(w.reconcile.p99)} | ${w.analysis.count} | ${ms(w.analysis.mean)} | ${ms(w.analysis.p50)} | ${ms(w.analysis.p99)} | ${f(w.rssMiB.mean, 0)} / ${f(w.rssMiB.max, 0)} | ${f(w.apiAll)} | ${f(w.apiOperator, 2)} | ${f(w.promQueries, 2)} | ${f(w.operatorCores, 2)} | ${f(w.benchCores, 2)} | ${f(w.load, 2)} |`,
    );
    const failover = FAILOVER && REPLICAS > 1 ? await killOne(cluster, ops, urls) : undefined;
    const out = [
      `${ROLLOUTS} VoiceRollouts x ${SLICES} slices (voice_id) x 3 metrics, analysis every ${INTERVAL_S}s, windows of ${WINDOW_S}s, ${WORKERS} workers, ${REPLICAS} replica(s)${REPLICAS > 1 ? ` sharing ${SHARDS} shard Leases (${LEASE})` : ""}; ${machine}`,
      "",
      "| rollouts | window s | reconciles | reconcile p50 ms | reconcile p99 ms | looks | analysis mean ms | analysis p50 ms | analysis p99 ms | operator RSS MiB mean / max | apiserver req/s (all) | req/s voicectl.dev + httproutes | Prometheus queries/s | operator CPU cores | bench (synthetic Prometheus) CPU cores | load 1m |",
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
      `| idle (no operator) | ${f(idleSeconds, 0)} | | | | | | | | | ${f(idle.all)} | ${f(idle.operator, 2)} | | | | |`,
      ...rows,
      "",
      `ratios, ${ROLLOUTS} rollouts against 1: reconcile p50 x${f(scale.reconcile.p50 / baseline.reconcile.p50, 2)}, p99 x${f(scale.reconcile.p99 / baseline.reconcile.p99, 2)}; analysis per look mean x${f(scale.analysis.mean / baseline.analysis.mean, 2)}; ` +
        `RSS +${f(scale.rssMiB.mean - baseline.rssMiB.mean, 0)} MiB (${f(((scale.rssMiB.mean - baseline.rssMiB.mean) * 1024) / (ROLLOUTS - 1), 0)} KiB per added rollout); ` +
        `operator-only API requests per rollout per second ${f(perRollout(baseline), 3)} (1) and ${f(perRollout(scale), 3)} (${ROLLOUTS}); ` +
        `looks per second ${f(scale.analysis.count / scale.seconds, 2)} of ${f(ROLLOUTS / INTERVAL_S, 2)} due`,
      `ramp: ${ROLLOUTS - 1} rollouts created to all at weight 10 in ${f(rampSeconds, 0)} s; reconcile errors during the run: ${errors}`,
      ...(REPLICAS > 1
        ? [
            `per replica at ${ROLLOUTS} rollouts: CPU cores ${scale.replicaCores.map((c) => f(c, 2)).join(", ")}; peak RSS MiB ${scale.replicaRssMiB.map((r) => f(r, 0)).join(", ")}`,
          ]
        : []),
      ...(failover ? [failover] : []),
    ];
    process.stdout.write(out.join("\n") + "\n");
  } finally {
    await Promise.all(ops.map((o) => o.stop()));
    await prom.close();
    await cluster.stop();
  }
}

async function listenUrl(op: OperatorProcess): Promise<string> {
  for (let tries = 0; tries < 300; tries++) {
    const line = op.logs.find((l) => l.includes('"operator started"'));
    const listen = line ? (JSON.parse(line) as { fields?: { listen?: string } }).fields?.listen : undefined;
    if (listen) return `http://${listen}`;
    await sleep(200);
  }
  throw new Error(`the operator did not start:\n${op.logs.join("\n")}`);
}

async function shardHolders(cluster: TestCluster): Promise<string[]> {
  const list = await cluster.json<{
    items: { metadata: { name: string }; spec?: { holderIdentity?: string } }[];
  }>(["-n", "voicectl-system", "get", "leases"]);
  return Array.from(
    { length: SHARDS },
    (_, i) =>
      list.items.find((l) => l.metadata.name === `voicectl-operator-shard-${i}`)?.spec?.holderIdentity ?? "",
  );
}

function identity(op: OperatorProcess): string {
  const line = op.logs.find((l) => l.includes('"operator started"'));
  return line ? ((JSON.parse(line) as { fields?: { identity?: string } }).fields?.identity ?? "") : "";
}

/** SIGKILLs the replica holding most shards; reports takeover and recovery times and double shifts. */
async function killOne(cluster: TestCluster, ops: OperatorProcess[], urls: string[]): Promise<string> {
  const holders = await shardHolders(cluster);
  const ids = ops.map(identity);
  const victim = ids.reduce(
    (best, id, i) =>
      holders.filter((h) => h === id).length > holders.filter((h) => h === ids[best]).length ? i : best,
    0,
  );
  const shards = holders.flatMap((h, i) => (h === ids[victim] ? [i] : []));
  log(`failover: SIGKILL replica ${victim} holding shards ${shards.join(", ")}`);
  const t0 = Date.now();
  ops[victim]!.child.kill("SIGKILL");
  await ops[victim]!.exited;
  let movedS: number;
  for (;;) {
    const h = await shardHolders(cluster);
    if (shards.every((s) => h[s] !== "" && h[s] !== ids[victim])) {
      movedS = (Date.now() - t0) / 1000;
      break;
    }
    if (Date.now() - t0 > 180_000) throw new Error("the dead replica's shards were not taken over in 180 s");
    await sleep(250);
  }
  const survivors = urls.filter((_, i) => i !== victim);
  const recoveredS = (await waitAnalysing(survivors, ROLLOUTS)) + movedS;
  // Let every survivor take a look at its new rollouts before counting.
  await sleep(INTERVAL_S * 1000);
  const events = await cluster.json<{ items: { reason?: string; regarding?: { name?: string } }[] }>([
    "-n",
    NS,
    "get",
    "events.v1.events.k8s.io",
  ]);
  const weightSet = events.items.filter((e) => e.reason === "WeightSet").length;
  const routes = await cluster.json<{ items: unknown[] }>(["-n", NS, "get", "httproutes"]);
  const away = routes.items.filter((r, i) => {
    const name = (r as { metadata?: { name?: string } }).metadata?.name ?? "";
    const n = /^tts-(\d+)$/.exec(name)?.[1] ?? String(i);
    return routeCanaryWeight(r, `tts-${n}-v41`, `tts-${n}-v42`) !== 10;
  }).length;
  return (
    `failover (load ${f(loadavg()[0]!, 2)}): SIGKILL of the replica holding shards ${shards.join(", ")}; held again after ${f(movedS)} s, ` +
    `all ${ROLLOUTS} rollouts analysed again after ${f(recoveredS)} s; WeightSet Events ${weightSet} for ${ROLLOUTS} rollouts ` +
    `(double shifts: ${weightSet - ROLLOUTS}); routes not at weight 10: ${away}`
  );
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bench/scale failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
