import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parsePolicies } from "../adapters/files/policy-file.js";
import { FileAccessError, formatProblem, InvalidInputError } from "../core/errors.js";
import { createFleet } from "./fleet.js";
import {
  checkScenario,
  defaultDuration,
  loadScenario,
  parseScenario,
  resolveCells,
  type Scenario,
} from "./scenario.js";

const POLICY = `apiVersion: voicectl.dev/v1alpha1
kind: RolloutPolicy
metadata: {name: sim-test}
spec:
  sliceBy: [language]
  metrics:
    - {name: sim, direction: higherIsBetter, aggregate: mean, critical: true, sliceBy: [voice_id], budget: {absolute: 0.01}}
    - {name: ttfa, direction: lowerIsBetter, aggregate: p95, tier: latency, budget: {relative: 0.2}}
    - {name: err, direction: lowerIsBetter, aggregate: rate, sliceBy: [], budget: {absolute: 0.001}}
`;

const SCENARIO = `apiVersion: voicectl.dev/v1alpha1
kind: SimulationScenario
metadata: {name: small}
description: a small valid scenario
spec:
  policy: policy.yaml
  steps:
    - setWeight: 10
    - analysis: {minDuration: 10m, maxDuration: 30m}
  traffic:
    requestsPerSecond: 50
    cells:
      - {labels: {voice_id: a, language: en}, share: 3}
      - {labels: {voice_id: b, language: es}, share: 1}
  metrics:
    sim:
      normal: {mean: 0.7, sd: 0.035}
    ttfa:
      lognormal: {median: 100, sigma: 0.5}
    err:
      bernoulli: {p: 0.01}
`;

/** Write files into a fresh directory; returns its path. */
function scratch(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "voicectl-scenario-"));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

async function problemsOf(files: Record<string, string>): Promise<string[]> {
  const dir = scratch(files);
  try {
    await loadScenario(join(dir, "scenario.yaml"));
  } catch (err) {
    if (err instanceof InvalidInputError)
      return err.problems.map((p) => formatProblem({ ...p, file: p.file.replace(dir + "/", "") }));
    throw err;
  }
  return [];
}

function policy() {
  return parsePolicies("policy.yaml", POLICY).policies[0]!;
}

function scenario(text = SCENARIO): Scenario {
  const r = parseScenario("scenario.yaml", text);
  expect(r.problems).toEqual([]);
  return r.scenario!;
}

