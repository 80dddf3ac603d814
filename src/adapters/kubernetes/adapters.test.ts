// The pure parts of the Kubernetes adapters: weight splitting on HTTPRoute rules, GPUs per replica, Event
// text limits, policy validation of cluster objects, and the analysis state's encoding. The API calls
// themselves are exercised against a real control plane in test/e2e/kubernetes-adapters.test.ts.
import { readFileSync } from "node:fs";
import type { V1Deployment } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { initialOnlineState } from "../../core/analysis/online.js";
import { decodeAnalysis, encodeAnalysis } from "./analysis-store.js";
import { NOTE_LIMIT_BYTES, truncateUtf8 } from "./events.js";
import { applyWeight, canaryShare, splitRules } from "./gateway-api.js";
import { checkPolicyObject } from "./policies.js";
import { gpusPerReplica } from "./workloads.js";

type Ref = {
  name: string;
  weight?: number;
  kind?: string;
  group?: string;
  namespace?: string;
  port?: number;
};
const route = (rules: Ref[][]) => ({
  metadata: { name: "tts", namespace: "voice" },
  spec: { rules: rules.map((backendRefs) => ({ backendRefs })) },
});

describe("HTTPRoute weights", () => {
  it.each([
    {
      name: "explicit weights",
      refs: [
        { name: "s", weight: 90 },
        { name: "c", weight: 10 },
      ],
      share: 10,
    },
    { name: "defaults of 1 each", refs: [{ name: "s" }, { name: "c" }], share: 50 },
    {
      name: "both zero",
      refs: [
        { name: "s", weight: 0 },
        { name: "c", weight: 0 },
      ],
      share: 0,
    },
    {
      name: "canary only",
      refs: [
        { name: "s", weight: 0 },
        { name: "c", weight: 7 },
      ],
      share: 100,
    },
  ])("canary share with $name", ({ refs, share }) => {
    expect(canaryShare(splitRules(route([refs]), "s", "c"))).toBe(share);
  });

  it("ignores rules that do not name both Services, and refs to other kinds or namespaces", () => {
    const r = route([
      [{ name: "s" }], // a header-pinned rule: stable only
      [
        { name: "s", weight: 80 },
        { name: "c", kind: "ServiceImport", group: "multicluster.x-k8s.io" },
      ],
      [
        { name: "s", weight: 80 },
        { name: "c", namespace: "elsewhere" },
      ],
    ]);
    expect(splitRules(r, "s", "c")).toEqual([]);
    expect(canaryShare(splitRules(r, "s", "c"))).toBeNull();
  });

  it("reports the largest canary share when rules disagree", () => {
    const r = route([
      [
        { name: "s", weight: 95 },
        { name: "c", weight: 5 },
      ],
      [
        { name: "s", weight: 60 },
        { name: "c", weight: 40 },
      ],
    ]);
    expect(canaryShare(splitRules(r, "s", "c"))).toBe(40);
  });

  it("sets canary=w and stable=100-w in every rule naming both, leaving other rules and refs alone", () => {
    const r = route([
      [
        { name: "s", weight: 100 },
        { name: "c", weight: 0 },
        { name: "mirror", weight: 3 },
      ],
      [{ name: "s" }],
    ]);
    expect(applyWeight(splitRules(r, "s", "c"), 25)).toBe(true);
    expect(r.spec.rules[0]!.backendRefs).toEqual([
      { name: "s", weight: 75 },
      { name: "c", weight: 25 },
      { name: "mirror", weight: 3 },
    ]);
    expect(r.spec.rules[1]!.backendRefs).toEqual([{ name: "s" }]);
    // Already so: nothing to write.
    expect(applyWeight(splitRules(r, "s", "c"), 25)).toBe(false);
  });
});

