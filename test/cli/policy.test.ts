import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { policyJsonSchema } from "../../src/cli/commands/policy/json-schema.js";
import { cli, scratch } from "../support/cli.js";

const VALID = readFileSync("policies/voice-studio.yaml", "utf8");

describe("voicectl policy validate", () => {
  it("accepts every shipped policy", async () => {
    const r = await cli(
      "policy",
      "validate",
      "policies/voice-studio.yaml",
      "policies/voice-agents.yaml",
      "policies/soundscape.yaml",
      "policies/open-voice.yaml",
    );
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n").filter((l) => l.endsWith("metrics)")).length).toBe(4);
  });

  it("reports every problem at once, each with file, line, column and field path", async () => {
    const f = scratch({
      "bad.yaml": `apiVersion: voicectl.dev/v1alpha1
kind: RolloutPolicy
metadata: {name: Voice_Studio}
spec:
  minSamples: 0
  metrics:
    - name: sim
      direction: up
      aggregate: p97
      budget: {absolute: 0.01, relative: 0.1}
      colour: blue
    - name: cost
      direction: lowerIsBetter
      aggregate: mean
`,
    });
    const r = await cli("policy", "validate", f("bad.yaml"));
    expect(r.code).toBe(65);
    const lines = r.stderr
      .trim()
      .split("\n")
      .map((l) => l.slice(l.indexOf("bad.yaml")));
    expect(lines).toEqual([
      `bad.yaml:3:18: metadata.name: expected a DNS label (lower case letters, digits, '-'), found the string "Voice_Studio"`,
      "bad.yaml:5:15: spec.minSamples: expected an integer >= 1, found 0",
      'bad.yaml:8:18: spec.metrics[0].direction: expected one of "lowerIsBetter", "higherIsBetter", found the string "up"',
      'bad.yaml:9:18: spec.metrics[0].aggregate: expected one of "mean", "p50", "p90", "p95", "p99", "rate", found the string "p97"',
      "bad.yaml:10:15: spec.metrics[0].budget: expected exactly one of `absolute` or `relative`",
      'bad.yaml:11:15: spec.metrics[0]: unknown field "colour"',
      'bad.yaml:12:7: spec.metrics[1].budget: required field "budget" is missing: expected a mapping (key: value)',
    ]);
  });

  it("names a duplicated metric and points at the second one", async () => {
    const f = scratch({ "dup.yaml": VALID.replace("name: mos", "name: wer") });
    const r = await cli("policy", "validate", f("dup.yaml"));
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(
      /dup\.yaml:\d+:\d+: spec\.metrics\[3\]\.name: metric name "wer" is already used by spec\.metrics\[2\]/,
    );
  });

  it("reports YAML syntax errors with their line", async () => {
    const f = scratch({ "syntax.yaml": "apiVersion: voicectl.dev/v1alpha1\nspec: [1,\n" });
    const r = await cli("policy", "validate", f("syntax.yaml"));
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(/syntax\.yaml:\d+:\d+: YAML syntax: /);
  });

  it("validates every document of a multi-document file and every file given", async () => {
    const f = scratch({ "two.yaml": `${VALID}\n---\n${VALID.replace("name: voice-studio", "name: BAD")}` });
    const r = await cli("policy", "validate", f("two.yaml"), f("missing.yaml"));
    expect(r.code).toBe(65);
    expect(r.stdout).toContain("two.yaml: ok (policy voice-studio");
    expect(r.stderr).toMatch(/two\.yaml:\d+:\d+: metadata\.name: expected a DNS label/);
    expect(r.stderr).toMatch(/missing\.yaml: no such file/);
  });

  it("exits 66 when the only problem is a missing file", async () => {
    const r = await cli("policy", "validate", "policies/voice-studio.yaml", "nope.yaml");
    expect(r.code).toBe(66);
  });

  it("-o json lists valid files and problems", async () => {
    const f = scratch({ "bad.yaml": VALID.replace("minSamples: 30", "minSamples: -1") });
    const r = await cli("policy", "validate", "-o", "json", "policies/voice-agents.yaml", f("bad.yaml"));
    const out = JSON.parse(r.stdout) as {
      valid: { name: string }[];
      problems: { path: string; line: number }[];
    };
    expect(out.valid.map((v) => v.name)).toEqual(["voice-agents"]);
    const line = VALID.split("\n").findIndex((l) => l.includes("minSamples: 30")) + 1;
    expect(out.problems).toEqual([expect.objectContaining({ path: "spec.minSamples", line })]);
  });

  it("rejects a file with no policy in it", async () => {
    const f = scratch({ "empty.yaml": "# nothing\n" });
    const r = await cli("policy", "validate", f("empty.yaml"));
    expect(r.code).toBe(65);
    expect(r.stderr).toContain("no RolloutPolicy document in the file");
  });
});

describe("the JSON Schema for editors", () => {
  it("is generated from the zod schema and the committed copy is up to date (npm run gen:schema)", async () => {
    const committed = JSON.parse(readFileSync("schemas/rolloutpolicy.schema.json", "utf8")) as unknown;
    expect(committed).toEqual(policyJsonSchema());
    const r = await cli("policy", "schema");
    expect(JSON.parse(r.stdout)).toEqual(committed);
  });

  it("describes the fields a policy author needs", () => {
    const schema = JSON.stringify(policyJsonSchema());
    for (const field of [
      "sliceBy",
      "minSamples",
      "direction",
      "higherIsBetter",
      "aggregate",
      "p99",
      "critical",
      "budget",
      "relative",
    ]) {
      expect(schema).toContain(field);
    }
  });
});

