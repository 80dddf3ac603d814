// Streams evaluation files (CSV or JSON Lines, chosen by extension) row by row. Only the columns asked for are
// extracted, and each row is handed to a callback and forgotten, so a million rows never sit in memory.
import { createReadStream, fstatSync } from "node:fs";
import { extname } from "node:path";
import { describeFsError, FileAccessError, InvalidInputError, type Problem } from "../../core/errors.js";
import { EncodingFault, faultProblem, StrictUtf8Decoder } from "./text-encoding.js";

export type EvalFormat = "csv" | "jsonl";

/** A cell as read: text from CSV, text or number from JSON; null when empty or absent. */
export type Cell = string | number | null;

export interface ReadResult {
  readonly rows: number;
  /** The wanted columns that the file has (CSV: in its header; JSON Lines: in at least one row). */
  readonly present: ReadonlySet<string>;
}

/** Called for each row with the wanted columns' cells in the order asked; `line` is 1-based. */
export type RowHandler = (cells: readonly Cell[], line: number) => void;

/** Problems beyond this many are counted, not listed: one systematic mistake should not print a million lines. */
export const MAX_LISTED_PROBLEMS = 20;

export function formatOf(file: string): EvalFormat {
  const ext = extname(file).toLowerCase();
  if (ext === ".csv") return "csv";
  if (ext === ".jsonl" || ext === ".ndjson") return "jsonl";
  throw new InvalidInputError([
    { file, message: `unknown file type "${ext || "(none)"}": expected .csv, .jsonl or .ndjson` },
  ]);
}

/** Collects row problems for one file and throws them all at the end. */
export class ProblemList {
  readonly listed: Problem[] = [];
  count = 0;
  constructor(readonly file: string) {}
  add(line: number, path: string | undefined, message: string): void {
    this.count += 1;
    if (this.listed.length < MAX_LISTED_PROBLEMS) this.listed.push({ file: this.file, line, path, message });
  }
  throwIfAny(): void {
    if (this.count === 0) return;
    const rest = this.count - this.listed.length;
    const all =
      rest > 0
        ? [...this.listed, { file: this.file, message: `and ${rest} more problems like these` }]
        : this.listed;
    throw new InvalidInputError(all);
  }
}

/** A CSV record whose quoted field runs on past the end of a line: its cells so far and the open field's text. */
export interface OpenCsvRecord {
  readonly cells: string[];
  readonly value: string;
}

/**
 * Scan CSV text (RFC 4180) from `from`, appending cells to `cells`; `open` is the text of a quoted field that
 * an earlier line left open. Returns the record's cells, or the open record when a quoted field runs on past
 * the end of the text. Each line of a multi-line record is scanned once (re-scanning the record from its
 * start on every line made an unclosed quote quadratic: 40,000 lines took 37 s).
 */
