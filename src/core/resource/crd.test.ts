import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { policySpecSchema } from "../policy/schema.js";
import {
  allCrds,
  crdFileName,
  crdYaml,
  CrdSchemaError,
  rolloutPolicyCrd,
  structuralProblems,
  voiceRolloutCommandCrd,
  voiceRolloutCrd,
  zodToStructural,
  type CustomResourceDefinition,
  type OpenApiSchema,
} from "./crd.js";
import { voiceRolloutSpecSchema, voiceRolloutStatusSchema, type VoiceRolloutStatus } from "./voicerollout.js";

const CRD_DIR = "charts/voicectl/crds";

const rootOf = (c: CustomResourceDefinition): OpenApiSchema => c.spec.versions[0]!.schema.openAPIV3Schema;
const field = (schema: OpenApiSchema, ...path: string[]): OpenApiSchema => {
  let node: unknown = schema;
  for (const seg of path) {
    const n = node as OpenApiSchema;
    node = seg === "[]" ? n["items"] : (n["properties"] as Record<string, unknown> | undefined)?.[seg];
    if (node === undefined) throw new Error(`no ${path.join(".")}`);
  }
  return node as OpenApiSchema;
};

/** What the API server keeps of a value under a structural schema (unknown fields are pruned). */
function prune(value: unknown, schema: OpenApiSchema): unknown {
  if (schema["x-kubernetes-preserve-unknown-fields"] === true && schema["properties"] === undefined)
    return value;
  if (Array.isArray(value)) return value.map((v) => prune(v, schema["items"] as OpenApiSchema));
  if (typeof value !== "object" || value === null) return value;
  const props = schema["properties"] as Record<string, OpenApiSchema> | undefined;
  const map = schema["additionalProperties"] as OpenApiSchema | undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const s = props?.[k] ?? map;
    if (s) out[k] = prune(v, s);
  }
  return out;
}

describe("the committed CRDs", () => {
  it("are exactly what scripts/gen-crds.ts writes (npm run gen:crds)", () => {
    const expected = new Map(allCrds().map((c) => [crdFileName(c), crdYaml(c)]));
    const files = readdirSync(CRD_DIR).filter((f) => f.endsWith(".yaml"));
    expect(files.sort()).toEqual([...expected.keys()].sort());
    for (const [name, text] of expected) expect(readFileSync(join(CRD_DIR, name), "utf8"), name).toBe(text);
  });

  it.each(allCrds().map((c) => [c.metadata.name, c] as const))("%s has a structural schema", (_, c) => {
    expect(structuralProblems(rootOf(c))).toEqual([]);
    expect(JSON.stringify(c)).not.toMatch(/"\$ref"|"\$schema"|"const"|"additionalProperties":false/);
  });
});

describe("the structural check itself", () => {
  // So that "no problems" above means something: each of these must be caught.
  it.each<[string, OpenApiSchema, string]>([
    ["an untyped field", { type: "object", properties: { a: { description: "x" } } }, "<root>.a: no type"],
    [
      "properties beside additionalProperties",
      { type: "object", properties: { a: { type: "string" } }, additionalProperties: false },
      "properties and additionalProperties together",
    ],
    ["a $ref", { type: "object", properties: { a: { $ref: "#/$defs/A" } } }, 'forbidden key "$ref"'],
    [
      "a type inside oneOf",
      { type: "object", oneOf: [{ type: "object", required: ["a"] }] },
      '"type" inside a logical junctor',
    ],
    ["an array without items", { type: "array" }, "array without items"],
    ["a const", { type: "string", const: "a" }, 'forbidden key "const"'],
  ])("finds %s", (_, schema, problem) => {
    expect(structuralProblems(schema).join("\n")).toContain(problem);
  });
});

