// One TrafficRouter for the reconciler, whatever a rollout routes through: spec.traffic names exactly one of
// gatewayAPI, istio or kserve (the schema checks), and each call goes to that router (Argo Rollouts picks its
// TrafficRoutingReconciler the same way, docs/architecture.md#ports-and-adapters). Pinning goes to routers
// that can match on a header; on one that cannot (KServe), removing pins is a no-op and adding one is a
// PinningUnsupportedError, so a rollout that asks for a pin is told why it cannot have it instead of silently
// getting none.
import type { KubeConfig } from "@kubernetes/client-node";
import type { VoiceRollout } from "../../core/resource/voicerollout.js";
import {
  PinningUnsupportedError,
  type RouteObservation,
  type SetWeightOptions,
  type TrafficRouter,
} from "../../operator/ports.js";
import { type RouterKind, type RouterOptions } from "./custom-object-router.js";
import { GatewayApiRouter } from "./gateway-api.js";
import { IstioRouter } from "./istio.js";
import { KServeRouter } from "./kserve.js";

export type { RouterKind };

export type Routers = Readonly<Record<RouterKind, TrafficRouter>>;

/** Which router a rollout's spec.traffic names, and the object it names, for messages. */
export function routerKind(rollout: VoiceRollout): { kind: RouterKind; object: string } {
  const t = rollout.spec.traffic;
  if (t.gatewayAPI) return { kind: "gatewayAPI", object: `httproute ${t.gatewayAPI.httpRoute}` };
  if (t.istio) return { kind: "istio", object: `virtualservice ${t.istio.virtualService}` };
  if (t.kserve) return { kind: "kserve", object: `inferenceservice ${t.kserve.inferenceService}` };
  // The schema refuses a rollout without one; a cached object may predate the schema.
  throw new Error(
    `rollout ${rollout.metadata.namespace}/${rollout.metadata.name} names no traffic router (gatewayAPI, istio or kserve)`,
  );
}

export class RolloutRouter implements TrafficRouter {
  constructor(private readonly routers: Routers) {}

  private pick(rollout: VoiceRollout): TrafficRouter {
    return this.routers[routerKind(rollout).kind];
  }

  canaryWeight(rollout: VoiceRollout): Promise<number | null> {
    return this.pick(rollout).canaryWeight(rollout);
  }

  observe(rollout: VoiceRollout): Promise<RouteObservation> {
    return this.pick(rollout).observe(rollout);
  }

  setCanaryWeight(rollout: VoiceRollout, weight: number, options?: SetWeightOptions): Promise<void> {
    return this.pick(rollout).setCanaryWeight(rollout, weight, options);
  }

  async pinnedValues(rollout: VoiceRollout, header: string): Promise<string[]> {
    const router = this.pick(rollout);
    return router.pinnedValues ? router.pinnedValues(rollout, header) : [];
  }

  async setPins(rollout: VoiceRollout, header: string, values: readonly string[]): Promise<void> {
    const router = this.pick(rollout);
    if (router.setPins) return router.setPins(rollout, header, values);
    if (values.length === 0) return;
    const { object } = routerKind(rollout);
    throw new PinningUnsupportedError(
      `rollout ${rollout.metadata.namespace}/${rollout.metadata.name} routes through ${object}, which cannot send requests with header ${header} to stable alone: pinning needs gatewayAPI or istio`,
    );
  }
}

export type KubernetesRouterOptions = RouterOptions;

/** The dispatcher over the three Kubernetes routers, built from one KubeConfig. */
export function kubernetesRouter(kc: KubeConfig, options: KubernetesRouterOptions = {}): RolloutRouter {
  return new RolloutRouter({
    gatewayAPI: new GatewayApiRouter(kc, options),
    istio: new IstioRouter(kc, options),
    kserve: new KServeRouter(kc, options),
  });
}
