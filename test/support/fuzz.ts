// Deterministic fuzzing of voicectl's file readers: a seeded generator, mutations of valid examples (text and
// bytes, structure-aware for YAML), and the one property every reader must keep: an input either parses or
// is refused with one of the typed user errors (src/core/errors.ts), each problem naming the file and a line
// or a field path, with no long payload echoed back. Our own generator instead of a property-testing
// library: mutating the shipped examples is most of the value, and a seed per case is all a failure needs to
// reproduce (the failing seed and mutation are in the assertion message).
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, parseDocument, visit, type Document } from "yaml";
import { FileAccessError, InvalidInputError, UsageError } from "../../src/core/errors.js";

/** How many cases per target: a few seconds by default, VOICECTL_FUZZ_RUNS=20000 (say) for a long run. */
export function fuzzRuns(defaultRuns: number): number {
  const env = Number(process.env.VOICECTL_FUZZ_RUNS);
  return Number.isInteger(env) && env > 0 ? env : defaultRuns;
}

/** The first seed: VOICECTL_FUZZ_SEED to explore further, fixed by default so a failure reproduces. */
export function fuzzSeed(): number {
  const env = Number(process.env.VOICECTL_FUZZ_SEED);
  return Number.isInteger(env) ? env : 20261201;
}

/** mulberry32: small, fast and good enough to choose mutations; the same seed gives the same cases. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
}

/**
 * Text that stands for a payload in the wrong place (a transcript, a pasted blob). Messages may say how long
 * it is, never repeat it: `echoesPayload` looks for three units in a row (about 90 characters) in a message.
 */
export const PAYLOAD_UNITS = [
  "the quick brown fox jumps over the lazy dog ",
  "Zq9Xw7Vt5Rs3Pn1Lm8Kj6Hg4Fd2Sa0Yb",
];
export function payload(rng: Rng): string {
  return rng.pick(PAYLOAD_UNITS).repeat(5 + rng.int(200));
}
export function echoesPayload(message: string): boolean {
  return PAYLOAD_UNITS.some((u) => message.includes(u.repeat(3)));
}

/** Values of the wrong type, or of the right type at its edges, to put at any field path. */
export function oddValues(rng: Rng): unknown[] {
  return [
    null,
    true,
    0,
    -1,
    -0,
    1e308,
    -1e308,
    Number.MAX_SAFE_INTEGER + 2,
    0.1 + 0.2,
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "",
    " ",
    "0x1F",
    "٣", // an Arabic-Indic digit
    "tts-v41\u0000",
    [],
    {},
    [1, "a", null],
    { unexpected: { deeper: [1] } },
    payload(rng),
  ];
}

/** YAML scalars that a YAML 1.1/1.2 parser reads as numbers, booleans or specials. */
const YAML_SPECIALS = [
  ".nan",
  ".NaN",
  ".inf",
  "-.inf",
  "1e400",
  "-1e400",
  "0o17",
  "0x_",
  "1_000",
  "~",
  "null",
  "yes",
  "no",
  "on",
  "2026-12-01",
  "!!binary aGk=",
  "!!float x",
  "!!int 1.5",
  "!!str",
  "!custom 1",
  "*undefined_alias",
  "&anchor",
  "<<: {}",
  "? complex",
  "|",
  ">-",
  "'",
  '"',
  "[",
  "{",
  "]",
  "}",
  "#",
  "%YAML 1.1",
  "---",
  "...",
  "\t",
  "@",
  "`",
];

/** Every field path in a plain value: `["spec", "metrics", 0, "budget"]` and so on. */
export function fieldPaths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [];
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      out.push([...prefix, i]);
      out.push(...fieldPaths(v, [...prefix, i]));
    });
  } else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      out.push([...prefix, k]);
      out.push(...fieldPaths(v, [...prefix, k]));
    }
  }
  return out;
}

/** A YAML document with the node at `path` replaced by `value` (or deleted when value is undefined). */
export function withField(text: string, path: readonly (string | number)[], value: unknown): string {
  const doc: Document = parseDocument(text);
  if (value === undefined) doc.deleteIn(path);
  else doc.setIn(path, doc.createNode(value));
  return doc.toString({ lineWidth: 0 });
}

