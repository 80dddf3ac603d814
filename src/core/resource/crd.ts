// The CustomResourceDefinitions of voicectl.dev, generated from the zod schemas
// (docs/architecture.md#one-schema: one schema, never written twice). scripts/gen-crds.ts writes them to
// charts/voicectl/crds/ and a test fails when the committed files differ, so the API server refuses what the
// operator could not run.
//
// z.toJSONSchema gives JSON Schema; Kubernetes wants a *structural* OpenAPI v3 schema: every node typed,
// `properties` never beside `additionalProperties`, unions only as value validations (`oneOf` of
// `required` lists) under one typed node, no `$ref`/`$schema`/`const`. toStructural() does that rewrite
// and refuses, naming the field path, what it cannot express, so a new zod construct fails the generator
// rather than producing a CRD the API server rejects at install time.
import { z } from "zod";
import { stringify } from "yaml";
import { policySpecSchema, POLICY_KIND } from "../policy/schema.js";
import {
  COMMAND_KIND,
  COMMAND_PLURAL,
  GROUP,
  POLICY_PLURAL,
  ROLLOUT_KIND,
  ROLLOUT_PLURAL,
  VERSION,
  voiceRolloutCommandSpecSchema,
  voiceRolloutSpecSchema,
  voiceRolloutStatusSchema,
} from "./voicerollout.js";

/** One node of an OpenAPI v3 schema as Kubernetes stores it (JSONSchemaProps). */
export type OpenApiSchema = { [key: string]: unknown };

export class CrdSchemaError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
    this.name = "CrdSchemaError";
  }
}

// Keys of JSONSchemaProps that a CRD may carry. Anything else either is dropped on purpose (DROPPED) or
// stops the generator.
const ALLOWED = new Set([
  "type",
  "format",
  "title",
  "description",
  "default",
  "example",
  "enum",
  "nullable",
  "maximum",
  "exclusiveMaximum",
  "minimum",
  "exclusiveMinimum",
  "multipleOf",
  "maxLength",
  "minLength",
  "pattern",
  "maxItems",
  "minItems",
  "maxProperties",
  "minProperties",
  "required",
  "items",
  "properties",
  "additionalProperties",
  "allOf",
  "anyOf",
  "oneOf",
  "not",
]);
// Annotations with no meaning for the API server; `$schema`/`$id`/`id` are even forbidden in a CRD.
const DROPPED = new Set([
  "$schema",
  "$id",
  "id",
  "$comment",
  "examples",
  "readOnly",
  "writeOnly",
  "deprecated",
]);
// Keys a structural schema forbids inside allOf/anyOf/oneOf/not.
const NOT_IN_JUNCTORS = new Set(["type", "description", "default", "nullable", "additionalProperties"]);

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Rewrites a JSON Schema produced by z.toJSONSchema (target openapi-3.0) into a structural schema. */
export function toStructural(schema: Record<string, unknown>, path = "<root>"): OpenApiSchema {
  return ordered(convert(schema, path, schema, []));
}

// Description and type first, children last, so a reader of the YAML sees what a field is before its parts.
const FIRST = ["description", "type", "format", "nullable", "enum", "default"];
const LAST = ["required", "properties", "additionalProperties", "items", "oneOf", "anyOf", "allOf"];
function ordered(schema: OpenApiSchema): OpenApiSchema {
  const rank = (k: string) =>
    FIRST.includes(k) ? FIRST.indexOf(k) - 100 : LAST.includes(k) ? LAST.indexOf(k) + 1 : 0;
  const out: OpenApiSchema = {};
  for (const k of Object.keys(schema).sort((a, b) => rank(a) - rank(b))) {
    const v = schema[k];
    if (k === "properties" && isRecord(v))
      out[k] = Object.fromEntries(Object.entries(v).map(([n, p]) => [n, isRecord(p) ? ordered(p) : p]));
    else if ((k === "items" || k === "additionalProperties") && isRecord(v)) out[k] = ordered(v);
    else if (["oneOf", "anyOf", "allOf"].includes(k) && Array.isArray(v))
      out[k] = v.map((b: unknown) => (isRecord(b) ? ordered(b) : b));
    else out[k] = v;
  }
  return out;
}

