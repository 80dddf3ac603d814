// SimulationScenario files: a simulated voice fleet (traffic cells, per-request metric distributions), what
// the canary changes against stable, regressions in some cells from some time, and source faults, together
// with the rollout plan and the RolloutPolicy to judge with. `voicectl simulate` runs them; the fleet
// (fleet.ts) turns them into looks.
//
// Files are validated like policy files (file:line:column, field path, every problem at once), then checked
// against the policy they reference: every policy metric needs a distribution of a kind its aggregate can
// use, and every label the policy slices by must be carried by the traffic cells.
import { dirname, resolve } from "node:path";
import { z } from "zod";
import { formatPath, loadPolicy, parseYamlDocuments } from "../adapters/files/policy-file.js";
import { readTextFile } from "../adapters/files/text-encoding.js";
import { FileAccessError, InvalidInputError, type Problem } from "../core/errors.js";
import {
  API_VERSION,
  dimensionLabels,
  metricDimensions,
  type MetricSpec,
  type Policy,
} from "../core/policy/schema.js";
import { durationSchema, parseDuration, stepsSchema, type Step } from "../core/rollout/plan.js";

export const SCENARIO_KIND = "SimulationScenario";

const labelName = z
  .string()
  .regex(
    /^[A-Za-z_][A-Za-z0-9_]*$/,
    "expected a label name (letters, digits, underscore; not starting with a digit)",
  );
const labelValue = z.string().min(1, "expected a non-empty label value");
const labelsSchema = z.record(labelName, labelValue);
const metricName = z.string().min(1);

const positiveDuration = durationSchema.refine((d) => parseDuration(d)! > 0, "expected a positive duration");

// ------------------------------------------------------------------------------------------- distributions

const varySchema = z
  .strictObject({
    label: labelName.describe("The label whose values get their own baseline (e.g. voice_id, language)."),
    sd: z
      .number()
      .finite()
      .nonnegative()
      .default(0)
      .describe(
        "Spread of the seeded random offset drawn once per value of the label (Normal(0, sd)), for values not listed in `offsets`.",
      ),
    offsets: z
      .record(labelValue, z.number().finite())
      .optional()
      .describe("Fixed offsets for some values of the label, e.g. {es: -0.15} for a lower Spanish MOS."),
  })
  .describe(
    "Per-slice variation of the stable version's distribution: an offset per value of one label, the same for both arms. " +
      "Units: added to the mean (normal), to the log of the median (lognormal: 0.1 is about +10%), to the logit of p (bernoulli).",
  );

const exponentialBucketsSchema = z.strictObject({
  start: z.number().finite().positive().describe("Upper bound of the first bucket."),
  factor: z
    .number()
    .finite()
    .gt(1)
    .describe("Ratio between consecutive bounds (native histograms: 2^(1/2^schema))."),
  count: z.number().int().min(1).max(10_000).describe("Number of finite bounds; +Inf is added."),
});

const bucketsSchema = z
  .union([
    z
      .array(z.number().finite())
      .min(1)
      .refine(
        (b) => b.every((x, i) => i === 0 || x > b[i - 1]!),
        "expected strictly increasing bucket bounds",
      )
      .describe("Explicit finite upper bounds `le`, increasing; +Inf is added."),
    z.strictObject({ exponential: exponentialBucketsSchema }),
  ])
  .describe(
    "Histogram bucket bounds of a quantile metric, as Prometheus would export them. Resolution limits sensitivity: " +
      "a ratio cannot be proven much closer than factor² (use factor <= 1.03 to judge a +15% budget).",
  );

/** Default bucket layout: exponential from 1 by a factor 1.1 up to about 60000 (117 finite bounds). */
export const DEFAULT_BUCKETS = { exponential: { start: 1, factor: 1.1, count: 117 } } as const;

const DISTRIBUTIONS = ["normal", "lognormal", "bernoulli"] as const;
export type DistributionFamily = (typeof DISTRIBUTIONS)[number];

