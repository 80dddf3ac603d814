// MetricsSources for the operator: a rollout's looks read from Prometheus with the same PrometheusLookSource
// that `voicectl analyze` uses, so the CLI and the operator judge the same numbers. The versions are the
// `version` labels of spec.stable and spec.canary; cost per audio second needs what each version's GPUs
// cost, which comes from spec.nodePool's price and the Deployments' current replicas.
import type { Look } from "../../core/analysis/look.js";
import { planJudge, type JudgePlan } from "../../core/judge/plan.js";
import type { Policy } from "../../core/policy/schema.js";
import { versionOf, type VoiceRollout } from "../../core/resource/voicerollout.js";
import type { LookSource, MetricsSources, Workloads } from "../../operator/ports.js";
import { PrometheusClient } from "../prometheus/client.js";
import { PrometheusLookSource, type CostInputs } from "../prometheus/source.js";

export interface PrometheusMetricsOptions {
  /** Prometheus's base URL, e.g. http://prometheus.monitoring:9090. */
  readonly url: string;
  /**
   * Add namespace="<rollout's namespace>" to every query (default true): Prometheus's Kubernetes service
   * discovery labels every series with its pod's namespace, and two namespaces may run the same versions.
   */
  readonly matchNamespace?: boolean;
  readonly timeoutMs?: number;
  /** Reads replicas for the cost metric; without it, cost metrics are unavailable. */
  readonly workloads?: Workloads;
}

export class PrometheusMetricsSources implements MetricsSources {
  private readonly client: PrometheusClient;
  // One plan per policy object: planning is pure, and the reconciler passes the same policy look after look.
  private readonly plans = new WeakMap<Policy, JudgePlan>();

  constructor(private readonly options: PrometheusMetricsOptions) {
    this.client = new PrometheusClient({
      url: options.url,
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    });
  }

  private plan(policy: Policy): JudgePlan {
    let plan = this.plans.get(policy);
    if (!plan) {
      plan = planJudge(policy);
      this.plans.set(policy, plan);
    }
    return plan;
  }

  for(rollout: VoiceRollout, policy: Policy): LookSource {
    const plan = this.plan(policy);
    const namespace = rollout.metadata.namespace;
    const stable = versionOf(rollout.spec.stable);
    const canary = versionOf(rollout.spec.canary);
    const client = this.client;
    const matchNamespace = this.options.matchNamespace ?? true;
    const cost = () => this.costInputs(rollout);
    return {
      async look(fromMs: number, toMs: number, canaryWeight: number): Promise<Look> {
        const source = new PrometheusLookSource(plan, {
          client,
          stable,
          canary,
          namespace: matchNamespace ? namespace : undefined,
          cost: await cost(),
        });
        return source.look(toMs / 1000, Math.max(1, (toMs - fromMs) / 1000), canaryWeight);
      },
    };
  }

  /**
   * GPUs each version holds now, times the pool's price. Replicas are read at the end of the look: a rollout
   * scales between looks, not during one, so that is what the window was served with.
   */
  private async costInputs(rollout: VoiceRollout): Promise<CostInputs | undefined> {
    const pool = rollout.spec.nodePool;
    const workloads = this.options.workloads;
    if (pool?.pricePerGPUHour === undefined || !workloads) return undefined;
    const namespace = rollout.metadata.namespace;
    const [s, c] = await Promise.all([
      workloads.deployment({ namespace, name: rollout.spec.stable.deployment }),
      workloads.deployment({ namespace, name: rollout.spec.canary.deployment }),
    ]);
    if (!s || !c) return undefined;
    // The pod template says what a replica holds; nodePool.gpusPerReplica is the fallback when it says nothing.
    const gpus = (d: { replicas: number; gpusPerReplica: number }) =>
      d.replicas * (d.gpusPerReplica > 0 ? d.gpusPerReplica : pool.gpusPerReplica);
    return { stableGpus: gpus(s), canaryGpus: gpus(c), pricePerGpuHour: pool.pricePerGPUHour };
  }
}