describe("Prometheus sources in policies", () => {
  const withSource = (source: string) =>
    VALID.replace("    - name: mos\n", `    - name: mos\n      source: ${source}\n`);

  it("accepts a histogram name, a PromQL template, and counter selectors for rates", async () => {
    const f = scratch({
      "ok.yaml": withSource(
        "{ query: 'sum by (le, version, {{sliceLabels}}) (increase(my_mos_bucket{version=~\"{{version}}\"}[{{window}}]))' }",
      ).replace(
        "    - name: silence_truncation\n",
        "    - name: silence_truncation\n      source: { events: 'voice_silence_truncations_total', requests: 'voice_requests_total{outcome=\"ok\"}' }\n",
      ),
    });
    const r = await cli("policy", "validate", f("ok.yaml"));
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  it("reports a PromQL syntax error with file, line, field path and column in the template", async () => {
    const f = scratch({ "bad.yaml": withSource("{ query: 'sum by (le (increase(x_bucket[{{window}}]))' }") });
    const r = await cli("policy", "validate", f("bad.yaml"));
    expect(r.code).toBe(65);
    const line =
      withSource("")
        .split("\n")
        .findIndex((l) => l.includes("source:")) + 1;
    expect(r.stderr).toMatch(
      new RegExp(
        `bad\\.yaml:${line}:\\d+: spec\\.metrics\\[2\\]\\.source\\.query: PromQL syntax error at column \\d+`,
      ),
    );
  });

  it.each([
    ["{ events: 'x_total', requests: 'y_total' }", /source\.events: a mean metric reads a histogram/],
    ["{ histogram: 'x', query: 'x' }", /source\.histogram: expected exactly one of `histogram` or `query`/],
    ["{ query: 'rate(x[{{windw}}])' }", /source\.query: unknown placeholder \{\{windw\}\}/],
    ["{ histogram: 'not a name' }", /source\.histogram: expected a Prometheus metric name/],
  ])("rejects %s", async (source, message) => {
    const f = scratch({ "bad.yaml": withSource(source) });
    const r = await cli("policy", "validate", f("bad.yaml"));
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(message);
  });
});

describe("a wrong value says what was expected and what was found", () => {
  const line = (needle: string) => VALID.split("\n").findIndex((l) => l.includes(needle)) + 1;
  const validate = async (text: string) => {
    const f = scratch({ "p.yaml": text });
    const r = await cli("policy", "validate", f("p.yaml"));
    expect(r.code).toBe(65);
    return r.stderr.trim().replace(/^.*p\.yaml/, "p.yaml");
  };

  it.each([
    [
      "a word where an integer goes",
      VALID.replace("minSamples: 30", "minSamples: thirty"),
      `p.yaml:${line("minSamples: 30")}:15: spec.minSamples: expected an integer >= 1, found the string "thirty"`,
    ],
    [
      "a number too large for a double",
      VALID.replace("minSamples: 30", "minSamples: 1e400"),
      `p.yaml:${line("minSamples: 30")}:15: spec.minSamples: expected an integer >= 1, found 1e400, which is out of range`,
    ],
    [
      "a quoted number",
      VALID.replace("confidence: 0.95", 'confidence: "0.95"'),
      `p.yaml:${line("confidence: 0.95")}:15: spec.confidence: expected a number > 0.5 and < 1, found the string "0.95" (write the number without quotes)`,
    ],
    [
      "a missing aggregate",
      VALID.replace("      aggregate: p95\n", ""),
      `p.yaml:${line("- name: ttfa_p95")}:7: spec.metrics[0].aggregate: required field "aggregate" is missing: expected one of "mean", "p50", "p90", "p95", "p99", "rate"`,
    ],
    [
      "a budget that is a bare number",
      VALID.replace("budget: { relative: 0.30 }", "budget: 0.3"),
      `p.yaml:${line("budget: { relative: 0.30 }")}:15: spec.metrics[0].budget: expected a mapping (key: value), found 0.3`,
    ],
    [
      "a list where one label goes",
      VALID.replace("sliceBy: [language]\n  minSamples", "sliceBy: [[]]\n  minSamples"),
      `p.yaml:${line("sliceBy: [language]")}:13: spec.sliceBy[0]: expected a list of at least 1 item, found an empty list`,
    ],
  ])("%s", async (_name, text, message) => {
    expect(await validate(text)).toBe(message);
  });

  it("a file of another kind says what it is and what is expected, instead of listing its fields", async () => {
    const scenario = readFileSync("examples/scenarios/aa.yaml", "utf8");
    const kindLine = scenario.split("\n").findIndex((l) => l.startsWith("kind:")) + 1;
    expect(await validate(scenario)).toBe(
      `p.yaml:${kindLine}:7: kind: this is a SimulationScenario; a policy is expected here (kind: RolloutPolicy)`,
    );
    const r = await cli("simulate", "policies/voice-studio.yaml");
    expect(r.code).toBe(65);
    expect(r.stderr.trim().split("\n")).toEqual([
      "voicectl: invalid input:",
      `  policies/voice-studio.yaml:${line("kind: RolloutPolicy")}:7: kind: this is a RolloutPolicy; a scenario is expected here (kind: SimulationScenario)`,
    ]);
  });
});
