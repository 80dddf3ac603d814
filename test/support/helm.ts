// The real `helm` for tests: the binary test/cluster/build.sh built from the helm.sh/helm/v4 module and cached
// next to the cluster binaries (test/cluster/versions.sh, HELM_BIN), run against the chart in charts/voicectl.
// Helm's own cache, config and data directories are a throwaway directory, so a developer's repositories and
// plugins never change what a test sees.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repositoryRoot, type CommandResult } from "./cluster.js";

const ROOT = repositoryRoot();
export const CHART_DIR = join(ROOT, "charts/voicectl");

let binary: string | undefined;
/** The cached helm binary; throws with the command that builds it when it is missing. */
export function helmBinary(): string {
  if (binary !== undefined) return binary;
  const path = execFileSync(
    "bash",
    ["-c", '. "$1" && printf %s "$HELM_BIN/helm"', "-", join(ROOT, "test/cluster/versions.sh")],
    { encoding: "utf8" },
  );
  if (!existsSync(path))
    throw new Error(`helm is not built: ${path} is missing (run test/cluster/build.sh helm)`);
  binary = path;
  return path;
}

let home: string | undefined;
function helmEnv(extra: Readonly<Record<string, string>>): NodeJS.ProcessEnv {
  home ??= mkdtempSync(join(tmpdir(), "voicectl-helm-"));
  return {
    ...process.env,
    HELM_CACHE_HOME: join(home, "cache"),
    HELM_CONFIG_HOME: join(home, "config"),
    HELM_DATA_HOME: join(home, "data"),
    ...extra,
  };
}

/** Runs helm with `args`; `env` adds variables (KUBECONFIG for commands that talk to a cluster). */
export function helm(
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
): Promise<CommandResult> {
  const cmd = helmBinary();
  return new Promise<CommandResult>((done) => {
    const child = spawn(cmd, args, { env: helmEnv(env), stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", (e) => done({ code: 127, stdout, stderr: stderr + String(e) }));
    child.on("close", (code) => done({ code: code ?? 1, stdout, stderr }));
  });
}

export interface RenderOptions {
  readonly release?: string;
  readonly namespace?: string;
  /** `--set` pairs. */
  readonly set?: Readonly<Record<string, string>>;
  /** Values files, relative to the chart (e.g. ci/all-options-values.yaml). */
  readonly valuesFiles?: readonly string[];
  /** Only these templates, relative to the chart (e.g. templates/cluster-roles.yaml). */
  readonly showOnly?: readonly string[];
}

/** The arguments of `helm template` for `options` (release voicectl in voicectl-system by default). */
export function templateArgs(options: RenderOptions = {}): string[] {
  return [
    "template",
    options.release ?? "voicectl",
    CHART_DIR,
    "--namespace",
    options.namespace ?? "voicectl-system",
    ...(options.valuesFiles ?? []).flatMap((f) => ["--values", join(CHART_DIR, f)]),
    ...Object.entries(options.set ?? {}).flatMap(([k, v]) => ["--set", `${k}=${v}`]),
    ...(options.showOnly ?? []).flatMap((t) => ["--show-only", t]),
  ];
}

/** `helm template` of the chart; throws with helm's message when rendering fails. */
export async function renderChart(options: RenderOptions = {}): Promise<string> {
  const r = await helm(templateArgs(options));
  if (r.code !== 0) throw new Error(`helm template failed: ${r.stderr || r.stdout}`);
  return r.stdout;
}