describe("scenario files: schema", () => {
  it("reports every problem at once with file:line:column and field path", () => {
    const text = `apiVersion: voicectl.dev/v1alpha1
kind: SimulationScenario
metadata: {name: Bad_Name}
spec:
  policy: p.yaml
  interval: 0m
  steps:
    - setWeight: 150
  traffic:
    requestsPerSecond: -5
    cells:
      - {labels: {voice_id: a}, share: 1}
      - {labels: {voice_id: a}, share: 2}
    generate: {voices: 3}
  metrics:
    sim:
      normal: {mean: 0.7, sd: 0.03}
      lognormal: {median: 1, sigma: 1}
      vary: {label: voice_id, sdd: 1}
    ttfa:
      lognormal: {median: 100, sigma: 0.5}
      buckets: {exponential: {start: 1, factor: 0.5, count: 3}}
    ttfa2:
      lognormal: {median: 100, sigma: 0.5}
      buckets: [3, 2, 1]
    e:
      bernoulli: {p: 2}
  canary:
    sim: {}
  regressions:
    - {metric: sim, shift: -0.1, from: 20m, to: 10m}
  faults:
    - {kind: outage, from: 1m, to: 2m}
  surprise: 1
`;
    const r = parseScenario("bad.yaml", text);
    expect(r.scenario).toBeNull();
    expect(r.problems.map(formatProblem)).toEqual([
      `bad.yaml:3:18: metadata.name: expected a DNS label (lower case letters, digits, '-'), found the string "Bad_Name"`,
      "bad.yaml:6:13: spec.interval: expected a positive duration",
      "bad.yaml:8:18: spec.steps[0].setWeight: expected an integer between 0 and 100, found 150",
      "bad.yaml:10:24: spec.traffic.requestsPerSecond: expected a number > 0, found -5",
      "bad.yaml:10:5: spec.traffic: expected exactly one of `cells` or `generate`",
      "bad.yaml:13:18: spec.traffic.cells[1].labels: the same labels as spec.traffic.cells[0]: merge the two cells",
      "bad.yaml:17:7: spec.metrics.sim: expected exactly one distribution: normal, lognormal or bernoulli (got normal, lognormal)",
      'bad.yaml:19:36: spec.metrics.sim.vary: unknown field "sdd"',
      "bad.yaml:22:49: spec.metrics.ttfa.buckets.exponential.factor: expected a number > 1, found 0.5",
      "bad.yaml:25:16: spec.metrics.ttfa2.buckets: expected strictly increasing bucket bounds",
      "bad.yaml:27:22: spec.metrics.e.bernoulli.p: expected a number between 0 and 1, found 2",
      "bad.yaml:29:10: spec.canary.sim: expected at least one of factor, shift, p, sd, sigma",
      "bad.yaml:31:49: spec.regressions[0].to: expected `to` after `from`",
      'bad.yaml:33:14: spec.faults[0].kind: expected "gap", found the string "outage"',
      'bad.yaml:34:13: spec: unknown field "surprise"',
    ]);
  });

  it("reports missing fields at their parent, YAML syntax errors, and empty files", () => {
    const missing = parseScenario("m.yaml", "apiVersion: voicectl.dev/v1alpha1\nkind: SimulationScenario\n");
    expect(missing.problems.map(formatProblem)).toEqual([
      'm.yaml:1:1: metadata: required field "metadata" is missing: expected a mapping (key: value)',
      'm.yaml:1:1: spec: required field "spec" is missing: expected a mapping (key: value)',
    ]);
    const syntax = parseScenario("s.yaml", "spec: [unclosed\n");
    expect(formatProblem(syntax.problems[0]!)).toMatch(/^s\.yaml:\d+:\d+: YAML syntax: /);
    expect(parseScenario("e.yaml", "").problems.map(formatProblem)).toEqual([
      "e.yaml: no SimulationScenario document in the file",
    ]);
  });

  it("fills in defaults", () => {
    const s = scenario();
    expect(s.spec.seed).toBe(1);
    expect(s.spec.interval).toBe("1m");
    expect(s.spec.canaryReadyAfter).toBe("2m");
    expect(s.spec.canary).toEqual({});
    expect(s.spec.regressions).toEqual([]);
    expect(s.spec.faults).toEqual([]);
    expect(s.spec.metrics.sim!.sampled).toBe(1);
  });

  it("defaults the duration to the plan's pauses and maximum analysis durations plus 10 minutes", () => {
    expect(
      defaultDuration([
        { setWeight: 5 },
        { analysis: { minDuration: "10m", maxDuration: "30m" } },
        { pause: { duration: "5m" } },
        { pause: {} },
        { analysis: { minDuration: "1m", maxDuration: "1h" } },
      ]),
    ).toBe((30 + 5 + 60 + 10) * 60_000);
  });
});

describe("scenario traffic", () => {
  it("normalises explicit shares and adds the common labels (a cell's own win)", () => {
    const cells = resolveCells({
      requestsPerSecond: 1,
      labels: { product: "studio", language: "xx" },
      cells: [
        { labels: { voice_id: "a", language: "en" }, share: 3 },
        { labels: { voice_id: "b" }, share: 1 },
      ],
    });
    expect(cells).toEqual([
      { labels: { product: "studio", language: "en", voice_id: "a" }, share: 0.75 },
      { labels: { product: "studio", language: "xx", voice_id: "b" }, share: 0.25 },
    ]);
  });

  it("generates Zipf-shared voices with languages round-robin and tenants in blocks", () => {
    const cells = resolveCells({
      requestsPerSecond: 1,
      generate: { voices: 7, languages: ["en", "es"], tenants: ["t1", "t2", "t3"], skew: 1 },
    });
    expect(cells.map((c) => c.labels.voice_id)).toEqual([
      "voice-001",
      "voice-002",
      "voice-003",
      "voice-004",
      "voice-005",
      "voice-006",
      "voice-007",
    ]);
    expect(cells.map((c) => c.labels.language).join(",")).toBe("en,es,en,es,en,es,en");
    expect(cells.map((c) => c.labels.tenant).join(",")).toBe("t1,t1,t2,t2,t3,t3,t1");
    const h7 = 1 + 1 / 2 + 1 / 3 + 1 / 4 + 1 / 5 + 1 / 6 + 1 / 7;
    expect(cells[0]!.share).toBeCloseTo(1 / h7, 12);
    expect(cells[6]!.share).toBeCloseTo(1 / 7 / h7, 12);
    expect(cells.reduce((s, c) => s + c.share, 0)).toBeCloseTo(1, 12);
    const flat = resolveCells({
      requestsPerSecond: 1,
      generate: { voices: 1000, languages: ["en"], skew: 0 },
    });
    expect(flat[999]!.labels.voice_id).toBe("voice-1000");
    expect(flat[0]!.labels.voice_id).toBe("voice-0001");
    expect(flat[999]!.share).toBeCloseTo(0.001, 12);
    expect(flat[0]!.labels.tenant).toBeUndefined();
  });
});

