// What end-to-end tests and benches of the operator share: a cluster set up as a platform team would (the
// chart's ClusterRoles and admission policy, the operator's own identity bound to voicectl-operator, an
// on-call approver), the operator started as its own process, and namespaces holding the example workloads,
// a test policy, and a rollout.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { repositoryRoot, type TestCluster } from "./cluster.js";
import { startDataPlane, type DataPlane, type DataPlaneOptions } from "./dataplane.js";
import { renderChart } from "./helm.js";

export const STABLE = "tts-v41";
export const CANARY = "tts-v42";
export const APPROVER = "oncall@voice.example";

const ROOT = repositoryRoot();

// The studio policy without cost: cost per audio second compares GPUs held per audio second, which at a
// small canary weight (two canary replicas for a quarter of the traffic) is legitimately worse; GPU scaling
// with the weight (issue 6) is what makes it comparable.
export const POLICY = `
apiVersion: voicectl.dev/v1alpha1
kind: RolloutPolicy
metadata: { name: tts-studio }
spec:
  sliceBy: [language]
  metrics:
    - { name: ttfa_p95, column: ttfa_ms, direction: lowerIsBetter, aggregate: p95, tier: latency,
        critical: false, budget: { relative: 0.15 } }
    - { name: speaker_similarity, direction: higherIsBetter, aggregate: mean, tier: quality, critical: true,
        sliceBy: [voice_id], budget: { absolute: 0.01 } }
    - { name: mos, direction: higherIsBetter, aggregate: mean, tier: quality, critical: true,
        budget: { absolute: 0.1 } }
    - { name: wer, direction: lowerIsBetter, aggregate: mean, tier: quality, critical: true,
        budget: { absolute: 0.3 } }
`;

/**
 * A VoiceRollout `tts` over the example workloads; `steps` is YAML indented by four spaces, `pinning` the
 * flow mapping of spec.traffic.pinning when the rollout pins.
 */
export function rolloutYaml(steps: string, intervalSeconds: number, pinning?: string): string {
  return `
apiVersion: voicectl.dev/v1alpha1
kind: VoiceRollout
metadata: { name: tts }
spec:
  stable: { deployment: ${STABLE} }
  canary: { deployment: ${CANARY}, replicas: 2 }
  policyRef: { name: tts-studio }
  traffic: { gatewayAPI: { httpRoute: tts }${pinning ? `, pinning: ${pinning}` : ""} }
  analysis: { interval: ${intervalSeconds}s }
  rollback: { scaleDownDelay: 3s }
  steps:
${steps}`;
}

/**
 * The example workloads renamed for rollout i (tts-<i>-v41, tts-<i>-v42, route tts-<i>): one replica each, no
 * GPU limits or pool, headless Services, so hundreds fit in one namespace of the test cluster.
 */
export function numberedWorkloads(i: number): string {
  const text = readFileSync(join(ROOT, "examples/rollouts/workloads.yaml"), "utf8");
  return (
    text
      .replace(/tts-v41/g, `tts-${i}-v41`)
      .replace(/tts-v42/g, `tts-${i}-v42`)
      .replace(/name: tts\n/g, `name: tts-${i}\n`)
      .replace(/replicas: 2/g, "replicas: 1")
      .replace(/ *resources:\n *limits: \{ nvidia\.com\/gpu: 1 \}\n/g, "")
      .replace(/ *nodeSelector: \{[^}]*\}\n/g, "")
      // Headless: 400 Services would exhaust the test cluster's service IP range, and nothing here routes.
      .replace(/^spec:\n {2}selector:/gm, "spec:\n  clusterIP: None\n  selector:")
  );
}

export interface OperatorIdentities {
  /** The operator's kubeconfig: user voicectl-operator, bound to the voicectl-operator ClusterRole only. */
  readonly operator: string;
  /** An on-call user bound to voicectl-approver. */
  readonly approver: string;
}

/** Installs the chart's roles, admission policy and leader-election Role, the Lease namespace, and two identities. */
export async function setUpOperatorCluster(cluster: TestCluster): Promise<OperatorIdentities> {
  const templates = join(ROOT, "charts/voicectl/templates");
  await cluster.apply(readFileSync(join(templates, "cluster-roles.yaml"), "utf8"));
  await cluster.apply(readFileSync(join(templates, "command-admission-policy.yaml"), "utf8"));
  await cluster.apply(`
apiVersion: v1
kind: Namespace
metadata: { name: voicectl-system }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: voicectl-operator }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: voicectl-operator }
subjects: [{ kind: User, name: voicectl-operator, apiGroup: rbac.authorization.k8s.io }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: voicectl-operator-leader-election, namespace: voicectl-system }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: voicectl-leader-election }
subjects: [{ kind: User, name: voicectl-operator, apiGroup: rbac.authorization.k8s.io }]
---
# Test-only: faults.test.ts runs one operator per namespace, each with its own Lease name
# (leaderElectionId); the chart's Role allows only the release's own Lease, so these get the other names.
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: { name: test-operators-leases, namespace: voicectl-system }
rules: [{ apiGroups: [coordination.k8s.io], resources: [leases], verbs: [get, update] }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: test-operators-leases, namespace: voicectl-system }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: test-operators-leases }
subjects: [{ kind: User, name: voicectl-operator, apiGroup: rbac.authorization.k8s.io }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: oncall-approver }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: voicectl-approver }
subjects: [{ kind: User, name: ${APPROVER}, apiGroup: rbac.authorization.k8s.io }]
`);
  // The Lease right is the chart's own namespaced Role (its Lease only, in voicectl-system), rendered by the
  // real helm as `helm install voicectl -n voicectl-system` would, and bound above to the operator's user
  // instead of the chart's ServiceAccount. prometheus.url must be set to render; nothing here reads it.
  await cluster.apply(
    await renderChart({
      set: { "prometheus.url": "http://prometheus.invalid:9090" },
      showOnly: ["templates/operator/leader-election-role.yaml"],
    }),
  );
  return {
    operator: cluster.userKubeconfig("voicectl-operator"),
    approver: cluster.userKubeconfig(APPROVER),
  };
}

