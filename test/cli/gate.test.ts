import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { EXAMPLES } from "../../examples/eval/generate.js";
import { cli, scratch } from "../support/cli.js";

const POLICY = `apiVersion: voicectl.dev/v1alpha1
kind: RolloutPolicy
metadata: {name: tiny}
spec:
  sliceBy: [voice_id]
  minSamples: 3
  metrics:
    - {name: sim, direction: higherIsBetter, aggregate: mean, critical: true, budget: {absolute: 0.01}}
    - {name: err, direction: lowerIsBetter, aggregate: rate, budget: {absolute: 0.5}}
`;

const rows = (voice: string, values: number[], err = 0) =>
  values.map((v, i) => `u${voice}${i},${voice},${v},${err}`);
const csv = (...lines: string[][]) => ["utterance_id,voice_id,sim,err", ...lines.flat()].join("\n") + "\n";

describe("voicectl gate on the shipped examples", () => {
  it.each(EXAMPLES.map((e) => [e.name, e] as const))(
    "%s ends in its expected decision and exit code",
    async (_name, e) => {
      const dir = `examples/eval/${e.name}`;
      const args = [
        "gate",
        "--policy",
        `policies/${e.policy}.yaml`,
        "--baseline",
        `${dir}/baseline.${e.format}`,
        "--canary",
        `${dir}/canary.${e.format}`,
        "-o",
        "json",
      ];
      if (e.pairBy) args.push("--pair-by", e.pairBy);
      const r = await cli(...args);
      const report = JSON.parse(r.stdout) as { decision: string };
      expect(report.decision).toBe(e.expected);
      expect(r.code).toBe({ promote: 0, rollback: 1, pause: 2 }[e.expected]);
    },
  );

  it("the clone-drift rollback names the voice, its values and the budget", async () => {
    const r = await cli(
      "gate",
      "-p",
      "policies/voice-studio.yaml",
      "-b",
      "examples/eval/clone-drift/baseline.csv",
      "-c",
      "examples/eval/clone-drift/canary.csv",
      "--pair-by",
      "utterance_id",
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^DECISION: ROLLBACK/);
    expect(r.stdout).toMatch(
      /speaker_similarity \(mean\) in voice_id=mia-chen: 0\.\d+ -> 0\.\d+; worsening \+0\.0\d+ \[0\.0\d+, 0\.0\d+\], over budget \+0\.01/,
    );
  });
});