export const metricModelSchema = z
  .strictObject({
    normal: z
      .strictObject({ mean: z.number().finite(), sd: z.number().finite().nonnegative() })
      .optional()
      .describe("Normal per-request values (speaker similarity, MOS, WER, cost)."),
    lognormal: z
      .strictObject({
        median: z.number().finite().positive(),
        sigma: z.number().finite().nonnegative().describe("Spread of the log; about 0.5 for TTFA."),
      })
      .optional()
      .describe("Lognormal per-request values (latencies): median and log-scale sigma."),
    bernoulli: z
      .strictObject({ p: z.number().min(0).max(1) })
      .optional()
      .describe("0/1 per request (errors, underruns, silence/truncation): the probability of a 1."),
    vary: z
      .union([varySchema, z.array(varySchema)])
      .optional()
      .describe("Per-slice variation: one entry or a list, offsets add up."),
    buckets: bucketsSchema.optional(),
    sampled: z
      .number()
      .gt(0)
      .max(1)
      .default(1)
      .describe("Fraction of requests that get a value (quality scorers often run on a sample)."),
  })
  .superRefine((m, ctx) => {
    const given = DISTRIBUTIONS.filter((d) => m[d] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({
        code: "custom",
        message: `expected exactly one distribution: normal, lognormal or bernoulli${given.length > 1 ? ` (got ${given.join(", ")})` : ""}`,
        input: m,
      });
    }
  })
  .describe("The stable version's per-request distribution of one policy metric.");

const changeFields = {
  factor: z
    .number()
    .finite()
    .positive()
    .optional()
    .describe("Multiply: the mean (normal), the median (lognormal), p (bernoulli). Applied before `shift`."),
  shift: z
    .number()
    .finite()
    .optional()
    .describe("Add: to the mean (normal), the median (lognormal), p (bernoulli)."),
  p: z
    .number()
    .min(0)
    .max(1)
    .optional()
    .describe("Bernoulli only: the new probability, before factor/shift."),
  sd: z.number().finite().nonnegative().optional().describe("Normal only: the new per-request sd."),
  sigma: z.number().finite().nonnegative().optional().describe("Lognormal only: the new log-scale sigma."),
};
const CHANGE_KEYS = ["factor", "shift", "p", "sd", "sigma"] as const;

function requireChange(c: Partial<Record<(typeof CHANGE_KEYS)[number], number>>, ctx: z.RefinementCtx): void {
  if (CHANGE_KEYS.every((k) => c[k] === undefined)) {
    ctx.addIssue({ code: "custom", message: `expected at least one of ${CHANGE_KEYS.join(", ")}`, input: c });
  }
}

export const changeSchema = z
  .strictObject(changeFields)
  .superRefine(requireChange)
  .describe("How the canary's distribution differs from stable's: value × factor + shift.");

export const regressionSchema = z
  .strictObject({
    metric: metricName.describe("The policy metric that regresses."),
    ...changeFields,
    slices: labelsSchema
      .optional()
      .describe(
        "Only the cells carrying all these label values (e.g. {voice_id: mia-chen}); all cells without.",
      ),
    from: durationSchema.optional().describe("Simulated time from which it applies (default: the start)."),
    to: durationSchema.optional().describe("Simulated time at which it stops (default: never)."),
    description: z.string().optional(),
  })
  .superRefine((r, ctx) => {
    requireChange(r, ctx);
    if (r.from !== undefined && r.to !== undefined && parseDuration(r.from)! >= parseDuration(r.to)!) {
      ctx.addIssue({ code: "custom", path: ["to"], message: "expected `to` after `from`", input: r.to });
    }
  })
  .describe("A change of the canary arm only, in the matching cells, on top of spec.canary.");

export const faultSchema = z
  .strictObject({
    kind: z.literal("gap").describe("gap: the metrics source returns nothing for these metrics."),
    metrics: z
      .union([z.literal("all"), z.array(metricName).min(1)])
      .default("all")
      .describe("The metrics affected, or `all`."),
    from: durationSchema.describe("Simulated time the fault starts."),
    to: durationSchema.describe("Simulated time it ends; every look overlapping [from, to) is affected."),
    reason: z.string().optional().describe("What the looks report as the reason (default: a generic one)."),
  })
  .refine((f) => parseDuration(f.from)! < parseDuration(f.to)!, {
    message: "expected `to` after `from`",
    path: ["to"],
  })
  .describe("A failure of the metrics source: affected looks list the metrics in `unavailable`.");

