// The Helm chart (charts/voicectl) with the real helm (built from the helm.sh/helm/v4 module by
// test/cluster/build.sh) and a real control plane: lint, the required prometheus.url, least-privilege RBAC in
// every render, the rendered manifests applied server-side to the API server (CRDs from crds/ first) in a
// namespace that enforces the "restricted" Pod Security Standard, the operator's two replicas Running on two
// kwok nodes, the PodDisruptionBudget computed by the disruption controller, RBAC answered by the real
// authorizer, and `helm install` / `helm uninstall` against the same API server.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { CRD_DIR, startCluster, type TestCluster } from "../support/cluster.js";
import { CHART_DIR, helm, renderChart, templateArgs } from "../support/helm.js";

const PROMETHEUS = "http://prometheus-operated.monitoring:9090";
/** Not the chart's usual voicectl-system: shows the Lease namespace follows the release namespace. */
const NS = "platform-voicectl";

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}
interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}
interface Container {
  name: string;
  image: string;
  args: string[];
  env: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports: { name: string; containerPort: number }[];
  livenessProbe: { httpGet: { path: string; port: string | number } };
  readinessProbe: { httpGet: { path: string; port: string | number } };
  securityContext: Record<string, unknown>;
}
interface PodSpec {
  serviceAccountName: string;
  securityContext: Record<string, unknown>;
  containers: Container[];
  topologySpreadConstraints?: { topologyKey: string; whenUnsatisfiable: string; maxSkew: number }[];
  nodeName?: string;
}

