// The data plane of an end-to-end rollout: a simulated voice fleet (the fleet exporter at 60x simulated time)
// scraped by a real Prometheus, and a gateway stand-in that reads the HTTPRoute's backend weights from the
// real API server and sends that share of the fleet's traffic to the canary, as a Gateway API implementation
// would. The operator under test only ever sees Kubernetes and Prometheus.
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
}

export interface WeightChange {
  /** Wall clock (ms) when the gateway stand-in first saw the new weight on the route. */
  readonly seenAt: number;
  readonly weight: number;
}

export interface DataPlane {
  readonly prometheus: PrometheusServer;
  readonly exporter: RunningFleetExporter;
  /** Every weight the route carried, in order. */
  readonly weights: WeightChange[];
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

export async function startDataPlane(options: DataPlaneOptions): Promise<DataPlane> {
  const { scenario } = await loadScenario(options.scenario);
  const exporter = await startFleetExporter({
    scenario,
    stable: options.stableVersion,
    canary: options.canaryVersion,
    speed: options.speed ?? 60,
    canaryWeight: 0,
  });
  const prometheus = await startPrometheus({
    targets: [{ address: exporter.address, labels: { namespace: options.namespace } }],
  });
  const kc = new KubeConfig();
  kc.loadFromFile(options.kubeconfig);
  const api = kc.makeApiClient(CustomObjectsApi);
  const weights: WeightChange[] = [];
  let stopped = false;
  let last: number | null = 0;
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
    async stop() {
      stopped = true;
      await following;
      await prometheus.stop();
      await exporter.close();
    },
  };
}