describe("zodToStructural", () => {
  it.each<[string, z.ZodType, OpenApiSchema]>([
    [
      "a strict object: additionalProperties false dropped (the API server prunes unknown fields)",
      z.strictObject({ a: z.string().describe("A.") }),
      { type: "object", required: ["a"], properties: { a: { description: "A.", type: "string" } } },
    ],
    [
      "a loose object keeps unknown fields",
      z.looseObject({ a: z.string() }),
      {
        type: "object",
        required: ["a"],
        properties: { a: { type: "string" } },
        "x-kubernetes-preserve-unknown-fields": true,
      },
    ],
    [
      "a record becomes a map",
      z.record(z.string(), z.number()),
      { type: "object", additionalProperties: { type: "number" } },
    ],
    ["anything is preserved as sent", z.unknown(), { "x-kubernetes-preserve-unknown-fields": true }],
    ["a literal becomes an enum", z.literal("x"), { type: "string", enum: ["x"] }],
    [
      "literals merge into one enum",
      z.union([z.literal("a"), z.literal("b")]),
      { type: "string", enum: ["a", "b"] },
    ],
    ["nullable", z.string().nullable(), { type: "string", nullable: true }],
    ["safe-integer bounds are dropped", z.number().int(), { type: "integer" }],
    ["int or string", z.union([z.number().int(), z.string()]), { "x-kubernetes-int-or-string": true }],
    [
      "strings with different patterns become value validations under one type",
      z.union([z.string().regex(/^a/), z.string().regex(/^b/)]),
      { type: "string", anyOf: [{ pattern: "^a" }, { pattern: "^b" }] },
    ],
    [
      "a string or a list of strings is kept as sent (no structural type fits)",
      z.union([z.string(), z.array(z.string())]).describe("Labels."),
      {
        description: "Labels. Either a string or a list of strings.",
        "x-kubernetes-preserve-unknown-fields": true,
      },
    ],
    [
      "a union of strict objects becomes one object, exactly one shape required",
      z.union([z.strictObject({ a: z.number() }), z.strictObject({ b: z.strictObject({ c: z.string() }) })]),
      {
        type: "object",
        minProperties: 1,
        maxProperties: 1,
        properties: {
          a: { type: "number" },
          b: { type: "object", required: ["c"], properties: { c: { type: "string" } } },
        },
        oneOf: [{ required: ["a"] }, { required: ["b"] }],
      },
    ],
    [
      "object branches whose required lists overlap use anyOf",
      z.union([z.object({ a: z.string() }), z.object({ a: z.string(), b: z.string() })]),
      {
        type: "object",
        minProperties: 1,
        properties: { a: { type: "string" }, b: { type: "string" } },
        anyOf: [{ required: ["a"] }, { required: ["a", "b"] }],
      },
    ],
  ])("%s", (_, schema, expected) => {
    const out = zodToStructural(schema, "spec.x");
    expect(out).toEqual(expected);
    expect(structuralProblems(out)).toEqual([]);
  });

  const Tree: z.ZodType = z.lazy(() => z.object({ kids: z.array(Tree) }));
  it.each<[string, z.ZodType, string]>([
    ["a recursive schema", z.object({ tree: Tree }), "spec.x.tree.kids[]: recursive schema"],
    ["a bigint", z.object({ n: z.bigint() }), "spec.x: cannot be expressed as a schema"],
    ["a date object", z.object({ at: z.date() }), "spec.x: cannot be expressed as a schema: Date"],
    [
      "an object that is also a map",
      z.object({ a: z.string() }).catchall(z.number()),
      "spec.x: an object with fixed properties cannot also be a map",
    ],
    [
      "branches that disagree about a field",
      z.union([z.object({ a: z.string() }), z.object({ a: z.number() })]),
      "spec.x.a: union branches give this field different schemas",
    ],
  ])("refuses %s, naming the field", (_, schema, message) => {
    expect(() => zodToStructural(schema, "spec.x")).toThrow(CrdSchemaError);
    expect(() => zodToStructural(schema, "spec.x")).toThrow(message);
  });
});

