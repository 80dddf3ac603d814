// Where the rollout commands and the operator look for a cluster, and what they say when there is none.
// Before, client-node's fallback invented http://localhost:8080 and every command died with exit 70 and an
// "internal error" about TLS; the operator logged it ~35 times in 15 s instead of stopping.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { run } from "../../src/cli/program.js";

async function cli(env: Record<string, string>, ...argv: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await run(argv, {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    stdoutIsTTY: false,
    stderrIsTTY: false,
    env,
  });
  return { code, stdout, stderr };
}

function kubeconfig(server: string, extra = "current-context: c\n"): string {
  return [
    "apiVersion: v1",
    "kind: Config",
    `clusters: [{name: c, cluster: {server: '${server}'}}]`,
    "users: [{name: u, user: {token: t}}]",
    "contexts: [{name: c, context: {cluster: c, user: u}}]",
    extra,
  ].join("\n");
}

const ROLLOUT_COMMANDS = [
  ["list"],
  ["status", "tts"],
  ["start", "-f", "examples/rollouts/rollout.yaml"],
  ["approve", "tts", "--reason", "checked by ear"],
  ["history", "tts"],
];

let home: string;
let refusedServer: string;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), "voicectl-home-"));
  const port = await new Promise<number>((done) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => done(p));
    });
  });
  refusedServer = `https://127.0.0.1:${port}`;
});

describe("no kubeconfig anywhere", () => {
  it.each(ROLLOUT_COMMANDS)(
    "rollout %s exits 78 saying where it looked and how to point at one",
    async (...args) => {
      const r = await cli({ HOME: home }, "rollout", ...args);
      expect(r.code).toBe(78);
      expect(r.stderr).toContain("voicectl: no kubeconfig found. Looked at:\n");
      expect(r.stderr).toContain("--kubeconfig: not given");
      expect(r.stderr).toContain("$KUBECONFIG: not set");
      expect(r.stderr).toContain(`~/.kube/config: ${join(home, ".kube", "config")} (no such file)`);
      expect(r.stderr).toContain("in-cluster service account: not in a pod");
      expect(r.stderr).toContain("--kubeconfig FILE or KUBECONFIG=FILE");
      expect(r.stderr).not.toContain("internal error");
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(r.stdout).toBe("");
    },
  );

  it("a KUBECONFIG naming a missing file exits 78 naming it, and does not fall back to ~/.kube/config", async () => {
    // A usable ~/.kube/config that must not be used: kubectl ignores it too when $KUBECONFIG is set.
    const withConfig = mkdtempSync(join(tmpdir(), "voicectl-home-"));
    mkdirSync(join(withConfig, ".kube"));
    writeFileSync(join(withConfig, ".kube", "config"), kubeconfig(refusedServer));
    const missing = join(home, "nope", "kubeconfig");
    const r = await cli({ HOME: withConfig, KUBECONFIG: missing }, "rollout", "list");
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(`$KUBECONFIG: ${missing} (no such file)`);
    expect(r.stderr).not.toContain("~/.kube/config:");
  });

  it("the files of KUBECONFIG that exist are used, missing ones skipped (kubectl's rule)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "voicectl-kc-"));
    writeFileSync(join(dir, "config"), kubeconfig(refusedServer));
    const r = await cli(
      { HOME: home, KUBECONFIG: `${join(dir, "missing")}:${join(dir, "config")}` },
      "rollout",
      "list",
    );
    // It got as far as asking the (closed) API server: the kubeconfig was found and loaded.
    expect(r.code).toBe(69);
    expect(r.stderr).toContain(`cannot reach the Kubernetes API at ${refusedServer}`);
  });

  it("~/.kube/config is used when nothing else is given", async () => {
    const withConfig = mkdtempSync(join(tmpdir(), "voicectl-home-"));
    mkdirSync(join(withConfig, ".kube"));
    writeFileSync(join(withConfig, ".kube", "config"), kubeconfig(refusedServer));
    const r = await cli({ HOME: withConfig }, "rollout", "list");
    expect(r.code).toBe(69);
  });

  it("a kubeconfig without a current context exits 78 naming the file and its contexts", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "voicectl-kc-")), "config");
    writeFileSync(file, kubeconfig(refusedServer, ""));
    const r = await cli({ HOME: home }, "rollout", "list", "--kubeconfig", file);
    expect(r.code).toBe(78);
    expect(r.stderr).toBe(
      `voicectl: ${file}: no current context naming a cluster; pick one with --context NAME (contexts: c)\n`,
    );
  });

  it("a plain-HTTP server without insecure-skip-tls-verify is a configuration error, not a bug", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "voicectl-kc-")), "config");
    writeFileSync(file, kubeconfig("http://127.0.0.1:8080"));
    const r = await cli({ HOME: home }, "rollout", "list", "--kubeconfig", file);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(`${file}: cluster c has a plain HTTP server (http://127.0.0.1:8080)`);
    expect(r.stderr).not.toContain("internal error");
  });

  it("voicectl operator fails once, clearly, with exit 78 instead of retrying", async () => {
    // The real binary: the operator otherwise runs until a signal, so only a process shows that it stops.
    const child = spawn(
      process.execPath,
      [
        "dist/src/cli/main.js",
        "operator",
        "--prometheus",
        "http://127.0.0.1:9",
        "--no-leader-elect",
        "--listen",
        "127.0.0.1:0",
      ],
      { env: { PATH: process.env["PATH"] ?? "", HOME: home }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const killer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    const code = await new Promise<number | null>((done) => child.on("exit", (c) => done(c)));
    clearTimeout(killer);
    expect(code).toBe(78);
    expect(stderr.match(/no kubeconfig found/g)).toHaveLength(1);
    expect(stderr).toContain("~/.kube/config:");
  });
});