function resolveRef(
  node: Record<string, unknown>,
  path: string,
  root: Record<string, unknown>,
  seen: string[],
) {
  const ref = node["$ref"];
  if (typeof ref !== "string") return node;
  if (seen.includes(ref) || ref === "#")
    throw new CrdSchemaError(path, `recursive schema (${ref}) cannot be a CRD schema`);
  const m = /^#\/(\$defs|definitions)\/(.+)$/.exec(ref);
  const defs = m ? root[m[1]!] : undefined;
  const target = m && isRecord(defs) ? defs[m[2]!] : undefined;
  if (!isRecord(target)) throw new CrdSchemaError(path, `unresolvable reference ${ref}`);
  seen.push(ref);
  const { $ref: _ref, ...siblings } = node;
  return { ...target, ...siblings };
}

function convert(
  input: Record<string, unknown>,
  path: string,
  root: Record<string, unknown>,
  seenRefs: readonly string[],
): OpenApiSchema {
  const seen = [...seenRefs];
  const node = resolveRef(input, path, root, seen);
  if ("anyOf" in node || "oneOf" in node) return convertUnion(node, path, root, seen);
  if ("allOf" in node) {
    const parts = node["allOf"];
    if (Array.isArray(parts) && parts.length === 1 && isRecord(parts[0])) {
      const { allOf: _allOf, ...rest } = node;
      return convert({ ...parts[0], ...rest }, path, root, seen);
    }
    throw new CrdSchemaError(path, "an intersection (allOf) cannot be expressed; use one object schema");
  }
  if ("not" in node) throw new CrdSchemaError(path, "`not` is not supported");
  if ("prefixItems" in node || Array.isArray(node["items"]))
    throw new CrdSchemaError(path, "tuples cannot be expressed in a CRD schema");

  const out: OpenApiSchema = {};
  for (const [key, value] of Object.entries(node)) {
    if (DROPPED.has(key) || key.startsWith("$") || key === "definitions") continue;
    if (key === "const") {
      out["enum"] = [value];
      continue;
    }
    if (key === "propertyNames") {
      // z.record(z.string(), …) says keys are strings, which every object key is anyway.
      if (isRecord(value) && Object.keys(value).every((k) => k === "type") && value["type"] === "string")
        continue;
      throw new CrdSchemaError(path, "constrained map keys (propertyNames) cannot be expressed");
    }
    if (key === "patternProperties")
      throw new CrdSchemaError(path, "patternProperties cannot be expressed; use a record or an object");
    if (!ALLOWED.has(key) && !key.startsWith("x-kubernetes-"))
      throw new CrdSchemaError(path, `"${key}" has no place in a Kubernetes structural schema`);
    out[key] = value;
  }
  if (out["type"] === undefined && Array.isArray(out["enum"]) && out["enum"].length > 0) {
    const kinds = new Set(out["enum"].map((v) => (v === null ? "null" : typeof v)));
    const [only] = kinds;
    if (kinds.size === 1 && (only === "string" || only === "number" || only === "boolean"))
      out["type"] = only;
  }

  const type = out["type"];
  if (type === undefined) {
    // z.any()/z.unknown(): keep whatever is sent instead of pruning it.
    for (const k of Object.keys(out)) if (k !== "description" && k !== "title") delete out[k];
    out["x-kubernetes-preserve-unknown-fields"] = true;
    return out;
  }
  if (type === "integer") {
    // zod bounds every int by the safe-integer range; those bounds only add noise to the CRD.
    if (out["minimum"] === Number.MIN_SAFE_INTEGER) delete out["minimum"];
    if (out["maximum"] === Number.MAX_SAFE_INTEGER) delete out["maximum"];
  }
  if (type === "array") {
    const items = out["items"];
    if (!isRecord(items)) throw new CrdSchemaError(path, "an array needs an item schema");
    out["items"] = convert(items, `${path}[]`, root, seen);
  }
  if (type === "object") convertObject(out, path, root, seen);
  return out;
}