describe("voicerollouts.voicectl.dev", () => {
  const c = voiceRolloutCrd();
  const v = c.spec.versions[0]!;
  const spec = field(rootOf(c), "spec");

  it("is namespaced, short name vr, in category voicectl, with a status subresource", () => {
    expect(c.metadata.name).toBe("voicerollouts.voicectl.dev");
    expect(c.spec.scope).toBe("Namespaced");
    expect(c.spec.names).toMatchObject({
      kind: "VoiceRollout",
      shortNames: ["vr"],
      categories: ["voicectl"],
    });
    expect(v.subresources).toEqual({ status: {} });
    expect(rootOf(c)["required"]).toEqual(["spec"]);
  });

  it("prints phase, weight, step, reason and age", () => {
    const cols = v.additionalPrinterColumns.filter((p) => !p.priority).map((p) => [p.name, p.jsonPath]);
    expect(cols).toEqual([
      ["Phase", ".status.phase"],
      ["Weight", ".status.canaryWeight"],
      ["Step", ".status.step"],
      ["Reason", ".status.reason"],
      ["Age", ".metadata.creationTimestamp"],
    ]);
    // The Step column counts from 1, as every message and `voicectl rollout list` do; the API's
    // currentStepIndex stays 0-based.
    expect(field(rootOf(c), "status", "step")["type"]).toBe("string");
    expect(field(rootOf(c), "status", "currentStepIndex")["type"]).toBe("integer");
  });

  it("defaults spec.approval to a 4h deadline that rolls back, and refuses a deadline on a timed pause", () => {
    expect(field(spec, "approval")["default"]).toEqual({ deadline: "4h", onDeadline: "Abort" });
    expect(field(spec, "approval", "onDeadline")["enum"]).toEqual(["Abort", "Escalate"]);
    expect(JSON.stringify(field(spec, "steps", "[]", "pause"))).toContain(
      "!(has(self.deadline) && has(self.duration))",
    );
  });

  it("keeps the zod constraints: bounds, patterns, enums, descriptions, defaults", () => {
    expect(field(spec, "steps", "[]", "setWeight")).toMatchObject({
      type: "integer",
      minimum: 0,
      maximum: 100,
    });
    expect(field(spec, "steps")).toMatchObject({
      minItems: 1,
      description: expect.stringContaining("setWeight"),
    });
    expect(field(spec, "policyRef", "name")["pattern"]).toBe("^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$");
    expect(field(spec, "analysis", "interval")).toMatchObject({ default: "1m", pattern: expect.any(String) });
    expect(spec["required"]).toEqual(["stable", "canary", "policyRef", "traffic", "steps"]);
    expect(field(rootOf(c), "status", "phase")["enum"]).toEqual([
      "Progressing",
      "Paused",
      "Promoted",
      "RolledBack",
      "Failed",
    ]);
    expect(field(rootOf(c), "status", "pause")["nullable"]).toBe(true);
  });

  it("states as one object the union of step kinds, exactly one kind per step", () => {
    const step = field(spec, "steps", "[]");
    expect(Object.keys(step["properties"] as object)).toEqual(["setWeight", "pause", "analysis"]);
    expect(step["oneOf"]).toEqual([
      { required: ["setWeight"] },
      { required: ["pause"] },
      { required: ["analysis"] },
    ]);
    expect([step["minProperties"], step["maxProperties"]]).toEqual([1, 1]);
    // The zod refine (min <= max) restated for the API server.
    expect(field(step, "analysis")["x-kubernetes-validations"]).toEqual([
      expect.objectContaining({ rule: "duration(self.minDuration) <= duration(self.maxDuration)" }),
    ]);
  });

  it("restates the traffic refinements: exactly one router, no pinning through KServe", () => {
    const rules = field(spec, "traffic")["x-kubernetes-validations"] as { message: string }[];
    const zodMessages = (traffic: Record<string, unknown>) => {
      const r = voiceRolloutSpecSchema.safeParse({
        stable: { deployment: "a" },
        canary: { deployment: "b" },
        policyRef: { name: "p" },
        traffic,
        steps: [{ setWeight: 10 }],
      });
      return r.success ? [] : r.error.issues.map((i) => i.message);
    };
    // The same words from the API server as from `voicectl rollout start` reading a file.
    const two = zodMessages({ gatewayAPI: { httpRoute: "r" }, istio: { virtualService: "v" } });
    const kservePin = zodMessages({
      kserve: { inferenceService: "i" },
      pinning: { label: "voice_id", header: "x-voice-id" },
    });
    expect(rules.map((r) => r.message)).toEqual([...two, ...kservePin]);
    expect(
      zodMessages({ istio: { virtualService: "v" }, pinning: { label: "voice_id", header: "x-voice-id" } }),
    ).toEqual([]);
  });

  it("prunes nothing of a full spec or status (every field the operator writes is declared)", () => {
    const specValue = voiceRolloutSpecSchema.parse({
      stable: { deployment: "tts-v1", version: "v1", service: "tts-v1" },
      canary: { deployment: "tts-v2", replicas: 2 },
      policyRef: { name: "tts" },
      traffic: { gatewayAPI: { httpRoute: "tts" } },
      nodePool: { name: "h100", gpusPerReplica: 1, pricePerGPUHour: 2.5 },
      steps: [{ setWeight: 10 }, { analysis: { minDuration: "5m", maxDuration: "20m" } }, { pause: {} }],
    });
    expect(prune(specValue, spec)).toEqual(specValue);
    const status: VoiceRolloutStatus = voiceRolloutStatusSchema.parse({
      observedGeneration: 2,
      phase: "Paused",
      canaryWeight: 10,
      currentStepIndex: 2,
      stepStartedAt: "2026-01-01T00:00:00Z",
      message: "waiting",
      pause: { kind: "approval", reason: "step 2", since: "2026-01-01T00:00:00Z" },
      conditions: [
        {
          type: "Progressing",
          status: "True",
          reason: "Step",
          message: "m",
          lastTransitionTime: "2026-01-01T00:00:00Z",
          observedGeneration: 2,
        },
      ],
      lastDecision: {
        decision: "pause",
        at: "2026-01-01T00:00:00Z",
        summary: "s",
        findings: [
          {
            metric: "wer",
            slice: { voice_id: "mia" },
            verdict: "fail",
            critical: true,
            baseline: 0.1,
            canary: null,
            allowed: 0.2,
            worsening: 0.3,
            samples: { baseline: 100, canary: 90 },
            reason: "r",
          },
        ],
      },
      history: [
        {
          action: "approve",
          user: "alice",
          at: "2026-01-01T00:00:00Z",
          reason: "ok",
          step: 2,
          command: "c1",
        },
      ],
      analysis: { looks: 3, lastLookAt: "2026-01-01T00:00:00Z", configMap: "cm", restarts: 0 },
      canaryScaledDownAt: "2026-01-01T00:00:00Z",
    });
    expect(prune(status, field(rootOf(c), "status"))).toEqual(status);
  });
});