// ------------------------------------------------------------------------------------------------ traffic

const cellSchema = z.strictObject({
  labels: labelsSchema.describe("The cell's full label combination, e.g. {voice_id, language, tenant}."),
  share: z.number().finite().positive().describe("Relative share of requests (shares are normalised)."),
});

const generateSchema = z
  .strictObject({
    voices: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .describe("Number of voices: one cell each, voice_id voice-001..."),
    languages: z
      .array(labelValue)
      .min(1)
      .default(["en"])
      .describe("Assigned round-robin: voice i speaks languages[i mod L]."),
    tenants: z
      .array(labelValue)
      .min(1)
      .optional()
      .describe(
        "Assigned deterministically: voice i belongs to tenants[floor(i / L) mod T]. No tenant label without.",
      ),
    skew: z
      .number()
      .finite()
      .nonnegative()
      .default(1)
      .describe("Zipf exponent of the voices' shares: share of voice i ∝ 1/i^skew (0: equal shares)."),
  })
  .describe("Generated cells: one per voice, shares Zipf-distributed over the voices.");

export const trafficSchema = z
  .strictObject({
    requestsPerSecond: z
      .number()
      .finite()
      .positive()
      .describe("Requests per second of all traffic, both arms."),
    labels: labelsSchema
      .optional()
      .describe("Labels added to every cell (a cell's own labels win), e.g. {product: studio}."),
    cells: z
      .array(cellSchema)
      .min(1)
      .optional()
      .describe("Explicit cells; exactly one of `cells` or `generate`."),
    generate: generateSchema.optional(),
  })
  .superRefine((t, ctx) => {
    if ((t.cells === undefined) === (t.generate === undefined)) {
      ctx.addIssue({ code: "custom", message: "expected exactly one of `cells` or `generate`", input: t });
    }
    const seen = new Map<string, number>();
    t.cells?.forEach((c, i) => {
      const k = cellKey(c.labels);
      const first = seen.get(k);
      if (first !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["cells", i, "labels"],
          message: `the same labels as spec.traffic.cells[${first}]: merge the two cells`,
          input: c.labels,
        });
      } else seen.set(k, i);
    });
  })
  .describe("Requests per second and how they split into cells (full label combinations).");

// ----------------------------------------------------------------------------------------------- scenario

export const scenarioSpecSchema = z.strictObject({
  policy: z
    .string()
    .min(1)
    .describe("Path of the RolloutPolicy file to judge with, relative to the scenario file."),
  seed: z
    .number()
    .int()
    .min(0)
    .max(0xffffffff)
    .default(1)
    .describe("Random seed: the same seed gives the same looks."),
  interval: positiveDuration.default("1m").describe("Time between two looks of the online analysis."),
  canaryReadyAfter: durationSchema
    .default("2m")
    .describe("Until then the canary's replicas are loading (a cold GPU model) and get no traffic."),
  duration: positiveDuration
    .optional()
    .describe("Maximum simulated time (default: the plan's pauses and maximum analysis durations plus 10m)."),
  expected: z
    .enum(["promote", "pause", "rollback"])
    .optional()
    .describe("The decision the scenario is meant to produce (checked by tests)."),
  steps: stepsSchema.describe("The rollout plan."),
  traffic: trafficSchema,
  metrics: z
    .record(metricName, metricModelSchema)
    .describe("The stable version's per-request distribution of each policy metric, by metric name."),
  canary: z
    .record(metricName, changeSchema)
    .default({})
    .describe("Changes of the canary version against stable, in every cell and for the whole rollout."),
  regressions: z.array(regressionSchema).default([]),
  faults: z.array(faultSchema).default([]),
});