function convertObject(out: OpenApiSchema, path: string, root: Record<string, unknown>, seen: string[]) {
  const props = out["properties"];
  const extra = out["additionalProperties"];
  delete out["additionalProperties"];
  if (isRecord(props) && Object.keys(props).length > 0) {
    const converted: Record<string, OpenApiSchema> = {};
    for (const [name, p] of Object.entries(props)) {
      if (!isRecord(p)) throw new CrdSchemaError(`${path}.${name}`, "expected a schema");
      converted[name] = convert(p, path === "<root>" ? name : `${path}.${name}`, root, seen);
    }
    out["properties"] = converted;
    // Strict objects (false) need nothing: the API server prunes, and refuses under strict field
    // validation, unknown fields. Loose ones ({} or true) keep them.
    if (extra === true || (isRecord(extra) && Object.keys(extra).length === 0))
      out["x-kubernetes-preserve-unknown-fields"] = true;
    else if (isRecord(extra))
      throw new CrdSchemaError(path, "an object with fixed properties cannot also be a map (catchall)");
    return;
  }
  delete out["properties"];
  if (isRecord(extra) && Object.keys(extra).length > 0) {
    out["additionalProperties"] = convert(extra, `${path}[*]`, root, seen);
  } else if (extra !== false) {
    out["x-kubernetes-preserve-unknown-fields"] = true;
  }
}

function convertUnion(
  node: Record<string, unknown>,
  path: string,
  root: Record<string, unknown>,
  seen: string[],
): OpenApiSchema {
  const key = "anyOf" in node ? "anyOf" : "oneOf";
  const raw = node[key];
  if (!Array.isArray(raw)) throw new CrdSchemaError(path, `${key} must be a list`);
  const { [key]: _branches, ...outer } = node;
  let nullable = outer["nullable"] === true;
  const branches: Record<string, unknown>[] = [];
  for (const b of raw) {
    if (!isRecord(b)) throw new CrdSchemaError(path, "expected a schema in the union");
    const r = resolveRef(b, path, root, [...seen]);
    if (
      r["type"] === "null" ||
      (Array.isArray(r["enum"]) && r["enum"].length === 1 && r["enum"][0] === null)
    ) {
      nullable = true;
      continue;
    }
    branches.push(r);
  }
  const withOuter = (s: OpenApiSchema): OpenApiSchema => {
    const merged: OpenApiSchema = { ...s };
    for (const [k, v] of Object.entries(outer)) if (!DROPPED.has(k)) merged[k] = v;
    if (nullable) merged["nullable"] = true;
    return merged;
  };
  if (branches.length === 0) throw new CrdSchemaError(path, "a union of nothing but null");
  if (branches.length === 1) return convert(withOuter(branches[0]!), path, root, seen);

  const converted = branches.map((b) => convert(b, path, root, seen));
  const types = new Set(converted.map((c) => c["type"]));
  const [type] = types;
  if (types.size !== 1 || type === undefined) {
    const sorted = [...types].sort().join("|");
    if (sorted === "integer|string" || sorted === "number|string") {
      return withOuter({ "x-kubernetes-int-or-string": true });
    }
    // A value of several kinds (e.g. a label or a list of labels): structural schemas cannot type it,
    // and CEL rules cannot see untyped values, so the API server keeps it as sent and the operator's
    // zod parse is what checks it.
    const kinds = converted.map((c) =>
      c["type"] === "array" && isRecord(c["items"]) && typeof c["items"]["type"] === "string"
        ? `a list of ${String(c["items"]["type"])}s`
        : `a ${String(c["type"] ?? "value")}`,
    );
    const description = outer["description"];
    return {
      description: `${typeof description === "string" ? description + " " : ""}Either ${kinds.join(" or ")}.`,
      "x-kubernetes-preserve-unknown-fields": true,
    };
  }
  if (type === "object") return withOuter(mergeObjectUnion(branches, converted, path));
  if (type === "array") {
    const items = converted.map((c) => c["items"]);
    if (!items.every((i) => deepEqual(i, items[0])))
      throw new CrdSchemaError(path, "a union of arrays with different items cannot be expressed");
    return withOuter(converted[0]!);
  }
  // Scalars of one type: enums merge; other constraints become value validations under one type.
  if (
    converted.every(
      (c) => Array.isArray(c["enum"]) && Object.keys(c).every((k) => k === "type" || k === "enum"),
    )
  ) {
    const values = converted.flatMap((c) => c["enum"] as unknown[]);
    return withOuter({ type, enum: [...new Set(values)] });
  }
  return withOuter({ type, anyOf: converted.map(valueValidations) });
}

