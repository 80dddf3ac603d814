// The pure parts of the three traffic routers and the dispatcher: which routes and rules a weight or a pin
// touches, what the weight reads as, when KServe's status contradicts its spec, and which router a rollout's
// spec.traffic picks. The API calls are exercised on a real control plane in test/e2e/routers.test.ts.
import { describe, expect, it } from "vitest";
import { voiceRolloutSpecSchema, type VoiceRollout } from "../../core/resource/voicerollout.js";
import { PinningUnsupportedError, TrafficMismatchError, type TrafficRouter } from "../../operator/ports.js";
import { pinnedRules, pinValues, sameRules, splitRules } from "./gateway-api.js";
import {
  applyIstioWeight,
  hostIs,
  istioCanaryShare,
  istioPinValues,
  pinnedHttpRoutes,
  splitRoutes,
  type VirtualService,
} from "./istio.js";
import { checkServed, servedShare, whyNotSplitting, type InferenceService } from "./kserve.js";
import { RolloutRouter, routerKind } from "./router.js";

const NS = "voice";

function rolloutWith(traffic: Record<string, unknown>): VoiceRollout {
  return {
    apiVersion: "voicectl.dev/v1alpha1",
    kind: "VoiceRollout",
    metadata: { namespace: NS, name: "tts" },
    spec: voiceRolloutSpecSchema.parse({
      stable: { deployment: "tts-v41" },
      canary: { deployment: "tts-v42" },
      policyRef: { name: "p" },
      traffic,
      steps: [{ setWeight: 10 }],
    }),
  };
}