/** A namespace with the example Deployments, Services and HTTPRoute, and the test policy. */
export async function prepareNamespace(cluster: TestCluster, namespace: string): Promise<void> {
  const r = await cluster.kubectl(["create", "namespace", namespace]);
  if (r.code !== 0) throw new Error(r.stderr);
  const workloads = readFileSync(join(ROOT, "examples/rollouts/workloads.yaml"), "utf8");
  const apply = await cluster.kubectl(["-n", namespace, "apply", "-f", "-"], workloads + "\n---\n" + POLICY);
  if (apply.code !== 0) throw new Error(apply.stderr);
}

/**
 * prepareNamespace, then a data plane for its example route: the fleet of `scenario` with the example
 * versions (tts-v41 stable, tts-v42 canary) scraped by Prometheus, and the gateway stand-in following route tts.
 */
export async function prepareExampleRollout(
  cluster: TestCluster,
  namespace: string,
  scenario: string,
  more: Pick<DataPlaneOptions, "pinHeader"> = {},
): Promise<DataPlane> {
  await prepareNamespace(cluster, namespace);
  return startDataPlane({
    ...more,
    scenario,
    kubeconfig: cluster.kubeconfig,
    namespace,
    httpRoute: "tts",
    stableService: STABLE,
    canaryService: CANARY,
    stableVersion: STABLE,
    canaryVersion: CANARY,
  });
}

export interface OperatorProcess {
  readonly child: ChildProcess;
  /** stderr lines: the operator's JSON log. */
  readonly logs: string[];
  readonly exited: Promise<number | null>;
  stop(): Promise<void>;
}

export interface OperatorProcessOptions {
  readonly kubeconfig: string;
  readonly prometheusUrl: string;
  /** Watch one namespace; all when omitted. */
  readonly namespace?: string | undefined;
  /** The leader Lease's name (default voicectl-operator): operators of separate namespaces need their own. */
  readonly leaderElectionId?: string | undefined;
  /** More flags, after the defaults (a later flag wins: --log-level debug, say). */
  readonly extraArgs?: readonly string[] | undefined;
  /** Extra environment, e.g. the test-only VOICECTL_FAULT_EXIT_AT of src/operator/faults.ts. */
  readonly env?: Readonly<Record<string, string>> | undefined;
  /** Flags for node itself, before the script (--cpu-prof, say: NODE_OPTIONS refuses it). */
  readonly nodeArgs?: readonly string[] | undefined;
}

/** `voicectl operator` from dist/, with short leases and polls so tests move at test speed. */
export function startOperatorProcess(options: OperatorProcessOptions): OperatorProcess {
  const args = [
    join(ROOT, "dist/src/cli/main.js"),
    "operator",
    "--kubeconfig",
    options.kubeconfig,
    "--prometheus",
    options.prometheusUrl,
    "--listen",
    "127.0.0.1:0",
    "--leader-election-namespace",
    "voicectl-system",
    // Long enough that a loaded CI machine does not miss renewals, short enough that a killed leader's
    // Lease expires within a test's patience.
    "--lease-duration",
    "6s",
    "--poll",
    "1s",
    "--resync",
    "20s",
    ...(options.namespace !== undefined ? ["-n", options.namespace] : []),
    ...(options.leaderElectionId !== undefined ? ["--leader-election-id", options.leaderElectionId] : []),
    ...(options.extraArgs ?? []),
  ];
  const logs: string[] = [];
  let stopping = false;
  let current!: ChildProcess;
  let resolveExited!: (code: number | null) => void;
  const exited = new Promise<number | null>((resolve) => (resolveExited = resolve));
  const launch = () => {
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), ...args], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, ...options.env },
    });
    current = child;
    let partial = "";
    child.stderr!.on("data", (d: Buffer) => {
      const lines = (partial + d.toString()).split("\n");
      partial = lines.pop() ?? "";
      logs.push(...lines);
    });
    child.on("exit", (code, signal) => {
      // A replica that lost its Lease exits 1 and its Deployment would start it again: so do we. A kill by a
      // signal (a test playing a crash) or a stop ends it for good.
      if (!stopping && signal === null && code === 1) launch();
      else resolveExited(code);
    });
  };
  launch();
  return {
    get child() {
      return current;
    },
    logs,
    exited,
    async stop() {
      stopping = true;
      if (current.exitCode === null && current.signalCode === null) current.kill("SIGTERM");
      await exited;
    },
  };
}