function valueValidations(s: OpenApiSchema): OpenApiSchema {
  const out: OpenApiSchema = {};
  for (const [k, v] of Object.entries(s)) if (!NOT_IN_JUNCTORS.has(k)) out[k] = v;
  return out;
}

// {a: …} | {b: …} | {c: …} becomes one object with properties a, b and c, plus `oneOf` of the branches'
// `required` lists (and, when every branch was strict, maxProperties) so that exactly one shape matches.
function mergeObjectUnion(
  original: readonly Record<string, unknown>[],
  converted: readonly OpenApiSchema[],
  path: string,
): OpenApiSchema {
  const properties: Record<string, unknown> = {};
  const requireds: string[][] = [];
  for (const c of converted) {
    for (const k of Object.keys(c))
      if (!["type", "properties", "required", "description", "title"].includes(k))
        throw new CrdSchemaError(path, `a union branch with "${k}" cannot be expressed`);
    const props = isRecord(c["properties"]) ? c["properties"] : {};
    for (const [name, p] of Object.entries(props)) {
      if (name in properties && !deepEqual(properties[name], p))
        throw new CrdSchemaError(`${path}.${name}`, "union branches give this field different schemas");
      if (isRecord(p) && "default" in p)
        throw new CrdSchemaError(`${path}.${name}`, "a field of a union branch cannot have a default");
      properties[name] = p;
    }
    requireds.push(Array.isArray(c["required"]) ? (c["required"] as string[]) : []);
  }
  const out: OpenApiSchema = { type: "object", properties };
  if (requireds.every((r) => r.length > 0)) {
    // oneOf only when no branch's required list contains another's: then at most one can match.
    const distinct = requireds.every((a, i) =>
      requireds.every((b, j) => i === j || !b.every((name) => a.includes(name))),
    );
    out[distinct ? "oneOf" : "anyOf"] = requireds.map((r) => ({ required: r }));
    // Says "at least one field" at the object's own path, which the API server's oneOf message does not.
    out["minProperties"] = Math.min(...requireds.map((r) => r.length));
  }
  if (original.every((o) => o["additionalProperties"] === false)) {
    out["maxProperties"] = Math.max(
      ...converted.map((c) => Object.keys(isRecord(c["properties"]) ? c["properties"] : {}).length),
    );
  }
  return out;
}

