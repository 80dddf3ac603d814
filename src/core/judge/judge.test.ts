import { describe, expect, it } from "vitest";
import { COST, MOS, SIMILARITY, TTFA, makePolicy, type MetricInput } from "../../../test/support/policy.js";
import { createRng, type Rng } from "../stats/random.js";
import { judgeSamples } from "./judge.js";
import { planJudge } from "./plan.js";
import { buildReport } from "./report.js";
import { SampleStore } from "./samples.js";

/** One simulated utterance: labels plus metric values (NaN or absent = missing). */
type Utterance = { labels: Record<string, string>; values: Record<string, number> };
type Shift = (u: Utterance, rng: Rng) => Record<string, number>;

const VOICES = ["mia-chen", "leo-martin", "ava-brooks", "noah-king"];
const LANGUAGES: Record<string, string> = {
  "mia-chen": "en",
  "leo-martin": "en",
  "ava-brooks": "es",
  "noah-king": "de",
};

/** An evaluation set with docs/budgets.md#typical-values: similarity ~0.72 +- 0.035, TTFA lognormal. */
function evaluationSet(rng: Rng, perVoice: number): Utterance[] {
  const out: Utterance[] = [];
  for (const v of VOICES) {
    for (let i = 0; i < perVoice; i++) {
      out.push({
        labels: { voice_id: v, language: LANGUAGES[v]!, tenant: i % 2 ? "callvault" : "acme" },
        values: {
          speaker_similarity: 0.72 + rng.normal(0, 0.035),
          ttfa_ms: 120 * Math.exp(rng.normal(0, 0.5)),
          mos: 4.0 + rng.normal(0, 0.2),
          cost: 0.00005 * Math.exp(rng.normal(0, 0.05)),
        },
      });
    }
  }
  return out;
}

function regenerate(set: Utterance[], rng: Rng, shift: Shift = () => ({})): Utterance[] {
  const fresh = evaluationSet(rng, set.length / VOICES.length);
  return fresh.map((u, i) => ({ labels: set[i]!.labels, values: { ...u.values, ...shift(set[i]!, rng) } }));
}

function run(
  metrics: MetricInput[],
  baseline: Utterance[],
  canary: Utterance[],
  spec: Record<string, unknown> = {},
) {
  const policy = makePolicy(metrics, { minSamples: 30, ...spec });
  const plan = planJudge(policy);
  const store = new SampleStore(plan, false);
  const add = (arm: "baseline" | "canary", set: Utterance[]) => {
    for (const u of set) {
      store.add(
        arm,
        plan.labels.map((l) => u.labels[l] ?? null),
        plan.metrics.map((m) => u.values[m.column] ?? NaN),
      );
    }
  };
  add("baseline", baseline);
  add("canary", canary);
  const findings = judgeSamples(plan, { store, missingColumns: { baseline: new Set(), canary: new Set() } });
  return buildReport(policy, "independent", findings, []);
}

