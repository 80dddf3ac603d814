// TrafficRouter over an Istio VirtualService (networking.istio.io/v1): the weights of the `http` routes whose
// destinations name both the stable and the canary Service. Only those routes are touched (or, when
// spec.traffic.istio.routes names some, only those of them): a route sending a header match to stable alone,
// or traffic to another service, keeps doing so while the rollout goes on (docs/operator.md#routers).
//
// A destination host names a Service by its short name (resolved in the VirtualService's namespace) or by
// `name.namespace`, `name.namespace.svc` or the FQDN `name.namespace.svc.cluster.local`; a host in another
// namespace is another Service.
//
// Pins are http routes voicectl adds itself, named `voicectl-pin-N`, each right before a route it pins
// ahead of, with that route's matches plus an exact match on the pinning header, and the stable destination
// alone. Istio takes the first route that matches, so the pin must come before its split route; putting it
// just before (not first in the list) leaves requests that an earlier route took to that route.
//
// Writes are read-modify-write with the VirtualService's resourceVersion, retried on conflict, and skipped
// when nothing would change.
import type { KubeConfig } from "@kubernetes/client-node";
import { serviceOf, type VoiceRollout } from "../../core/resource/voicerollout.js";
import type { RouteObservation, SetWeightOptions } from "../../operator/ports.js";
import {
  changedByOf,
  checkWeight,
  CustomObjectRouter,
  describeRef,
  trafficTarget,
  type RouterOptions,
} from "./custom-object-router.js";
import type { FieldPath, ManagedFieldsEntry } from "./field-managers.js";
import { applyWeight, canaryShare, stableJson } from "./gateway-api.js";
import { markWritten, refuseToUndoHandEdit, writtenWeightOf } from "./written-weight.js";

export const ISTIO_GROUP = "networking.istio.io";
export const ISTIO_VERSION = "v1";
export const VIRTUALSERVICE_PLURAL = "virtualservices";

/** Routes voicectl added to pin header values to stable carry names with this prefix. */
export const PIN_ROUTE_PREFIX = "voicectl-pin-";

interface Destination {
  host: string;
  subset?: string;
  port?: { number?: number };
}

interface RouteDestination {
  destination: Destination;
  weight?: number;
  [field: string]: unknown;
}

type StringMatch = { exact?: string; prefix?: string; regex?: string };

interface HTTPMatchRequest {
  headers?: Record<string, StringMatch>;
  [field: string]: unknown;
}

interface HTTPRoute {
  name?: string;
  match?: HTTPMatchRequest[];
  route?: RouteDestination[];
  [field: string]: unknown;
}

export interface VirtualService {
  metadata: {
    name: string;
    namespace: string;
    resourceVersion?: string;
    annotations?: Record<string, string> | undefined;
    managedFields?: ManagedFieldsEntry[] | undefined;
  };
  spec?: { hosts?: string[]; http?: HTTPRoute[]; [field: string]: unknown };
}

/** Whether a destination host is this Service of `namespace`. */
export function hostIs(host: string, service: string, namespace: string): boolean {
  const base = `${service}.${namespace}`;
  return host === service || host === base || host === `${base}.svc` || host === `${base}.svc.cluster.local`;
}

const isPinRoute = (route: HTTPRoute) =>
  typeof route.name === "string" && route.name.startsWith(PIN_ROUTE_PREFIX);

interface SplitRoute {
  readonly route: HTTPRoute;
  readonly stable: RouteDestination[];
  readonly canary: RouteDestination[];
}

/**
 * The http routes voicectl may set weights on: those naming both Services among their destinations, limited
 * to `only` when given. Throws when `only` names a route the VirtualService does not have, since the user
 * asked for it by name and a typo must not silently leave traffic unsplit.
 */
export function splitRoutes(
  vs: VirtualService,
  stable: string,
  canary: string,
  only?: readonly string[],
): SplitRoute[] {
  const ns = vs.metadata.namespace;
  const routes = (vs.spec?.http ?? []).filter((r) => !isPinRoute(r));
  if (only !== undefined) {
    const names = new Set(routes.map((r) => r.name));
    const missing = only.filter((n) => !names.has(n));
    if (missing.length > 0) {
      throw new Error(
        `virtualservice ${ns}/${vs.metadata.name} has no http route named ${missing.join(", ")}`,
      );
    }
  }
  const out: SplitRoute[] = [];
  for (const route of routes) {
    if (only !== undefined && (route.name === undefined || !only.includes(route.name))) continue;
    const dests = route.route ?? [];
    const s = dests.filter((d) => hostIs(d.destination.host, stable, ns));
    const c = dests.filter((d) => hostIs(d.destination.host, canary, ns));
    if (s.length > 0 && c.length > 0) out.push({ route, stable: s, canary: c });
  }
  return out;
}

/** Where the weights of the split routes' destinations are: the fields a hand edit of the split changes. */
export function splitWeightPaths(split: readonly SplitRoute[], vs: VirtualService): FieldPath[] {
  const http = vs.spec?.http ?? [];
  return split.flatMap((s) => {
    const i = http.indexOf(s.route);
    const dests = s.route.route ?? [];
    return [...s.stable, ...s.canary].map((d) => ["spec", "http", i, "route", dests.indexOf(d), "weight"]);
  });
}

/**
 * The canary's share in percent; the largest when routes disagree (as for HTTPRoute). A destination without a
 * weight gets none when the route has several: Istio only defaults a lone destination to all the traffic,
 * and a split route has at least two.
 */