/** One mutation of a YAML text; returns the new text and a name for the assertion message. */
export function mutateYaml(rng: Rng, text: string): { text: string; how: string } {
  const lines = text.split("\n");
  const at = rng.int(text.length + 1);
  switch (rng.int(17)) {
    case 0:
      return { text: text.slice(0, at), how: `truncate at ${at}` };
    case 1: {
      const len = 1 + rng.int(40);
      return { text: text.slice(0, at) + text.slice(at + len), how: `delete ${len} at ${at}` };
    }
    case 2: {
      const token = rng.pick(YAML_SPECIALS);
      return {
        text: text.slice(0, at) + token + text.slice(at),
        how: `insert ${JSON.stringify(token)} at ${at}`,
      };
    }
    case 3: {
      // Replace one scalar value with a YAML special (a number-looking string, a tag, an alias).
      const doc = parseDocument(text);
      const scalars: { node: { value: unknown } }[] = [];
      visit(doc, { Scalar: (_k, node) => void scalars.push({ node }) });
      if (scalars.length === 0) return { text, how: "no scalars" };
      const i = rng.int(scalars.length);
      const special = rng.pick(YAML_SPECIALS);
      const source = text;
      const target = scalars[i]!.node.value;
      const needle = `: ${String(target)}`;
      const pos = source.indexOf(needle);
      if (pos < 0) return { text: source, how: `scalar ${i} not found` };
      return {
        text: source.slice(0, pos + 2) + special + source.slice(pos + needle.length),
        how: `scalar ${String(target)} -> ${special}`,
      };
    }
    case 4: {
      // A line repeated: duplicate keys, or a list item twice.
      const l = rng.int(lines.length);
      lines.splice(l, 0, lines[l]!);
      return { text: lines.join("\n"), how: `duplicate line ${l + 1}` };
    }
    case 5: {
      const l = rng.int(lines.length);
      const m = rng.int(lines.length);
      [lines[l], lines[m]] = [lines[m]!, lines[l]!];
      return { text: lines.join("\n"), how: `swap lines ${l + 1} and ${m + 1}` };
    }
    case 6: {
      // Indentation changed on one line.
      const l = rng.int(lines.length);
      const d = rng.pick(["", " ", "  ", "\t", "        "]);
      lines[l] = d + lines[l]!.trimStart();
      return { text: lines.join("\n"), how: `reindent line ${l + 1} with ${JSON.stringify(d)}` };
    }
    case 7:
      return { text: "\uFEFF" + text.replace(/\n/g, "\r\n"), how: "BOM and CRLF" };
    case 8: {
      const depth = 50 + rng.int(600);
      const nest =
        rng.int(2) === 0
          ? "[".repeat(depth) + "]".repeat(depth)
          : "{a: ".repeat(depth) + "1" + "}".repeat(depth);
      return { text: text.slice(0, at) + nest + text.slice(at), how: `nesting ${depth} at ${at}` };
    }
    case 9: {
      // A billion laughs: each alias level multiplies the nodes the document expands to.
      const levels = 3 + rng.int(8);
      let bomb = "bomb0: &b0 [x, x, x, x, x, x, x, x, x, x]\n";
      for (let i = 1; i < levels; i++)
        bomb += `bomb${i}: &b${i} [${Array(10)
          .fill(`*b${i - 1}`)
          .join(", ")}]\n`;
      return {
        text: rng.int(2) === 0 ? bomb + text : text + "\n" + bomb,
        how: `alias bomb of ${levels} levels`,
      };
    }
    case 10: {
      const p = payload(rng);
      const form = rng.pick([p, JSON.stringify(p), `${p}: 1`, `  ${p.replace(/ /g, "_")}: 1`]);
      return { text: text.slice(0, at) + form + text.slice(at), how: `payload of ${p.length} at ${at}` };
    }
    case 11:
      return {
        text: rng.pick([
          "",
          "\n",
          "   \n\t\n",
          "---\n",
          "---\n---\n",
          "...\n",
          "# only a comment\n",
          "null\n",
          "[]\n",
          "42\n",
          '"text"\n',
        ]),
        how: "empty-ish file",
      };
    case 12:
      return { text: `${text}\n---\n${text}`, how: "two documents" };
    case 13: {
      // Numbers at their limits where a number stands.
      const big = rng.pick([
        "1e400",
        "-1e400",
        "9".repeat(400),
        "0.000000000000000000000000000001",
        "-0",
        "1e-400",
        "123456789012345678901234567890",
      ]);
      return {
        text: text.replace(/(:\s*)(-?\d+(\.\d+)?)(\s|$)/, `$1${big}$4`),
        how: `first number -> ${big}`,
      };
    }
    case 14: {
      const p = payload(rng).replace(/ /g, "_");
      return {
        text: text.replace(/^(\s*)([A-Za-z]+):/m, `$1${p}:`),
        how: `first key -> payload of ${p.length}`,
      };
    }
    case 15: {
      const tab = text.replace(/^( +)/gm, (s) => (rng.int(4) === 0 ? s.replace(/ {2}/, "\t") : s));
      return { text: tab, how: "tabs in indentation" };
    }
    default: {
      const anchors = "x0: &a1 {k: v}\nx1: *a1\nx2: {<<: *a1, <<: *a1}\nx3: *nowhere\n";
      return { text: text + "\n" + anchors, how: "anchors, merges and an unknown alias" };
    }
  }
}