describe("Istio VirtualService", () => {
  const dest = (host: string, weight?: number) => ({
    destination: { host, port: { number: 80 } },
    ...(weight !== undefined ? { weight } : {}),
  });
  const vs = (http: unknown[]): VirtualService => ({
    metadata: { name: "tts", namespace: NS },
    spec: { hosts: ["tts"], http: http as NonNullable<VirtualService["spec"]>["http"] },
  });

  it.each([
    ["tts-v41", true],
    ["tts-v41.voice", true],
    ["tts-v41.voice.svc", true],
    ["tts-v41.voice.svc.cluster.local", true],
    ["tts-v41.other.svc.cluster.local", false],
    ["tts-v411", false],
    ["tts-v41.voice.svc.cluster", false],
  ])("host %s is Service tts-v41 of voice: %s", (host, yes) => {
    expect(hostIs(host, "tts-v41", NS)).toBe(yes);
  });

  it("sets weights only on routes naming both hosts, by short name or FQDN, and leaves the others", () => {
    const v = vs([
      { name: "tenant", match: [{ headers: { "x-tenant": { exact: "a" } } }], route: [dest("tts-v41")] },
      { name: "other", route: [dest("asr", 50), dest("tts-v42", 50)] },
      {
        name: "main",
        route: [dest("tts-v41.voice.svc.cluster.local", 100), dest("tts-v42", 0)],
      },
    ]);
    const before = JSON.stringify(v.spec!.http!.slice(0, 2));
    const routes = splitRoutes(v, "tts-v41", "tts-v42");
    expect(routes.map((r) => r.route.name)).toEqual(["main"]);
    expect(applyIstioWeight(routes, 25)).toBe(true);
    expect(v.spec!.http![2]!.route!.map((d) => d.weight)).toEqual([75, 25]);
    expect(JSON.stringify(v.spec!.http!.slice(0, 2))).toBe(before);
    expect(istioCanaryShare(splitRoutes(v, "tts-v41", "tts-v42"))).toBe(25);
    // Already so: nothing changes, so nothing is written.
    expect(applyIstioWeight(splitRoutes(v, "tts-v41", "tts-v42"), 25)).toBe(false);
  });

  it("limits itself to the named routes, and names the ones that do not exist", () => {
    const v = vs([
      { name: "a", route: [dest("tts-v41", 100), dest("tts-v42", 0)] },
      { name: "b", route: [dest("tts-v41", 100), dest("tts-v42", 0)] },
    ]);
    const only = splitRoutes(v, "tts-v41", "tts-v42", ["b"]);
    applyIstioWeight(only, 40);
    expect(v.spec!.http!.map((r) => r.route!.map((d) => d.weight))).toEqual([
      [100, 0],
      [60, 40],
    ]);
    expect(() => splitRoutes(v, "tts-v41", "tts-v42", ["b", "c"])).toThrow(
      "virtualservice voice/tts has no http route named c",
    );
  });

  it("reads null when no route names both hosts, and a missing weight as none beside another", () => {
    expect(
      istioCanaryShare(splitRoutes(vs([{ route: [dest("tts-v41")] }]), "tts-v41", "tts-v42")),
    ).toBeNull();
    expect(
      istioCanaryShare(
        splitRoutes(vs([{ route: [dest("tts-v41", 80), dest("tts-v42")] }]), "tts-v41", "tts-v42"),
      ),
    ).toBe(0);
  });

  it("pins header values with a route right before the split one, keeping its matches, and unpins", () => {
    const v = vs([
      { name: "health", match: [{ uri: { exact: "/healthz" } }], route: [dest("probe")] },
      {
        name: "main",
        match: [{ uri: { prefix: "/v1/tts" } }],
        timeout: "30s",
        route: [dest("tts-v41", 0), dest("tts-v42", 100)],
      },
    ]);
    const http = pinnedHttpRoutes(v, "tts-v41", "tts-v42", "X-Voice-Id", ["v7", "v3", "v7"]);
    expect(http.map((r) => r.name)).toEqual(["health", "voicectl-pin-0", "main"]);
    expect(http[1]).toEqual({
      name: "voicectl-pin-0",
      timeout: "30s",
      match: [
        { uri: { prefix: "/v1/tts" }, headers: { "x-voice-id": { exact: "v3" } } },
        { uri: { prefix: "/v1/tts" }, headers: { "x-voice-id": { exact: "v7" } } },
      ],
      // Stable alone, without the split's weight of 0.
      route: [{ destination: { host: "tts-v41", port: { number: 80 } } }],
    });
    const pinned = vs(http);
    expect(istioPinValues(pinned, "x-voice-id")).toEqual(["v3", "v7"]);
    // Pin routes are not split routes: weights never touch them.
    expect(splitRoutes(pinned, "tts-v41", "tts-v42").map((r) => r.route.name)).toEqual(["main"]);
    // Same pins again: the same list. No pins: the original list.
    expect(pinnedHttpRoutes(pinned, "tts-v41", "tts-v42", "x-voice-id", ["v3", "v7"])).toEqual(http);
    expect(pinnedHttpRoutes(pinned, "tts-v41", "tts-v42", "x-voice-id", [])).toEqual(v.spec!.http);
  });

  it("refuses to pin by a header the split route already matches on", () => {
    const v = vs([
      {
        name: "main",
        match: [{ headers: { "x-voice-id": { prefix: "studio-" } } }],
        route: [dest("tts-v41", 50), dest("tts-v42", 50)],
      },
    ]);
    expect(() => pinnedHttpRoutes(v, "tts-v41", "tts-v42", "x-voice-id", ["v1"])).toThrow(
      "http route main already matches on header x-voice-id",
    );
  });
});