/** Problems that make a schema non-structural (empty when it is structural), with field paths. */
export function structuralProblems(schema: unknown, path = "<root>", inJunctor = false): string[] {
  if (!isRecord(schema)) return [`${path}: not a schema object`];
  const problems: string[] = [];
  for (const key of Object.keys(schema)) {
    if (!ALLOWED.has(key) && !key.startsWith("x-kubernetes-"))
      problems.push(`${path}: forbidden key "${key}"`);
    if (inJunctor && (NOT_IN_JUNCTORS.has(key) || key === "properties" || key === "items"))
      problems.push(`${path}: "${key}" inside a logical junctor`);
  }
  const untypedOk =
    schema["x-kubernetes-preserve-unknown-fields"] === true || schema["x-kubernetes-int-or-string"] === true;
  if (!inJunctor && schema["type"] === undefined && !untypedOk) problems.push(`${path}: no type`);
  if (schema["properties"] !== undefined && schema["additionalProperties"] !== undefined)
    problems.push(`${path}: properties and additionalProperties together`);
  if (schema["type"] === "array" && !inJunctor && !isRecord(schema["items"]))
    problems.push(`${path}: array without items`);
  if (isRecord(schema["properties"]))
    for (const [name, p] of Object.entries(schema["properties"]))
      problems.push(...structuralProblems(p, `${path}.${name}`, inJunctor));
  if (isRecord(schema["items"]))
    problems.push(...structuralProblems(schema["items"], `${path}[]`, inJunctor));
  if (isRecord(schema["additionalProperties"]))
    problems.push(...structuralProblems(schema["additionalProperties"], `${path}[*]`, inJunctor));
  for (const j of ["allOf", "anyOf", "oneOf"] as const) {
    const list = schema[j];
    if (list === undefined) continue;
    if (!Array.isArray(list)) problems.push(`${path}.${j}: not a list`);
    else list.forEach((b, i) => problems.push(...structuralProblems(b, `${path}.${j}[${i}]`, true)));
  }
  if (schema["not"] !== undefined) problems.push(...structuralProblems(schema["not"], `${path}.not`, true));
  return problems;
}

/** The structural schema of a zod schema, as the API server should see what the operator parses. */
export function zodToStructural(schema: z.ZodType, path: string): OpenApiSchema {
  let json: Record<string, unknown>;
  try {
    json = z.toJSONSchema(schema, { io: "input", target: "openapi-3.0" }) as Record<string, unknown>;
  } catch (e) {
    throw new CrdSchemaError(path, `cannot be expressed as a schema: ${(e as Error).message}`);
  }
  return toStructural(json, path);
}

/** Adds keys (CEL rules, list types) at a field path of a structural schema: `["steps", "[]", "analysis"]`. */
function overlay(schema: OpenApiSchema, at: readonly string[], extra: OpenApiSchema, label: string): void {
  let node: unknown = schema;
  for (const seg of at) {
    node = isRecord(node)
      ? seg === "[]"
        ? node["items"]
        : isRecord(node["properties"])
          ? node["properties"][seg]
          : undefined
      : undefined;
    if (!isRecord(node)) throw new CrdSchemaError(`${label}.${at.join(".")}`, "no such field to annotate");
  }
  Object.assign(node as OpenApiSchema, extra);
}

// Refinements zod checks in code (.refine/.superRefine) that JSON Schema cannot carry, restated for the API
// server as CEL rules or list types, so `kubectl apply` reports them rather than the operator later.
const rolloutSpecRules: readonly [readonly string[], OpenApiSchema][] = [
  [
    ["traffic"],
    {
      "x-kubernetes-validations": [
        {
          rule: "[has(self.gatewayAPI), has(self.istio), has(self.kserve)].filter(x, x).size() == 1",
          message: "expected exactly one traffic router: gatewayAPI, istio or kserve",
        },
        {
          rule: "!(has(self.pinning) && has(self.kserve))",
          message:
            "pinning needs gatewayAPI or istio: KServe cannot send requests with a header to stable alone",
        },
      ],
    },
  ],
  [
    ["steps", "[]", "analysis"],
    {
      "x-kubernetes-validations": [
        {
          rule: "duration(self.minDuration) <= duration(self.maxDuration)",
          message: "expected minDuration <= maxDuration",
        },
      ],
    },
  ],
  [
    ["steps", "[]", "pause"],
    {
      "x-kubernetes-validations": [
        {
          rule: "!(has(self.deadline) && has(self.duration))",
          message: "expected deadline only on a pause until approved (one without duration)",
        },
      ],
    },
  ],
];
const policySpecRules: readonly [readonly string[], OpenApiSchema][] = [
  // superRefine: metric names are unique.
  [["metrics"], { "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"] }],
  [
    ["metrics", "[]", "budget"],
    {
      "x-kubernetes-validations": [
        {
          rule: "has(self.absolute) != has(self.relative)",
          message: "expected exactly one of `absolute` or `relative`",
        },
      ],
    },
  ],
];
const statusRules: readonly [readonly string[], OpenApiSchema][] = [
  [["conditions"], { "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"] }],
];

