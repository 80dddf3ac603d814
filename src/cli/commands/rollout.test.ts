import { createServer } from "node:net";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { VoiceRollout, VoiceRolloutStatus } from "../../core/resource/voicerollout.js";
import { run } from "../program.js";
import { formatData, pointlessAction } from "./rollout/actions.js";

async function cli(...argv: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await run(argv, {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    stdoutIsTTY: false,
    stderrIsTTY: false,
    env: {},
  });
  return { code, stdout, stderr };
}

function withPhase(phase: VoiceRolloutStatus["phase"]): VoiceRollout {
  return {
    apiVersion: "voicectl.dev/v1alpha1",
    kind: "VoiceRollout",
    metadata: { name: "tts", namespace: "default" },
    spec: {} as VoiceRollout["spec"],
    status: phase === undefined ? undefined : { phase },
  };
}

describe("pointlessAction", () => {
  it.each([
    ["approve", "Paused", null],
    ["approve", "Progressing", /rollout\/tts is Progressing: approve only resumes a Paused rollout/],
    ["approve", undefined, /has no status yet \(the operator has not reconciled it\)/],
    ["retry", "RolledBack", null],
    ["retry", "Failed", null],
    ["retry", "Paused", /retry only restarts a RolledBack or Failed rollout/],
    ["abort", "Progressing", null],
    ["abort", "Paused", null],
    ["abort", undefined, null],
    ["abort", "RolledBack", /is already RolledBack: abort does nothing/],
    ["promote", "Paused", null],
    ["promote", "Failed", /is already Failed: promote does nothing/],
    ["promote", "Promoted", /already Promoted: the canary is the stable version now/],
    ["abort", "Promoted", /already Promoted/],
  ] as const)("%s when %s", (action, phase, expected) => {
    const why = pointlessAction(action, withPhase(phase));
    if (expected === null) expect(why).toBeNull();
    else expect(why).toMatch(expected);
  });
});

describe("formatData", () => {
  it("prints objects and lists' items without managedFields, as kubectl does", () => {
    const item = { metadata: { name: "tts", managedFields: [{ manager: "voicectl" }] }, spec: { x: 1 } };
    const list = { kind: "List", items: [item, { metadata: { name: "asr" } }] };
    expect(JSON.parse(formatData("json", list))).toEqual({
      kind: "List",
      items: [{ metadata: { name: "tts" }, spec: { x: 1 } }, { metadata: { name: "asr" } }],
    });
    expect(formatData("yaml", item)).toBe("metadata:\n  name: tts\nspec:\n  x: 1\n");
  });
});

describe("voicectl rollout, before any cluster is asked", () => {
  let refused: string;
  beforeAll(async () => {
    // A loopback port nothing listens on: bind one, then close it.
    const port = await new Promise<number>((done) => {
      const s = createServer().listen(0, "127.0.0.1", () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => done(p));
      });
    });
    const dir = mkdtempSync(join(tmpdir(), "voicectl-rollout-"));
    refused = join(dir, "kubeconfig");
    writeFileSync(
      refused,
      [
        "apiVersion: v1",
        "kind: Config",
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:" + port + "'}}]",
        "users: [{name: u, user: {token: t}}]",
        "contexts: [{name: c, context: {cluster: c, user: u, namespace: voice-prod}}]",
        "current-context: c",
        "",
      ].join("\n"),
    );
  });

  it.each(["approve", "abort", "promote", "retry"])(
    "%s without --reason is a usage error",
    async (action) => {
      const r = await cli("rollout", action, "tts", "--kubeconfig", refused);
      expect(r.code).toBe(64);
      expect(r.stderr).toContain(`${action} needs --reason TEXT`);
      expect(r.stdout).toBe("");
    },
  );

  it("a blank --reason is no reason", async () => {
    const r = await cli("rollout", "approve", "tts", "--reason", "  ", "--kubeconfig", refused);
    expect(r.code).toBe(64);
  });

  it("an API nobody listens on: exit 69, its URL and the reason, no stack", async () => {
    const r = await cli("rollout", "list", "--kubeconfig", refused);
    expect(r.code).toBe(69);
    expect(r.stderr).toMatch(
      /^voicectl: cannot reach the Kubernetes API at https:\/\/127\.0\.0\.1:\d+: connect ECONNREFUSED/,
    );
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("global options work after the subcommand too, as kubectl's", async () => {
    const r = await cli("rollout", "--kubeconfig", refused, "status", "tts", "-n", "x", "-o", "json");
    expect(r.code).toBe(69);
  });

  it("a missing kubeconfig names the file", async () => {
    const r = await cli("rollout", "list", "--kubeconfig", "/nonexistent/kubeconfig");
    expect(r.code).toBe(66);
    expect(r.stderr).toBe("voicectl: cannot read /nonexistent/kubeconfig: no such kubeconfig file\n");
  });

  it("an unknown --context lists the known ones", async () => {
    const r = await cli("rollout", "list", "--kubeconfig", refused, "--context", "prod");
    expect(r.code).toBe(64);
    expect(r.stderr).toContain("--context prod: no such context in the kubeconfig (it has: c)");
  });

  it("start refuses a bad file before connecting: file, line, field path, exit 65", async () => {
    const dir = mkdtempSync(join(tmpdir(), "voicectl-rollout-"));
    const file = join(dir, "bad.yaml");
    writeFileSync(
      file,
      "apiVersion: voicectl.dev/v1alpha1\nkind: VoiceRollout\nmetadata: {name: tts}\nspec:\n  stable: {deployment: tts-v41}\n  canary: {deployment: tts-v42}\n  policyRef: {name: p}\n  traffic: {gatewayAPI: {httpRoute: tts}}\n  steps: [{setWeight: 150}]\n",
    );
    // The kubeconfig points nowhere: a 69 here would mean the file was not checked first.
    const r = await cli("rollout", "start", "-f", file, "--kubeconfig", refused);
    expect(r.code).toBe(65);
    expect(r.stderr).toContain(`${file}:9:`);
    expect(r.stderr).toContain("spec.steps[0]");
  });

  it("start refuses -n that contradicts the file's namespace", async () => {
    const dir = mkdtempSync(join(tmpdir(), "voicectl-rollout-"));
    const file = join(dir, "r.yaml");
    writeFileSync(
      file,
      "apiVersion: voicectl.dev/v1alpha1\nkind: VoiceRollout\nmetadata: {name: tts, namespace: a}\nspec:\n  stable: {deployment: tts-v41}\n  canary: {deployment: tts-v42}\n  policyRef: {name: p}\n  traffic: {gatewayAPI: {httpRoute: tts}}\n  steps: [{setWeight: 100}]\n",
    );
    const r = await cli("rollout", "start", "-f", file, "-n", "b", "--kubeconfig", refused);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain("metadata.namespace is a but -n says b");
  });
});