function parse(text: string): Manifest[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Manifest | null)
    .filter((m): m is Manifest => m !== null);
}
function only(ms: Manifest[], kind: string, name?: string): Manifest {
  const found = ms.filter((m) => m.kind === kind && (name === undefined || m.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name ?? ""}, found ${found.length}`);
  return found[0]!;
}
function podSpec(deployment: Manifest): PodSpec {
  return (deployment as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec;
}
/** The value after `flag` in the operator's args. */
function arg(args: readonly string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
}
/** Every `*` anywhere in the RBAC rules of Roles and ClusterRoles, as "Kind/name field". */
function wildcards(ms: Manifest[]): string[] {
  const out: string[] = [];
  for (const m of ms.filter((x) => x.kind === "Role" || x.kind === "ClusterRole")) {
    for (const rule of (m["rules"] as Rule[] | undefined) ?? []) {
      for (const [field, values] of Object.entries(rule) as [string, string[]][])
        if (values.some((v) => v.includes("*"))) out.push(`${m.kind}/${m.metadata.name} ${field}`);
    }
  }
  return out;
}

const defaults = () => renderChart({ namespace: NS, set: { "prometheus.url": PROMETHEUS } });
const allOptions = () => renderChart({ namespace: NS, valuesFiles: ["ci/all-options-values.yaml"] });

describe("helm lint and helm template", () => {
  it.each([["ci/default-values.yaml"], ["ci/all-options-values.yaml"]])(
    "helm lint --strict passes with %s",
    async (values) => {
      const r = await helm(["lint", "--strict", CHART_DIR, "--values", join(CHART_DIR, values)]);
      expect(r.stdout + r.stderr).toContain("1 chart(s) linted, 0 chart(s) failed");
      expect(r.code).toBe(0);
    },
  );

  // `helm lint` runs templates in lint mode, where `fail` only logs (so it can check the rest), hence the
  // values files above; rendering and installing stop.
  it("helm template refuses the defaults alone, naming prometheus.url", async () => {
    const template = await helm(templateArgs());
    expect(template.code).not.toBe(0);
    expect(template.stderr).toContain("prometheus.url is required");
    expect(template.stdout).toBe("");
  });

  it.each([
    [
      { "prometheus.url": "prometheus:9090" },
      'prometheus.url must be an http:// or https:// URL, got "prometheus:9090"',
    ],
    [
      { "prometheus.url": PROMETHEUS, "leaderElection.enabled": "false" },
      "leaderElection.enabled=false needs replicas: 1",
    ],
    [
      { "prometheus.url": PROMETHEUS, "podDisruptionBudget.minAvailable": "2" },
      "podDisruptionBudget.minAvailable (2) must be below replicas (2)",
    ],
    [
      { "prometheus.url": PROMETHEUS, "serviceAccount.create": "false" },
      "serviceAccount.name is required when serviceAccount.create is false",
    ],
    // values.schema.json: a wrong value or a misspelt key is refused, not silently ignored.
    [{ "prometheus.url": PROMETHEUS, logLevel: "verbose" }, "at '/logLevel': value must be one of"],
    [{ "prometheus.url": PROMETHEUS, replica: "3" }, "additional properties 'replica' not allowed"],
  ])("helm template refuses %o", async (set, message) => {
    const r = await helm(templateArgs({ set }));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(message);
  });

  it("renders the operator with the defaults and the Prometheus URL", async () => {
    const ms = parse(await defaults());
    expect(ms.map((m) => `${m.kind}/${m.metadata.name}`).sort()).toEqual([
      "ClusterRole/voicectl-approver",
      "ClusterRole/voicectl-operator",
      "ClusterRole/voicectl-viewer",
      "ClusterRoleBinding/voicectl-operator",
      "Deployment/voicectl",
      "PodDisruptionBudget/voicectl",
      "Role/voicectl-leader-election",
      "RoleBinding/voicectl-leader-election",
      "Service/voicectl-metrics",
      "ServiceAccount/voicectl",
      "ValidatingAdmissionPolicy/voicerolloutcommands.voicectl.dev",
      "ValidatingAdmissionPolicyBinding/voicerolloutcommands.voicectl.dev",
    ]);
    const deployment = only(ms, "Deployment");
    expect(deployment.metadata.namespace).toBe(NS);
    expect((deployment["spec"] as { replicas: number }).replicas).toBe(2);
    const pod = podSpec(deployment);
    expect(pod.serviceAccountName).toBe("voicectl");
    const c = pod.containers[0]!;
    expect(c.image).toBe("ghcr.io/voicectl/voicectl:0.1.0");
    expect(c.args[0]).toBe("operator");
    expect(arg(c.args, "--prometheus")).toBe(PROMETHEUS);
    expect(arg(c.args, "--listen")).toBe("0.0.0.0:8080");
    expect(arg(c.args, "--leader-election-namespace")).toBe(NS);
    expect(arg(c.args, "--leader-election-id")).toBe("voicectl-operator");
    expect(arg(c.args, "--log-level")).toBe("info");
    expect(c.args).not.toContain("--namespace");
    expect(c.env.find((e) => e.name === "POD_NAME")?.valueFrom?.fieldRef?.fieldPath).toBe("metadata.name");
    expect(c.ports).toEqual([{ name: "metrics", containerPort: 8080, protocol: "TCP" }]);
    expect(c.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "metrics" });
    expect(c.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "metrics" });
    expect(c.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 65532,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(pod.topologySpreadConstraints).toEqual([
      expect.objectContaining({
        topologyKey: "kubernetes.io/hostname",
        whenUnsatisfiable: "DoNotSchedule",
        maxSkew: 1,
      }),
    ]);
    expect((only(ms, "PodDisruptionBudget")["spec"] as { minAvailable: number }).minAvailable).toBe(1);
    // Leases: a namespaced Role in the release namespace, get/update limited to the operator's own Lease; no
    // ClusterRole grants them.
    const role = only(ms, "Role");
    expect(role.metadata.namespace).toBe(NS);
    expect(role["rules"]).toEqual([
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
      {
        apiGroups: ["coordination.k8s.io"],
        resources: ["leases"],
        resourceNames: ["voicectl-operator"],
        verbs: ["get", "update"],
      },
    ]);
    for (const cr of ms.filter((m) => m.kind === "ClusterRole"))
      for (const rule of cr["rules"] as Rule[]) expect(rule.resources).not.toContain("leases");
    const binding = only(ms, "ClusterRoleBinding");
    expect(binding["subjects"]).toEqual([{ kind: "ServiceAccount", name: "voicectl", namespace: NS }]);
    expect(binding["roleRef"]).toMatchObject({ kind: "ClusterRole", name: "voicectl-operator" });
  });

  it("renders every option of values.yaml", async () => {
    const ms = parse(await allOptions());
    const deployment = only(ms, "Deployment", "voicectl-ops");
    expect((deployment["spec"] as { replicas: number }).replicas).toBe(3);
    const pod = podSpec(deployment);
    expect(pod.serviceAccountName).toBe("voicectl-operator-sa");
    const c = pod.containers[0]!;
    expect(c.image).toBe("registry.example/voicectl@sha256:" + "0".repeat(64));
    expect(arg(c.args, "--namespace")).toBe("team-tts");
    expect(arg(c.args, "--leader-election-id")).toBe("voicectl-leader");
    expect(arg(c.args, "--lease-duration")).toBe("20s");
    expect(arg(c.args, "--listen")).toBe("0.0.0.0:9443");
    expect(arg(c.args, "--workers")).toBe("8");
    expect(pod.topologySpreadConstraints?.map((t) => t.topologyKey)).toEqual([
      "kubernetes.io/hostname",
      "topology.kubernetes.io/zone",
    ]);
    const monitor = only(ms, "ServiceMonitor");
    expect(monitor.metadata.namespace).toBe("monitoring");
    expect(monitor.metadata.labels).toMatchObject({ release: "kube-prometheus-stack" });
    expect(monitor["spec"]).toMatchObject({
      namespaceSelector: { matchNames: [NS] },
      endpoints: [{ port: "metrics", path: "/metrics", interval: "15s" }],
    });
    expect((only(ms, "PodDisruptionBudget")["spec"] as { minAvailable: number }).minAvailable).toBe(2);
    const leaderRole = only(ms, "Role", "voicectl-ops-leader-election");
    expect((leaderRole["rules"] as Rule[])[1]!.resourceNames).toEqual(["voicectl-leader"]);
    // A notification sink's Secret: get on that one name, in its own namespace, for the operator only.
    const secretRole = only(ms, "Role", "voicectl-ops-notification-voicectl-sinks");
    expect(secretRole.metadata.namespace).toBe("team-tts");
    expect(secretRole["rules"]).toEqual([
      { apiGroups: [""], resources: ["secrets"], resourceNames: ["voicectl-sinks"], verbs: ["get"] },
    ]);
    expect(only(ms, "RoleBinding", "voicectl-ops-notification-voicectl-sinks")["subjects"]).toEqual([
      { kind: "ServiceAccount", name: "voicectl-operator-sa", namespace: NS },
    ]);
    const elsewhere = new Set([
      "ServiceMonitor/",
      "Role/voicectl-ops-notification",
      "RoleBinding/voicectl-ops-notification",
    ]);
    for (const m of ms.filter((x) => x.metadata.namespace !== undefined))
      if (![...elsewhere].some((p) => `${m.kind}/${m.metadata.name}`.startsWith(p)))
        expect(m.metadata.namespace).toBe(NS);
  });

  it("grants no wildcard in any rule, with the defaults or with every option", async () => {
    for (const [text, roles] of [
      [await defaults(), 4],
      [await allOptions(), 5],
    ] as const) {
      const ms = parse(text);
      expect(ms.filter((m) => m.kind === "Role" || m.kind === "ClusterRole").length).toBe(roles);
      expect(wildcards(ms)).toEqual([]);
    }
    // The check itself: a rule with a wildcard is found.
    expect(
      wildcards([
        {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "ClusterRole",
          metadata: { name: "x" },
          rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["*"] }],
        },
      ]),
    ).toEqual(["ClusterRole/x verbs"]);
  });
});

describe("the chart on a real control plane", () => {
  let cluster: TestCluster;
  const kubectl = async (...args: string[]): Promise<string> => {
    const r = await cluster.kubectl(args);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  const json = async <T>(...args: string[]): Promise<T> =>
    JSON.parse(await kubectl(...args, "-o", "json")) as T;
  interface Pod {
    metadata: { name: string };
    spec: PodSpec;
    status: { phase: string };
  }
  const runningPods = async (namespace: string): Promise<Pod[]> =>
    (
      await json<{ items: Pod[] }>(
        "-n",
        namespace,
        "get",
        "pods",
        "-l",
        "app.kubernetes.io/name=voicectl,app.kubernetes.io/component=operator",
      )
    ).items.filter((p) => p.status.phase === "Running");
  /** Polls until `check` returns a value; fails naming what it waited for and the last thing seen. */
  async function until<T>(what: string, check: () => Promise<T | undefined>): Promise<T> {
    const deadline = Date.now() + 120_000;
    let last: unknown;
    for (;;) {
      try {
        const v = await check();
        if (v !== undefined) return v;
      } catch (err) {
        last = err;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${String(last)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  /** `kubectl auth can-i` as the operator's ServiceAccount; `resource` may be `kind.group/name`. */
  const canI = async (verb: string, resource: string, namespace?: string, subresource?: string) => {
    const r = await cluster.kubectl([
      "auth",
      "can-i",
      verb,
      resource,
      `--as=system:serviceaccount:${NS}:voicectl`,
      ...(subresource ? [`--subresource=${subresource}`] : []),
      ...(namespace ? ["-n", namespace] : ["--all-namespaces"]),
    ]);
    if (r.stdout.trim() !== "yes" && r.stdout.trim() !== "no")
      throw new Error(`kubectl auth can-i ${verb} ${resource}: ${r.stderr}`);
    return r.stdout.trim() === "yes";
  };
  let manifests: string;

  beforeAll(async () => {
    // Two pools of two nodes each: enough nodes for the replicas to spread over. The CRDs are applied by the
    // test, from crds/, as a platform team would before the rendered manifests.
    cluster = await startCluster({ crds: false, h100Nodes: 2, l4Nodes: 2 });
    manifests = await defaults();
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it("applies server-side after the CRDs, and runs two operator replicas on two nodes under the restricted Pod Security Standard", async () => {
    for (const f of readdirSync(CRD_DIR).filter((n) => n.endsWith(".yaml")))
      await kubectl("apply", "--server-side", "-f", join(CRD_DIR, f));
    await kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all");
    // Pod Security admission refuses any pod of the Deployment that breaks the restricted profile, so
    // Running pods prove the chart's securityContext passes it.
    await kubectl("create", "namespace", NS);
    await kubectl("label", "namespace", NS, "pod-security.kubernetes.io/enforce=restricted");
    const r = await cluster.kubectl(["apply", "--server-side", "-f", "-"], manifests);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);

    const pods = await until("two Running operator pods", async () => {
      const running = await runningPods(NS);
      return running.length === 2 ? running : undefined;
    });
    // Spread over nodes: the leader and its standby never share a node.
    expect(new Set(pods.map((p) => p.spec.nodeName)).size).toBe(2);
    for (const p of pods) {
      expect(p.spec.serviceAccountName).toBe("voicectl");
      expect(p.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532 });
      expect(p.spec.containers[0]!.securityContext).toMatchObject({
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ["ALL"] },
        seccompProfile: { type: "RuntimeDefault" },
      });
    }
    // The disruption controller counts both healthy pods against minAvailable 1: one may be evicted.
    const pdb = await until("the PodDisruptionBudget's status", async () => {
      const p = await json<{ status?: { currentHealthy?: number; disruptionsAllowed?: number } }>(
        "-n",
        NS,
        "get",
        "pdb",
        "voicectl",
      );
      return p.status?.currentHealthy === 2 ? p.status : undefined;
    });
    expect(pdb.disruptionsAllowed).toBe(1);
    const svc = await json<{ spec: { ports: { port: number }[] } }>(
      "-n",
      NS,
      "get",
      "service",
      "voicectl-metrics",
    );
    expect(svc.spec.ports.map((p) => p.port)).toEqual([8080]);
  });

  it("gives the operator's ServiceAccount what it needs and nothing more (the real authorizer)", async () => {
    type Check = [verb: string, resource: string, namespace?: string, subresource?: string];
    const yes: Check[] = [
      ["watch", "voicerollouts.voicectl.dev"],
      ["patch", "voicerollouts.voicectl.dev", "team-tts", "status"],
      ["patch", "deployments.apps", "team-tts", "scale"],
      ["list", "nodes"],
      ["watch", "pods"],
      ["patch", "httproutes.gateway.networking.k8s.io", "team-tts"],
      ["update", "virtualservices.networking.istio.io", "team-tts"],
      ["patch", "inferenceservices.serving.kserve.io", "team-tts"],
      ["create", "configmaps", "team-tts"],
      ["create", "events.events.k8s.io", "team-tts"],
      ["create", "leases.coordination.k8s.io", NS],
      ["update", "leases.coordination.k8s.io/voicectl-operator", NS],
    ];
    const no: Check[] = [
      ["update", "voicerollouts.voicectl.dev", "team-tts"],
      ["approve", "voicerollouts.voicectl.dev", "team-tts"],
      ["create", "voicerolloutcommands.voicectl.dev", "team-tts"],
      ["create", "deployments.apps", "team-tts"],
      ["delete", "deployments.apps", "team-tts"],
      ["update", "deployments.apps", "team-tts"],
      ["update", "voicerolloutcommands.voicectl.dev", "team-tts", "status"],
      ["delete", "pods", "team-tts"],
      ["delete", "httproutes.gateway.networking.k8s.io", "team-tts"],
      ["get", "secrets", "team-tts"],
      ["update", "nodes"],
      // Leases: only in the release namespace, and only its own.
      ["create", "leases.coordination.k8s.io", "kube-system"],
      ["update", "leases.coordination.k8s.io/kube-scheduler", "kube-system"],
      ["update", "leases.coordination.k8s.io/another-operator", NS],
      ["delete", "leases.coordination.k8s.io/voicectl-operator", NS],
    ];
    // One expectation per table: a failure lists every answer that differs, each named.
    const answers = async (checks: Check[]) => {
      const out: string[] = [];
      for (const [verb, resource, ns, sub] of checks)
        out.push(
          `${verb} ${resource}${sub ? "/" + sub : ""} in ${ns ?? "all"}: ${await canI(verb, resource, ns, sub)}`,
        );
      return out;
    };
    const label = (checks: Check[], v: boolean) =>
      checks.map(
        ([verb, resource, ns, sub]) => `${verb} ${resource}${sub ? "/" + sub : ""} in ${ns ?? "all"}: ${v}`,
      );
    expect(await answers(yes)).toEqual(label(yes, true));
    expect(await answers(no)).toEqual(label(no, false));
  });

  it("installs and uninstalls with helm against the same API server", async () => {
    // The cluster-scoped objects (ClusterRoles, admission policy) have fixed names: remove what kubectl
    // applied so the release can own them (helm refuses to adopt objects it did not create).
    const del = await cluster.kubectl(["delete", "--wait", "-f", "-"], manifests);
    expect(del.stderr).toBe("");
    const env = { KUBECONFIG: cluster.kubeconfig };
    const release = "voicectl-helm";
    // Without the required value nothing reaches the cluster.
    const refused = await helm(
      ["install", "voicectl", CHART_DIR, "--namespace", release, "--create-namespace"],
      env,
    );
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("prometheus.url is required");
    expect((await cluster.kubectl(["get", "namespace", release])).stderr).toContain("NotFound");
    const install = await helm(
      [
        "install",
        "voicectl",
        CHART_DIR,
        "--namespace",
        release,
        "--create-namespace",
        "--set",
        `prometheus.url=${PROMETHEUS}`,
        "--wait",
        "--timeout",
        "3m",
      ],
      env,
    );
    expect(install.stderr).toBe("");
    expect(install.code).toBe(0);
    expect(install.stdout).toContain("STATUS: deployed");
    // NOTES.txt, rendered for this release.
    expect(install.stdout).toContain(`kubectl -n ${release} get lease voicectl-operator`);

    const list = await helm(["list", "--namespace", release, "--output", "json"], env);
    expect(JSON.parse(list.stdout)).toEqual([
      expect.objectContaining({
        name: "voicectl",
        namespace: release,
        status: "deployed",
        chart: "voicectl-0.1.0",
      }),
    ]);
    expect(await runningPods(release)).toHaveLength(2);
    const deployment = await json<{ spec: { template: { spec: PodSpec } } }>(
      "-n",
      release,
      "get",
      "deployment",
      "voicectl",
    );
    expect(arg(deployment.spec.template.spec.containers[0]!.args, "--leader-election-namespace")).toBe(
      release,
    );
    const binding = await json<{ subjects: unknown[] }>("get", "clusterrolebinding", "voicectl-operator");
    expect(binding.subjects).toEqual([{ kind: "ServiceAccount", name: "voicectl", namespace: release }]);
    await kubectl("-n", release, "get", "role", "voicectl-leader-election");

    const uninstall = await helm(["uninstall", "voicectl", "--namespace", release, "--wait"], env);
    expect(uninstall.code).toBe(0);
    for (const [kind, ns] of [
      ["deployment/voicectl", release],
      ["clusterrole/voicectl-operator", undefined],
      ["validatingadmissionpolicy/voicerolloutcommands.voicectl.dev", undefined],
    ] as const) {
      const r = await cluster.kubectl([...(ns ? ["-n", ns] : []), "get", kind]);
      expect(r.stderr).toContain("NotFound");
    }
    // Helm never deletes a chart's CRDs (that would delete every rollout): they stay.
    const crds = await kubectl("get", "crd", "-l", "app.kubernetes.io/part-of=voicectl", "-o", "name");
    expect(crds.trim().split("\n").sort()).toEqual(
      readdirSync(CRD_DIR)
        .filter((n) => n.endsWith(".yaml"))
        .map((n) => `customresourcedefinition.apiextensions.k8s.io/${n.replace(/\.yaml$/, "")}`)
        .sort(),
    );
  });
});