export const scenarioSchema = z
  .strictObject({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal(SCENARIO_KIND),
    metadata: z.looseObject({
      name: z
        .string()
        .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "expected a DNS label (lower case letters, digits, '-')"),
    }),
    description: z.string().optional().describe("What the scenario shows and the decision it should reach."),
    spec: scenarioSpecSchema,
  })
  .describe("A simulated voice fleet, a rollout plan and the policy to judge it with.");

export type Scenario = z.infer<typeof scenarioSchema>;
export type ScenarioSpec = z.infer<typeof scenarioSpecSchema>;
export type MetricModel = z.infer<typeof metricModelSchema>;
export type Change = z.infer<typeof changeSchema>;
export type Regression = z.infer<typeof regressionSchema>;
export type Fault = z.infer<typeof faultSchema>;
export type Traffic = z.infer<typeof trafficSchema>;
export type VarySpec = z.infer<typeof varySchema>;

// ---------------------------------------------------------------------------------------------- helpers

/** A record's own entry (never one inherited from Object.prototype, whatever the key). */
export function own<T>(record: Readonly<Record<string, T>> | undefined, key: string): T | undefined {
  return record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;
}

function cellKey(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}\u0001${labels[k]}`)
    .join("\u0002");
}

export function distributionFamily(m: MetricModel): DistributionFamily {
  return m.normal ? "normal" : m.lognormal ? "lognormal" : "bernoulli";
}

export function varyList(m: MetricModel): readonly VarySpec[] {
  return m.vary === undefined ? [] : Array.isArray(m.vary) ? m.vary : [m.vary];
}

/** The finite upper bounds of a quantile metric's histogram (default: DEFAULT_BUCKETS). */
export function bucketBounds(m: MetricModel): number[] {
  const b = m.buckets ?? DEFAULT_BUCKETS;
  if (Array.isArray(b)) return [...b];
  const { start, factor, count } = b.exponential;
  return Array.from({ length: count }, (_, i) => start * Math.pow(factor, i));
}

export interface TrafficCell {
  readonly labels: Readonly<Record<string, string>>;
  /** Normalised: the shares of all cells add up to 1. */
  readonly share: number;
}

/** The traffic's cells with normalised shares, explicit or generated. */
export function resolveCells(traffic: Traffic): TrafficCell[] {
  const common = traffic.labels ?? {};
  let raw: { labels: Record<string, string>; share: number }[];
  if (traffic.cells) {
    raw = traffic.cells.map((c) => ({ labels: { ...common, ...c.labels }, share: c.share }));
  } else {
    const g = traffic.generate!;
    const width = Math.max(3, String(g.voices).length);
    const languages = g.languages;
    raw = Array.from({ length: g.voices }, (_, i) => {
      const labels: Record<string, string> = {
        ...common,
        voice_id: `voice-${String(i + 1).padStart(width, "0")}`,
        language: languages[i % languages.length]!,
      };
      if (g.tenants) labels.tenant = g.tenants[Math.floor(i / languages.length) % g.tenants.length]!;
      return { labels, share: 1 / Math.pow(i + 1, g.skew) };
    });
  }
  const total = raw.reduce((s, c) => s + c.share, 0);
  return raw.map((c) => ({ labels: c.labels, share: c.share / total }));
}

/** Whether a cell carries every label value of `slices`. */
export function cellMatches(
  labels: Readonly<Record<string, string>>,
  slices: Readonly<Record<string, string>> | undefined,
): boolean {
  if (!slices) return true;
  return Object.entries(slices).every(([k, v]) => labels[k] === v);
}

/** Simulated-time settings in milliseconds, with the default duration filled in. */
export function scenarioTiming(spec: ScenarioSpec): {
  intervalMs: number;
  canaryReadyAfterMs: number;
  durationMs: number;
} {
  return {
    intervalMs: parseDuration(spec.interval)!,
    canaryReadyAfterMs: parseDuration(spec.canaryReadyAfter)!,
    durationMs: spec.duration !== undefined ? parseDuration(spec.duration)! : defaultDuration(spec.steps),
  };
}

/** The plan's pauses and maximum analysis durations, plus 10 minutes. */
export function defaultDuration(steps: readonly Step[]): number {
  let total = 10 * 60_000;
  for (const s of steps) {
    if ("analysis" in s) total += parseDuration(s.analysis.maxDuration)!;
    else if ("pause" in s && s.pause.duration) total += parseDuration(s.pause.duration)!;
  }
  return total;
}

// ------------------------------------------------------------------------------------------- consistency

/** A problem of a valid scenario against a policy, at a field path of the scenario. */
export interface ScenarioIssue {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

const QUANTILE_AGGREGATES = new Set(["p50", "p90", "p95", "p99"]);

/** Apply a change to a distribution's parameters, as the fleet does (exported for the fleet and checks). */
export function changedParameters(
  family: DistributionFamily,
  base: { center: number; spread: number },
  change: Partial<Change>,
): { center: number; spread: number } {
  let center = base.center;
  let spread = base.spread;
  if (family === "bernoulli" && change.p !== undefined) center = change.p;
  if (family === "normal" && change.sd !== undefined) spread = change.sd;
  if (family === "lognormal" && change.sigma !== undefined) spread = change.sigma;
  center = center * (change.factor ?? 1) + (change.shift ?? 0);
  return { center, spread };
}

/** center: mean, median or p; spread: sd, sigma or 0. */
export function baseParameters(m: MetricModel): { center: number; spread: number } {
  if (m.normal) return { center: m.normal.mean, spread: m.normal.sd };
  if (m.lognormal) return { center: m.lognormal.median, spread: m.lognormal.sigma };
  return { center: m.bernoulli!.p, spread: 0 };
}

function checkChange(
  family: DistributionFamily,
  model: MetricModel,
  change: Partial<Change>,
  path: (string | number)[],
  base: { center: number; spread: number } = baseParameters(model),
): ScenarioIssue[] {
  const issues: ScenarioIssue[] = [];
  const misplaced: [keyof Change, DistributionFamily][] = [
    ["p", "bernoulli"],
    ["sd", "normal"],
    ["sigma", "lognormal"],
  ];
  for (const [key, only] of misplaced) {
    if (change[key] !== undefined && family !== only) {
      issues.push({
        path: [...path, key],
        message: `\`${key}\` applies to ${only} metrics only, this one is ${family}`,
      });
    }
  }
  const after = changedParameters(family, base, change);
  if (family === "bernoulli" && !(after.center >= 0 && after.center <= 1)) {
    issues.push({ path, message: `makes p ${after.center}, expected a probability between 0 and 1` });
  }
  if (family === "lognormal" && !(after.center > 0)) {
    issues.push({ path, message: `makes the median ${after.center}, expected a positive median` });
  }
  return issues;
}