/** Mutations at the byte level: what a text mutation cannot express (bad UTF-8, NUL, UTF-16). */
export function mutateBytes(rng: Rng, bytes: Buffer): { bytes: Buffer; how: string } {
  const at = rng.int(bytes.length + 1);
  const insert = (extra: number[], how: string) => ({
    bytes: Buffer.concat([bytes.subarray(0, at), Buffer.from(extra), bytes.subarray(at)]),
    how: `${how} at ${at}`,
  });
  switch (rng.int(6)) {
    case 0: {
      const b = Buffer.from(bytes);
      const flips = 1 + rng.int(8);
      for (let i = 0; i < flips && b.length > 0; i++) {
        const at = rng.int(b.length);
        b[at] = b[at]! ^ (1 << rng.int(8));
      }
      return { bytes: b, how: `${flips} bit flips` };
    }
    case 1:
      return insert(
        rng.pick([
          [0xff, 0xfe],
          [0x80],
          [0xc0, 0xaf],
          [0xed, 0xa0, 0x80],
          [0xf4, 0x90, 0x80, 0x80],
          [0xe2, 0x82],
        ]),
        "invalid UTF-8",
      );
    case 2:
      return insert([0], "NUL");
    case 3:
      return {
        bytes: Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(bytes.toString("utf8"), "utf16le")]),
        how: "UTF-16LE with BOM",
      };
    case 4:
      return { bytes: bytes.subarray(0, at), how: `truncate bytes at ${at} (may split a character)` };
    default:
      return { bytes: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes]), how: "UTF-8 BOM" };
  }
}

