import { writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { scratch } from "../../../test/support/cli.js";
import { readEvalFile, splitCsvRecord, type Cell } from "./eval-reader.js";

async function read(name: string, content: string, wanted: string[]) {
  const f = scratch({ [name]: content });
  const rows: { cells: Cell[]; line: number }[] = [];
  const result = await readEvalFile(f(name), wanted, (cells, line) => rows.push({ cells: [...cells], line }));
  return { rows, result };
}

describe("splitCsvRecord (RFC 4180)", () => {
  it.each([
    ["a,b,c", ["a", "b", "c"]],
    ["a,,c", ["a", "", "c"]],
    ['"a,b",c', ["a,b", "c"]],
    ['"say ""hi""",x', ['say "hi"', "x"]],
    ['x,"multi\nline"', ["x", "multi\nline"]],
    ['"",""', ["", ""]],
  ])("%j", (text, cells) => {
    expect(splitCsvRecord(text)).toEqual(cells);
  });
  it("returns null when a quoted field runs on", () => {
    expect(splitCsvRecord('a,"open')).toBeNull();
  });
});

describe("readEvalFile", () => {
  it("reads CSV with CRLF line ends, a BOM, quoted fields across lines and blank lines; picks columns by name", async () => {
    const { rows, result } = await read(
      "x.csv",
      '\uFEFFid,voice,sim\r\n1,"a, b",0.7\r\n\r\n2,"multi\r\nline",0.8\r\n',
      ["sim", "voice", "absent"],
    );
    expect(rows).toEqual([
      { cells: ["0.7", "a, b", null], line: 2 },
      { cells: ["0.8", "multi\r\nline".replace("\r", ""), null], line: 4 },
    ]);
    expect([...result.present].sort()).toEqual(["sim", "voice"]);
    expect(result.rows).toBe(2);
  });

  it("reads JSON Lines: numbers stay numbers, booleans become 0/1, empty or null is missing", async () => {
    const { rows, result } = await read(
      "x.jsonl",
      '{"sim": 0.7, "voice": "a", "err": true}\n\n{"sim": null, "voice": 7, "err": false}\n',
      ["sim", "voice", "err"],
    );
    expect(rows).toEqual([
      { cells: [0.7, "a", 1], line: 1 },
      { cells: [null, 7, 0], line: 3 },
    ]);
    expect(result.present.has("sim")).toBe(true);
  });

  it("decodes multi-byte characters split across read chunks", async () => {
    const f = scratch();
    const voice = "zoë-日本語";
    const lines = ["voice,x", ...Array.from({ length: 60_000 }, (_, i) => `${voice},${i}`)];
    writeFileSync(f("big.csv"), lines.join("\n"));
    const seen = new Set<string>();
    let count = 0;
    await readEvalFile(f("big.csv"), ["voice", "x"], (cells) => {
      seen.add(String(cells[0]));
      count++;
    });
    expect(count).toBe(60_000);
    expect([...seen]).toEqual([voice]);
  });
});