export interface CheckOptions {
  /**
   * Also reject metrics the scenario names that the policy does not have (typos). On for the scenario's own
   * policy, off when another policy judges the same fleet.
   */
  readonly strict?: boolean | undefined;
}

/** Check a valid scenario against the policy that judges it. Empty when consistent. */
export function checkScenario(
  scenario: Scenario,
  policy: Policy,
  options: CheckOptions = {},
): ScenarioIssue[] {
  const spec = scenario.spec;
  const issues: ScenarioIssue[] = [];
  const policyName = `policy ${policy.metadata.name}`;
  const byName = new Map<string, MetricSpec>(policy.spec.metrics.map((m) => [m.name, m]));
  const cells = resolveCells(spec.traffic);
  const cellPath = (i: number): (string | number)[] =>
    spec.traffic.cells ? ["spec", "traffic", "cells", i, "labels"] : ["spec", "traffic", "generate"];

  // Every policy metric has a distribution its aggregate can use.
  for (const m of policy.spec.metrics) {
    const model = own(spec.metrics, m.name);
    if (!model) {
      issues.push({
        path: ["spec", "metrics"],
        message: `no distribution for metric "${m.name}" of ${policyName}: add spec.metrics.${m.name} with normal, lognormal or bernoulli`,
      });
      continue;
    }
    const family = distributionFamily(model);
    if (m.aggregate === "rate" && family !== "bernoulli") {
      issues.push({
        path: ["spec", "metrics", m.name, family],
        message: `"${m.name}" is a rate in ${policyName}: expected bernoulli: {p}`,
      });
    }
    if (QUANTILE_AGGREGATES.has(m.aggregate) && family === "bernoulli") {
      issues.push({
        path: ["spec", "metrics", m.name, family],
        message: `"${m.name}" is a ${m.aggregate} in ${policyName}: expected a normal or lognormal distribution`,
      });
    }
    if (options.strict && model.buckets !== undefined && !QUANTILE_AGGREGATES.has(m.aggregate)) {
      issues.push({
        path: ["spec", "metrics", m.name, "buckets"],
        message: `buckets apply to quantile metrics only; "${m.name}" is a ${m.aggregate} in ${policyName}`,
      });
    }
  }

  // Metrics named by the scenario.
  const known = (name: string): boolean =>
    (options.strict ? byName.has(name) : true) && Object.hasOwn(spec.metrics, name);
  const unknown = (name: string): string =>
    Object.hasOwn(spec.metrics, name)
      ? `"${name}" is not a metric of ${policyName} (${[...byName.keys()].join(", ")})`
      : `"${name}" has no distribution in spec.metrics`;
  if (options.strict) {
    for (const name of Object.keys(spec.metrics)) {
      if (!byName.has(name)) issues.push({ path: ["spec", "metrics", name], message: unknown(name) });
    }
  }
  for (const [name, change] of Object.entries(spec.canary)) {
    if (!known(name)) {
      issues.push({ path: ["spec", "canary", name], message: unknown(name) });
      continue;
    }
    const model = spec.metrics[name]!;
    issues.push(...checkChange(distributionFamily(model), model, change, ["spec", "canary", name]));
  }
  spec.regressions.forEach((r, i) => {
    const path = ["spec", "regressions", i];
    if (!known(r.metric)) {
      issues.push({ path: [...path, "metric"], message: unknown(r.metric) });
    } else {
      const model = spec.metrics[r.metric]!;
      const family = distributionFamily(model);
      const canary = own(spec.canary, r.metric);
      const base = canary ? changedParameters(family, baseParameters(model), canary) : baseParameters(model);
      issues.push(...checkChange(family, model, r, path, base));
    }
    if (r.slices) {
      for (const label of Object.keys(r.slices)) {
        if (!cells.some((c) => Object.hasOwn(c.labels, label))) {
          issues.push({
            path: [...path, "slices", label],
            message: `no traffic cell has the label "${label}"`,
          });
        }
      }
      if (!cells.some((c) => cellMatches(c.labels, r.slices))) {
        issues.push({
          path: [...path, "slices"],
          message: `matches no traffic cell (${Object.entries(r.slices)
            .map(([k, v]) => `${k}=${v}`)
            .join(", ")})`,
        });
      }
    }
  });
  spec.faults.forEach((f, i) => {
    if (f.metrics === "all") return;
    f.metrics.forEach((name, j) => {
      if (!known(name)) issues.push({ path: ["spec", "faults", i, "metrics", j], message: unknown(name) });
    });
  });

  // Per-slice variation names labels and values the cells have.
  for (const [name, model] of Object.entries(spec.metrics)) {
    const list = varyList(model);
    list.forEach((v, j) => {
      const path: (string | number)[] = [
        "spec",
        "metrics",
        name,
        "vary",
        ...(Array.isArray(model.vary) ? [j] : []),
      ];
      const values = new Set(
        cells.flatMap((c) => {
          const value = own(c.labels, v.label);
          return value !== undefined ? [value] : [];
        }),
      );
      if (values.size === 0) {
        issues.push({ path: [...path, "label"], message: `no traffic cell has the label "${v.label}"` });
        return;
      }
      for (const value of Object.keys(v.offsets ?? {})) {
        if (!values.has(value)) {
          issues.push({
            path: [...path, "offsets", value],
            message: `no traffic cell has ${v.label}=${value}`,
          });
        }
      }
    });
  }

  // Every label the policy slices by is carried by every cell.
  const sliceLabels = new Set<string>();
  for (const m of policy.spec.metrics) {
    for (const d of metricDimensions(policy.spec, m)) for (const l of dimensionLabels(d)) sliceLabels.add(l);
  }
  for (const label of sliceLabels) {
    const missing = cells.map((c, i) => (Object.hasOwn(c.labels, label) ? -1 : i)).filter((i) => i >= 0);
    if (missing.length === 0) continue;
    issues.push({
      path: cellPath(missing[0]!),
      message:
        `label "${label}", which ${policyName} slices by, is missing from ${missing.length} of ${cells.length} ` +
        `traffic cell${cells.length > 1 ? "s" : ""}` +
        (spec.traffic.generate
          ? ` (generated cells carry voice_id, language, tenant with tenants, and spec.traffic.labels)`
          : ""),
    });
  }
  return issues;
}

