// The operator's wiring: every port of the reconciler backed by the Kubernetes API (and Prometheus for
// metrics), built from one KubeConfig. The informers and the leader elector are not ports (the reconciler
// never sees them); the operator's main loop uses them directly, so they are re-exported here.
import type { KubeConfig } from "@kubernetes/client-node";
import type { Ports } from "../../operator/ports.js";
import { ConfigMapAnalysisStore } from "./analysis-store.js";
import { KubernetesEventRecorder } from "./events.js";
import { PrometheusMetricsSources } from "./metrics-source.js";
import { KubernetesNodePools } from "./nodepools.js";
import { KubernetesNotificationTransport } from "./notification-transport.js";
import { KubernetesPolicyStore } from "./policies.js";
import { kubernetesRouter } from "./router.js";
import { KubernetesRolloutStore } from "./rollouts.js";
import { KubernetesWorkloads } from "./workloads.js";

export interface KubernetesPortsOptions {
  /** Prometheus's base URL, where looks are read. */
  readonly prometheusUrl: string;
  /** Add namespace="<rollout's namespace>" to every query (default true). */
  readonly matchNamespace?: boolean;
  /** reportingInstance of Events: the pod's name (default $POD_NAME, else the host name). */
  readonly reportingInstance?: string;
}

export function kubernetesPorts(kc: KubeConfig, options: KubernetesPortsOptions): Ports {
  const workloads = new KubernetesWorkloads(kc);
  return {
    rollouts: new KubernetesRolloutStore(kc),
    policies: new KubernetesPolicyStore(kc),
    workloads,
    router: kubernetesRouter(kc),
    analysis: new ConfigMapAnalysisStore(kc),
    metrics: new PrometheusMetricsSources({
      url: options.prometheusUrl,
      workloads,
      ...(options.matchNamespace !== undefined ? { matchNamespace: options.matchNamespace } : {}),
    }),
    events: new KubernetesEventRecorder(
      kc,
      options.reportingInstance !== undefined ? { reportingInstance: options.reportingInstance } : {},
    ),
    clock: { now: Date.now },
    pools: new KubernetesNodePools(kc),
    notifications: new KubernetesNotificationTransport(kc),
  };
}

export { ConflictError } from "../../operator/ports.js";
export { KubernetesApiError } from "./api-errors.js";
export { AnalysisStateTooLargeError, ConfigMapAnalysisStore } from "./analysis-store.js";
export { KubernetesEventRecorder } from "./events.js";
export { GatewayApiRouter } from "./gateway-api.js";
export { IstioRouter } from "./istio.js";
export { KServeRouter } from "./kserve.js";
export { kubernetesRouter, RolloutRouter } from "./router.js";
export { RolloutInformers, type InformerOptions, type WatchedKind } from "./informers.js";
export { LeaderElector, type LeaderElectionOptions } from "./leader.js";
export { PrometheusMetricsSources } from "./metrics-source.js";
export { KubernetesNodePools } from "./nodepools.js";
export { KubernetesNotificationTransport } from "./notification-transport.js";
export { KubernetesPolicyStore } from "./policies.js";
export { KubernetesRolloutStore } from "./rollouts.js";
export { KubernetesWorkloads } from "./workloads.js";
