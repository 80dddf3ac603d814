// `voicectl rollout` against a real control plane (test/cluster): the CRDs, ClusterRoles and admission policy
// of charts/voicectl, users with client certificates, and no operator. Where the operator would write a
// rollout's status or mark a command applied, the test does it with kubectl through the status subresource,
// exactly as the operator's RBAC allows. The CLI runs in-process (test/support/cli.ts).
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../src/cli/program.js";
import { cli, scratch } from "../support/cli.js";
import { startCluster, type TestCluster } from "../support/cluster.js";

const NS = "voice-prod";
const TEMPLATES = "charts/voicectl/templates";
const EXAMPLE = "examples/rollouts/rollout.yaml";

let cluster: TestCluster;
/** kubeconfigs of users bound to the chart's roles, or to nothing at all. */
let alice: string; // voicectl-approver in NS
let bob: string; // no RBAC at all
let carol: string; // may read rollouts and create commands, and abort, but not approve

const kubectl = (...args: string[]): Promise<string> => cluster.kubectlOk(args);

async function getJson<T = Record<string, unknown>>(...args: string[]): Promise<T> {
  return JSON.parse(await kubectl("get", "-n", NS, "-o", "json", ...args)) as T;
}

/** Writes status as the operator does: through the status subresource, nothing else. */
async function setStatus(name: string, status: Record<string, unknown>): Promise<void> {
  await kubectl(
    "patch",
    "voicerollout",
    name,
    "-n",
    NS,
    "--subresource=status",
    "--type=merge",
    "-p",
    JSON.stringify({ status }),
  );
}

const PAUSED = {
  phase: "Paused",
  canaryWeight: 25,
  currentStepIndex: 4,
  stepStartedAt: "2026-12-01T11:55:00Z",
  message: "step 4 waits for approval",
  pause: { kind: "approval", reason: "the plan asks for approval", since: "2026-12-01T11:55:00Z" },
  lastDecision: {
    decision: "pause",
    at: "2026-12-01T11:54:30Z",
    summary: "1 non-critical finding failed: ttfa_p95 in language=es",
    findings: [
      {
        metric: "ttfa_p95",
        slice: { language: "es" },
        verdict: "fail",
        critical: false,
        baseline: 412.5,
        canary: 588.25,
        allowed: 0.3,
        worsening: 0.4261,
        samples: { baseline: 5663, canary: 203 },
        reason: "ttfa_p95 (p95) in language=es: 412.5 -> 588.25, over budget",
      },
    ],
  },
  conditions: [
    {
      type: "Progressing",
      status: "False",
      reason: "AwaitingApproval",
      message: "step 4 waits for approval",
      lastTransitionTime: "2026-12-01T11:55:00Z",
    },
  ],
};

beforeAll(async () => {
  cluster = await startCluster({ h100Nodes: 0, l4Nodes: 1 });
  for (const f of readdirSync(TEMPLATES).filter((f) => f.endsWith(".yaml")))
    await cluster.apply(readFileSync(join(TEMPLATES, f), "utf8"));
  await kubectl("create", "namespace", NS);
  await kubectl(
    "create",
    "rolebinding",
    "alice-approver",
    "-n",
    NS,
    "--clusterrole=voicectl-approver",
    "--user=alice",
  );
  await cluster.apply(`apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: { name: aborter, namespace: ${NS} }
rules:
  - apiGroups: ["voicectl.dev"]
    resources: ["voicerollouts"]
    verbs: ["get", "list", "abort"]
  - apiGroups: ["voicectl.dev"]
    resources: ["voicerolloutcommands"]
    verbs: ["create", "list"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: carol-aborter, namespace: ${NS} }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: aborter }
subjects: [{ kind: User, name: carol, apiGroup: rbac.authorization.k8s.io }]
`);
  alice = cluster.userKubeconfig("alice");
  bob = cluster.userKubeconfig("bob");
  carol = cluster.userKubeconfig("carol");
}, 240_000);

afterAll(async () => {
  await cluster?.stop();
});

const admin = () => ["--kubeconfig", cluster.kubeconfig, "-n", NS];