// ------------------------------------------------------------------------------------------------ loading

export interface LoadedScenario {
  readonly file: string;
  readonly scenario: Scenario;
  /** The policy file, resolved against the scenario's directory. */
  readonly policyFile: string;
  readonly policy: Policy;
  readonly intervalMs: number;
  readonly canaryReadyAfterMs: number;
  /** spec.duration, or the default from the plan. */
  readonly durationMs: number;
}

type Locate = (path: readonly PropertyKey[]) => { line?: number; column?: number };

/** Where loaded scenarios came from, so that later consistency problems (createFleet) carry file:line too. */
const origins = new WeakMap<Scenario, { file: string; locate: Locate }>();

/** Validate one scenario YAML text. Pure apart from its inputs. */
export function parseScenario(
  file: string,
  text: string,
): { scenario: Scenario | null; problems: Problem[]; locate: Locate } {
  const { documents, problems } = parseYamlDocuments(file, text, scenarioSchema, SCENARIO_KIND);
  if (problems.length > 0) return { scenario: null, problems, locate: () => ({}) };
  if (documents.length !== 1) {
    return {
      scenario: null,
      problems: [{ file, message: `expected one ${SCENARIO_KIND}, found ${documents.length}` }],
      locate: () => ({}),
    };
  }
  const doc = documents[0]!;
  origins.set(doc.value, { file, locate: doc.locate });
  return { scenario: doc.value, problems: [], locate: doc.locate };
}