export function istioCanaryShare(routes: readonly SplitRoute[]): number | null {
  return canaryShare(
    routes.map((r) => ({
      stable: r.stable.map((d) => ({ name: d.destination.host, weight: d.weight ?? 0 })),
      canary: r.canary.map((d) => ({ name: d.destination.host, weight: d.weight ?? 0 })),
    })),
  );
}

/** The Gateway API router's weight setter: Istio destinations carry `weight` the same way. */
export const applyIstioWeight = applyWeight;

/**
 * The http routes with pins for `values` of `header` (none when `values` is empty): earlier pin routes
 * dropped, one pin route (matching every value) inserted right before each split route.
 */
export function pinnedHttpRoutes(
  vs: VirtualService,
  stable: string,
  canary: string,
  header: string,
  values: readonly string[],
  only?: readonly string[],
): HTTPRoute[] {
  // Istio requires lowercase header keys; HTTP header names are case-insensitive anyway.
  const key = header.toLowerCase();
  const wanted = [...new Set(values)].sort();
  const splits = new Map(splitRoutes(vs, stable, canary, only).map((s) => [s.route, s]));
  const out: HTTPRoute[] = [];
  let n = 0;
  for (const route of vs.spec?.http ?? []) {
    if (isPinRoute(route)) continue;
    const split = splits.get(route);
    if (split && wanted.length > 0) {
      const matches = route.match && route.match.length > 0 ? route.match : [{}];
      if (matches.some((m) => Object.keys(m.headers ?? {}).some((h) => h.toLowerCase() === key))) {
        throw new Error(
          `virtualservice ${vs.metadata.namespace}/${vs.metadata.name}: http route ${route.name ?? `#${out.length}`} already matches on header ${key}, so it cannot be pinned by it`,
        );
      }
      const { weight: _weight, ...stableDest } = split.stable[0]!;
      out.push({
        ...route,
        name: `${PIN_ROUTE_PREFIX}${n++}`,
        match: wanted.flatMap((value) =>
          matches.map((m) => ({ ...m, headers: { ...m.headers, [key]: { exact: value } } })),
        ),
        // A lone destination takes all of the route's traffic, whatever the split gives stable.
        route: [stableDest as RouteDestination],
      });
    }
    out.push(route);
  }
  return out;
}

/** Values of `header` matched by voicectl's pin routes, sorted. */
export function istioPinValues(vs: VirtualService, header: string): string[] {
  const key = header.toLowerCase();
  const values = new Set<string>();
  for (const route of vs.spec?.http ?? []) {
    if (!isPinRoute(route)) continue;
    for (const m of route.match ?? []) {
      const exact = m.headers?.[key]?.exact;
      if (exact !== undefined) values.add(exact);
    }
  }
  return [...values].sort();
}

const istioSpec = (rollout: VoiceRollout) => trafficTarget(rollout, "istio");

export class IstioRouter extends CustomObjectRouter<VirtualService> {
  constructor(kc: KubeConfig, options: RouterOptions = {}) {
    super(
      kc,
      { group: ISTIO_GROUP, version: ISTIO_VERSION, plural: VIRTUALSERVICE_PLURAL, kind: "virtualservice" },
      options,
    );
  }

  protected objectName(rollout: VoiceRollout): string {
    return istioSpec(rollout).virtualService;
  }

  async observe(rollout: VoiceRollout): Promise<RouteObservation> {
    const vs = await this.read(rollout);
    const routes = splitRoutes(
      vs,
      serviceOf(rollout.spec.stable),
      serviceOf(rollout.spec.canary),
      istioSpec(rollout).routes,
    );
    const weight = istioCanaryShare(routes);
    const written = writtenWeightOf(vs, rollout);
    return { weight, written, ...changedByOf(vs, weight, written, () => splitWeightPaths(routes, vs)) };
  }

  async setCanaryWeight(rollout: VoiceRollout, weight: number, options?: SetWeightOptions): Promise<void> {
    checkWeight(weight);
    const stable = serviceOf(rollout.spec.stable);
    const canary = serviceOf(rollout.spec.canary);
    const only = istioSpec(rollout).routes;
    await this.modify(rollout, "setting weights", (vs, ref) => {
      const routes = splitRoutes(vs, stable, canary, only);
      if (routes.length === 0) {
        throw new Error(
          `${describeRef(ref)} has no http route${only ? ` among ${only.join(", ")}` : ""} with destinations to both host ${stable} and host ${canary}`,
        );
      }
      refuseToUndoHandEdit(vs, rollout, istioCanaryShare(routes), weight, describeRef(ref), options);
      // Both, never short-circuited: the weights and the record of writing them go in one update.
      const weights = applyIstioWeight(routes, weight);
      return markWritten(vs, rollout, weight) || weights;
    });
  }

  async pinnedValues(rollout: VoiceRollout, header: string): Promise<string[]> {
    return istioPinValues(await this.read(rollout), header);
  }

  async setPins(rollout: VoiceRollout, header: string, values: readonly string[]): Promise<void> {
    const stable = serviceOf(rollout.spec.stable);
    const canary = serviceOf(rollout.spec.canary);
    const only = istioSpec(rollout).routes;
    await this.modify(rollout, "setting pins", (vs, ref) => {
      if (values.length > 0 && splitRoutes(vs, stable, canary, only).length === 0) {
        throw new Error(
          `${describeRef(ref)} has no http route with destinations to both host ${stable} and host ${canary} to pin ahead of`,
        );
      }
      const next = pinnedHttpRoutes(vs, stable, canary, header, values, only);
      if (stableJson(next) === stableJson(vs.spec?.http ?? [])) return false;
      vs.spec = { ...vs.spec, http: next };
      return true;
    });
  }
}
