// A real Kubernetes control plane for end-to-end tests (docs/testing.md#real-components): test/cluster/up.sh
// starts etcd, kube-apiserver, controller-manager, scheduler and kwok on loopback from the binaries build.sh
// cached, each test file gets its own cluster (its own run dir, so files never share state), and `stop()`
// runs down.sh. A process-exit hook tears down a cluster a crashed test left behind.
import { KubeConfig } from "@kubernetes/client-node";
import { execFile, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";

/** The repository: the nearest directory up from here with test/cluster/up.sh (also from dist/ for benches). */
export function repositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "test/cluster/up.sh"))) {
    const parent = dirname(dir);
    if (parent === dir)
      throw new Error("cannot find test/cluster/up.sh above " + fileURLToPath(import.meta.url));
    dir = parent;
  }
  return dir;
}
const ROOT = repositoryRoot();
const SCRIPTS = join(ROOT, "test/cluster");
export const CRD_DIR = join(ROOT, "charts/voicectl/crds");

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface TestCluster {
  /** The admin kubeconfig (client certificate in system:masters). */
  readonly kubeconfig: string;
  readonly server: string;
  /** The state dir: pki/, logs/, admin.kubeconfig. */
  readonly state: string;
  /** The env file's variables (KUBECONFIG, VOICECTL_CLUSTER_*, PATH with the cached kubectl first). */
  readonly env: Readonly<Record<string, string>>;
  /** Runs the cached kubectl against this cluster as admin (or with `--kubeconfig` of your own in args). */
  kubectl(args: readonly string[], input?: string): Promise<CommandResult>;
  /** kubectl as kubectl(), but its stdout, or a throw naming the command and kubectl's message. */
  kubectlOk(args: readonly string[], input?: string): Promise<string>;
  /** `kubectl ARGS -o json`, parsed (e.g. `json(["-n", ns, "get", "voicerollout", "tts"])`). */
  json<T = Record<string, unknown>>(args: readonly string[]): Promise<T>;
  /** kubectl apply -f of a manifest text; throws with kubectl's message when it fails. */
  apply(manifest: string): Promise<void>;
  /** A kubeconfig for `user` in `groups`, with a client certificate signed by the cluster's CA. */
  userKubeconfig(user: string, groups?: readonly string[]): string;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  readonly h100Nodes?: number;
  readonly l4Nodes?: number;
  /** Install charts/voicectl/crds/*.yaml and wait until they are established (default true). */
  readonly crds?: boolean;
}

const running = new Set<() => void>();
process.on("exit", () => {
  for (const stop of running) stop();
});
// A bench or test run stopped with Ctrl-C or kill must not leave etcd and an apiserver behind: the exit hook
// above does not run when a signal ends the process.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    for (const stop of running) stop();
    running.clear();
    process.exit(signal === "SIGINT" ? 130 : 143);
  });
}

function run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv, input?: string) {
  return new Promise<CommandResult>((done) => {
    const child = spawn(cmd, args, { env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", (e) => done({ code: 127, stdout, stderr: stderr + String(e) }));
    child.on("close", (code) => done({ code: code ?? 1, stdout, stderr }));
    // A command that reads no input (kubectl get) may exit before its stdin is closed: the EPIPE that follows
    // is not the command's failure (its exit code says that) and must not become an unhandled error.
    child.stdin.on("error", () => {});
    child.stdin.end(input ?? "");
  });
}

function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) env[m[1]!] = m[2]!.replace("$PATH", process.env["PATH"] ?? "");
  }
  return env;
}

