// The data plane of an end-to-end rollout: a simulated voice fleet (the fleet exporter at 60x simulated time)
// scraped by a real Prometheus, and a gateway stand-in that reads the HTTPRoute's backend weights from the
// real API server and sends that share of the fleet's traffic to the canary, as a Gateway API implementation
// would. With `pinHeader`, it also honours voicectl's pins as a Gateway API implementation would: a request
// carrying the header with a value that a stable-only rule matches more specifically than the split (the
// split's match plus an Exact match on the header) goes to stable, and the exporter sends that value of the
// slice label to stable whatever the weight. The operator under test only ever sees Kubernetes and
// Prometheus.
import { CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { startFleetExporter, type RunningFleetExporter } from "../../src/sim/exporter.js";
import { loadScenario } from "../../src/sim/scenario.js";
import { startPrometheus, type PrometheusServer } from "./prometheus.js";

export interface DataPlaneOptions {
  readonly scenario: string;
  readonly kubeconfig: string;
  readonly namespace: string;
  readonly httpRoute: string;
  readonly stableService: string;
  readonly canaryService: string;
  readonly stableVersion: string;
  readonly canaryVersion: string;
  /** Simulated seconds per real second (default 60). */
  readonly speed?: number;
  /**
   * The request header that carries a slice label's value (e.g. x-voice-id carries voice_id): header-matched
   * rules sending that value to stable pin it there. Without it, header rules are ignored.
   */
  readonly pinHeader?: { readonly header: string; readonly label: string };
}

export interface WeightChange {
  /** Wall clock (ms) when the gateway stand-in first saw the new weight on the route. */
  readonly seenAt: number;
  readonly weight: number;
}

export interface PinChange {
  /** Wall clock (ms) when the gateway stand-in first saw the route pin these values (and no others). */
  readonly seenAt: number;
  /** The pinned values of the pinHeader's label, sorted; empty when the route stopped pinning any. */
  readonly values: readonly string[];
}

export interface DataPlane {
  readonly prometheus: PrometheusServer;
  readonly exporter: RunningFleetExporter;
  /** Every weight the route carried, in order. */
  readonly weights: WeightChange[];
  /** Every set of pinned values the route carried, in order (with `pinHeader` only). */
  readonly pins: PinChange[];
  stop(): Promise<void>;
}

/** The canary's weight on the route, or null while no rule names both backends. */
export function routeCanaryWeight(route: unknown, stable: string, canary: string): number | null {
  const rules = (route as { spec?: { rules?: { backendRefs?: { name: string; weight?: number }[] }[] } }).spec
    ?.rules;
  for (const rule of rules ?? []) {
    const refs = rule.backendRefs ?? [];
    const s = refs.find((r) => r.name === stable);
    const c = refs.find((r) => r.name === canary);
    if (!s || !c) continue;
    const sw = s.weight ?? 1;
    const cw = c.weight ?? 1;
    return sw + cw === 0 ? 0 : Math.round((100 * cw) / (sw + cw));
  }
  return null;
}

interface RouteMatch {
  path?: { type?: string; value?: string };
  headers?: { type?: string; name: string; value: string }[];
  [field: string]: unknown;
}

interface RouteRule {
  matches?: RouteMatch[];
  backendRefs?: { name: string; weight?: number }[];
}

/** A match with the API server's defaults filled in and header names lowercased, as comparable text. */
function matchKey(m: RouteMatch, extraHeader?: { type?: string; name: string; value: string }): string {
  const headers = [...(m.headers ?? []), ...(extraHeader ? [extraHeader] : [])]
    .map((h) => ({ type: h.type ?? "Exact", name: h.name.toLowerCase(), value: h.value }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.value < b.value ? -1 : 1));
  const rest = Object.entries(m)
    .filter(([k]) => k !== "path" && k !== "headers")
    .sort(([a], [b]) => (a < b ? -1 : 1));
  return JSON.stringify([
    { type: m.path?.type ?? "PathPrefix", value: m.path?.value ?? "/" },
    headers.length > 0 ? headers : null,
    rest,
  ]);
}

const matchesOf = (rule: RouteRule): RouteMatch[] =>
  rule.matches && rule.matches.length > 0 ? rule.matches : [{}];

/**
 * The values of `header` whose requests the route sends to `stable` alone, instead of through the rules naming
 * both backends (the split). Gateway API ranks a match with one more header match above one without, and
 * equal matches by rule order; so a value is pinned when, for every match of every split rule, the first
 * rule matching exactly that match plus `header: value` (type Exact) sends to stable alone (its only backend
 * with a weight above 0). Requests are taken to carry no other header; sorted.
 */
export function routePinnedValues(route: unknown, stable: string, canary: string, header: string): string[] {
  const rules = (route as { spec?: { rules?: RouteRule[] } }).spec?.rules ?? [];
  const name = header.toLowerCase();
  const names = (rule: RouteRule) => new Set((rule.backendRefs ?? []).map((r) => r.name));
  const splits = rules.filter((r) => names(r).has(stable) && names(r).has(canary));
  if (splits.length === 0) return [];
  const stableOnly = (rule: RouteRule) => {
    const live = (rule.backendRefs ?? []).filter((r) => (r.weight ?? 1) > 0);
    return live.length > 0 && live.every((r) => r.name === stable);
  };
  // Candidates: every value an Exact match on the header names.
  const candidates = new Set<string>();
  for (const rule of rules)
    for (const m of matchesOf(rule))
      for (const h of m.headers ?? [])
        if (h.name.toLowerCase() === name && (h.type ?? "Exact") === "Exact") candidates.add(h.value);
  const pinned: string[] = [];
  for (const value of candidates) {
    const holds = splits.every((split) =>
      matchesOf(split).every((m) => {
        const wanted = matchKey(m, { name, value });
        const first = rules.find((r) => matchesOf(r).some((x) => matchKey(x) === wanted));
        return first !== undefined && stableOnly(first);
      }),
    );
    if (holds) pinned.push(value);
  }
  return pinned.sort();
}

export async function startDataPlane(options: DataPlaneOptions): Promise<DataPlane> {
  const { scenario } = await loadScenario(options.scenario);
  const exporter = await startFleetExporter({
    scenario,
    stable: options.stableVersion,
    canary: options.canaryVersion,
    speed: options.speed ?? 60,
    canaryWeight: 0,
  });
  // A label the fleet's cells lack fails here, not silently in the loop below.
  try {
    if (options.pinHeader) exporter.exporter.setPinned(options.pinHeader.label, []);
  } catch (e) {
    await exporter.close();
    throw e;
  }
  const prometheus = await startPrometheus({
    targets: [{ address: exporter.address, labels: { namespace: options.namespace } }],
  });
  const kc = new KubeConfig();
  kc.loadFromFile(options.kubeconfig);
  const api = kc.makeApiClient(CustomObjectsApi);
  const weights: WeightChange[] = [];
  const pins: PinChange[] = [];
  let stopped = false;
  let last: number | null = 0;
  let lastPins: readonly string[] = [];
  const follow = async () => {
    while (!stopped) {
      try {
        const route = await api.getNamespacedCustomObject({
          group: "gateway.networking.k8s.io",
          version: "v1",
          namespace: options.namespace,
          plural: "httproutes",
          name: options.httpRoute,
        });
        const w = routeCanaryWeight(route, options.stableService, options.canaryService);
        if (w !== null && w !== last) {
          last = w;
          weights.push({ seenAt: Date.now(), weight: w });
          exporter.exporter.setCanaryWeight(w);
        }
        const pin = options.pinHeader;
        if (pin && w !== null) {
          const values = routePinnedValues(route, options.stableService, options.canaryService, pin.header);
          if (JSON.stringify(values) !== JSON.stringify(lastPins)) {
            lastPins = values;
            pins.push({ seenAt: Date.now(), values });
            exporter.exporter.setPinned(pin.label, values);
          }
        }
      } catch {
        // The route may not exist yet; a gateway keeps its last configuration meanwhile.
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const following = follow();
  return {
    prometheus,
    exporter,
    weights,
    pins,
    async stop() {
      stopped = true;
      await following;
      await prometheus.stop();
      await exporter.close();
    },
  };
}