describe("output formats", () => {
  const f = scratch({
    "p.yaml": POLICY,
    "b.csv": csv(rows("a", [0.7, 0.71, 0.72, 0.7]), rows("b", [0.7, 0.71, 0.72, 0.7])),
    "c.csv": csv(rows("a", [0.6, 0.61, 0.62, 0.6]), rows("b", [0.7, 0.71, 0.72, 0.7])),
  });
  const gate = (...extra: string[]) =>
    cli("gate", "-p", f("p.yaml"), "-b", f("b.csv"), "-c", f("c.csv"), "--pair-by", "utterance_id", ...extra);

  it("json carries the decision and findings with slice labels; the aggregate's slice is {}", async () => {
    const r = await gate("-o", "json");
    const report = JSON.parse(r.stdout) as {
      decision: string;
      findings: { metric: string; slice: object; verdict: string; critical: boolean }[];
    };
    expect(report.decision).toBe("rollback");
    expect(report.findings).toContainEqual(
      expect.objectContaining({ metric: "sim", slice: { voice_id: "a" }, verdict: "fail", critical: true }),
    );
    expect(report.findings.some((x) => x.metric === "sim" && Object.keys(x.slice).length === 0)).toBe(true);
  });

  it("markdown has a heading with the decision and a findings table", async () => {
    const r = await gate("-o", "markdown");
    expect(r.stdout).toMatch(/^### :x: voicectl gate: \*\*rollback\*\*/);
    expect(r.stdout).toContain("| verdict | metric | slice |");
    expect(r.stdout).toContain("voice_id=a");
  });

  it("junit has one test case per finding and a failure for the failing one", async () => {
    const r = await gate("-o", "junit");
    const json = JSON.parse((await gate("-o", "json")).stdout) as { findings: unknown[] };
    expect(r.stdout.match(/<testcase /g)!.length).toBe(json.findings.length);
    expect(r.stdout).toMatch(
      /<testcase classname="voicectl.sim" name="voice_id=a">\s*<failure type="fail-critical"/,
    );
    expect(r.stdout.startsWith('<?xml version="1.0" encoding="UTF-8"?>')).toBe(true);
  });

  it("table has no colour when stdout is not a terminal", async () => {
    const r = await gate();
    expect(r.stdout).not.toContain("\u001b[");
    expect(r.stdout).toContain("VERDICT");
  });
});

describe("bad input: a clear message naming the file and where, and the right exit code", () => {
  const good = csv(rows("a", [0.7, 0.71, 0.72]));
  const cases: [string, Record<string, string>, string[], number, RegExp][] = [
    [
      "a missing baseline file",
      { "c.csv": good },
      ["-b", "nope.csv", "-c", "c.csv"],
      66,
      /cannot read .*nope\.csv: no such file/,
    ],
    ["a directory instead of a file", { "c.csv": good }, ["-b", ".", "-c", "c.csv"], 65, /unknown file type/],
    [
      "an unknown extension",
      { "b.txt": good, "c.csv": good },
      ["-b", "b.txt", "-c", "c.csv"],
      65,
      /b\.txt: unknown file type "\.txt": expected \.csv, \.jsonl or \.ndjson/,
    ],
    [
      "a row with too few cells",
      { "b.csv": good + "u9,a\n", "c.csv": good },
      ["-b", "b.csv", "-c", "c.csv"],
      65,
      /b\.csv:5: expected 4 cells as in the header, found 2/,
    ],
    [
      "a metric that is not a number",
      { "b.csv": good.replace("0.71", "fast"), "c.csv": good },
      ["-b", "b.csv", "-c", "c.csv"],
      65,
      /b\.csv:3: sim: expected a number, found "fast"/,
    ],
    [
      "a rate outside 0..1",
      { "b.csv": good, "c.csv": good.replace(/,0\n$/, ",7\n") },
      ["-b", "b.csv", "-c", "c.csv"],
      65,
      /c\.csv:4: err: expected a rate value between 0 and 1/,
    ],
    [
      "a quoted field never closed",
      { "b.csv": good + 'u9,"a,0.7,0\n', "c.csv": good },
      ["-b", "b.csv", "-c", "c.csv"],
      65,
      /b\.csv:5: a quoted field is never closed/,
    ],
    [
      "an empty file",
      { "b.csv": "", "c.csv": good },
      ["-b", "b.csv", "-c", "c.csv"],
      65,
      /b\.csv:1: the file is empty: expected a header row/,
    ],
    [
      "a duplicated pair id",
      { "b.csv": good + "ua0,a,0.7,0\n", "c.csv": good },
      ["-b", "b.csv", "-c", "c.csv", "--pair-by", "utterance_id"],
      65,
      /b\.csv:5: utterance_id: "ua0" appears twice \(first on line 2\)/,
    ],
    [
      "a pair column that is not there",
      { "b.csv": good, "c.csv": good },
      ["-b", "b.csv", "-c", "c.csv", "--pair-by", "utt"],
      65,
      /b\.csv: utt: the --pair-by column is not in the file/,
    ],
    [
      "a pair whose labels disagree",
      { "b.csv": good, "c.csv": good.replace("ua1,a", "ua1,z") },
      ["-b", "b.csv", "-c", "c.csv", "--pair-by", "utterance_id"],
      65,
      /c\.csv:3: voice_id: "z" here but "a" for the same utterance_id in the baseline file \(line 3\)/,
    ],
    [
      "invalid JSON in a JSON Lines file",
      { "b.jsonl": '{"sim": 0.7}\n{sim: 1}\n', "c.csv": good },
      ["-b", "b.jsonl", "-c", "c.csv"],
      65,
      /b\.jsonl:2: not valid JSON/,
    ],
    [
      "a JSON line that is not an object",
      { "b.jsonl": "[1,2]\n", "c.csv": good },
      ["-b", "b.jsonl", "-c", "c.csv"],
      65,
      /b\.jsonl:1: expected a JSON object per line/,
    ],
    [
      "a summary row whose labels name no slice",
      {
        "p.yaml": POLICY.replace("sliceBy: [voice_id]", "sliceBy: [voice_id, language]"),
        "b.csv": "voice_id,language,sim,err\na,en,0.7,0\n",
        "c.csv": good,
      },
      ["-b", "b.csv", "-c", "c.csv", "--summary"],
      65,
      /b\.csv:2: labels voice_id\+language name no slice dimension/,
    ],
    [
      "two summary rows for one slice",
      { "b.csv": "voice_id,sim,err\na,0.7,0\na,0.7,0\n", "c.csv": good },
      ["-b", "b.csv", "-c", "c.csv", "--summary"],
      65,
      /b\.csv:3: a second row for the same slice \(first on line 2\)/,
    ],
  ];
  it.each(cases)("%s", async (_name, files, args, code, message) => {
    const f = scratch({ "p.yaml": POLICY, ...files }); // a case may bring its own policy
    const r = await cli(
      "gate",
      "-p",
      f("p.yaml"),
      ...args.map((a) => (a.startsWith("-") || a === "." ? a : a.includes(".") ? f(a) : a)),
    );
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(code);
    expect(r.stdout).toBe("");
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it("a transcript in a metric column is not echoed in the error, only its length", async () => {
    const good = csv(rows("a", [0.7, 0.71, 0.72]));
    const f = scratch({
      "p.yaml": POLICY,
      "b.csv": good.replace("0.71", '"please read my account number 1234"'),
      "c.csv": good,
    });
    const r = await cli("gate", "-p", f("p.yaml"), "-b", f("b.csv"), "-c", f("c.csv"));
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(/b\.csv:3: sim: expected a number, found "<text of 34 characters>"/);
    expect(r.stderr).not.toContain("account");
  });

  it("many bad rows are counted, not all listed", async () => {
    const bad = [
      "utterance_id,voice_id,sim,err",
      ...Array.from({ length: 500 }, (_, i) => `u${i},a,x,0`),
    ].join("\n");
    const f = scratch({ "p.yaml": POLICY, "b.csv": bad, "c.csv": bad });
    const r = await cli("gate", "-p", f("p.yaml"), "-b", f("b.csv"), "-c", f("c.csv"));
    expect(r.code).toBe(65);
    expect(r.stderr.split("\n").filter((l) => l.includes("expected a number")).length).toBe(20);
    expect(r.stderr).toContain("and 480 more problems like these");
  });

  it("an invalid policy is exit 65 with every problem listed", async () => {
    const f = scratch({
      "p.yaml": POLICY.replace("higherIsBetter", "up").replace("absolute: 0.5", "relative: -1"),
      "b.csv": good,
    });
    const r = await cli("gate", "-p", f("p.yaml"), "-b", f("b.csv"), "-c", f("b.csv"));
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(
      /p\.yaml:8:\d+: spec\.metrics\[0\]\.direction: expected one of "lowerIsBetter", "higherIsBetter", found the string "up"/,
    );
    expect(r.stderr).toMatch(
      /p\.yaml:9:\d+: spec\.metrics\[1\]\.budget\.relative: expected a number >= 0, found -1/,
    );
  });
});

describe("usage errors exit 64 and say what is wrong", () => {
  it.each([
    [["gate", "-b", "b.csv", "-c", "c.csv"], /required option '-p, --policy <file>' not specified/],
    [
      ["gate", "-p", "p", "-b", "b", "-c", "c", "-o", "xml"],
      /argument 'xml' is invalid. Allowed choices are table, json, markdown, junit/,
    ],
    [
      ["gate", "-p", "p", "-b", "b", "-c", "c", "--summary", "--pair-by", "id"],
      /cannot be used with option '--summary'/,
    ],
    [["gaet"], /unknown command 'gaet'/],
  ])("%j", async (args, message) => {
    const r = await cli(...args);
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(message);
  });

  it("--help explains the files and the exit codes, and exits 0", async () => {
    const r = await cli("gate", "--help");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Exit codes: 0 promote, 1 rollback, 2 pause, 64 usage error");
    expect(r.stdout).toContain("--pair-by <column>");
  });
});

describe("the installed binary", () => {
  it("runs from dist with the exit code of its decision, and no stack trace for a missing file", () => {
    const ok = spawnSync(
      process.execPath,
      [
        "dist/src/cli/main.js",
        "gate",
        "-p",
        "policies/voice-studio.yaml",
        "-b",
        "examples/eval/cost-regression/baseline.csv",
        "-c",
        "examples/eval/cost-regression/canary.csv",
        "--pair-by",
        "utterance_id",
      ],
      { encoding: "utf8" },
    );
    expect(ok.status).toBe(2);
    const missing = spawnSync(
      process.execPath,
      ["dist/src/cli/main.js", "gate", "-p", "nope.yaml", "-b", "x.csv", "-c", "y.csv"],
      { encoding: "utf8" },
    );
    expect(missing.status).toBe(66);
    expect(missing.stderr).toBe("voicectl: cannot read nope.yaml: no such file\n");
  });
});