describe("Gateway API pins", () => {
  const route = (rules: unknown[]) => ({
    metadata: { name: "tts", namespace: NS },
    spec: { rules: rules as never[] },
  });
  const split = {
    matches: [{ path: { type: "PathPrefix", value: "/v1" } }],
    filters: [
      { type: "RequestHeaderModifier", requestHeaderModifier: { set: [{ name: "x-a", value: "1" }] } },
    ],
    backendRefs: [
      { name: "tts-v41", port: 80, weight: 0 },
      { name: "tts-v42", port: 80, weight: 100 },
    ],
  };

  it("adds one rule per value before each split rule, with its matches plus the header and stable alone", () => {
    const other = {
      matches: [{ path: { type: "Exact", value: "/healthz" } }],
      backendRefs: [{ name: "probe" }],
    };
    const r = route([other, split]);
    const rules = pinnedRules(r, "tts-v41", "tts-v42", "X-Voice-Id", ["b", "a"]);
    expect(rules.map((x) => x.name)).toEqual([undefined, "voicectl-pin-0", "voicectl-pin-1", undefined]);
    expect(rules[1]).toEqual({
      name: "voicectl-pin-0",
      matches: [
        {
          path: { type: "PathPrefix", value: "/v1" },
          headers: [{ type: "Exact", name: "x-voice-id", value: "a" }],
        },
      ],
      filters: split.filters,
      // Weight 1: the stable's split weight is 0 here, which would send the pinned slice nowhere.
      backendRefs: [{ name: "tts-v41", port: 80, weight: 1 }],
    });
    const pinned = route(rules);
    expect(pinValues(pinned, "x-voice-id")).toEqual(["a", "b"]);
    expect(splitRules(pinned, "tts-v41", "tts-v42")).toHaveLength(1);
    expect(pinnedRules(pinned, "tts-v41", "tts-v42", "x-voice-id", [])).toEqual([other, split]);
  });

  it("compares rules with the API server's defaults filled in, so a stored pin is not rewritten", () => {
    const r = route([{ backendRefs: split.backendRefs }]);
    const ours = pinnedRules(r, "tts-v41", "tts-v42", "x-voice-id", ["a"]);
    // As the API server stores them: default match, header type and backendRef group and kind filled in.
    const stored = [
      {
        name: "voicectl-pin-0",
        matches: [
          {
            path: { type: "PathPrefix", value: "/" },
            headers: [{ type: "Exact", name: "x-voice-id", value: "a" }],
          },
        ],
        backendRefs: [{ group: "", kind: "Service", name: "tts-v41", port: 80, weight: 1 }],
      },
      {
        matches: [{ path: { type: "PathPrefix", value: "/" } }],
        backendRefs: split.backendRefs.map((b) => ({ group: "", kind: "Service", ...b })),
      },
    ];
    expect(sameRules(ours, stored)).toBe(true);
    expect(sameRules(ours, [stored[1]!])).toBe(false);
  });

  it("refuses to pin by a header the split rule already matches on", () => {
    const r = route([{ ...split, matches: [{ headers: [{ name: "x-voice-id", value: "z" }] }] }]);
    expect(() => pinnedRules(r, "tts-v41", "tts-v42", "x-voice-id", ["a"])).toThrow(
      "already matches on header x-voice-id",
    );
  });
});

