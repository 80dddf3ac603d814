// Workloads over apps/v1 Deployments. Scaling goes through the scale subresource (the same permission an HPA
// or `kubectl scale` uses, and it touches nothing but spec.replicas), and is skipped when the Deployment
// already has that many, so a reconciler that runs twice does not write twice.
import {
  AppsV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1Container,
  type V1Deployment,
} from "@kubernetes/client-node";
import type { DeploymentState, RolloutRef, Workloads } from "../../operator/ports.js";
import { isNotFound, KubernetesApiError } from "./api-errors.js";
import { OPERATOR_FIELD_MANAGER } from "./field-managers.js";

export const GPU_RESOURCE = "nvidia.com/gpu";

function quantityToNumber(q: unknown): number {
  if (typeof q === "number") return q;
  if (typeof q !== "string") return 0;
  // GPUs are whole devices; an extended resource admits integers only, so a plain number is all we expect.
  const n = Number(q);
  return Number.isFinite(n) ? n : 0;
}

function containerGpus(c: V1Container): number {
  // For extended resources requests must equal limits when both are set; either one alone implies the other.
  const limits = c.resources?.limits as Record<string, unknown> | undefined;
  const requests = c.resources?.requests as Record<string, unknown> | undefined;
  return quantityToNumber(limits?.[GPU_RESOURCE] ?? requests?.[GPU_RESOURCE]);
}

/**
 * GPUs one replica holds, as the scheduler counts it: the sum over containers, or the largest init
 * container if that is more (init containers run one at a time, before the others).
 */
export function gpusPerReplica(d: V1Deployment): number {
  const pod = d.spec?.template?.spec;
  if (!pod) return 0;
  const main = (pod.containers ?? []).reduce((s, c) => s + containerGpus(c), 0);
  const init = Math.max(0, ...(pod.initContainers ?? []).map(containerGpus));
  return Math.max(main, init);
}

export class KubernetesWorkloads implements Workloads {
  private readonly api: AppsV1Api;

  constructor(kc: KubeConfig) {
    this.api = kc.makeApiClient(AppsV1Api);
  }

  async deployment(ref: RolloutRef): Promise<DeploymentState | null> {
    let d: V1Deployment;
    try {
      d = await this.api.readNamespacedDeployment({ name: ref.name, namespace: ref.namespace });
    } catch (err) {
      if (isNotFound(err)) return null;
      throw new KubernetesApiError(`reading deployment ${ref.namespace}/${ref.name}`, err);
    }
    return {
      // An unset spec.replicas means 1 (the API server defaults it); 0 is a real value.
      replicas: d.spec?.replicas ?? 1,
      readyReplicas: d.status?.readyReplicas ?? 0,
      gpusPerReplica: gpusPerReplica(d),
    };
  }

  async scale(ref: RolloutRef, replicas: number): Promise<void> {
    const what = `deployment ${ref.namespace}/${ref.name}`;
    try {
      const current = await this.api.readNamespacedDeploymentScale({
        name: ref.name,
        namespace: ref.namespace,
      });
      if (current.spec?.replicas === replicas) return;
      // A merge patch of spec.replicas alone: setting a number is idempotent, so racing another writer of
      // the same field needs no resourceVersion guard.
      await this.api.patchNamespacedDeploymentScale(
        {
          name: ref.name,
          namespace: ref.namespace,
          body: { spec: { replicas } },
          // GitOps tools are told to leave the canary's replicas to this manager (docs/gitops.md).
          fieldManager: OPERATOR_FIELD_MANAGER,
        },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
    } catch (err) {
      throw new KubernetesApiError(`scaling ${what} to ${replicas}`, err);
    }
  }
}
