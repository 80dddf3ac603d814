// Files that are not UTF-8 are refused with the file, the line and the encoding they look like (exit 65),
// whichever command reads them: evaluation files (gate), policies, scenarios and rollout files.
import { readFileSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { loadRolloutFile } from "../../src/cli/commands/rollout/file.js";
import { InvalidInputError } from "../../src/core/errors.js";
import { cli, scratch } from "../support/cli.js";

const POLICY = `apiVersion: voicectl.dev/v1alpha1
kind: RolloutPolicy
metadata: {name: tiny}
spec:
  sliceBy: [voice_id]
  minSamples: 3
  metrics:
    - {name: sim, direction: higherIsBetter, aggregate: mean, critical: true, budget: {absolute: 0.01}}
`;

/** The same voices in both arms, the canary a little worse on one of them: a valid gate run in UTF-8. */
const ARM = (shift: number) =>
  [
    "utterance_id,voice_id,sim",
    ...["mia-chén", "noah"].flatMap((voice) =>
      [0.7, 0.71, 0.72, 0.7, 0.69].map((v, i) => `${voice}-${i},${voice},${(v - shift).toFixed(3)}`),
    ),
  ].join("\n") + "\n";

function files(baseline: Buffer, canary: Buffer, ext = "csv") {
  const f = scratch({ "p.yaml": POLICY });
  writeFileSync(f(`b.${ext}`), baseline);
  writeFileSync(f(`c.${ext}`), canary);
  return f;
}

const gate = (f: (n: string) => string, ext = "csv", ...extra: string[]) =>
  cli("gate", "-p", f("p.yaml"), "-b", f(`b.${ext}`), "-c", f(`c.${ext}`), "-o", "json", ...extra);

const utf16le = (text: string) => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, "utf16le")]);
const utf16be = (text: string) => {
  const le = Buffer.from(text, "utf16le");
  const be = Buffer.alloc(le.length);
  for (let i = 0; i < le.length; i += 2) [be[i], be[i + 1]] = [le[i + 1]!, le[i]!];
  return Buffer.concat([Buffer.from([0xfe, 0xff]), be]);
};

describe("gate: evaluation files that are not UTF-8", () => {
  it("a Latin-1 CSV in both arms is refused naming the file, line, column and byte, not judged as a voice", async () => {
    const f = files(Buffer.from(ARM(0), "latin1"), Buffer.from(ARM(0.05), "latin1"));
    const r = await gate(f);
    expect(r.code).toBe(65);
    expect(r.stdout).toBe("");
    // "mia-chén-0,mia-chén,…": the é is the 7th character of line 2.
    expect(r.stderr).toMatch(
      /b\.csv:2:7: not UTF-8 \(byte 0xE9; looks like Latin-1\/Windows-1252\): save the file as UTF-8/,
    );
    expect(r.stderr).not.toContain("\ufffd");
  });

  it("the same files in UTF-8 are judged, the voice named as written", async () => {
    const f = files(Buffer.from(ARM(0)), Buffer.from(ARM(0.05)));
    const r = await gate(f);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain('"voice_id": "mia-chén"');
  });

  it.each([
    ["UTF-16 LE", utf16le, /b\.csv:1:1: encoded as UTF-16 LE \(it starts with the byte order mark FF FE\)/],
    ["UTF-16 BE", utf16be, /b\.csv:1:1: encoded as UTF-16 BE \(it starts with the byte order mark FE FF\)/],
  ])("%s with a byte order mark (PowerShell's default) is named as such", async (_name, encode, message) => {
    const f = files(encode(ARM(0)), Buffer.from(ARM(0)));
    const r = await gate(f);
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain("save the file as UTF-8");
    expect(r.stderr).not.toMatch(/required field|missing/);
  });

  it("UTF-16 without a byte order mark is recognised by its NUL bytes", async () => {
    const f = files(Buffer.from(ARM(0)), Buffer.from(ARM(0), "utf16le"));
    const r = await gate(f);
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(
      /c\.csv:1:2: NUL bytes between the characters: looks like UTF-16 LE without a byte order mark/,
    );
  });

  it("a bad byte far into a file (past the first read chunk) is on the right line", async () => {
    const lines = ARM(0).trimEnd().split("\n");
    const rows = Array.from({ length: 80_000 }, (_, i) => `u${i},noah,0.70${i % 10}`);
    const text = [lines[0], ...rows, "late,zoë,0.7", ...lines.slice(1)].join("\n") + "\n";
    const latin1 = Buffer.from(text, "latin1");
    expect(latin1.length).toBeGreaterThan(1 << 20);
    const f = files(Buffer.from(ARM(0)), latin1);
    const r = await gate(f);
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(/c\.csv:80002:8: not UTF-8 \(byte 0xEB; looks like Latin-1\/Windows-1252\)/);
  });

  it("a UTF-8 byte order mark is accepted and dropped, in CSV and in JSON Lines", async () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    const csv = await gate(files(Buffer.concat([bom, Buffer.from(ARM(0))]), Buffer.from(ARM(0.05))));
    expect(csv.stderr).toBe("");
    expect(JSON.parse(csv.stdout)).toHaveProperty("decision", "rollback");
    const jsonl = (shift: number) =>
      ARM(shift)
        .trimEnd()
        .split("\n")
        .slice(1)
        .map((l) => l.split(","))
        .map(([u, voice_id, sim]) => JSON.stringify({ utterance_id: u, voice_id, sim: Number(sim) }))
        .join("\n") + "\n";
    const j = await gate(
      files(Buffer.concat([bom, Buffer.from(jsonl(0))]), Buffer.from(jsonl(0.05)), "jsonl"),
      "jsonl",
    );
    expect(j.stderr).toBe("");
    expect(JSON.parse(j.stdout)).toHaveProperty("decision", "rollback");
  });

  it("a Latin-1 JSON Lines file is refused too (JSON.parse would take the replacement character)", async () => {
    const line = JSON.stringify({ utterance_id: "u1", voice_id: "mia-chén", sim: 0.7 });
    const f = files(Buffer.from(`${line}\n${line}\n`, "latin1"), Buffer.from(`${line}\n`), "jsonl");
    const r = await gate(f, "jsonl");
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(/b\.jsonl:1:\d+: not UTF-8 \(byte 0xE9/);
  });
});