/** Consistency problems of a scenario with a policy, located in the scenario's file when it was loaded. */
export function scenarioProblems(scenario: Scenario, policy: Policy, options: CheckOptions = {}): Problem[] {
  const origin = origins.get(scenario);
  const file = origin?.file ?? `scenario ${scenario.metadata.name}`;
  return checkScenario(scenario, policy, options)
    .map((issue) => ({
      file,
      ...(origin?.locate(issue.path) ?? {}),
      path: formatPath(issue.path),
      message: issue.message,
    }))
    .sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
}

/**
 * Load a scenario file and the policy it references, and check that they fit together. Throws
 * FileAccessError for an unreadable scenario or policy file, InvalidInputError with every problem otherwise.
 */
export async function loadScenario(file: string): Promise<LoadedScenario> {
  const parsed = parseScenario(file, await readTextFile(file));
  if (!parsed.scenario) throw new InvalidInputError(parsed.problems);
  const scenario = parsed.scenario;
  const policyFile = resolve(dirname(file), scenario.spec.policy);
  let policy: Policy;
  try {
    policy = (await loadPolicy(policyFile)).policy;
  } catch (err) {
    if (err instanceof FileAccessError) {
      const at = parsed.locate(["spec", "policy"]);
      const where = [file, at.line, at.column].filter((x) => x !== undefined).join(":");
      throw new FileAccessError(
        policyFile,
        `${describeReason(err, policyFile)} (the policy of ${where}: spec.policy)`,
      );
    }
    throw err;
  }
  const problems = scenarioProblems(scenario, policy, { strict: true });
  if (problems.length > 0) throw new InvalidInputError(problems);
  return { file, scenario, policyFile, policy, ...scenarioTiming(scenario.spec) };
}

function describeReason(err: FileAccessError, file: string): string {
  return err.message.startsWith(`${file}: `) ? err.message.slice(file.length + 2) : err.message;
}