function scanCsv(text: string, cells: string[], from: number, open: string | null): string[] | OpenCsvRecord {
  let i = from;
  let carried = open;
  for (;;) {
    if (carried !== null || text[i] === '"') {
      let value = carried ?? "";
      let j = carried !== null ? i : i + 1;
      carried = null;
      for (;;) {
        const q = text.indexOf('"', j);
        if (q < 0) return { cells, value: value + text.slice(j) }; // the record continues on the next line
        value += text.slice(j, q);
        if (text[q + 1] === '"') {
          value += '"';
          j = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      // Anything between the closing quote and the next comma is kept, as lenient readers do.
      const comma = text.indexOf(",", i);
      cells.push(value + text.slice(i, comma < 0 ? text.length : comma));
      if (comma < 0) return cells;
      i = comma + 1;
    } else {
      const comma = text.indexOf(",", i);
      cells.push(text.slice(i, comma < 0 ? text.length : comma));
      if (comma < 0) return cells;
      i = comma + 1;
    }
  }
}

/** Split one CSV record (RFC 4180). Returns null when a quoted field runs on past the end of the text. */
export function splitCsvRecord(text: string): string[] | null {
  if (!text.includes('"')) return text.split(",");
  const r = scanCsv(text, [], 0, null);
  return Array.isArray(r) ? r : null;
}

/** Continue a record left open by `splitCsvLine` with the next line (the line break is part of the field). */
export function continueCsvRecord(open: OpenCsvRecord, line: string): string[] | OpenCsvRecord {
  return scanCsv(line, open.cells, 0, `${open.value}\n`);
}

/** Start a record on one line: its cells, or the open record when a quoted field runs on. */
export function splitCsvLine(line: string): string[] | OpenCsvRecord {
  if (!line.includes('"')) return line.split(",");
  return scanCsv(line, [], 0, null);
}

/**
 * A quoted field may span lines, but not without end: past this many characters the quote is taken as never
 * closed and the rest of the file is not read (an unclosed quote early in a large file would otherwise hold
 * the whole file as one string, past V8's string limit).
 */
export const MAX_QUOTED_FIELD = 1 << 20;

/** A line longer than this (a file with no line breaks, a binary file) is refused rather than held whole. */
export const MAX_LINE = 64 << 20;

/** Told how far a long read has got: bytes read of the file's size. */
export type Progress = (file: string, bytesRead: number, size: number) => void;

/**
 * Yields the file's lines with their 1-based numbers, decoding UTF-8 across chunk boundaries. A file that is
 * not UTF-8 text is refused at the first fault, with its line and column.
 */
async function forEachLine(
  file: string,
  onLine: (line: string, lineNo: number) => void,
  progress?: Progress,
): Promise<void> {
  const stream = createReadStream(file, { highWaterMark: 1 << 20 });
  let size = 0;
  let bytesRead = 0;
  let lastReport = 0;
  if (progress) stream.on("open", (fd: number) => (size = fstatSync(fd).size));
  const decoder = new StrictUtf8Decoder();
  let rest = "";
  let lineNo = 0;
  try {
    for await (const chunk of stream) {
      const text = rest + decoder.decode(chunk as Buffer);
      bytesRead += (chunk as Buffer).length;
      if (progress && bytesRead - lastReport >= 16 << 20) {
        lastReport = bytesRead;
        progress(file, bytesRead, size);
      }
      let start = 0;
      for (;;) {
        const nl = text.indexOf("\n", start);
        if (nl < 0) break;
        const end = nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
        onLine(text.slice(start, end), ++lineNo);
        start = nl + 1;
      }
      rest = text.slice(start);
      if (rest.length > MAX_LINE) {
        stream.destroy();
        throw new InvalidInputError([
          {
            file,
            line: lineNo + 1,
            message: `a line longer than ${MAX_LINE} characters: expected a CSV or JSON Lines file`,
          },
        ]);
      }
    }
    rest += decoder.end();
  } catch (err) {
    if (err instanceof EncodingFault) {
      stream.destroy();
      throw new InvalidInputError([faultProblem(file, rest + err.before, err.what, lineNo)]);
    }
    if (err instanceof InvalidInputError) throw err;
    // Only the file system's own errors (they carry a code) are the user's to fix; anything else is a bug.
    if (typeof (err as { code?: unknown } | null)?.code === "string")
      throw new FileAccessError(file, describeFsError(err));
    throw err;
  }
  if (progress && lastReport > 0) progress(file, size, size); // the end of a read that was reported
  if (rest.endsWith("\r")) rest = rest.slice(0, -1);
  if (rest !== "") onLine(rest, lineNo + 1);
}

async function readCsv(
  file: string,
  wanted: readonly string[],
  onRow: RowHandler,
  problems: ProblemList,
  progress: Progress | undefined,
): Promise<ReadResult> {
  let header: string[] | null = null;
  let index: number[] = [];
  let pending: OpenCsvRecord | null = null; // a record whose quoted field spans lines
  let pendingLine = 0;
  let abandoned = false; // a quoted field ran on past MAX_QUOTED_FIELD: the rest is not read
  let rows = 0;
  const cells: Cell[] = new Array<Cell>(wanted.length).fill(null);
  await forEachLine(
    file,
    (raw, lineNo) => {
      if (abandoned) return;
      const startLine = pending === null ? lineNo : pendingLine;
      const scanned = pending === null ? splitCsvLine(raw) : continueCsvRecord(pending, raw);
      if (!Array.isArray(scanned)) {
        pending = scanned;
        pendingLine = startLine;
        if (pending.value.length > MAX_QUOTED_FIELD) {
          abandoned = true;
          problems.add(
            startLine,
            undefined,
            `a quoted field runs on past ${MAX_QUOTED_FIELD} characters (to line ${lineNo}): is a closing quote missing? The rest of the file was not read`,
          );
        }
        return;
      }
      const record = scanned;
      pending = null;
      if (header === null) {
        if (record.length === 1 && record[0] === "") return; // leading blank lines
        header = record.map((h) => h.trim()); // a UTF-8 byte order mark was dropped by the decoder
        index = wanted.map((w) => header!.indexOf(w));
        const dup = header.find((h, i) => h !== "" && header!.indexOf(h) !== i);
        if (dup !== undefined)
          problems.add(startLine, undefined, `column "${dup}" appears twice in the header`);
        return;
      }
      if (record.length === 1 && record[0] === "") return; // blank line
      if (record.length !== header.length) {
        problems.add(
          startLine,
          undefined,
          `expected ${header.length} cells as in the header, found ${record.length}`,
        );
        return;
      }
      for (let w = 0; w < index.length; w++) {
        const i = index[w]!;
        const v = i < 0 ? "" : record[i]!;
        cells[w] = v === "" ? null : v;
      }
      rows += 1;
      onRow(cells, startLine);
    },
    progress,
  );
  if (pending !== null && !abandoned) problems.add(pendingLine, undefined, "a quoted field is never closed");
  if (header === null) problems.add(1, undefined, "the file is empty: expected a header row of column names");
  const present = new Set(wanted.filter((_, w) => index[w] !== undefined && index[w]! >= 0));
  return { rows, present };
}

/**
 * V8's JSON.parse message without the excerpt of the line it quotes (`Unexpected token 'h', "hello worl"... is
 * not valid JSON`): a line may be a transcript, and messages show no text payloads.
 */
export function jsonReason(message: string): string {
  const m = /^(Unexpected token .+?), .* is not valid JSON$/s.exec(message);
  return m ? m[1]! : message;
}

async function readJsonl(
  file: string,
  wanted: readonly string[],
  onRow: RowHandler,
  problems: ProblemList,
  progress: Progress | undefined,
): Promise<ReadResult> {
  const present = new Set<string>();
  let rows = 0;
  const cells: Cell[] = new Array<Cell>(wanted.length).fill(null);
  await forEachLine(
    file,
    (text, lineNo) => {
      if (text.trim() === "") return;
      let obj: unknown;
      try {
        obj = JSON.parse(text);
      } catch (err) {
        problems.add(lineNo, undefined, `not valid JSON: ${jsonReason((err as Error).message)}`);
        return;
      }
      if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
        problems.add(lineNo, undefined, "expected a JSON object per line");
        return;
      }
      const rec = obj as Record<string, unknown>;
      for (let w = 0; w < wanted.length; w++) {
        const name = wanted[w]!;
        const v = rec[name];
        if (v === undefined || v === null || v === "") {
          cells[w] = null;
          continue;
        }
        present.add(name);
        if (typeof v === "number" || typeof v === "string") cells[w] = v;
        else if (typeof v === "boolean") cells[w] = v ? 1 : 0;
        else {
          cells[w] = null;
          problems.add(
            lineNo,
            name,
            `expected a number or a string, found ${Array.isArray(v) ? "an array" : "an object"}`,
          );
        }
      }
      rows += 1;
      onRow(cells, lineNo);
    },
    progress,
  );
  return { rows, present };
}

/**
 * Stream a file, handing each row's wanted cells to `onRow` (the array is reused: copy what you keep).
 * Malformed rows are collected and thrown together at the end as an InvalidInputError; the handler may add
 * its own problems (a non-numeric metric, say) to `problems`.
 */
export async function readEvalFile(
  file: string,
  wanted: readonly string[],
  onRow: RowHandler,
  problems: ProblemList = new ProblemList(file),
  progress?: Progress,
): Promise<ReadResult> {
  const format = formatOf(file);
  const result =
    format === "csv"
      ? await readCsv(file, wanted, onRow, problems, progress)
      : await readJsonl(file, wanted, onRow, problems, progress);
  problems.throwIfAny();
  return result;
}
