// Where the Kubernetes API is and who we are, kubectl's way: --kubeconfig, else the files in $KUBECONFIG, else
// ~/.kube/config, else the in-cluster service account; --context picks a context. Shared by the operator and
// the rollout CLI. A missing or broken kubeconfig is the user's mistake, so it becomes an error naming what
// was looked at and how to fix it, never a stack trace. client-node's own fallback (loadFromDefault) is not
// used: with nothing found it invents a cluster at http://localhost:8080 that every request then refuses
// with an error about TLS, which says nothing about the missing kubeconfig.
import { existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import type { KubeConfig } from "@kubernetes/client-node";
import { ConfigError, FileAccessError, UsageError } from "../../core/errors.js";
import { PooledKubeConfig } from "./agents.js";

export interface KubeOptions {
  readonly kubeconfig?: string | undefined;
  readonly context?: string | undefined;
  /** kubectl's --as: the user to act as. */
  readonly as?: string | undefined;
  /** kubectl's --as-group, repeatable; needs `as`. */
  readonly asGroups?: readonly string[] | undefined;
}

/** Where a pod's service account token is mounted. */
export const SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";

const HOW_TO_POINT =
  "Point voicectl at a cluster with --kubeconfig FILE or KUBECONFIG=FILE (the file kubectl uses works), " +
  "or run it inside the cluster with a service account.";

/** Where the configuration comes from, or why none was found (each place looked at, and what was there). */
export type KubeconfigSource =
  | { readonly kind: "files"; readonly files: readonly string[] }
  | { readonly kind: "in-cluster" }
  | { readonly kind: "none"; readonly looked: readonly string[] };

export function findKubeconfig(
  options: KubeOptions,
  env: Readonly<Record<string, string | undefined>>,
  serviceAccountToken = SERVICE_ACCOUNT_TOKEN,
): KubeconfigSource {
  if (options.kubeconfig !== undefined) {
    if (!existsSync(options.kubeconfig))
      throw new FileAccessError(options.kubeconfig, "no such kubeconfig file");
    return { kind: "files", files: [options.kubeconfig] };
  }
  const looked = ["--kubeconfig: not given"];
  const listed = (env["KUBECONFIG"] ?? "").split(delimiter).filter((f) => f !== "");
  if (listed.length > 0) {
    // kubectl's rule: the files of $KUBECONFIG that exist are merged, missing ones are skipped, and a set
    // $KUBECONFIG replaces ~/.kube/config even when none of its files exists.
    const files = listed.filter((f) => existsSync(f));
    if (files.length > 0) return { kind: "files", files };
    looked.push(`$KUBECONFIG: ${listed.map((f) => `${f} (no such file)`).join(", ")}`);
    return { kind: "none", looked };
  }
  looked.push("$KUBECONFIG: not set");
  const home = env["HOME"] ?? env["USERPROFILE"];
  if (home !== undefined && home !== "") {
    const file = join(home, ".kube", "config");
    if (existsSync(file)) return { kind: "files", files: [file] };
    looked.push(`~/.kube/config: ${file} (no such file)`);
  } else {
    looked.push("~/.kube/config: $HOME is not set");
  }
  const inPod = env["KUBERNETES_SERVICE_HOST"] !== undefined && env["KUBERNETES_SERVICE_PORT"] !== undefined;
  if (inPod && existsSync(serviceAccountToken)) return { kind: "in-cluster" };
  looked.push(
    inPod
      ? `in-cluster service account: ${serviceAccountToken} (no such file)`
      : "in-cluster service account: not in a pod ($KUBERNETES_SERVICE_HOST is not set)",
  );
  return { kind: "none", looked };
}

export function loadKubeConfig(options: KubeOptions = {}, env: NodeJS.ProcessEnv = process.env): KubeConfig {
  const groups = options.asGroups ?? [];
  // kubectl's rule: groups alone would be an anonymous request claiming group membership.
  if (groups.length > 0 && (options.as === undefined || options.as === ""))
    throw new UsageError("--as-group needs --as USER: groups are impersonated together with a user");
  const source = findKubeconfig(options, env);
  if (source.kind === "none") {
    throw new ConfigError(
      `no kubeconfig found. Looked at:\n${source.looked.map((l) => `  ${l}\n`).join("")}${HOW_TO_POINT}`,
    );
  }
  // Connections are reused between requests (agents.ts says why that matters).
  const kc = new PooledKubeConfig();
  if (source.kind === "in-cluster") {
    kc.loadFromCluster();
  } else {
    const [first, ...rest] = source.files;
    load(kc, first!);
    for (const file of rest) {
      const more = new PooledKubeConfig();
      load(more, file);
      kc.mergeConfig(more);
    }
  }
  const where = source.kind === "files" ? source.files.join(", ") : "the in-cluster service account";
  if (options.context !== undefined) {
    if (!kc.getContexts().some((c) => c.name === options.context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new UsageError(
        `--context ${options.context}: no such context in the kubeconfig (it has: ${known.join(", ") || "none"})`,
      );
    }
    kc.setCurrentContext(options.context);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) {
    const known = kc.getContexts().map((c) => c.name);
    throw new ConfigError(
      `${where}: no current context naming a cluster; pick one with --context NAME (contexts: ${known.join(", ") || "none"})`,
    );
  }
  // client-node refuses plain HTTP unless TLS verification is explicitly off; say so now, with the file,
  // rather than as an internal error at the first request.
  if (cluster.server.startsWith("http:") && !cluster.skipTLSVerify) {
    throw new ConfigError(
      `${where}: cluster ${cluster.name} has a plain HTTP server (${cluster.server}); use its https:// address, ` +
        "or set insecure-skip-tls-verify: true on that cluster entry (for a local kubectl proxy only)",
    );
  }
  if (options.as !== undefined && options.as !== "") kc.impersonate({ user: options.as, groups });
  return kc;
}

function load(kc: KubeConfig, file: string): void {
  try {
    kc.loadFromFile(file);
  } catch (e) {
    throw new FileAccessError(file, `not a usable kubeconfig: ${(e as Error).message}`);
  }
}

/** The namespace of the current context, as kubectl would use it without -n. */
export function contextNamespace(kc: KubeConfig): string {
  const ctx = kc.getContextObject(kc.getCurrentContext());
  return ctx?.namespace ?? "default";
}
