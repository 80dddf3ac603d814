// TrafficRouter over Gateway API HTTPRoute backend weights (gateway.networking.k8s.io/v1), the standard way
// to split traffic. Only rules that name both the stable and the canary Service are touched: a rule naming
// stable alone (a header match pinning one voice or tenant to stable) keeps sending that slice to stable
// while the rollout continues for everyone else (design.md section 6).
//
// Writes are read-modify-write with the route's resourceVersion: the route belongs to someone else (a
// platform team, a GitOps tool), so we must not overwrite an edit made between our read and our write.
import { CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { serviceOf, type VoiceRollout } from "../../core/resource/voicerollout.js";
import { ConflictError, type TrafficRouter } from "../../operator/ports.js";
import { isConflict, KubernetesApiError } from "./api-errors.js";

export const GATEWAY_GROUP = "gateway.networking.k8s.io";
export const GATEWAY_VERSION = "v1";
export const HTTPROUTE_PLURAL = "httproutes";

interface BackendRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
  weight?: number;
}

interface HTTPRoute {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: { rules?: { backendRefs?: BackendRef[] }[] };
}

/** A backendRef that points at this Service in the route's own namespace (group "" and kind Service). */
function refersTo(ref: BackendRef, service: string, namespace: string): boolean {
  return (
    ref.name === service &&
    (ref.group ?? "") === "" &&
    (ref.kind ?? "Service") === "Service" &&
    (ref.namespace ?? namespace) === namespace
  );
}

interface SplitRule {
  readonly stable: BackendRef[];
  readonly canary: BackendRef[];
}

/** The rules naming both backends, with their refs to each (a rule could name one Service twice). */
export function splitRules(route: HTTPRoute, stable: string, canary: string): SplitRule[] {
  const ns = route.metadata.namespace;
  const out: SplitRule[] = [];
  for (const rule of route.spec?.rules ?? []) {
    const refs = rule.backendRefs ?? [];
    const s = refs.filter((r) => refersTo(r, stable, ns));
    const c = refs.filter((r) => refersTo(r, canary, ns));
    if (s.length > 0 && c.length > 0) out.push({ stable: s, canary: c });
  }
  return out;
}

// A backendRef without a weight has weight 1 (Gateway API's default).
const weightOf = (refs: readonly BackendRef[]) => refs.reduce((sum, r) => sum + (r.weight ?? 1), 0);

/**
 * The canary's share in percent of the rules naming both backends. When rules disagree the largest share is
 * reported: it is how much traffic the canary may be taking, which is what "never send traffic to an
 * unready canary" must be judged on.
 */
export function canaryShare(rules: readonly SplitRule[]): number | null {
  if (rules.length === 0) return null;
  let max = 0;
  for (const rule of rules) {
    const c = weightOf(rule.canary);
    const total = c + weightOf(rule.stable);
    max = Math.max(max, total === 0 ? 0 : Math.round((100 * c) / total));
  }
  return max;
}

/** Sets weights in place; returns whether anything changed. Duplicate refs of one side get w then 0. */
export function applyWeight(rules: readonly SplitRule[], weight: number): boolean {
  let changed = false;
  const set = (refs: BackendRef[], w: number) =>
    refs.forEach((r, i) => {
      const want = i === 0 ? w : 0;
      if (r.weight !== want) {
        r.weight = want;
        changed = true;
      }
    });
  for (const rule of rules) {
    set(rule.canary, weight);
    set(rule.stable, 100 - weight);
  }
  return changed;
}

export interface GatewayApiRouterOptions {
  /** Attempts of read-modify-write when the route changes under us. */
  readonly attempts?: number;
}

function routeName(rollout: VoiceRollout): string {
  const gateway = rollout.spec.traffic.gatewayAPI;
  // The schema requires exactly one router; reaching here without this one is a wiring bug, not user input.
  if (!gateway) throw new Error(`rollout ${rollout.metadata.name} does not route through Gateway API`);
  return gateway.httpRoute;
}

export class GatewayApiRouter implements TrafficRouter {
  private readonly api: CustomObjectsApi;
  private readonly attempts: number;

  constructor(kc: KubeConfig, options: GatewayApiRouterOptions = {}) {
    this.api = kc.makeApiClient(CustomObjectsApi);
    this.attempts = options.attempts ?? 5;
  }

  private async read(rollout: VoiceRollout): Promise<HTTPRoute> {
    const name = routeName(rollout);
    const namespace = rollout.metadata.namespace;
    try {
      return (await this.api.getNamespacedCustomObject({
        group: GATEWAY_GROUP,
        version: GATEWAY_VERSION,
        namespace,
        plural: HTTPROUTE_PLURAL,
        name,
      })) as HTTPRoute;
    } catch (err) {
      throw new KubernetesApiError(`reading httproute ${namespace}/${name}`, err);
    }
  }

  async canaryWeight(rollout: VoiceRollout): Promise<number | null> {
    const route = await this.read(rollout);
    return canaryShare(splitRules(route, serviceOf(rollout.spec.stable), serviceOf(rollout.spec.canary)));
  }

  async setCanaryWeight(rollout: VoiceRollout, weight: number): Promise<void> {
    if (!Number.isInteger(weight) || weight < 0 || weight > 100) {
      throw new RangeError(`canary weight must be an integer from 0 to 100, got ${weight}`);
    }
    const stable = serviceOf(rollout.spec.stable);
    const canary = serviceOf(rollout.spec.canary);
    const where = `httproute ${rollout.metadata.namespace}/${routeName(rollout)}`;
    for (let attempt = 1; ; attempt++) {
      const route = await this.read(rollout);
      const rules = splitRules(route, stable, canary);
      if (rules.length === 0) {
        throw new Error(
          `${where} has no rule with backendRefs to both Service ${stable} and Service ${canary}`,
        );
      }
      if (!applyWeight(rules, weight)) return;
      try {
        await this.api.replaceNamespacedCustomObject({
          group: GATEWAY_GROUP,
          version: GATEWAY_VERSION,
          namespace: route.metadata.namespace,
          plural: HTTPROUTE_PLURAL,
          name: route.metadata.name,
          body: route, // carries the resourceVersion we read: a concurrent edit makes this a 409
        });
        return;
      } catch (err) {
        if (!isConflict(err)) throw new KubernetesApiError(`setting weights of ${where}`, err);
        if (attempt >= this.attempts) {
          throw new ConflictError(`${where} kept changing: gave up after ${attempt} attempts`);
        }
      }
    }
  }
}