describe("scenario files: consistency with the policy", () => {
  it("loads a consistent scenario with its policy, resolved against the scenario's directory", async () => {
    const dir = scratch({ "scenario.yaml": SCENARIO, "policy.yaml": POLICY });
    const loaded = await loadScenario(join(dir, "scenario.yaml"));
    expect(loaded.policy.metadata.name).toBe("sim-test");
    expect(loaded.policyFile).toBe(resolve(dir, "policy.yaml"));
    expect(loaded.intervalMs).toBe(60_000);
    expect(loaded.canaryReadyAfterMs).toBe(120_000);
    expect(loaded.durationMs).toBe(40 * 60_000);
  });

  it("names every inconsistency with file:line and field path", async () => {
    const text = `apiVersion: voicectl.dev/v1alpha1
kind: SimulationScenario
metadata: {name: inconsistent}
spec:
  policy: policy.yaml
  steps: [{setWeight: 10}]
  traffic:
    requestsPerSecond: 50
    cells:
      - {labels: {voice_id: a, language: en}, share: 3}
      - {labels: {voice_id: b}, share: 1}
  metrics:
    sim:
      normal: {mean: 0.7, sd: 0.035}
      vary: {label: voice_id, offsets: {zz: 0.1}}
      buckets: [1, 2]
    ttfa:
      bernoulli: {p: 0.5}
    typo:
      normal: {mean: 1, sd: 1}
  canary:
    sim: {sigma: 0.3}
    ttfa: {shift: 2}
  regressions:
    - {metric: err, shift: 0.1}
    - {metric: sim, shift: -0.1, slices: {voice_id: nobody}}
    - {metric: sim, shift: -0.1, slices: {tenant: acme}}
  faults:
    - {kind: gap, metrics: [sim, nope], from: 1m, to: 2m}
`;
    expect(await problemsOf({ "scenario.yaml": text, "policy.yaml": POLICY })).toEqual([
      'scenario.yaml:11:18: spec.traffic.cells[1].labels: label "language", which policy sim-test slices by, is missing from 1 of 2 traffic cells',
      'scenario.yaml:13:5: spec.metrics: no distribution for metric "err" of policy sim-test: add spec.metrics.err with normal, lognormal or bernoulli',
      "scenario.yaml:15:45: spec.metrics.sim.vary.offsets.zz: no traffic cell has voice_id=zz",
      'scenario.yaml:16:16: spec.metrics.sim.buckets: buckets apply to quantile metrics only; "sim" is a mean in policy sim-test',
      'scenario.yaml:18:18: spec.metrics.ttfa.bernoulli: "ttfa" is a p95 in policy sim-test: expected a normal or lognormal distribution',
      'scenario.yaml:20:7: spec.metrics.typo: "typo" is not a metric of policy sim-test (sim, ttfa, err)',
      "scenario.yaml:22:18: spec.canary.sim.sigma: `sigma` applies to lognormal metrics only, this one is normal",
      "scenario.yaml:23:11: spec.canary.ttfa: makes p 2.5, expected a probability between 0 and 1",
      'scenario.yaml:25:16: spec.regressions[0].metric: "err" has no distribution in spec.metrics',
      "scenario.yaml:26:42: spec.regressions[1].slices: matches no traffic cell (voice_id=nobody)",
      'scenario.yaml:27:51: spec.regressions[2].slices.tenant: no traffic cell has the label "tenant"',
      "scenario.yaml:27:42: spec.regressions[2].slices: matches no traffic cell (tenant=acme)",
      'scenario.yaml:29:34: spec.faults[0].metrics[1]: "nope" has no distribution in spec.metrics',
    ]);
  });

  it("checks rates are bernoulli, lognormal changes keep a positive median, labels of generated cells", () => {
    const text = SCENARIO.replace("bernoulli: {p: 0.01}", "normal: {mean: 0.01, sd: 0.1}").replace(
      "  metrics:\n",
      "  canary:\n    ttfa: {shift: -200}\n  metrics:\n",
    );
    expect(checkScenario(scenario(text), policy(), { strict: true })).toEqual([
      {
        path: ["spec", "metrics", "err", "normal"],
        message: '"err" is a rate in policy sim-test: expected bernoulli: {p}',
      },
      { path: ["spec", "canary", "ttfa"], message: "makes the median -100, expected a positive median" },
    ]);
    const generated = SCENARIO.replace(
      / {4}cells:\n(.*\n){2}/,
      "    generate: {voices: 5, languages: [en]}\n",
    );
    const agents = parsePolicies(
      "p.yaml",
      POLICY.replace("sliceBy: [language]", "sliceBy: [language, tenant]"),
    ).policies[0]!;
    expect(checkScenario(scenario(generated), agents).map((i) => i.message)).toEqual([
      'label "tenant", which policy sim-test slices by, is missing from 5 of 5 traffic cells (generated cells carry voice_id, language, tenant with tenants, and spec.traffic.labels)',
    ]);
  });

  it("throws FileAccessError for a missing scenario, and for a missing policy naming the scenario line", async () => {
    const dir = scratch({ "scenario.yaml": SCENARIO });
    await expect(loadScenario(join(dir, "nope.yaml"))).rejects.toThrow(FileAccessError);
    const err = await loadScenario(join(dir, "scenario.yaml")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileAccessError);
    expect((err as FileAccessError).file).toBe(resolve(dir, "policy.yaml"));
    expect((err as Error).message).toBe(
      `${resolve(dir, "policy.yaml")}: no such file (the policy of ${join(dir, "scenario.yaml")}:6:11: spec.policy)`,
    );
  });

  it("passes an invalid policy's own problems through", async () => {
    const problems = await problemsOf({ "scenario.yaml": SCENARIO, "policy.yaml": "kind: RolloutPolicy\n" });
    expect(problems.some((p) => p.startsWith("policy.yaml:1:1: apiVersion:"))).toBe(true);
  });

  it("createFleet with another policy reports what the scenario lacks, located in the scenario file", async () => {
    const dir = scratch({ "scenario.yaml": SCENARIO, "policy.yaml": POLICY });
    const loaded = await loadScenario(join(dir, "scenario.yaml"));
    const other = parsePolicies(
      "other.yaml",
      POLICY.replace("sliceBy: [language]", "sliceBy: [tenant]").replace("name: err", "name: error"),
    ).policies[0]!;
    const err = (() => {
      try {
        createFleet(loaded.scenario, other);
      } catch (e) {
        return e as InvalidInputError;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(InvalidInputError);
    expect(err!.problems.map((p) => `${p.line}:${p.column}: ${p.path}: ${p.message}`)).toEqual([
      '13:18: spec.traffic.cells[0].labels: label "tenant", which policy sim-test slices by, is missing from 2 of 2 traffic cells',
      '16:5: spec.metrics: no distribution for metric "error" of policy sim-test: add spec.metrics.error with normal, lognormal or bernoulli',
    ]);
  });
});

describe("examples/scenarios", () => {
  const files = readdirSync("examples/scenarios").filter((f) => f.endsWith(".yaml"));

  it("ships the scenarios the documentation names", () => {
    expect(files.sort()).toEqual(
      expect.arrayContaining([
        "aa.yaml",
        "aa-300.yaml",
        "agents-latency.yaml",
        "clone-drift.yaml",
        "cost.yaml",
        "metrics-gap.yaml",
        "small-slice.yaml",
      ]),
    );
  });

  it.each(files)("%s loads, with its policy, an expected decision, and a fleet", async (file) => {
    const loaded = await loadScenario(`examples/scenarios/${file}`);
    expect(loaded.scenario.metadata.name).toBe(file.replace(/\.yaml$/, ""));
    expect(loaded.scenario.spec.expected).toBeDefined();
    expect(loaded.scenario.description).toBeTruthy();
    expect(loaded.durationMs).toBeLessThanOrEqual(2 * 3_600_000);
    const fleet = createFleet(loaded.scenario, loaded.policy);
    const look = fleet.look(180_000, 240_000, 10);
    expect(look.cells.some((c) => c.arm === "canary")).toBe(true);
  });
});