/** One mutation of a CSV or JSON Lines text. `header` is the CSV's first line (absent for JSON Lines). */
export function mutateTable(rng: Rng, text: string, format: "csv" | "jsonl"): { text: string; how: string } {
  const lines = text.split("\n");
  const l = format === "csv" ? 1 + rng.int(Math.max(1, lines.length - 1)) : rng.int(lines.length);
  const at = rng.int(text.length + 1);
  const set = (line: string, how: string) => {
    const copy = [...lines];
    copy[l] = line;
    return { text: copy.join("\n"), how: `${how} on line ${l + 1}` };
  };
  const line = lines[l] ?? "";
  switch (rng.int(format === "csv" ? 16 : 14)) {
    case 0:
      return { text: text.slice(0, at), how: `truncate at ${at}` };
    case 1:
      return { text: rng.pick(["", "\n", "\r\n", "\uFEFF", "\n\n\n", " "]), how: "empty-ish file" };
    case 2:
      return { text: "\uFEFF" + text.replace(/\n/g, "\r\n"), how: "BOM and CRLF" };
    case 3:
      return { text: text.replace(/\n/g, "\r"), how: "old Mac line ends" };
    case 4: {
      const odd = rng.pick([
        "NaN",
        "Infinity",
        "-Infinity",
        "1e400",
        "-1e400",
        "0x10",
        "1_0",
        " ",
        "٣",
        "1,5",
        "--1",
        "1e",
        ".",
        "+",
        "9".repeat(400),
        "true",
        "null",
      ]);
      return set(
        format === "csv" ? replaceCell(rng, line, odd) : replaceJsonValue(rng, line, odd),
        `value ${JSON.stringify(odd)}`,
      );
    }
    case 5: {
      const p = payload(rng);
      return set(
        format === "csv" ? replaceCell(rng, line, `"${p}"`) : replaceJsonValue(rng, line, p),
        `payload of ${p.length}`,
      );
    }
    case 6: {
      const copy = [...lines];
      copy.splice(l, 0, line);
      return { text: copy.join("\n"), how: `line ${l + 1} twice` };
    }
    case 7:
      return {
        text: lines
          .slice(0, l)
          .concat(lines.slice(l + 1))
          .join("\n"),
        how: `line ${l + 1} deleted`,
      };
    case 8: {
      const junk = rng.pick([
        '"',
        '"""',
        "\u0000",
        "\t",
        ",",
        ",,,,",
        "\\",
        "'",
        "{",
        "}",
        "[",
        "]",
        ":",
        '"\n"',
        "\r",
      ]);
      return {
        text: text.slice(0, at) + junk + text.slice(at),
        how: `insert ${JSON.stringify(junk)} at ${at}`,
      };
    }
    case 9: {
      const depth = 100 + rng.int(5000);
      return set(
        format === "csv"
          ? replaceCell(rng, line, "[".repeat(depth))
          : `{"a": ${"[".repeat(depth)}1${"]".repeat(depth)}}`,
        `nesting ${depth}`,
      );
    }
    case 10: {
      const many = Array.from({ length: 1 + rng.int(20000) }, () => String(rng.int(9))).join(",");
      return set(
        format === "csv"
          ? `${line},${many}`
          : `{${many
              .split(",")
              .map((v, i) => `"c${i}":${v}`)
              .join(",")}}`,
        "many extra cells",
      );
    }
    case 11:
      return { text: rng.pick([text, text + "\n"]).repeat(1 + rng.int(3)), how: "file repeated" };
    case 12:
      return { text: lines.filter((_, i) => i % (2 + rng.int(5)) === 0).join("\n"), how: "lines dropped" };
    case 13:
      if (format === "jsonl") {
        const other = rng.pick([
          "[]",
          "[1,2]",
          "1",
          '"row"',
          "null",
          "true",
          '{"a":1}{"b":2}',
          '{"a":1,"a":"x"}',
          "{",
          "}",
          "{'a':1}",
          '{"voice_id":{"nested":1}}',
          '{"voice_id":["a"]}',
          '{"__proto__":{"x":1}}',
          '{"constructor":1}',
        ]);
        return set(other, `mixed JSON ${other}`);
      }
      return set(`${line},extra`, "one cell too many");
    case 14: {
      // The header's columns: missing, doubled, renamed, spaced.
      const header = lines[0]!.split(",");
      const c = rng.int(header.length);
      const how = rng.int(4);
      if (how === 0) header.splice(c, 1);
      else if (how === 1) header.push(header[c]!);
      else if (how === 2) header[c] = ` ${header[c]} `;
      else header[c] = "";
      return {
        text: [header.join(","), ...lines.slice(1)].join("\n"),
        how: `header change ${how} of column ${c}`,
      };
    }
    default: {
      // A quoted cell with line breaks and escaped quotes, maybe never closed.
      const quoted = rng.pick(['"a\nb"', '"he said ""hi""\nthen left"', '"open\n\n', '"a""', '""', '"x"y']);
      return set(replaceCell(rng, line, quoted), `quoted cell ${JSON.stringify(quoted)}`);
    }
  }
}

function replaceCell(rng: Rng, line: string, cell: string): string {
  const cells = line.split(",");
  cells[rng.int(cells.length)] = cell;
  return cells.join(",");
}

function replaceJsonValue(rng: Rng, line: string, value: string): string {
  try {
    const obj = JSON.parse(line) as Record<string, unknown>;
    const keys = Object.keys(obj);
    if (keys.length === 0) return line;
    const asNumber = Number(value);
    obj[rng.pick(keys)] = rng.int(2) === 0 || !Number.isFinite(asNumber) ? value : asNumber;
    return JSON.stringify(obj);
  } catch {
    return line;
  }
}

/** Whole-file problems that have no line or field to point at. */
const WHOLE_FILE =
  /^(no \S+ document in the file|expected one \S+( document)?, found \d+|and \d+ more problems like these)/;

/**
 * Runs one case: `run` must return, or throw a typed user error whose problems name `file` (or one of them)
 * and a line or a
 * field path, with short messages that echo no payload. Returns a description of what is wrong, or null.
 */