describe("gpusPerReplica", () => {
  const deployment = (containers: object[], initContainers: object[] = []) =>
    ({ spec: { template: { spec: { containers, initContainers } } } }) as unknown as V1Deployment;
  it.each([
    { name: "limits", containers: [{ resources: { limits: { "nvidia.com/gpu": "2" } } }], gpus: 2 },
    { name: "requests only", containers: [{ resources: { requests: { "nvidia.com/gpu": "1" } } }], gpus: 1 },
    {
      name: "summed over containers",
      containers: [
        { resources: { limits: { "nvidia.com/gpu": "1" } } },
        { resources: { limits: { "nvidia.com/gpu": "3", cpu: "2" } } },
      ],
      gpus: 4,
    },
    { name: "no GPU asked", containers: [{ resources: { limits: { cpu: "1" } } }], gpus: 0 },
    { name: "no resources", containers: [{}], gpus: 0 },
  ])("$name", ({ containers, gpus }) => {
    expect(gpusPerReplica(deployment(containers))).toBe(gpus);
  });

  it("counts an init container that asks for more than the containers together", () => {
    const d = deployment(
      [{ resources: { limits: { "nvidia.com/gpu": "1" } } }],
      [{ resources: { limits: { "nvidia.com/gpu": "2" } } }],
    );
    expect(gpusPerReplica(d)).toBe(2);
  });
});

describe("truncateUtf8", () => {
  it("leaves short text alone", () => {
    expect(truncateUtf8("promoted", 1024)).toBe("promoted");
  });

  it("cuts on a character boundary within the byte limit, marking the cut", () => {
    const text = "é".repeat(1000); // 2000 bytes
    const cut = truncateUtf8(text, NOTE_LIMIT_BYTES);
    expect(Buffer.byteLength(cut, "utf8")).toBeLessThanOrEqual(NOTE_LIMIT_BYTES);
    expect(cut.endsWith("…")).toBe(true);
    expect(cut.slice(0, -1)).toBe("é".repeat(cut.length - 1));
  });
});

describe("checkPolicyObject", () => {
  const studio = parse(readFileSync("policies/voice-studio.yaml", "utf8")) as Record<string, unknown>;
  const asServed = {
    ...studio,
    metadata: {
      name: "voice-studio",
      namespace: "voice",
      uid: "0b8c6f2e-0000-4000-8000-000000000000",
      resourceVersion: "42",
      managedFields: [{ manager: "kubectl" }],
    },
  };

  it("accepts a valid policy with the metadata the API server adds", () => {
    const r = checkPolicyObject("rolloutpolicy/voice/voice-studio", asServed);
    expect("policy" in r ? r.policy.spec.metrics.length : r.error).toBe(6);
  });

  it("names the object and the field path of every problem", () => {
    const spec = studio["spec"] as { metrics: Record<string, unknown>[] };
    const broken = {
      ...asServed,
      spec: { ...spec, metrics: [{ ...spec.metrics[0], budget: { relative: -1 }, colour: "red" }] },
    };
    const r = checkPolicyObject("rolloutpolicy/voice/voice-studio", broken);
    expect("error" in r).toBe(true);
    const error = "error" in r ? r.error : "";
    expect(error).toMatch(/^rolloutpolicy\/voice\/voice-studio: spec\.metrics\[0\]/);
    expect(error).toContain('unknown field "colour"');
    expect(error).toContain("spec.metrics[0].budget.relative");
    // No line numbers: the object did not come from a file.
    expect(error).not.toMatch(/voice-studio:\d/);
  });

  it("reports a missing spec", () => {
    const r = checkPolicyObject("rolloutpolicy/voice/empty", { ...asServed, spec: undefined });
    expect("error" in r ? r.error : "").toContain('spec: required field "spec" is missing');
  });
});

describe("analysis state encoding", () => {
  it("round-trips through gzip'd JSON", async () => {
    const stored = { state: { ...initialOnlineState(), looks: 3 }, lastLookAt: 1_700_000_000_000 };
    const bytes = await encodeAnalysis(stored);
    expect(bytes[0]).toBe(0x1f); // gzip magic
    expect(await decodeAnalysis(bytes)).toEqual(stored);
  });
});