describe("the decision rules on simulated evaluation sets", () => {
  // Independent samples need a few hundred utterances per voice to resolve a 0.01 similarity budget
  // (pairing needs far fewer: see the last test).
  const base = evaluationSet(createRng(1), 600);
  const scenarios: [string, MetricInput[], Shift, "promote" | "pause" | "rollback", string | null][] = [
    ["no change promotes", [SIMILARITY, TTFA, MOS, COST], () => ({}), "promote", null],
    [
      "a quality regression with a latency win rolls back",
      [SIMILARITY, TTFA],
      (u) => ({
        speaker_similarity: u.values["speaker_similarity"]! - 0.04,
        ttfa_ms: u.values["ttfa_ms"]! * 0.6,
      }),
      "rollback",
      "speaker_similarity",
    ],
    [
      "a latency regression with a quality win rolls back (latency is critical)",
      [SIMILARITY, TTFA],
      (u, rng) => ({
        speaker_similarity: 0.76 + rng.normal(0, 0.035),
        ttfa_ms: 120 * 1.5 * Math.exp(rng.normal(0, 0.5)),
      }),
      "rollback",
      "ttfa_ms",
    ],
    [
      "a latency regression with a quality win pauses when latency is not critical",
      [SIMILARITY, { ...TTFA, critical: false }],
      (u, rng) => ({
        speaker_similarity: 0.76 + rng.normal(0, 0.035),
        ttfa_ms: 120 * 1.5 * Math.exp(rng.normal(0, 0.5)),
      }),
      "pause",
      "ttfa_ms",
    ],
    [
      "a non-critical cost regression pauses",
      [SIMILARITY, COST],
      (u, rng) => ({ cost: 0.00005 * 1.3 * Math.exp(rng.normal(0, 0.05)) }),
      "pause",
      "cost",
    ],
  ];
  it.each(scenarios)("%s", (_name, metrics, shift, decision, metric) => {
    const report = run(metrics, base, regenerate(base, createRng(2), shift));
    expect(report.decision).toBe(decision);
    if (metric) expect(report.reasons[0]!.metric).toBe(metric);
  });

  it("one cloned voice drifting fails in that voice while the aggregate passes", () => {
    const canary = regenerate(base, createRng(3), (u, rng) =>
      u.labels["voice_id"] === "mia-chen"
        ? { speaker_similarity: 0.69 + rng.normal(0, 0.035) }
        : { speaker_similarity: 0.725 + rng.normal(0, 0.035) },
    );
    const report = run([SIMILARITY], base, canary);
    expect(report.decision).toBe("rollback");
    expect(report.reasons.map((f) => f.slice)).toEqual([{ voice_id: "mia-chen" }]);
    const aggregate = report.findings.find((f) => Object.keys(f.slice).length === 0)!;
    expect(aggregate.verdict).toBe("pass");
    expect(report.summary).toContain("voice_id=mia-chen");
  });

  it("one cohort regressing 11% while the aggregate improves 4% fails on the cohort", () => {
    const metric: MetricInput = { ...COST, critical: true, budget: { relative: 0.05 }, sliceBy: ["tenant"] };
    // callvault (half the traffic) gets 11% dearer, acme 19% cheaper: the aggregate is 4% cheaper.
    const canary = regenerate(base, createRng(4), (u, rng) => ({
      cost: 0.00005 * (u.labels["tenant"] === "callvault" ? 1.11 : 0.81) * Math.exp(rng.normal(0, 0.05)),
    }));
    const report = run([metric], base, canary);
    const aggregate = report.findings.find((f) => Object.keys(f.slice).length === 0)!;
    expect(aggregate.relativeDelta!).toBeCloseTo(-0.04, 2);
    expect(aggregate.verdict).toBe("pass");
    expect(report.decision).toBe("rollback");
    expect(report.reasons.map((f) => f.slice)).toEqual([{ tenant: "callvault" }]);
  });

  it("a missing metric pauses with the column named", () => {
    const canary = regenerate(base, createRng(5)).map((u) => ({ ...u, values: { ...u.values, cost: NaN } }));
    const report = run([SIMILARITY, COST], base, canary);
    expect(report.decision).toBe("pause");
    expect(report.reasons.every((f) => f.metric === "cost" && f.verdict === "nodata")).toBe(true);
  });

  it("a missing critical metric never promotes, even when marked optional", () => {
    const canary = regenerate(base, createRng(6)).map((u) => ({
      ...u,
      values: { ...u.values, speaker_similarity: NaN },
    }));
    const report = run([{ ...SIMILARITY, required: false }, COST], base, canary);
    expect(report.decision).toBe("pause");
    expect(report.reasons[0]!.metric).toBe("speaker_similarity");
  });

  it("a missing optional, non-critical metric is reported but does not hold a promotion", () => {
    const canary = regenerate(base, createRng(7)).map((u) => ({ ...u, values: { ...u.values, cost: NaN } }));
    const report = run([SIMILARITY, { ...COST, required: false }], base, canary);
    expect(report.decision).toBe("promote");
    expect(report.counts.nodata).toBeGreaterThan(0);
  });

  it("a slice below minSamples is nodata and pauses", () => {
    // Keep 20 of noah-king's utterances in the baseline: under minSamples 30.
    let kept = 0;
    const few = base.filter((u) => u.labels["voice_id"] !== "noah-king" || kept++ < 20);
    const report = run([SIMILARITY], few, regenerate(base, createRng(8)));
    const f = report.findings.find((x) => x.slice["voice_id"] === "noah-king")!;
    expect(f.verdict).toBe("nodata");
    expect(f.reason).toMatch(/fewer samples than minSamples 30/);
    expect(report.decision).toBe("pause");
  });

  it("a slice only the canary has is reported, not skipped", () => {
    const canary = regenerate(base, createRng(9));
    for (let i = 0; i < 50; i++)
      canary.push({ labels: { voice_id: "new-voice" }, values: { speaker_similarity: 0.7 } });
    const f = run([SIMILARITY], base, canary).findings.find((x) => x.slice["voice_id"] === "new-voice")!;
    expect(f.verdict).toBe("nodata");
    expect(f.reason).toContain("the baseline never saw it");
  });

  it("a zero baseline rate with a relative budget is judged against no worsening, not divided by", () => {
    const errors: MetricInput = {
      name: "errors",
      aggregate: "rate",
      critical: true,
      budget: { relative: 0.5 },
    };
    const b = Array.from({ length: 2000 }, () => ({ labels: {}, values: { errors: 0 } }));
    const c = Array.from({ length: 2000 }, (_, i) => ({
      labels: {},
      values: { errors: i % 20 === 0 ? 1 : 0 },
    }));
    const f = run([errors], b, c).findings[0]!;
    expect(f.relativeDelta).toBeNull();
    expect(f.allowed).toBe(0);
    expect(f.verdict).toBe("fail");
    expect(f.reason).toContain("the baseline is 0");
  });

  it("every finding carries the estimate, its interval, the samples and the budget", () => {
    const f = run([SIMILARITY], base, regenerate(base, createRng(10))).findings.find(
      (x) => Object.keys(x.slice).length === 0,
    )!;
    expect(f.interval!.lower).toBeLessThanOrEqual(f.worsening!);
    expect(f.interval!.upper).toBeGreaterThanOrEqual(f.worsening!);
    expect(f.samples).toEqual({ baseline: 2400, canary: 2400 });
    expect(f.allowed).toBe(0.01);
    expect(f.method).toBe("welch-t");
  });
});