describe("voicerolloutcommands.voicectl.dev", () => {
  const c = voiceRolloutCommandCrd();
  const v = c.spec.versions[0]!;

  it("has short name vrc, a status subresource, and prints rollout, action, user, applied, age", () => {
    expect(c.spec.names).toMatchObject({ kind: "VoiceRolloutCommand", shortNames: ["vrc"] });
    expect(v.subresources).toEqual({ status: {} });
    const cols = v.additionalPrinterColumns.filter((p) => !p.priority).map((p) => [p.name, p.jsonPath]);
    expect(cols).toEqual([
      ["Rollout", ".spec.rollout"],
      ["Action", ".spec.action"],
      ["User", ".spec.user"],
      ["Applied", ".status.appliedAt"],
      ["Age", ".metadata.creationTimestamp"],
    ]);
  });

  it("has an immutable spec and a status the operator can fill", () => {
    const spec = field(rootOf(c), "spec");
    expect(spec["x-kubernetes-validations"]).toEqual([
      expect.objectContaining({ rule: "self == oldSelf" }),
      expect.objectContaining({ rule: "!has(self.accept) || self.action == 'approve'" }),
    ]);
    expect(field(spec, "accept", "[]", "margin")["pattern"]).toBe("^\\d+(\\.\\d+)?%?$");
    expect(field(spec, "action")["enum"]).toEqual(["approve", "abort", "promote", "retry"]);
    expect(spec["required"]).toEqual(["rollout", "action", "reason", "user"]);
    expect(Object.keys(field(rootOf(c), "status")["properties"] as object)).toEqual(["appliedAt", "result"]);
  });
});

describe("rolloutpolicies.voicectl.dev", () => {
  const c = rolloutPolicyCrd();
  const spec = field(rootOf(c), "spec");

  it("has short name rp and the policy spec's schema", () => {
    expect(c.spec.names).toMatchObject({
      kind: "RolloutPolicy",
      shortNames: ["rp"],
      categories: ["voicectl"],
    });
    expect(spec["required"]).toEqual(["metrics"]);
    expect(field(spec, "metrics", "[]", "direction")["enum"]).toEqual(["lowerIsBetter", "higherIsBetter"]);
    expect(field(spec, "confidence")).toMatchObject({ minimum: 0.5, exclusiveMinimum: true, maximum: 1 });
  });

  it("restates the policy's refinements: unique metric names, exactly one budget kind", () => {
    expect(field(spec, "metrics")).toMatchObject({
      "x-kubernetes-list-type": "map",
      "x-kubernetes-list-map-keys": ["name"],
    });
    expect(field(spec, "metrics", "[]", "budget")["x-kubernetes-validations"]).toEqual([
      expect.objectContaining({ rule: "has(self.absolute) != has(self.relative)" }),
    ]);
  });

  it("keeps a policy's slice dimensions, a label or a list of labels, as written", () => {
    const policy = policySpecSchema.parse({
      sliceBy: ["voice_id", ["product", "tenant"]],
      metrics: [
        {
          name: "wer",
          direction: "lowerIsBetter",
          aggregate: "mean",
          budget: { relative: 0.1 },
          sliceBy: [["voice_id", "language"]],
          source: { histogram: "voice_wer" },
        },
      ],
    });
    expect(prune(policy, spec)).toEqual(policy);
  });
});