function withRules(
  schema: OpenApiSchema,
  rules: readonly [readonly string[], OpenApiSchema][],
  label: string,
) {
  for (const [at, extra] of rules) overlay(schema, at, extra, label);
  return schema;
}

// The command's status is written by the operator alone (adapters/kubernetes/rollouts.ts markApplied).
// voicerollout.ts types it as an interface, not a zod schema, so it is stated here.
const commandStatusSchema = z.object({
  appliedAt: z.string().optional().describe("When the operator applied the command (RFC 3339)."),
  result: z.string().optional().describe("What applying it did, or why it could not be applied."),
});

export interface PrinterColumn {
  readonly name: string;
  readonly type: "string" | "integer" | "number" | "boolean" | "date";
  readonly jsonPath: string;
  readonly description?: string;
  readonly priority?: number;
}

export interface CustomResourceDefinition {
  readonly apiVersion: "apiextensions.k8s.io/v1";
  readonly kind: "CustomResourceDefinition";
  readonly metadata: { readonly name: string; readonly labels: Record<string, string> };
  readonly spec: {
    readonly group: string;
    readonly names: {
      readonly kind: string;
      readonly listKind: string;
      readonly plural: string;
      readonly singular: string;
      readonly shortNames: readonly string[];
      readonly categories: readonly string[];
    };
    readonly scope: "Namespaced";
    readonly versions: readonly {
      readonly name: string;
      readonly served: boolean;
      readonly storage: boolean;
      readonly subresources?: { readonly status: Record<string, never> };
      readonly additionalPrinterColumns: readonly PrinterColumn[];
      readonly schema: { readonly openAPIV3Schema: OpenApiSchema };
    }[];
  };
}

interface CrdInput {
  readonly kind: string;
  readonly plural: string;
  readonly shortName: string;
  readonly description: string;
  readonly spec: OpenApiSchema;
  readonly status?: OpenApiSchema;
  readonly columns: readonly PrinterColumn[];
}

const AGE: PrinterColumn = { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" };

function crd(input: CrdInput): CustomResourceDefinition {
  const properties: Record<string, OpenApiSchema> = {
    apiVersion: { type: "string", description: "voicectl.dev/v1alpha1" },
    kind: { type: "string", description: input.kind },
    metadata: { type: "object" },
    spec: input.spec,
  };
  if (input.status) properties["status"] = input.status;
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: {
      name: `${input.plural}.${GROUP}`,
      labels: { "app.kubernetes.io/name": "voicectl", "app.kubernetes.io/part-of": "voicectl" },
    },
    spec: {
      group: GROUP,
      names: {
        kind: input.kind,
        listKind: `${input.kind}List`,
        plural: input.plural,
        singular: input.kind.toLowerCase(),
        shortNames: [input.shortName],
        categories: ["voicectl"],
      },
      scope: "Namespaced",
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          ...(input.status ? { subresources: { status: {} } } : {}),
          additionalPrinterColumns: [...input.columns, AGE],
          schema: {
            openAPIV3Schema: {
              type: "object",
              description: input.description,
              properties,
              required: ["spec"],
            },
          },
        },
      ],
    },
  };
}

