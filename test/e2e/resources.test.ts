// The voicectl.dev custom resources on a real API server (test/cluster: kube-apiserver built from source):
// the generated CRDs install, refuse malformed rollouts and policies with the field's path, print their
// columns, and with the chart's admission policy and ClusterRoles only someone RBAC allows may approve, as
// themselves (docs/operator.md#approvals-and-rbac).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { startCluster, type CommandResult, type TestCluster } from "../support/cluster.js";
import { waitFor } from "../support/wait.js";

const TEMPLATES = "charts/voicectl/templates";
const NS = "voice-prod";
let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startCluster({ h100Nodes: 0, l4Nodes: 1 });
  await cluster.apply(`apiVersion: v1\nkind: Namespace\nmetadata: {name: ${NS}}\n`);
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
});

function rollout(name: string, spec: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: "voicectl.dev/v1alpha1",
    kind: "VoiceRollout",
    metadata: { name, namespace: NS },
    spec: {
      stable: { deployment: "tts-v41" },
      canary: { deployment: "tts-v42", replicas: 2 },
      policyRef: { name: "voice-studio" },
      traffic: { gatewayAPI: { httpRoute: "tts" } },
      nodePool: { name: "h100" },
      steps: [
        { setWeight: 10 },
        { analysis: { minDuration: "5m", maxDuration: "20m" } },
        { pause: {} },
        { setWeight: 50 },
        { pause: { duration: "10m" } },
      ],
      ...spec,
    },
  };
}

async function ok(r: Promise<CommandResult>): Promise<string> {
  const res = await r;
  if (res.code !== 0) throw new Error(`kubectl failed (${res.code}): ${res.stderr || res.stdout}`);
  return res.stdout;
}

/** kubectl create of an object as a user (admin when no kubeconfig is given). */
function create(obj: unknown, kubeconfig?: string, extra: readonly string[] = []): Promise<CommandResult> {
  const as = kubeconfig ? ["--kubeconfig", kubeconfig] : [];
  return cluster.kubectl([...as, "create", ...extra, "-f", "-"], stringify(obj));
}

/** The rows of kubectl's table output, keyed by column header (cells may be empty, so split by position). */
function table(out: string): Record<string, string>[] {
  const [header = "", ...rows] = out.trimEnd().split("\n");
  const cols = [...header.matchAll(/\S+/g)].map((m) => ({ name: m[0], at: m.index }));
  return rows.map((row) =>
    Object.fromEntries(cols.map((c, i) => [c.name, row.slice(c.at, cols[i + 1]?.at ?? row.length).trim()])),
  );
}

// Caches behind RBAC and admission policies fill asynchronously; poll instead of sleeping a guess.
const poll = <T>(what: string, attempt: () => Promise<T | undefined>): Promise<T> =>
  waitFor(what, 30_000, attempt);