describe("voicectl rollout on a real cluster", () => {
  it("start refuses a rollout whose RolloutPolicy does not exist, naming the field; nothing is created", async () => {
    const r = await cli("rollout", "start", "-f", EXAMPLE, ...admin());
    expect(r.code).toBe(65);
    expect(r.stderr).toContain(`${EXAMPLE}:`);
    expect(r.stderr).toContain("spec.policyRef.name: no RolloutPolicy tts-studio in namespace voice-prod");
    expect((await getJson<{ items: unknown[] }>("voicerollouts")).items).toEqual([]);
  });

  it("start -f creates the example rollout; list and status show it before the operator has written status", async () => {
    await kubectl("apply", "-n", NS, "-f", "examples/rollouts/policy.yaml");
    const r = await cli("rollout", "start", "-f", EXAMPLE, ...admin());
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      `rollout/tts created in namespace ${NS}; follow it with: voicectl rollout status tts -n ${NS} --watch\n`,
    );
    const stored = await getJson<{ spec: { policyRef: { name: string }; steps: unknown[] } }>(
      "voicerollout",
      "tts",
    );
    expect(stored.spec.policyRef.name).toBe("tts-studio");
    expect(stored.spec.steps).toHaveLength(8);
    const managers = await kubectl(
      "get",
      "voicerollout",
      "tts",
      "-n",
      NS,
      "--show-managed-fields",
      "-o",
      "jsonpath={.metadata.managedFields[*].manager}",
    );
    expect(managers).toBe("voicectl");

    const list = await cli("rollout", "list", ...admin());
    expect(list.code).toBe(0);
    expect(list.stdout.split("\n")[0]).toMatch(/^NAME\s+PHASE\s+WEIGHT\s+STEP\s+AGE$/);
    expect(list.stdout.split("\n")[1]).toMatch(/^tts\s+Pending\s+-\s+-\/8\s+\d+s$/);

    const status = await cli("rollout", "status", "tts", ...admin());
    expect(status.code).toBe(0);
    expect(status.stdout).toContain("Pending (the operator has not reconciled it yet)");
  });

  it("start again says it exists and how to see it", async () => {
    const r = await cli("rollout", "start", "-f", EXAMPLE, ...admin());
    expect(r.code).toBe(64);
    expect(r.stderr).toBe(
      `voicectl: rollout/tts already exists in namespace ${NS}; see it with: voicectl rollout status tts -n ${NS} (start never changes an existing rollout)\n`,
    );
  });

  it("start refuses a bad file, naming file, line and field, and creates nothing", async () => {
    const path = scratch({
      "bad.yaml": readFileSync(EXAMPLE, "utf8")
        .replace("name: tts\n", "name: tts-bad\n")
        .replace("setWeight: 5", "setWeight: 500"),
    })("bad.yaml");
    const r = await cli("rollout", "start", "-f", path, ...admin());
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(new RegExp(`${path}:\\d+:\\d+: spec\\.steps\\[0\\]`));
    const names = (await getJson<{ items: { metadata: { name: string } }[] }>("voicerollouts")).items.map(
      (i) => i.metadata.name,
    );
    expect(names).toEqual(["tts"]);
  });

  it("status shows the steps, the pause and the per-slice scorecard the operator wrote; list its phase", async () => {
    await setStatus("tts", PAUSED);
    const r = await cli("rollout", "status", "tts", ...admin());
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Phase:      Paused");
    expect(r.stdout).toContain("Weight:     25% canary");
    expect(r.stdout).toMatch(/^ {2}-> +5 {2}pause until approved/m);
    expect(r.stdout).toContain("Paused:     approval: the plan asks for approval");
    expect(r.stdout).toMatch(
      /^ {2}fail\s+ttfa_p95\s+language=es\s+412\.5 -> 588\.3\s+0\.4261\s+0\.3\s+5663\/203$/m,
    );
    expect(r.stdout).toMatch(/^ {2}Progressing\s+False\s+AwaitingApproval/m);

    const list = await cli("rollout", "list", ...admin());
    expect(list.stdout.split("\n")[1]).toMatch(/^tts\s+Paused\s+25%\s+5\/8\s+/);
  });

  it("status -o json is the object as stored", async () => {
    const r = await cli("rollout", "status", "tts", ...admin(), "-o", "json");
    expect(r.code).toBe(0);
    const printed = JSON.parse(r.stdout) as Record<string, unknown>;
    const stored = await getJson("voicerollout", "tts");
    expect(printed).toEqual(stored);
  });

  it("a rollout that does not exist: no VoiceRollout NAME in namespace N", async () => {
    const r = await cli("rollout", "status", "nope", ...admin());
    expect(r.code).toBe(67);
    expect(r.stderr).toBe(`voicectl: no VoiceRollout nope in namespace ${NS}\n`);
  });

  it("approve records a command for the operator, with the certificate's user, owned by the rollout", async () => {
    const r = await cli(
      "rollout",
      "approve",
      "tts",
      "-n",
      NS,
      "--kubeconfig",
      alice,
      "--reason",
      "scorecard checked",
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const m =
      /^approve of rollout\/tts requested by alice \(command (tts-approve-[a-z0-9]{5})\); the operator applies it on its next reconcile\n$/.exec(
        r.stdout,
      );
    expect(m, r.stdout).not.toBeNull();
    const command = await getJson<{
      metadata: {
        ownerReferences: { kind: string; name: string; uid: string }[];
        labels: Record<string, string>;
      };
      spec: Record<string, unknown>;
    }>("voicerolloutcommand", m![1]!);
    expect(command.spec).toEqual({
      rollout: "tts",
      action: "approve",
      reason: "scorecard checked",
      user: "alice",
      full: false,
    });
    const rollout = await getJson<{ metadata: { uid: string } }>("voicerollout", "tts");
    expect(command.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: "VoiceRollout", name: "tts", uid: rollout.metadata.uid }),
    ]);
    expect(command.metadata.labels).toEqual({
      "voicectl.dev/rollout": "tts",
      "voicectl.dev/action": "approve",
    });
  });

  it("approve without --reason is a usage error and records nothing", async () => {
    const before = (await getJson<{ items: unknown[] }>("voicerolloutcommands")).items.length;
    const r = await cli("rollout", "approve", "tts", "-n", NS, "--kubeconfig", alice);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain("approve needs --reason TEXT");
    expect((await getJson<{ items: unknown[] }>("voicerolloutcommands")).items).toHaveLength(before);
  });

  it("a user with no RBAC is told they may not, with the server's message; exit 77", async () => {
    const r = await cli("rollout", "approve", "tts", "-n", NS, "--kubeconfig", bob, "--reason", "let me");
    expect(r.code).toBe(77);
    expect(r.stderr).toMatch(
      /^voicectl: forbidden: bob may not approve rollout\/tts in namespace voice-prod: .*User "bob" cannot get resource "voicerollouts"/,
    );
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("a user who may create commands but not approve is stopped by the admission policy, whose message is shown", async () => {
    const r = await cli("rollout", "approve", "tts", "-n", NS, "--kubeconfig", carol, "--reason", "let me");
    expect(r.code).toBe(77);
    expect(r.stderr).toMatch(
      /^voicectl: forbidden: carol may not approve rollout\/tts in namespace voice-prod: the admission policy \S+ denied it: .*may not approve/,
    );
    const users = (await getJson<{ items: { spec: { user: string } }[] }>("voicerolloutcommands")).items.map(
      (c) => c.spec.user,
    );
    expect(users).not.toContain("carol");
  });

  it("history lists commands not yet applied, then what the operator recorded", async () => {
    let r = await cli("rollout", "history", "tts", ...admin());
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("rollout/tts: no approvals, aborts, promotions or retries yet");
    expect(r.stdout).toMatch(
      /^ {2}\d+s ago\s+alice\s+approve\s+scorecard checked\s+tts-approve-[a-z0-9]{5}$/m,
    );

    // What the operator does next: record the approval in the rollout's history and mark the command applied.
    const command = (
      await getJson<{ items: { metadata: { name: string } }[] }>(
        "voicerolloutcommands",
        "-l",
        "voicectl.dev/rollout=tts",
      )
    ).items[0]!.metadata.name;
    await setStatus("tts", {
      phase: "Progressing",
      currentStepIndex: 5,
      pause: null,
      history: [
        {
          action: "approve",
          user: "alice",
          at: "2026-12-01T12:00:00Z",
          reason: "scorecard checked",
          step: 4,
          command,
        },
      ],
    });
    await kubectl(
      "patch",
      "voicerolloutcommand",
      command,
      "-n",
      NS,
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({ status: { appliedAt: "2026-12-01T12:00:00Z", result: "applied" } }),
    );
    r = await cli("rollout", "history", "tts", ...admin());
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n")[0]).toMatch(/^WHEN\s+USER\s+ACTION\s+STEP\s+REASON\s+COMMAND$/);
    expect(r.stdout.split("\n")[1]).toMatch(
      new RegExp(
        // The step counted from 1 (status.history[].step is the 0-based index 4).
        `^2026-12-01T12:00:00Z \\(.+ ago\\)\\s+alice\\s+approve\\s+5\\s+scorecard checked\\s+${command}$`,
      ),
    );
    expect(r.stdout).not.toContain("Not applied yet");

    const json = await cli("rollout", "history", "tts", ...admin(), "-o", "json");
    expect(JSON.parse(json.stdout)).toMatchObject({
      rollout: "tts",
      namespace: NS,
      history: [{ user: "alice", action: "approve", step: 5, state: "applied", command }],
    });
  });

  it("approve is refused early when the rollout is not paused", async () => {
    const r = await cli("rollout", "approve", "tts", "-n", NS, "--kubeconfig", alice, "--reason", "again");
    expect(r.code).toBe(75);
    expect(r.stderr).toContain("rollout/tts is Progressing: approve only resumes a Paused rollout");
  });

  it("status --watch redraws on each change and ends when the rollout does, exit 1 for a rollback", async () => {
    // Run in-process with our own io, to change the rollout only once the first view is out (the watch
    // then starts from the version that view showed, so no change is missed and none is seen twice).
    let stdout = "";
    let stderr = "";
    let firstView!: () => void;
    const shown = new Promise<void>((resolve) => (firstView = resolve));
    const watching = run(["rollout", "status", "tts", "--watch", ...admin()], {
      stdout: (t) => {
        stdout += t;
        firstView();
      },
      stderr: (t) => (stderr += t),
      stdoutIsTTY: false,
      stderrIsTTY: false,
      env: {},
    });
    await shown;
    await setStatus("tts", { canaryWeight: 50, currentStepIndex: 6, message: "analysing at 50%" });
    await setStatus("tts", {
      phase: "RolledBack",
      canaryWeight: 0,
      message: "critical regression: speaker_similarity in voice_id=mia-chen",
    });
    const code = await watching;
    expect(stderr).toBe("");
    expect(code).toBe(1);
    // Nothing but views, one per state: as it was, at 50%, rolled back.
    const views = stdout.split(/\n(?=Name: )/);
    expect(views).toHaveLength(3);
    for (const v of views) expect(v).toMatch(/^Name: {7}tts\n/);
    expect(views[0]).toContain("Phase:      Progressing");
    expect(views[1]).toContain("Weight:     50% canary");
    expect(views[1]).toMatch(/^ {2}-> +7 {2}analysis 15m\.\.45m/m);
    expect(views[2]).toContain("Phase:      RolledBack");
    expect(views[2]).toContain("critical regression: speaker_similarity in voice_id=mia-chen");
    expect(views[2]).toMatch(/^ {2}stopped +7 {2}analysis/m);
  });

  it("retry is what a rolled-back rollout takes; abort is refused", async () => {
    const abort = await cli("rollout", "abort", "tts", "-n", NS, "--kubeconfig", alice, "--reason", "stop");
    expect(abort.code).toBe(75);
    expect(abort.stderr).toContain("rollout/tts is already RolledBack: abort does nothing");
    const retry = await cli(
      "rollout",
      "retry",
      "tts",
      "-n",
      NS,
      "--kubeconfig",
      alice,
      "--reason",
      "scorer fixed",
    );
    expect(retry.code).toBe(0);
    expect(retry.stdout).toMatch(
      /^retry of rollout\/tts requested by alice \(command tts-retry-[a-z0-9]{5}\)/,
    );
  });

  it("without -n, the namespace is the kubeconfig context's", async () => {
    const path = scratch()("kubeconfig");
    writeFileSync(
      path,
      readFileSync(alice, "utf8").replace("user: alice}", `user: alice, namespace: ${NS}}`),
    );
    const r = await cli("rollout", "list", "--kubeconfig", path);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^tts\s+RolledBack/m);
  });
});