describe("statistical guarantees, by long-run simulation with fixed seeds", () => {
  it("A/A: a finding falsely fails at most (1 - confidence) / 2 of the time", () => {
    // Budget 0 puts the truth exactly on the boundary: the worst case for a false fail.
    const metric: MetricInput = { name: "x", critical: false, budget: { absolute: 0 } };
    const rng = createRng(42);
    let fails = 0;
    const runs = 2000;
    for (let r = 0; r < runs; r++) {
      const arm = () =>
        Array.from({ length: 40 }, () => ({ labels: {}, values: { x: rng.normal(0.72, 0.035) } }));
      if (run([metric], arm(), arm(), { confidence: 0.9 }).findings[0]!.verdict === "fail") fails++;
    }
    // Nominal 0.05; binomial sd at 2000 runs is 0.005.
    expect(fails / runs).toBeGreaterThan(0.035);
    expect(fails / runs).toBeLessThan(0.065);
  });

  it("A/A over 100 slices: Bonferroni keeps any false rollback under 1 - confidence; without it, far more", () => {
    const metric: MetricInput = { name: "x", critical: true, budget: { absolute: 0 }, sliceBy: ["voice_id"] };
    const rng = createRng(7);
    const runs = 200;
    const rate = (familywise: string) => {
      let rollbacks = 0;
      for (let r = 0; r < runs; r++) {
        const arm = () =>
          Array.from({ length: 3000 }, (_, i) => ({
            labels: { voice_id: `v${i % 100}` },
            values: { x: rng.normal(0.72, 0.035) },
          }));
        if (run([metric], arm(), arm(), { familywise }).decision === "rollback") rollbacks++;
      }
      return rollbacks / runs;
    };
    const corrected = rate("bonferroni");
    const uncorrected = rate("none");
    expect(corrected).toBeLessThanOrEqual(0.05);
    expect(uncorrected).toBeGreaterThan(0.5); // 101 tests at 2.5% each
  });

  it("pairing by utterance detects a -0.02 similarity drop that independent samples miss", async () => {
    const { SampleStore: Store } = await import("./samples.js");
    const metric: MetricInput = { ...SIMILARITY, sliceBy: [] };
    const policy = makePolicy([metric], { minSamples: 30, confidence: 0.95 });
    const plan = planJudge(policy);
    const rng = createRng(11);
    let pairedFails = 0;
    let independentFails = 0;
    const runs = 200;
    for (let r = 0; r < runs; r++) {
      // Each utterance's difficulty is shared by both models (sd 0.033); generation noise is small (sd 0.012).
      const difficulty = Array.from({ length: 40 }, () => rng.normal(0, 0.033));
      const b = difficulty.map((d) => 0.72 + d + rng.normal(0, 0.012));
      const c = difficulty.map((d) => 0.72 - 0.02 + d + rng.normal(0, 0.012));
      const paired = new Store(plan, true);
      const independent = new Store(plan, false);
      b.forEach((x, i) => {
        paired.addPair([], [x], [c[i]!]);
        independent.add("baseline", [], [x]);
        independent.add("canary", [], [c[i]!]);
      });
      const missing = { baseline: new Set<string>(), canary: new Set<string>() };
      if (judgeSamples(plan, { store: paired, missingColumns: missing })[0]!.verdict === "fail")
        pairedFails++;
      if (judgeSamples(plan, { store: independent, missingColumns: missing })[0]!.verdict === "fail")
        independentFails++;
    }
    expect(pairedFails / runs).toBeGreaterThan(0.9);
    expect(independentFails / runs).toBeLessThan(0.6);
  });
});