describe("policies, scenarios and rollout files that are not UTF-8", () => {
  const scenario = readFileSync("examples/scenarios/aa.yaml", "utf8").replace(
    /policy: .*/,
    `policy: ${process.cwd()}/policies/voice-studio.yaml`,
  );

  it("policy validate names a UTF-16 policy and a Latin-1 one, with their lines", async () => {
    const f = scratch();
    writeFileSync(f("u16.yaml"), utf16le(POLICY));
    writeFileSync(
      f("latin1.yaml"),
      Buffer.from(POLICY.replace("{name: tiny}", "{name: tiny} # café"), "latin1"),
    );
    const r = await cli("policy", "validate", f("u16.yaml"), f("latin1.yaml"));
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(/u16\.yaml:1:1: encoded as UTF-16 LE/);
    expect(r.stderr).toMatch(/latin1\.yaml:3:\d+: not UTF-8 \(byte 0xE9; looks like Latin-1\/Windows-1252\)/);
  });

  it("gate --policy with a UTF-16 policy exits 65 naming the encoding, not a missing field", async () => {
    const f = files(Buffer.from(ARM(0)), Buffer.from(ARM(0)));
    writeFileSync(f("p.yaml"), utf16be(POLICY));
    const r = await gate(f);
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(/p\.yaml:1:1: encoded as UTF-16 BE/);
  });

  it("simulate names a UTF-16 scenario", async () => {
    const f = scratch();
    writeFileSync(f("s.yaml"), utf16le(scenario));
    const r = await cli("simulate", f("s.yaml"));
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(/s\.yaml:1:1: encoded as UTF-16 LE/);
  });

  it("a scenario with a UTF-8 byte order mark runs", async () => {
    const f = scratch();
    writeFileSync(f("s.yaml"), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(scenario)]));
    const r = await cli("simulate", f("s.yaml"), "-o", "json");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  it("rollout start -f refuses a Latin-1 rollout file before anything is sent", async () => {
    const f = scratch();
    const text = readFileSync("examples/rollouts/rollout.yaml", "utf8").replace(
      "kind: VoiceRollout",
      "kind: VoiceRollout # première",
    );
    writeFileSync(f("r.yaml"), Buffer.from(text, "latin1"));
    const line = text.split("\n").findIndex((l) => l.includes("première")) + 1;
    const err = await loadRolloutFile(f("r.yaml")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as InvalidInputError).problems).toEqual([
      expect.objectContaining({ line, message: expect.stringMatching(/^not UTF-8 \(byte 0xE8;/) as unknown }),
    ]);
  });
});