describe("the custom resource definitions", () => {
  it("install and are Established, beside the Gateway API CRDs from test/cluster", async () => {
    const crds = JSON.parse(await ok(cluster.kubectl(["get", "crd", "-o", "json"]))) as {
      items: { metadata: { name: string }; status: { conditions?: { type: string; status: string }[] } }[];
    };
    const established = crds.items
      .filter((c) => c.status.conditions?.some((x) => x.type === "Established" && x.status === "True"))
      .map((c) => c.metadata.name);
    expect(established).toEqual(
      expect.arrayContaining([
        "voicerollouts.voicectl.dev",
        "voicerolloutcommands.voicectl.dev",
        "rolloutpolicies.voicectl.dev",
        "httproutes.gateway.networking.k8s.io",
        "gateways.gateway.networking.k8s.io",
      ]),
    );
  });

  it("accept a valid VoiceRollout and fill in the schema's defaults", async () => {
    await ok(create(rollout("tts")));
    const got = JSON.parse(await ok(cluster.kubectl(["get", "vr", "tts", "-n", NS, "-o", "json"]))) as {
      spec: Record<string, unknown>;
    };
    expect(got.spec).toMatchObject({
      analysis: { interval: "1m" },
      rollback: { scaleDownDelay: "30s" },
      nodePool: { name: "h100", gpusPerReplica: 1 },
      steps: [
        { setWeight: 10 },
        { analysis: { minDuration: "5m", maxDuration: "20m" } },
        { pause: {} },
        {},
        {},
      ],
    });
  });

  it("accept every RolloutPolicy shipped in policies/", async () => {
    for (const f of readdirSync("policies").filter((n) => n.endsWith(".yaml"))) {
      const r = await cluster.kubectl(["apply", "-n", NS, "-f", join("policies", f)]);
      expect(r.stderr, f).toBe("");
      expect(r.code, f).toBe(0);
    }
    const names = await ok(cluster.kubectl(["get", "rp", "-n", NS, "-o", "name"]));
    expect(names.trim().split("\n").sort()).toEqual([
      "rolloutpolicy.voicectl.dev/open-voice",
      "rolloutpolicy.voicectl.dev/soundscape",
      "rolloutpolicy.voicectl.dev/voice-agents",
      "rolloutpolicy.voicectl.dev/voice-studio",
    ]);
  });

  const step = (s: unknown) => ({ steps: [s] });
  it.each<[string, Record<string, unknown>, RegExp]>([
    [
      "setWeight above 100",
      step({ setWeight: 150 }),
      /spec\.steps\[0\]\.setWeight: Invalid value: 150: .*less than or equal to 100/,
    ],
    ["no steps", { steps: [] }, /spec\.steps: Invalid value: .*should have at least 1 items/],
    ["an unknown step kind", step({ rampTo: 5 }), /unknown field "spec\.steps\[0\]\.rampTo"/],
    [
      "two kinds in one step",
      step({ setWeight: 5, pause: {} }),
      /spec\.steps\[0\]: Too many: 2: must have at most 1 item/,
    ],
    [
      "minDuration above maxDuration",
      step({ analysis: { minDuration: "30m", maxDuration: "5m" } }),
      /spec\.steps\[0\]\.analysis: Invalid value: .*expected minDuration <= maxDuration/,
    ],
    [
      "a malformed duration",
      step({ pause: { duration: "ten minutes" } }),
      /spec\.steps\[0\]\.pause\.duration: Invalid value: "ten minutes"/,
    ],
    [
      "an upper-case Deployment name",
      { canary: { deployment: "TTS_v42" } },
      /spec\.canary\.deployment: Invalid value: "TTS_v42"/,
    ],
    ["no policyRef", { policyRef: undefined }, /spec\.policyRef: Required value/],
    [
      "two traffic routers",
      { traffic: { gatewayAPI: { httpRoute: "tts" }, istio: { virtualService: "tts" } } },
      /spec\.traffic: Invalid value: .*expected exactly one traffic router/,
    ],
    [
      "pinning through KServe",
      {
        traffic: {
          kserve: { inferenceService: "tts" },
          pinning: { label: "voice_id", header: "x-voice-id" },
        },
      },
      /spec\.traffic: Invalid value: .*pinning needs gatewayAPI or istio/,
    ],
    [
      "a field voicectl does not know",
      { canary: { deployment: "tts-v42", replica: 2 } },
      /unknown field "spec\.canary\.replica"/,
    ],
  ])("refuse a VoiceRollout with %s, naming the field", async (_, spec, message) => {
    const r = await create(rollout("bad", spec));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /); // a message, not a stack
  });

  it("refuse an unknown step kind even when the client does not ask for strict field checks", async () => {
    // The API server then prunes the unknown field, and the empty step matches none of the kinds.
    const r = await create(rollout("bad", step({ rampTo: 5 })), undefined, ["--validate=false"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/spec\.steps\[0\]: Invalid value: 0: .*should have at least 1 properties/);
  });

  const policy = (metrics: unknown[]) => ({
    apiVersion: "voicectl.dev/v1alpha1",
    kind: "RolloutPolicy",
    metadata: { name: "bad", namespace: NS },
    spec: { metrics },
  });
  const metric = (extra: Record<string, unknown>) => ({
    name: "wer",
    direction: "lowerIsBetter",
    aggregate: "mean",
    budget: { relative: 0.1 },
    ...extra,
  });
  it.each<[string, unknown[], RegExp]>([
    ["no metrics", [], /spec\.metrics: Invalid value: .*should have at least 1 items/],
    [
      "both budget kinds",
      [metric({ budget: { relative: 0.1, absolute: 0.01 } })],
      /spec\.metrics\[0\]\.budget: Invalid value: .*exactly one of `absolute` or `relative`/,
    ],
    [
      "a metric named twice",
      [metric({}), metric({ aggregate: "p95" })],
      /spec\.metrics\[1\]: Duplicate value/,
    ],
    [
      "an unknown direction",
      [metric({ direction: "up" })],
      /spec\.metrics\[0\]\.direction: Unsupported value: "up"/,
    ],
  ])("refuse a RolloutPolicy with %s, naming the field", async (_, metrics, message) => {
    const r = await create(policy(metrics));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });

  it("print phase, weight, step and reason with kubectl get vr", async () => {
    await ok(
      cluster.kubectl([
        "patch",
        "vr",
        "tts",
        "-n",
        NS,
        "--subresource=status",
        "--type=merge",
        "-p",
        JSON.stringify({
          status: {
            phase: "Paused",
            reason: "AwaitingApproval",
            canaryWeight: 10,
            currentStepIndex: 2,
            step: "3/4",
          },
        }),
      ]),
    );
    const out = await ok(cluster.kubectl(["get", "vr", "-n", NS]));
    expect(out.split("\n")[0]).toMatch(/^NAME\s+PHASE\s+WEIGHT\s+STEP\s+REASON\s+AGE$/);
    expect(table(out)).toEqual([
      // Counted from 1, as every message says it: the operator writes status.step beside currentStepIndex.
      {
        NAME: "tts",
        PHASE: "Paused",
        WEIGHT: "10",
        STEP: "3/4",
        REASON: "AwaitingApproval",
        AGE: expect.stringMatching(/^\d+[smh]/),
      },
    ]);
    const wide = await ok(cluster.kubectl(["get", "vr", "-n", NS, "-o", "wide"]));
    expect(wide.split("\n")[0]).toMatch(/STABLE\s+CANARY\s+POLICY/);
    expect(await ok(cluster.kubectl(["get", "voicectl", "-n", NS, "-o", "name"]))).toContain(
      "voicerollout.voicectl.dev/tts",
    );
  });
});

