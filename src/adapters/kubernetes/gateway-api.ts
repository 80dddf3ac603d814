// TrafficRouter over Gateway API HTTPRoute backend weights (gateway.networking.k8s.io/v1), the standard way
// to split traffic. Only rules that name both the stable and the canary Service are touched: a rule naming
// stable alone (a header match pinning one voice or tenant to stable) keeps sending that slice to stable
// while the rollout continues for everyone else (docs/operator.md#routers).
//
// Writes are read-modify-write with the route's resourceVersion: the route belongs to someone else (a
// platform team, a GitOps tool), so we must not overwrite an edit made between our read and our write.
//
// Pins are rules voicectl adds itself, named `voicectl-pin-N`, one right before each rule naming both
// backends: the same matches plus an exact match on the pinning header, and the stable backend alone.
// Gateway API ranks matches by specificity before rule order (same path, one more header wins), so the pin
// wins over its split rule whatever the order; placing it just before the split rule, rather than first in
// the route, keeps the order-based tie-break between the route's other rules and the pin as it was.
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
import { markWritten, refuseToUndoHandEdit, writtenWeightOf } from "./written-weight.js";

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

interface HTTPHeaderMatch {
  type?: string;
  name: string;
  value: string;
}

interface HTTPRouteMatch {
  path?: { type?: string; value?: string };
  headers?: HTTPHeaderMatch[];
  [field: string]: unknown;
}

interface HTTPRouteRule {
  name?: string;
  matches?: HTTPRouteMatch[];
  backendRefs?: BackendRef[];
  [field: string]: unknown;
}