export async function checkOutcome(
  file: string | readonly string[],
  run: () => unknown,
): Promise<string | null> {
  const files: readonly string[] = typeof file === "string" ? [file] : file;
  try {
    await run();
    return null;
  } catch (err) {
    if (err instanceof FileAccessError || err instanceof UsageError) {
      if (echoesPayload(err.message)) return `${err.name} echoes a payload: ${err.message.slice(0, 300)}`;
      return null;
    }
    if (!(err instanceof InvalidInputError)) {
      const e = err as Error;
      return `untyped ${e?.name}: ${e?.message?.slice(0, 300)}\n${e?.stack?.split("\n").slice(0, 6).join("\n")}`;
    }
    if (err.problems.length === 0) return "InvalidInputError without problems";
    for (const p of err.problems) {
      if (!files.includes(p.file)) return `problem names ${p.file}, not ${files.join(" or ")}: ${p.message}`;
      if (p.line === undefined && !p.path && !WHOLE_FILE.test(p.message))
        return `problem with neither line nor field path: ${p.message.slice(0, 300)}`;
      if (p.line !== undefined && !(Number.isInteger(p.line) && p.line >= 1))
        return `bad line ${p.line}: ${p.message}`;
      if (p.message.length > 400 || (p.path?.length ?? 0) > 400)
        return `message of ${p.message.length} characters: ${p.message.slice(0, 200)}...`;
      if (echoesPayload(p.message) || echoesPayload(p.path ?? ""))
        return `problem echoes a payload: ${p.message.slice(0, 300)}`;
    }
    if (err.problems.length > 100) return `${err.problems.length} problems listed`;
    return null;
  }
}

/** A scratch directory for fuzzed files. */
export function fuzzDir(): (name: string) => string {
  const dir = mkdtempSync(join(tmpdir(), "voicectl-fuzz-"));
  return (name) => join(dir, name);
}

export function writeCase(path: string, content: string | Buffer): string {
  writeFileSync(path, content);
  return path;
}

/** Numbers in a parsed value that are not finite (a reader must never let NaN or Infinity through). */
export function nonFinite(value: unknown, path = ""): string[] {
  if (typeof value === "number") return Number.isFinite(value) ? [] : [`${path || "(value)"} = ${value}`];
  if (Array.isArray(value)) return value.flatMap((v, i) => nonFinite(v, `${path}[${i}]`));
  if (value !== null && typeof value === "object")
    return Object.entries(value).flatMap(([k, v]) => nonFinite(v, path ? `${path}.${k}` : k));
  return [];
}

/** A valid input the mutations start from, and the file it came from (for messages). */
export interface FuzzSeed {
  readonly file: string;
  readonly text: string;
}

/** Reads a text as the entry point under test would; throws on refusal (checkOutcome judges the throw). */
export type TextLoader = (file: string, text: string) => void;

/**
 * A wrong value or a deletion at every field path of every seed, `perPath` picks each (every odd value when
 * VOICECTL_FUZZ_RUNS is set: a long run). Returns how many cases ran and what failed.
 */
export async function fuzzFieldPaths(
  seeds: readonly FuzzSeed[],
  load: TextLoader,
  perPath: number,
): Promise<{ cases: number; failures: string[] }> {
  const rng = new Rng(fuzzSeed());
  const failures: string[] = [];
  let cases = 0;
  for (const s of seeds) {
    for (const path of fieldPaths(parse(s.text))) {
      const values = [undefined, ...oddValues(rng)];
      const chosen = process.env.VOICECTL_FUZZ_RUNS
        ? values
        : Array.from({ length: perPath }, () => rng.pick(values));
      for (const value of chosen) {
        cases += 1;
        const text = withField(s.text, path, value);
        const failure = await checkOutcome("fuzz.yaml", () => load("fuzz.yaml", text));
        if (failure)
          failures.push(`${s.file} ${path.join(".")} = ${JSON.stringify(value)?.slice(0, 60)}: ${failure}`);
      }
    }
  }
  return { cases, failures };
}

/**
 * `runs` texts, each a seed with one to three text mutations stacked (a single one mostly hits the first check
 * that fails). Returns what failed, each with the seed that reproduces it.
 */
export async function fuzzTextMutations(
  seeds: readonly FuzzSeed[],
  load: TextLoader,
  runs: number,
): Promise<string[]> {
  const seed = fuzzSeed();
  const failures: string[] = [];
  for (let i = 0; i < runs; i++) {
    const rng = new Rng(seed + i);
    const s = rng.pick(seeds);
    let text = s.text;
    const how: string[] = [];
    for (let m = 1 + rng.int(3); m > 0; m--) {
      const r = mutateYaml(rng, text);
      text = r.text;
      how.push(r.how);
    }
    const failure = await checkOutcome("fuzz.yaml", () => load("fuzz.yaml", text));
    if (failure) failures.push(`seed ${seed + i} (${s.file}: ${how.join("; ")}): ${failure}`);
  }
  return failures;
}
