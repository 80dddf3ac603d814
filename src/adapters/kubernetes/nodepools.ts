// NodePools over the core/v1 API: a GPU pool's allocatable nvidia.com/gpu, as the scheduler would see it, minus
// what pods bound to its nodes request. Needs get/list on nodes and list on pods (cluster-wide: pods of any
// namespace hold a pool's GPUs). Nothing is written: the pool's selector and tolerations are only read, the
// Deployments' templates stay their owners'.
import { CoreV1Api, type KubeConfig, type V1Node, type V1Pod } from "@kubernetes/client-node";
import {
  toleratesAll,
  type NodePools,
  type PoolCapacity,
  type PoolSelector,
  type Taint,
} from "../../operator/ports.js";
import { KubernetesApiError } from "./api-errors.js";
import { GPU_RESOURCE } from "./workloads.js";

function gpus(q: unknown): number {
  if (typeof q === "number") return q;
  if (typeof q !== "string") return 0;
  const n = Number(q);
  return Number.isFinite(n) ? n : 0;
}

/** A node that can take a new pod: Ready, not cordoned, and no NoSchedule/NoExecute taint left untolerated. */
export function nodeCounts(node: V1Node, pool: PoolSelector): boolean {
  const ready = node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
  const taints: Taint[] = (node.spec?.taints ?? []).map((t) => ({
    key: t.key,
    value: t.value,
    effect: t.effect,
  }));
  return ready && node.spec?.unschedulable !== true && toleratesAll(pool.tolerations, taints);
}

/** GPUs a pod requests, as the scheduler counts it: containers' sum, or the largest init container's. */
export function podGpus(pod: V1Pod): number {
  const of = (c: { resources?: { requests?: Record<string, unknown>; limits?: Record<string, unknown> } }) =>
    gpus(c.resources?.requests?.[GPU_RESOURCE] ?? c.resources?.limits?.[GPU_RESOURCE]);
  const main = (pod.spec?.containers ?? []).reduce((s, c) => s + of(c), 0);
  const init = Math.max(0, ...(pod.spec?.initContainers ?? []).map(of));
  return Math.max(main, init);
}

/** The pool's capacity from lists of nodes and pods (pure, for tests). */
export function poolCapacity(
  nodes: readonly V1Node[],
  pods: readonly V1Pod[],
  pool: PoolSelector,
): PoolCapacity {
  const counted = nodes.filter((n) => nodeCounts(n, pool));
  const names = new Set(counted.map((n) => n.metadata?.name ?? ""));
  const requested = pods
    .filter((p) => p.spec?.nodeName !== undefined && names.has(p.spec.nodeName))
    .filter((p) => p.status?.phase !== "Succeeded" && p.status?.phase !== "Failed")
    .reduce((s, p) => s + podGpus(p), 0);
  const allocatable = counted.reduce((s, n) => s + gpus(n.status?.allocatable?.[GPU_RESOURCE]), 0);
  return { allocatable, requested, nodes: counted.length, excluded: nodes.length - counted.length };
}

export class KubernetesNodePools implements NodePools {
  private readonly api: CoreV1Api;

  constructor(kc: KubeConfig) {
    this.api = kc.makeApiClient(CoreV1Api);
  }

  async capacity(pool: PoolSelector): Promise<PoolCapacity> {
    const labelSelector = Object.entries(pool.selector)
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
    let nodes: V1Node[];
    try {
      nodes = (await this.api.listNode({ labelSelector })).items;
    } catch (err) {
      throw new KubernetesApiError(`listing the nodes of pool ${pool.name}`, err);
    }
    // One list per node (the field selector takes one nodeName): a pool has tens of nodes, not thousands,
    // and terminated pods are left out by the server.
    const pods: V1Pod[] = [];
    for (const node of nodes.filter((n) => nodeCounts(n, pool))) {
      try {
        const list = await this.api.listPodForAllNamespaces({
          fieldSelector: `spec.nodeName=${node.metadata?.name ?? ""},status.phase!=Succeeded,status.phase!=Failed`,
        });
        pods.push(...list.items);
      } catch (err) {
        throw new KubernetesApiError(`listing the pods on node ${node.metadata?.name ?? ""}`, err);
      }
    }
    return poolCapacity(nodes, pods, pool);
  }
}