interface HTTPRoute {
  metadata: {
    name: string;
    namespace: string;
    resourceVersion?: string;
    annotations?: Record<string, string> | undefined;
    managedFields?: ManagedFieldsEntry[] | undefined;
  };
  spec?: { rules?: HTTPRouteRule[] };
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

/** Where the weights of the rules naming both backends are: the fields a hand edit of the split changes. */
export function splitWeightPaths(route: HTTPRoute, stable: string, canary: string): FieldPath[] {
  const ns = route.metadata.namespace;
  const paths: FieldPath[] = [];
  (route.spec?.rules ?? []).forEach((rule, r) => {
    const refs = rule.backendRefs ?? [];
    if (!refs.some((x) => refersTo(x, stable, ns)) || !refs.some((x) => refersTo(x, canary, ns))) return;
    refs.forEach((ref, i) => {
      if (refersTo(ref, stable, ns) || refersTo(ref, canary, ns))
        paths.push(["spec", "rules", r, "backendRefs", i, "weight"]);
    });
  });
  return paths;
}

/** Rules voicectl added to pin header values to stable carry names with this prefix. */
export const PIN_RULE_PREFIX = "voicectl-pin-";

const isPinRule = (rule: { name?: unknown }) =>
  typeof rule.name === "string" && rule.name.startsWith(PIN_RULE_PREFIX);

// What the API server fills in when a field is left out (the CRD's defaults): a pin rule we build and the
// one the server stored must compare equal, or every pass would write again.
const DEFAULT_MATCHES: HTTPRouteMatch[] = [{ path: { type: "PathPrefix", value: "/" } }];

function canonicalRule(rule: HTTPRouteRule): HTTPRouteRule {
  return {
    ...rule,
    matches: (rule.matches && rule.matches.length > 0 ? rule.matches : DEFAULT_MATCHES).map((m) => ({
      ...m,
      path: { type: "PathPrefix", value: "/", ...m.path },
      ...(m.headers ? { headers: m.headers.map((h) => ({ type: "Exact", ...h })) } : {}),
    })),
    ...(rule.backendRefs
      ? {
          backendRefs: rule.backendRefs.map((r) => ({ group: "", kind: "Service", weight: 1, ...r })),
        }
      : {}),
  };
}

/** JSON with object keys sorted, so two objects that differ only in key order compare equal. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}

/**
 * The route's rules with pins for `values` of `header` (none when `values` is empty): every earlier pin rule
 * dropped, and pin rules (one per value) inserted right before each rule naming both backends. Throws when a split rule
 * already matches on the header (its condition and the pin's cannot both be kept in one match).
 */
export function pinnedRules(
  route: HTTPRoute,
  stable: string,
  canary: string,
  header: string,
  values: readonly string[],
): HTTPRouteRule[] {
  const ns = route.metadata.namespace;
  const name = header.toLowerCase();
  const wanted = [...new Set(values)].sort();
  const out: HTTPRouteRule[] = [];
  let n = 0;
  for (const rule of route.spec?.rules ?? []) {
    if (isPinRule(rule)) continue;
    const refs = rule.backendRefs ?? [];
    const stableRef = refs.find((r) => refersTo(r, stable, ns));
    const split = stableRef !== undefined && refs.some((r) => refersTo(r, canary, ns));
    if (split && wanted.length > 0) {
      const matches = rule.matches && rule.matches.length > 0 ? rule.matches : DEFAULT_MATCHES;
      if (matches.some((m) => (m.headers ?? []).some((h) => h.name.toLowerCase() === name))) {
        throw new Error(
          `httproute ${ns}/${route.metadata.name}: a rule naming both backends already matches on header ${header}, so it cannot be pinned by it`,
        );
      }
      // One pin rule per value, each with as many matches as its split rule: a URLRewrite with
      // replacePrefixMatch (copied with the filters) allows exactly one PathPrefix match per rule.
      for (const value of wanted) {
        out.push({
          ...rule,
          name: `${PIN_RULE_PREFIX}${n++}`,
          matches: matches.map((m) => ({
            ...m,
            headers: [...(m.headers ?? []), { type: "Exact", name, value }],
          })),
          // Weight 1, never the split's: the stable's split weight is 0 once the canary has it all.
          backendRefs: [{ ...stableRef, weight: 1 }],
        });
      }
    }
    out.push(rule);
  }
  return out;
}

/** Values of `header` matched by voicectl's pin rules, sorted. */
export function pinValues(route: HTTPRoute, header: string): string[] {
  const name = header.toLowerCase();
  const values = new Set<string>();
  for (const rule of route.spec?.rules ?? []) {
    if (!isPinRule(rule)) continue;
    for (const m of rule.matches ?? [])
      for (const h of m.headers ?? []) if (h.name.toLowerCase() === name) values.add(h.value);
  }
  return [...values].sort();
}

/** Whether two rule lists are the same once the API server's defaults are filled in. */
export function sameRules(a: readonly HTTPRouteRule[], b: readonly HTTPRouteRule[]): boolean {
  return stableJson(a.map(canonicalRule)) === stableJson(b.map(canonicalRule));
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

/** A rule or route that names both versions, as any router sees it: the weighted refs of each side. */
export interface WeightedSplit<T extends { weight?: number | undefined }> {
  readonly stable: T[];
  readonly canary: T[];
}

/**
 * Sets weights in place (canary w, stable 100 - w); returns whether anything changed. Duplicate refs of one
 * side get w then 0. Shared by the Gateway API and Istio routers.
 */
export function applyWeight<T extends { weight?: number | undefined }>(
  rules: readonly WeightedSplit<T>[],
  weight: number,
): boolean {
  let changed = false;
  const set = (refs: T[], w: number) =>
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

export class GatewayApiRouter extends CustomObjectRouter<HTTPRoute> {
  constructor(kc: KubeConfig, options: RouterOptions = {}) {
    super(
      kc,
      { group: GATEWAY_GROUP, version: GATEWAY_VERSION, plural: HTTPROUTE_PLURAL, kind: "httproute" },
      options,
    );
  }

  protected objectName(rollout: VoiceRollout): string {
    return trafficTarget(rollout, "gatewayAPI").httpRoute;
  }

  async observe(rollout: VoiceRollout): Promise<RouteObservation> {
    const route = await this.read(rollout);
    const stable = serviceOf(rollout.spec.stable);
    const canary = serviceOf(rollout.spec.canary);
    const weight = canaryShare(splitRules(route, stable, canary));
    const written = writtenWeightOf(route, rollout);
    return {
      weight,
      written,
      ...changedByOf(route, weight, written, () => splitWeightPaths(route, stable, canary)),
    };
  }

  async setCanaryWeight(rollout: VoiceRollout, weight: number, options?: SetWeightOptions): Promise<void> {
    checkWeight(weight);
    const stable = serviceOf(rollout.spec.stable);
    const canary = serviceOf(rollout.spec.canary);
    await this.modify(rollout, "setting weights", (route, ref) => {
      const rules = splitRules(route, stable, canary);
      if (rules.length === 0) {
        throw new Error(
          `${describeRef(ref)} has no rule with backendRefs to both Service ${stable} and Service ${canary}`,
        );
      }
      refuseToUndoHandEdit(route, rollout, canaryShare(rules), weight, describeRef(ref), options);
      // Both, never short-circuited: the weights and the record of writing them go in one update.
      const weights = applyWeight(rules, weight);
      return markWritten(route, rollout, weight) || weights;
    });
  }

  async pinnedValues(rollout: VoiceRollout, header: string): Promise<string[]> {
    return pinValues(await this.read(rollout), header);
  }

  async setPins(rollout: VoiceRollout, header: string, values: readonly string[]): Promise<void> {
    const stable = serviceOf(rollout.spec.stable);
    const canary = serviceOf(rollout.spec.canary);
    await this.modify(rollout, "setting pins", (route, ref) => {
      if (values.length > 0 && splitRules(route, stable, canary).length === 0) {
        throw new Error(
          `${describeRef(ref)} has no rule with backendRefs to both Service ${stable} and Service ${canary} to pin ahead of`,
        );
      }
      const rules = route.spec?.rules ?? [];
      const next = pinnedRules(route, stable, canary, header, values);
      if (sameRules(rules, next)) return false;
      route.spec = { ...route.spec, rules: next };
      return true;
    });
  }
}
