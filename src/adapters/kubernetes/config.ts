// Where the Kubernetes API is and who we are, kubectl's way: --kubeconfig, else $KUBECONFIG, else
// ~/.kube/config, else the in-cluster service account; --context picks a context. Shared by the operator and
// the rollout CLI. A missing or broken kubeconfig is the user's mistake, so it becomes a FileAccessError or a
// UsageError with the file named, never a stack trace.
import { existsSync } from "node:fs";
import type { KubeConfig } from "@kubernetes/client-node";
import { FileAccessError, UsageError } from "../../core/errors.js";
import { PooledKubeConfig } from "./agents.js";

export interface KubeOptions {
  readonly kubeconfig?: string | undefined;
  readonly context?: string | undefined;
}

export function loadKubeConfig(options: KubeOptions = {}, env: NodeJS.ProcessEnv = process.env): KubeConfig {
  // Connections are reused between requests (agents.ts says why that matters).
  const kc = new PooledKubeConfig();
  const file = options.kubeconfig ?? env["KUBECONFIG"]?.split(":").find((f) => f !== "");
  try {
    if (file !== undefined) {
      if (!existsSync(file)) throw new FileAccessError(file, "no such kubeconfig file");
      kc.loadFromFile(file);
    } else {
      kc.loadFromDefault();
    }
  } catch (e) {
    if (e instanceof FileAccessError) throw e;
    throw new FileAccessError(file ?? "~/.kube/config", `not a usable kubeconfig: ${(e as Error).message}`);
  }
  if (options.context !== undefined) {
    if (!kc.getContexts().some((c) => c.name === options.context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new UsageError(
        `--context ${options.context}: no such context in the kubeconfig (it has: ${known.join(", ") || "none"})`,
      );
    }
    kc.setCurrentContext(options.context);
  }
  if (!kc.getCurrentCluster()) {
    throw new UsageError(
      "no Kubernetes cluster configured: pass --kubeconfig FILE, set KUBECONFIG, or run inside a cluster",
    );
  }
  return kc;
}

/** The namespace of the current context, as kubectl would use it without -n. */
export function contextNamespace(kc: KubeConfig): string {
  const ctx = kc.getContextObject(kc.getCurrentContext());
  return ctx?.namespace ?? "default";
}