describe("approvals: the admission policy and ClusterRoles of charts/voicectl/templates", () => {
  const users: Record<string, string> = {};

  function command(name: string, user: string, action = "approve", rolloutName = "tts") {
    return {
      apiVersion: "voicectl.dev/v1alpha1",
      kind: "VoiceRolloutCommand",
      metadata: { name, namespace: NS },
      spec: { rollout: rolloutName, action, user, reason: "listened to the canary samples" },
    };
  }
  const bind = (user: string, kind: "ClusterRole" | "Role", role: string) => ({
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name: `${user}-${role}`, namespace: NS },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind, name: role },
    subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: user }],
  });

  beforeAll(async () => {
    for (const f of readdirSync(TEMPLATES).filter((n) => n.endsWith(".yaml")))
      await cluster.apply(readFileSync(join(TEMPLATES, f), "utf8"));
    // carol may create commands but holds no action verb; dave may approve only another rollout.
    const roles = [
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "Role",
        metadata: { name: "command-creator", namespace: NS },
        rules: [
          { apiGroups: ["voicectl.dev"], resources: ["voicerolloutcommands"], verbs: ["create", "get"] },
          { apiGroups: ["voicectl.dev"], resources: ["voicerollouts"], verbs: ["get", "list"] },
        ],
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "Role",
        metadata: { name: "approve-tts-other", namespace: NS },
        rules: [
          { apiGroups: ["voicectl.dev"], resources: ["voicerolloutcommands"], verbs: ["create"] },
          {
            apiGroups: ["voicectl.dev"],
            resources: ["voicerollouts"],
            resourceNames: ["tts-other"],
            verbs: ["approve"],
          },
        ],
      },
      bind("alice", "ClusterRole", "voicectl-approver"),
      bind("victor", "ClusterRole", "voicectl-viewer"),
      bind("carol", "Role", "command-creator"),
      bind("dave", "Role", "approve-tts-other"),
    ];
    await cluster.apply(roles.map((r) => stringify(r)).join("---\n"));
    for (const u of ["alice", "victor", "carol", "dave"])
      users[u] = cluster.userKubeconfig(u, ["voice-team"]);
    // The policy is enforced once the API server's admission plugin has loaded it.
    await poll("the admission policy to be enforced", async () => {
      const r = await create(command("probe", "bob"), users["alice"], ["--dry-run=server"]);
      return /spec\.user must be the requesting user/.test(r.stderr) ? true : undefined;
    });
  }, 120_000);

  it("lets an approver approve as themselves; the command prints rollout, action, user", async () => {
    await ok(create(command("approve-1", "alice"), users["alice"]));
    const out = await ok(cluster.kubectl(["--kubeconfig", users["alice"]!, "get", "vrc", "-n", NS]));
    expect(out.split("\n")[0]).toMatch(/^NAME\s+ROLLOUT\s+ACTION\s+USER\s+APPLIED\s+AGE$/);
    expect(table(out)).toEqual([
      expect.objectContaining({
        NAME: "approve-1",
        ROLLOUT: "tts",
        ACTION: "approve",
        USER: "alice",
        APPLIED: "",
      }),
    ]);
  });

  it("refuses an approver who names someone else in spec.user", async () => {
    const r = await create(command("forged", "bob"), users["alice"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      'spec.user must be the requesting user: it is "bob" but the request comes from "alice"',
    );
  });

  it("refuses a viewer, who may not even create commands", async () => {
    const r = await create(command("viewer", "victor"), users["victor"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/User "victor" cannot create resource "voicerolloutcommands"/);
  });

  it("refuses a user who may create commands but not approve, with the policy's message", async () => {
    const r = await create(command("carol-1", "carol"), users["carol"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('user "carol" may not approve voicerollout tts in namespace voice-prod');
  });

  it("checks the verb on the named rollout: approve on tts-other does not cover tts", async () => {
    const refused = await create(command("dave-1", "dave"), users["dave"]);
    expect(refused.stderr).toContain('user "dave" may not approve voicerollout tts');
    expect(refused.code).not.toBe(0);
    await ok(create(command("dave-2", "dave", "approve", "tts-other"), users["dave"]));
    const abort = await create(command("dave-3", "dave", "abort", "tts-other"), users["dave"]);
    expect(abort.stderr).toContain('user "dave" may not abort voicerollout tts-other');
  });

  it("lets approvers and viewers read the operator's Events about a rollout, as kubectl describe does", async () => {
    await cluster.apply(stringify(rollout("tts-described")));
    const described = await cluster.json<{ metadata: { uid: string } }>([
      "get",
      "voicerollout",
      "tts-described",
      "-n",
      NS,
    ]);
    await cluster.apply(
      stringify({
        apiVersion: "events.k8s.io/v1",
        kind: "Event",
        metadata: { name: "tts-described.paused-for-approval", namespace: NS },
        eventTime: new Date().toISOString().replace("Z", "000Z"),
        reportingController: "voicectl.dev/operator",
        reportingInstance: "voicectl-operator-0",
        action: "Pause",
        reason: "Paused",
        type: "Normal",
        note: "paused at step 2 for approval",
        regarding: {
          apiVersion: "voicectl.dev/v1alpha1",
          kind: "VoiceRollout",
          name: "tts-described",
          namespace: NS,
          uid: described.metadata.uid,
        },
      }),
    );
    for (const user of ["alice", "victor"]) {
      const core = await ok(
        cluster.kubectl(["--kubeconfig", users[user]!, "get", "events", "-n", NS, "-o", "name"]),
      );
      expect(core, user).toContain("tts-described.paused-for-approval");
      const described = await ok(
        cluster.kubectl([
          "--kubeconfig",
          users[user]!,
          "describe",
          "voicerollout",
          "tts-described",
          "-n",
          NS,
        ]),
      );
      expect(described, user).toContain("paused at step 2 for approval");
    }
  });

  it("refuses any change to a command's spec, while the operator can still record it as applied", async () => {
    const r = await cluster.kubectl([
      "patch",
      "vrc",
      "approve-1",
      "-n",
      NS,
      "--type=merge",
      "-p",
      JSON.stringify({ spec: { action: "promote" } }),
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("spec is immutable");
    await ok(
      cluster.kubectl([
        "patch",
        "vrc",
        "approve-1",
        "-n",
        NS,
        "--subresource=status",
        "--type=merge",
        "-p",
        JSON.stringify({ status: { appliedAt: new Date().toISOString(), result: "approved step 2" } }),
      ]),
    );
    const got = JSON.parse(
      await ok(cluster.kubectl(["get", "vrc", "approve-1", "-n", NS, "-o", "json"])),
    ) as {
      spec: { action: string };
      status: { result: string };
    };
    expect(got.spec.action).toBe("approve");
    expect(got.status.result).toBe("approved step 2");
    const row = table(await ok(cluster.kubectl(["get", "vrc", "approve-1", "-n", NS])))[0];
    expect(row?.["APPLIED"]).toMatch(/^\d+[smh]/);
  });
});