export async function startCluster(options: ClusterOptions = {}): Promise<TestCluster> {
  const runDir = mkdtempSync(join(tmpdir(), "voicectl-cluster-run-"));
  const baseEnv: NodeJS.ProcessEnv = {
    ...process.env,
    VOICECTL_CLUSTER_RUN: runDir,
    H100_NODES: String(options.h100Nodes ?? 4),
    L4_NODES: String(options.l4Nodes ?? 8),
  };
  const up = await new Promise<CommandResult>((done) =>
    execFile(join(SCRIPTS, "up.sh"), [], { env: baseEnv, maxBuffer: 1 << 24 }, (err, stdout, stderr) =>
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
  if (up.code !== 0) {
    rmSync(runDir, { recursive: true, force: true });
    throw new Error(`test/cluster/up.sh failed (exit ${up.code}):\n${up.stderr.slice(-4000)}`);
  }
  const env = parseEnvFile(readFileSync(join(runDir, "env"), "utf8"));
  const kubeconfig = env["KUBECONFIG"]!;
  const state = env["VOICECTL_CLUSTER_STATE"]!;
  const server = env["VOICECTL_CLUSTER_SERVER"]!;
  const procEnv: NodeJS.ProcessEnv = { ...process.env, ...env };

  const stopSync = () => {
    try {
      execFileSync(join(SCRIPTS, "down.sh"), [], { env: baseEnv, stdio: "ignore" });
    } catch {
      // best effort at exit
    }
    rmSync(runDir, { recursive: true, force: true });
  };
  running.add(stopSync);

  const kubectl = (args: readonly string[], input?: string) =>
    run("kubectl", ["--kubeconfig", kubeconfig, ...args], procEnv, input);
  const kubectlOk = async (args: readonly string[], input?: string): Promise<string> => {
    const r = await kubectl(args, input);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(" ")}: exit ${r.code}: ${r.stderr || r.stdout}`);
    return r.stdout;
  };

  const cluster: TestCluster = {
    kubeconfig,
    server,
    state,
    env,
    kubectl,
    kubectlOk,
    async json<T>(args: readonly string[]) {
      return JSON.parse(await kubectlOk([...args, "-o", "json"])) as T;
    },
    async apply(manifest) {
      const r = await kubectl(["apply", "--server-side", "--force-conflicts", "-f", "-"], manifest);
      if (r.code !== 0) throw new Error(`kubectl apply failed: ${r.stderr || r.stdout}`);
    },
    userKubeconfig(user, groups = []) {
      const pki = join(state, "pki");
      const dir = mkdtempSync(join(state, "user-"));
      const subject = [...groups.map((g) => `/O=${g}`), `/CN=${user}`].join("");
      const key = join(dir, "user.key");
      const csr = join(dir, "user.csr");
      const crt = join(dir, "user.crt");
      const ext = join(dir, "user.ext");
      writeFileSync(
        ext,
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
      );
      execFileSync(
        "openssl",
        ["req", "-newkey", "rsa:2048", "-nodes", "-sha256", "-subj", subject, "-keyout", key, "-out", csr],
        { stdio: "ignore" },
      );
      execFileSync(
        "openssl",
        [
          "x509",
          "-req",
          "-sha256",
          "-days",
          "1",
          "-in",
          csr,
          "-CA",
          join(pki, "ca.crt"),
          "-CAkey",
          join(pki, "ca.key"),
          "-CAcreateserial",
          "-extfile",
          ext,
          "-out",
          crt,
        ],
        { stdio: "ignore" },
      );
      const file = join(dir, "kubeconfig");
      writeFileSync(
        file,
        [
          "apiVersion: v1",
          "kind: Config",
          "clusters:",
          "- name: voicectl-test",
          "  cluster:",
          `    server: ${server}`,
          `    certificate-authority: ${join(pki, "ca.crt")}`,
          "users:",
          `- name: ${user}`,
          "  user:",
          `    client-certificate: ${crt}`,
          `    client-key: ${key}`,
          "contexts:",
          "- name: voicectl-test",
          `  context: {cluster: voicectl-test, user: ${user}}`,
          "current-context: voicectl-test",
          "",
        ].join("\n"),
      );
      return file;
    },
    async stop() {
      running.delete(stopSync);
      await run(join(SCRIPTS, "down.sh"), [], baseEnv);
      rmSync(runDir, { recursive: true, force: true });
    },
  };

  if (options.crds ?? true) {
    try {
      const files = readdirSync(CRD_DIR).filter((f) => f.endsWith(".yaml"));
      for (const f of files) await cluster.apply(readFileSync(join(CRD_DIR, f), "utf8"));
      const w = await kubectl(["wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"]);
      if (w.code !== 0) throw new Error(`CRDs not established: ${w.stderr}`);
    } catch (e) {
      await cluster.stop();
      throw e;
    }
  }
  return cluster;
}

/** A client-node KubeConfig read from a kubeconfig file (the admin's, or one of userKubeconfig's). */
export function kubeConfigFrom(file: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(file);
  return kc;
}

/**
 * A Role and RoleBinding letting `user` only get, list and watch `rules`' resources in `namespace`: any write
 * through that user is refused with 403, which is how a test proves a call wrote nothing.
 */
export function readOnlyRoleManifest(
  user: string,
  namespace: string,
  rules: readonly { apiGroups: string[]; resources: string[] }[],
): string {
  const name = `${user}-read`;
  return [
    stringify({
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name, namespace },
      rules: rules.map((r) => ({ ...r, verbs: ["get", "list", "watch"] })),
    }),
    stringify({
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name, namespace },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
      subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: user }],
    }),
  ].join("---\n");
}