describe("KServe InferenceService", () => {
  const isvc = (
    percent: number | undefined,
    status?: InferenceService["status"],
    annotations?: Record<string, string>,
  ): InferenceService => ({
    metadata: { name: "tts", namespace: NS, ...(annotations ? { annotations } : {}) },
    spec: { predictor: percent === undefined ? {} : { canaryTrafficPercent: percent } },
    ...(status ? { status } : {}),
  });
  const knative = (predictor: Record<string, unknown>): InferenceService["status"] => ({
    deploymentMode: "Serverless",
    components: { predictor },
  });

  it("reads the canary revision's share from status: the latest created revision's, not the latest ready's", () => {
    const split = knative({
      latestCreatedRevision: "tts-predictor-00002",
      latestReadyRevision: "tts-predictor-00002",
      latestRolledoutRevision: "tts-predictor-00001",
      traffic: [
        { revisionName: "tts-predictor-00002", latestRevision: true, percent: 10, tag: "latest" },
        { revisionName: "tts-predictor-00001", latestRevision: false, percent: 90, tag: "prev" },
      ],
    });
    expect(servedShare(isvc(10, split))).toBe(10);
    expect(() => checkServed(isvc(10, split), 10)).not.toThrow();
    expect(servedShare(isvc(10))).toBeUndefined();
  });

  it("reports a canary revision that is not ready: its share goes to the old revision", () => {
    const unready = isvc(
      20,
      knative({
        latestCreatedRevision: "tts-predictor-00002",
        latestReadyRevision: "tts-predictor-00001",
        latestRolledoutRevision: "tts-predictor-00001",
        traffic: [
          { revisionName: "tts-predictor-00001", latestRevision: true, percent: 20, tag: "latest" },
          { revisionName: "tts-predictor-00001", latestRevision: false, percent: 80, tag: "prev" },
        ],
      }),
    );
    const err = (() => {
      try {
        checkServed(unready, 20);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(TrafficMismatchError);
    expect(err).toMatchObject({ written: 20, served: 0 });
    expect((err as Error).message).toContain(
      "inferenceservice voice/tts: spec.predictor.canaryTrafficPercent is 20 but status.components.predictor.traffic gives canary revision tts-predictor-00002 0%: the canary revision is not ready (latest ready is tts-predictor-00001)",
    );
  });

  it("reports a split KServe did not make because nothing was rolled out yet", () => {
    const first = isvc(
      10,
      knative({
        latestCreatedRevision: "tts-predictor-00001",
        latestReadyRevision: "tts-predictor-00001",
        traffic: [{ revisionName: "tts-predictor-00001", latestRevision: true, percent: 100 }],
      }),
    );
    expect(() => checkServed(first, 10)).toThrow("no revision was rolled out at 100% yet");
  });

  it.each([
    [{ deploymentMode: "RawDeployment" }, undefined, true],
    [{ deploymentMode: "Standard" }, undefined, true],
    [undefined, { "serving.kserve.io/deploymentMode": "RawDeployment" }, true],
    [{ deploymentMode: "Serverless" }, undefined, false],
    [{ deploymentMode: "Knative" }, undefined, false],
    [undefined, undefined, false],
  ])("status %j, annotations %j: ignores canaryTrafficPercent: %s", (status, annotations, ignores) => {
    expect(whyNotSplitting(isvc(10, status, annotations)) !== undefined).toBe(ignores);
  });
});

describe("RolloutRouter", () => {
  class Recording implements TrafficRouter {
    calls: string[] = [];
    constructor(
      readonly name: string,
      pins: boolean,
    ) {
      if (pins) {
        this.setPins = async (_r, header, values) => {
          this.calls.push(`${this.name}.setPins ${header}=${values.join(",")}`);
        };
        this.pinnedValues = async () => ["v1"];
      }
    }
    setPins?: TrafficRouter["setPins"];
    pinnedValues?: TrafficRouter["pinnedValues"];
    async canaryWeight(): Promise<number | null> {
      this.calls.push(`${this.name}.canaryWeight`);
      return 7;
    }
    async observe(): Promise<{ weight: number | null; written: number | null }> {
      this.calls.push(`${this.name}.observe`);
      return { weight: 7, written: 5 };
    }
    async setCanaryWeight(_r: VoiceRollout, w: number): Promise<void> {
      this.calls.push(`${this.name}.setCanaryWeight ${w}`);
    }
  }
  const make = () => {
    const routers = {
      gatewayAPI: new Recording("gateway", true),
      istio: new Recording("istio", true),
      kserve: new Recording("kserve", false),
    };
    return { routers, router: new RolloutRouter(routers) };
  };

  it.each([
    [{ gatewayAPI: { httpRoute: "tts" } }, "gatewayAPI", "gateway"],
    [{ istio: { virtualService: "tts" } }, "istio", "istio"],
    [{ kserve: { inferenceService: "tts" } }, "kserve", "kserve"],
  ] as const)("spec.traffic %j goes to %s", async (traffic, kind, name) => {
    const { routers, router } = make();
    const rollout = rolloutWith(traffic);
    expect(routerKind(rollout).kind).toBe(kind);
    expect(await router.canaryWeight(rollout)).toBe(7);
    expect(await router.observe(rollout)).toEqual({ weight: 7, written: 5 });
    await router.setCanaryWeight(rollout, 30);
    const all = Object.values(routers).flatMap((r) => r.calls);
    expect(all).toEqual([`${name}.canaryWeight`, `${name}.observe`, `${name}.setCanaryWeight 30`]);
  });

  it("passes pins to routers that match headers, and says why KServe cannot pin", async () => {
    const { routers, router } = make();
    await router.setPins(rolloutWith({ istio: { virtualService: "tts" } }), "x-voice-id", ["v1"]);
    expect(routers.istio.calls).toEqual(["istio.setPins x-voice-id=v1"]);
    const kserve = rolloutWith({ kserve: { inferenceService: "tts" } });
    expect(await router.pinnedValues(kserve, "x-voice-id")).toEqual([]);
    // Removing pins where there can be none is done already; adding one is refused, with why.
    await router.setPins(kserve, "x-voice-id", []);
    await expect(router.setPins(kserve, "x-voice-id", ["v1"])).rejects.toThrow(PinningUnsupportedError);
    await expect(router.setPins(kserve, "x-voice-id", ["v1"])).rejects.toThrow(
      "rollout voice/tts routes through inferenceservice tts, which cannot send requests with header x-voice-id to stable alone: pinning needs gatewayAPI or istio",
    );
  });
});
