// Who changed a route's weights, read from metadata.managedFields as the API server writes it. The entries
// below have the shapes a real API server gives (an HTTPRoute's rules are an atomic list, so an update of one
// weight takes ownership of them all); test/e2e/kubernetes-adapters.test.ts checks the same on a real one.
import { describe, expect, it } from "vitest";
import { lastWriterOf, OPERATOR_FIELD_MANAGER, ownsPath } from "./field-managers.js";
import { changedByOf } from "./custom-object-router.js";
import { splitWeightPaths } from "./gateway-api.js";
import { splitRoutes, splitWeightPaths as istioWeightPaths, type VirtualService } from "./istio.js";

const backend = (name: string, weight: number) => ({ group: "", kind: "Service", name, port: 80, weight });

function route(managedFields: unknown[]) {
  return {
    metadata: {
      name: "tts",
      namespace: "voice",
      managedFields: managedFields as never,
    },
    spec: {
      rules: [
        // A tenant pinned to stable by its owner: no split.
        { backendRefs: [backend("tts-v41", 1)] },
        { backendRefs: [backend("tts-v41", 20), backend("tts-v42", 80)] },
      ],
    },
  };
}

const created = {
  manager: "kubectl-client-side-apply",
  operation: "Update",
  time: "2026-12-03T10:00:00Z",
  fieldsType: "FieldsV1",
  fieldsV1: { "f:spec": { ".": {}, "f:parentRefs": {}, "f:rules": {} } },
};
const ours = {
  manager: OPERATOR_FIELD_MANAGER,
  operation: "Update",
  time: "2026-12-03T10:05:00Z",
  fieldsType: "FieldsV1",
  fieldsV1: { "f:metadata": { "f:annotations": { "f:canary-weight.voicectl.dev/tts": {} } } },
};
const patched = (manager: string, time: string) => ({
  manager,
  operation: "Update",
  time,
  fieldsType: "FieldsV1",
  fieldsV1: { "f:spec": { "f:rules": {} } },
});

describe("ownsPath: a field set owns a value, itself or as part of an atomic one", () => {
  const obj = {
    spec: {
      http: [
        { name: "eu", route: [{ weight: 30 }] },
        { name: "us", route: [{ weight: 70 }] },
      ],
      predictor: { canaryTrafficPercent: 10 },
    },
  };
  it.each([
    [
      "a leaf",
      { "f:spec": { "f:predictor": { "f:canaryTrafficPercent": {} } } },
      ["spec", "predictor", "canaryTrafficPercent"],
      true,
    ],
    [
      "a sibling leaf only",
      { "f:spec": { "f:predictor": { "f:model": {} } } },
      ["spec", "predictor", "canaryTrafficPercent"],
      false,
    ],
    [
      "an atomic list above it",
      { "f:spec": { "f:http": {} } },
      ["spec", "http", 1, "route", 0, "weight"],
      true,
    ],
    [
      "a list element by key",
      { "f:spec": { "f:http": { 'k:{"name":"us"}': { "f:route": {} } } } },
      ["spec", "http", 1, "route", 0, "weight"],
      true,
    ],
    [
      "another element by key",
      { "f:spec": { "f:http": { 'k:{"name":"eu"}': { "f:route": {} } } } },
      ["spec", "http", 1, "route", 0, "weight"],
      false,
    ],
    [
      "a list element by position",
      { "f:spec": { "f:http": { "i:1": { "f:route": {} } } } },
      ["spec", "http", 1, "route", 0, "weight"],
      true,
    ],
    ["nothing", {}, ["spec", "predictor", "canaryTrafficPercent"], false],
    ["not a field set", "garbage", ["spec"], false],
  ] as const)("%s", (_what, fields, path, owned) => {
    expect(ownsPath(fields, obj, path)).toBe(owned);
  });
});

describe("lastWriterOf: the manager, not voicectl, that last wrote the weights", () => {
  const r = route([]);
  const paths = splitWeightPaths(r, "tts-v41", "tts-v42");

  it("names the split rule's weights only", () => {
    expect(paths).toEqual([
      ["spec", "rules", 1, "backendRefs", 0, "weight"],
      ["spec", "rules", 1, "backendRefs", 1, "weight"],
    ]);
  });

  it("names the one that edited the rules after voicectl", () => {
    // kubectl patch --field-manager=argocd-controller: its update took the rules from everyone else.
    const edited = route([
      { ...created, fieldsV1: { "f:spec": { ".": {}, "f:parentRefs": {} } } },
      ours,
      patched("argocd-controller", "2026-12-03T10:06:00Z"),
    ]);
    expect(lastWriterOf(edited, paths)).toBe("argocd-controller");
  });

  it("takes the newest of several owners (appliers of the same value share a field)", () => {
    const shared = route([
      patched("kustomize-controller", "2026-12-03T10:07:00Z"),
      patched("kubectl", "2026-12-03T10:06:00Z"),
    ]);
    expect(lastWriterOf(shared, paths)).toBe("kustomize-controller");
  });

  it("never names voicectl's own operator, and nobody when nothing says", () => {
    expect(
      lastWriterOf(route([ours, patched(OPERATOR_FIELD_MANAGER, "2026-12-03T10:06:00Z")]), paths),
    ).toBeUndefined();
    expect(lastWriterOf(route([]), paths)).toBeUndefined();
    expect(lastWriterOf({ metadata: {} }, paths)).toBeUndefined();
    // Not the FieldsV1 format: unreadable, so not claimed.
    expect(
      lastWriterOf(
        route([{ ...patched("kubectl-edit", "2026-12-03T10:06:00Z"), fieldsType: "FieldsV2" }]),
        paths,
      ),
    ).toBeUndefined();
  });

  it("is asked only when the weight is not the one voicectl wrote", () => {
    const edited = route([ours, patched("kubectl-patch", "2026-12-03T10:06:00Z")]);
    const p = () => paths;
    expect(changedByOf(edited, 80, 25, p)).toEqual({ changedBy: "kubectl-patch" });
    expect(changedByOf(edited, 25, 25, p)).toEqual({});
    // The owner's setup before voicectl ever wrote: not a change of anything voicectl wrote.
    expect(changedByOf(edited, 30, null, p)).toEqual({});
  });

  it("finds the weights of an Istio VirtualService's split routes", () => {
    const vs: VirtualService = {
      metadata: { name: "tts", namespace: "voice" },
      spec: {
        http: [
          { name: "asr", route: [{ destination: { host: "asr" } }] },
          {
            name: "tts",
            route: [
              { destination: { host: "tts-v41" }, weight: 20 },
              { destination: { host: "tts-v42" }, weight: 80 },
            ],
          },
        ],
      },
    };
    expect(istioWeightPaths(splitRoutes(vs, "tts-v41", "tts-v42"), vs)).toEqual([
      ["spec", "http", 1, "route", 0, "weight"],
      ["spec", "http", 1, "route", 1, "weight"],
    ]);
  });
});
