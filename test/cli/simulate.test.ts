import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { cli, scratch } from "../support/cli.js";

const SCENARIOS = readdirSync("examples/scenarios")
  .filter((f) => f.endsWith(".yaml"))
  .map(
    (f) =>
      [
        f,
        (parse(readFileSync(`examples/scenarios/${f}`, "utf8")) as { spec: { expected: string } }).spec
          .expected,
      ] as const,
  );

interface SimJson {
  decision: string;
  phase: string;
  seed: number;
  reasons: {
    metric: string;
    slice: Record<string, string>;
    verdict: string;
    critical: boolean;
    window?: { kind: string; since: number };
  }[];
  findings: { metric: string; slice: Record<string, string>; verdict: string }[];
  timeline: { at: number; weight: number; events: string[] }[];
}

describe("voicectl simulate on the shipped scenarios", () => {
  it.each(SCENARIOS)("%s ends in %s with the matching exit code", async (file, expected) => {
    const r = await cli("simulate", `examples/scenarios/${file}`, "-o", "json");
    const out = JSON.parse(r.stdout) as SimJson;
    expect(out.decision).toBe(expected);
    expect(r.code).toBe({ promote: 0, rollback: 1, pause: 2 }[expected]);
  });

  it("clone drift rolls back naming the voice, while every aggregate finding passes", async () => {
    const out = JSON.parse(
      (await cli("simulate", "examples/scenarios/clone-drift.yaml", "-o", "json")).stdout,
    ) as SimJson;
    // Every window judges it: the rollout so far, the first traffic step and its recent minutes (JSON says which).
    expect(out.reasons.map((f) => [f.metric, f.slice, f.window?.kind])).toEqual([
      ["speaker_similarity", { voice_id: "mia-chen" }, "rollout"],
      ["speaker_similarity", { voice_id: "mia-chen" }, "step"],
      ["speaker_similarity", { voice_id: "mia-chen" }, "recent"],
    ]);
    const aggregates = out.findings.filter((f) => Object.keys(f.slice).length === 0);
    expect(aggregates.every((f) => f.verdict !== "fail")).toBe(true);
    // Rolling back is a traffic change: the last weight is 0.
    expect(out.timeline.at(-1)!.weight).toBe(0);
  });

  it("a slice too small to judge pauses when the analysis runs out, without a false rollback", async () => {
    const out = JSON.parse(
      (await cli("simulate", "examples/scenarios/small-slice.yaml", "-o", "json")).stdout,
    ) as SimJson;
    expect(out.phase).toBe("Paused");
    expect(out.reasons.some((f) => f.verdict === "inconclusive" || f.verdict === "nodata")).toBe(true);
    expect(out.reasons.some((f) => f.verdict === "fail")).toBe(false);
  });

  it("metrics missing for part of the window never promote", async () => {
    for (const seed of [1, 2, 3]) {
      const out = JSON.parse(
        (await cli("simulate", "examples/scenarios/metrics-gap.yaml", "--seed", String(seed), "-o", "json"))
          .stdout,
      ) as SimJson;
      expect(out.decision).not.toBe("promote");
    }
  });

  it("the same seed gives the same rollout; another seed may differ but is reported", async () => {
    const a = await cli("simulate", "examples/scenarios/aa.yaml", "--seed", "7", "-o", "json");
    const b = await cli("simulate", "examples/scenarios/aa.yaml", "--seed", "7", "-o", "json");
    expect(a.stdout).toBe(b.stdout);
    expect((JSON.parse(a.stdout) as SimJson).seed).toBe(7);
  });

  it("without a scenario it runs the built-in one and prints a timeline people can follow", async () => {
    const r = await cli("simulate");
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /^SCENARIO clone-drift \(policy voice-studio, seed 1\): ROLLBACK at \d\d:\d\d after \d+ looks/,
    );
    expect(r.stdout).toMatch(/TIME\s+STEP\s+WEIGHT\s+SAMPLES b\/c\s+PASSING\s+WHAT HAPPENED/);
    expect(r.stdout).toContain("WeightSet: step 1 of 6 (setWeight 10%): canary weight 10%");
    expect(r.stdout).toContain("speaker_similarity voice_id=mia-chen: nodata -> fail");
  });

  it("--policy judges the same fleet with another policy", async () => {
    const f = scratch({
      "loose.yaml": readFileSync("policies/voice-studio.yaml", "utf8").replace(
        "budget: { absolute: 0.01 }",
        "budget: { absolute: 0.2 }",
      ),
    });
    const r = await cli(
      "simulate",
      "examples/scenarios/clone-drift.yaml",
      "--policy",
      f("loose.yaml"),
      "-o",
      "json",
    );
    expect((JSON.parse(r.stdout) as SimJson).decision).not.toBe("rollback");
  });

  it.each([
    [["simulate", "nope.yaml"], 66, /cannot read nope\.yaml: no such file/],
    [["simulate", "examples/scenarios/aa.yaml", "--seed", "x"], 64, /--seed expects a whole number/],
    [["simulate", "policies/voice-studio.yaml"], 65, /voice-studio\.yaml:\d+:\d+: /],
  ])("bad input %j exits %i with a clear message", async (args, code, message) => {
    const r = await cli(...args);
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(message);
  });
});