describe("impersonation, as kubectl's --as and --as-group", () => {
  beforeAll(async () => {
    // dana holds nothing herself; members of voice-oncall may view rollouts in NS.
    await kubectl(
      "create",
      "rolebinding",
      "oncall-viewer",
      "-n",
      NS,
      "--clusterrole=voicectl-viewer",
      "--group=voice-oncall",
    );
  });

  it("acts as the user: refused as dana, who may not list rollouts", async () => {
    const r = await cli("rollout", "list", ...admin(), "--as", "dana");
    expect(r.code).toBe(77);
    expect(r.stderr).toContain('"dana"');
  });

  it("acts as every group given: the second group's rights apply, so each group is its own header", async () => {
    const one = await cli("rollout", "list", ...admin(), "--as", "dana", "--as-group", "voice-oncall");
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toMatch(/^tts\s/m);
    // Were the two groups sent as one value ("elsewhere,voice-oncall"), dana would be refused.
    const two = await cli(
      "rollout",
      "list",
      ...admin(),
      "--as",
      "dana",
      "--as-group",
      "elsewhere",
      "--as-group",
      "voice-oncall",
    );
    expect(two.code, two.stderr).toBe(0);
    expect(two.stdout).toMatch(/^tts\s/m);
  });

  it("records a command under the impersonated user's name", async () => {
    const r = await cli("rollout", "abort", "tts", ...admin(), "--as", "alice", "--reason", "as alice");
    // tts is RolledBack by now: the refusal shows the request was read as alice's, who may abort.
    expect(r.code).toBe(75);
    const denied = await cli("rollout", "abort", "tts", ...admin(), "--as", "dana", "--reason", "as dana");
    expect(denied.code).toBe(77);
    expect(denied.stderr).toContain("dana");
  });

  it("refuses --as-group without --as, before connecting", async () => {
    const r = await cli("rollout", "list", ...admin(), "--as-group", "voice-oncall");
    expect(r.code).toBe(64);
    expect(r.stderr).toContain("--as-group needs --as USER");
  });
});