export function voiceRolloutCrd(): CustomResourceDefinition {
  return crd({
    kind: ROLLOUT_KIND,
    plural: ROLLOUT_PLURAL,
    shortName: "vr",
    description:
      "A release of a voice model: stable and canary versions, the RolloutPolicy that judges the canary, how traffic is split, and the steps.",
    spec: withRules(zodToStructural(voiceRolloutSpecSchema, "spec"), rolloutSpecRules, "spec"),
    status: withRules(zodToStructural(voiceRolloutStatusSchema, "status"), statusRules, "status"),
    columns: [
      { name: "Phase", type: "string", jsonPath: ".status.phase" },
      { name: "Weight", type: "integer", jsonPath: ".status.canaryWeight", description: "Canary traffic %" },
      // Counted from 1 for people ("2/4"), as `voicectl rollout list` shows it; currentStepIndex stays 0-based.
      { name: "Step", type: "string", jsonPath: ".status.step" },
      { name: "Reason", type: "string", jsonPath: ".status.reason" },
      { name: "Stable", type: "string", jsonPath: ".spec.stable.deployment", priority: 1 },
      { name: "Canary", type: "string", jsonPath: ".spec.canary.deployment", priority: 1 },
      { name: "Policy", type: "string", jsonPath: ".spec.policyRef.name", priority: 1 },
    ],
  });
}

export function voiceRolloutCommandCrd(): CustomResourceDefinition {
  const spec = zodToStructural(voiceRolloutCommandSpecSchema, "spec");
  // A command is a record of who asked for what; the admission policy checked it at creation, so it may
  // not be rewritten afterwards (delete it and create another instead).
  spec["x-kubernetes-validations"] = [
    { rule: "self == oldSelf", message: "spec is immutable: create a new VoiceRolloutCommand instead" },
    // The refine of voiceRolloutCommandSpecSchema, restated: only an approval accepts findings.
    { rule: "!has(self.accept) || self.action == 'approve'", message: "accept is only for action approve" },
  ];
  return crd({
    kind: COMMAND_KIND,
    plural: COMMAND_PLURAL,
    shortName: "vrc",
    description:
      "A request to approve, abort, promote or retry a VoiceRollout; RBAC custom verbs on voicerollouts decide who may create one, and the operator applies each once.",
    spec,
    status: zodToStructural(commandStatusSchema, "status"),
    columns: [
      { name: "Rollout", type: "string", jsonPath: ".spec.rollout" },
      { name: "Action", type: "string", jsonPath: ".spec.action" },
      { name: "User", type: "string", jsonPath: ".spec.user" },
      { name: "Applied", type: "date", jsonPath: ".status.appliedAt" },
      { name: "Reason", type: "string", jsonPath: ".spec.reason", priority: 1 },
    ],
  });
}

export function rolloutPolicyCrd(): CustomResourceDefinition {
  return crd({
    kind: POLICY_KIND,
    plural: POLICY_PLURAL,
    shortName: "rp",
    description: "Which metrics judge a canary, per slice, with what budgets and confidence.",
    spec: withRules(zodToStructural(policySpecSchema, "spec"), policySpecRules, "spec"),
    columns: [
      { name: "Confidence", type: "number", jsonPath: ".spec.confidence", priority: 1 },
      { name: "Familywise", type: "string", jsonPath: ".spec.familywise", priority: 1 },
    ],
  });
}

export function allCrds(): CustomResourceDefinition[] {
  return [voiceRolloutCrd(), voiceRolloutCommandCrd(), rolloutPolicyCrd()];
}

/** The file a CRD is kept in under charts/voicectl/crds/. */
export function crdFileName(c: CustomResourceDefinition): string {
  return `${c.metadata.name}.yaml`;
}

/** The committed text of a CRD: a do-not-edit header and the YAML, never folded. */
export function crdYaml(c: CustomResourceDefinition): string {
  return (
    "# Generated by scripts/gen-crds.ts from the zod schemas in src/core; do not edit (npm run gen:crds).\n" +
    stringify(c, { lineWidth: 0, aliasDuplicateObjects: false })
  );
}
