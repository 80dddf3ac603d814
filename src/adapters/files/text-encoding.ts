// Every file voicectl reads is UTF-8 text. A file saved in another encoding must be refused with the file, the
// line and the encoding it looks like, not decoded with replacement characters: a Latin-1 "mia-chén" read
// leniently became the slice voice_id=mia-ch\uFFFDn and was judged as a voice of its own, and a UTF-16 file
// (Windows PowerShell's default) read as one line of NUL-separated text.
//
// Checking costs one `isUtf8` (simdutf) and one NUL search per chunk, and decoding whole characters only is
// cheaper than StringDecoder was: bench/decode.ts measured 0.84 times StringDecoder's CPU time on the gate
// benchmark's 65 MB file, a fatal streaming TextDecoder 1.35 times (Node 20, bench/RESULTS.md).
import { readFile } from "node:fs/promises";
import { isUtf8 } from "node:buffer";
import { describeFsError, FileAccessError, InvalidInputError, type Problem } from "../../core/errors.js";

/** What is wrong with the bytes at one place of a file, before it is given a line and column. */
export class EncodingFault extends Error {
  override readonly name = "EncodingFault";
  constructor(
    /** The text decoded before the fault in the current chunk (the fault's line and column come from it). */
    readonly before: string,
    /** What was found, e.g. `not UTF-8 (byte 0xE9; looks like Latin-1/Windows-1252)`. */
    readonly what: string,
  ) {
    super(what);
  }
}

const SAVE_AS_UTF8 = "save the file as UTF-8";

/** Byte order marks of the encodings a text file is most often saved in instead of UTF-8. */
const BOMS: readonly { readonly bytes: readonly number[]; readonly name: string }[] = [
  // UTF-32 first: its little-endian mark starts with UTF-16's.
  { bytes: [0xff, 0xfe, 0x00, 0x00], name: "UTF-32 LE" },
  { bytes: [0x00, 0x00, 0xfe, 0xff], name: "UTF-32 BE" },
  { bytes: [0xff, 0xfe], name: "UTF-16 LE" },
  { bytes: [0xfe, 0xff], name: "UTF-16 BE" },
];

/** The start of a file: a foreign byte order mark is refused, a UTF-8 one skipped. Returns the bytes to skip. */
function checkStart(bytes: Buffer): number {
  for (const bom of BOMS) {
    if (bom.bytes.every((b, i) => bytes[i] === b)) {
      const mark = bom.bytes.map((b) => b.toString(16).toUpperCase().padStart(2, "0")).join(" ");
      throw new EncodingFault(
        "",
        `encoded as ${bom.name} (it starts with the byte order mark ${mark}), not UTF-8: ${SAVE_AS_UTF8} (PowerShell: Out-File -Encoding utf8)`,
      );
    }
  }
  return bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
}

/** The length of a UTF-8 sequence from its lead byte; 0 for a byte that cannot start one. */
function sequenceLength(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

/** Bytes at the end of a chunk that start a character the next chunk completes (0 to 3). */
function incompleteTail(bytes: Buffer): number {
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const b = bytes[bytes.length - back]!;
    if ((b & 0xc0) === 0x80) continue; // a continuation byte: look further back for its lead
    const need = sequenceLength(b);
    return need > back ? back : 0;
  }
  return 0;
}

/** Where the first malformed UTF-8 sequence starts (RFC 3629: no overlongs, surrogates or past U+10FFFF). */
function firstInvalid(bytes: Buffer): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    const n = sequenceLength(b);
    if (n === 0 || i + n > bytes.length) return i;
    if (n > 1) {
      const b1 = bytes[i + 1]!;
      const lo = b === 0xe0 ? 0xa0 : b === 0xf0 ? 0x90 : 0x80;
      const hi = b === 0xed ? 0x9f : b === 0xf4 ? 0x8f : 0xbf;
      if (b1 < lo || b1 > hi) return i;
      for (let k = 2; k < n; k++) if ((bytes[i + k]! & 0xc0) !== 0x80) return i;
    }
    i += n;
  }
  return -1;
}

/**
 * A guess at the encoding from the bytes at a fault. A high byte standing alone between ASCII ones is how
 * Latin-1 and Windows-1252 write é, ü or ñ; runs of high bytes that are not UTF-8 are a multi-byte legacy
 * encoding (Shift-JIS, GBK, ...).
 */
function guessAt(bytes: Buffer, at: number): string {
  const next = bytes[at + 1];
  return next === undefined || next < 0x80
    ? "looks like Latin-1/Windows-1252"
    : "looks like a legacy encoding such as Windows-1252, Shift-JIS or GBK";
}

const hex = (b: number) => `0x${b.toString(16).toUpperCase().padStart(2, "0")}`;

/**
 * A NUL byte: UTF-16 without a byte order mark has one in every other byte of ASCII text, at odd places in
 * the file for little-endian, at even places for big-endian. `offset` is the place of `bytes` in the file.
 */
function nulFault(bytes: Buffer, at: number, offset: number): EncodingFault {
  const end = Math.min(bytes.length, at + 64);
  const nuls = [0, 0]; // at even and at odd places in the file
  for (let i = at; i < end; i++) if (bytes[i] === 0) nuls[(offset + i) % 2]! += 1;
  const [even, odd] = nuls as [number, number];
  const what =
    end - at >= 8 && Math.max(even, odd) >= ((end - at) / 2) * 0.75
      ? `NUL bytes between the characters: looks like ${odd > even ? "UTF-16 LE" : "UTF-16 BE"} without a byte order mark, not UTF-8: ${SAVE_AS_UTF8}`
      : "a NUL byte (0x00): expected UTF-8 text; is this a binary file?";
  return new EncodingFault(bytes.subarray(0, at).toString("utf8"), what);
}

/** Why `bytes` (already known to be bad) are not UTF-8 text; `offset` is their place in the file. */
function faultIn(bytes: Buffer, offset: number): EncodingFault {
  const bad = firstInvalid(bytes);
  const nul = bytes.indexOf(0);
  if (nul >= 0 && (bad < 0 || nul < bad)) return nulFault(bytes, nul, offset);
  const at = bad < 0 ? bytes.length : bad;
  const before = bytes.subarray(0, at).toString("utf8");
  if (at >= bytes.length) return new EncodingFault(before, `not UTF-8: ${SAVE_AS_UTF8}`);
  return new EncodingFault(
    before,
    `not UTF-8 (byte ${hex(bytes[at]!)}; ${guessAt(bytes, at)}): ${SAVE_AS_UTF8}`,
  );
}

/**
 * Decodes a file's chunks as strict UTF-8: a UTF-8 byte order mark is dropped, anything else that is not UTF-8
 * text (another byte order mark, a malformed sequence, a NUL byte) throws an EncodingFault. A character split
 * across chunks is carried to the next one.
 */
export class StrictUtf8Decoder {
  /** Bytes not decoded yet: a character the next chunk completes, or a first chunk too short to judge. */
  private carry: Buffer | null = null;
  /** The place in the file of the first byte not decoded yet. */
  private offset = 0;
  private started = false;

  decode(chunk: Buffer): string {
    let bytes = this.carry === null ? chunk : Buffer.concat([this.carry, chunk]);
    this.carry = null;
    if (!this.started) {
      // A byte order mark is judged on the first 4 bytes, so a tiny first chunk waits for more.
      if (bytes.length < 4) {
        this.carry = Buffer.from(bytes);
        return "";
      }
      this.started = true;
      const skip = checkStart(bytes);
      bytes = bytes.subarray(skip);
      this.offset += skip;
    }
    const tail = incompleteTail(bytes);
    const body = tail === 0 ? bytes : bytes.subarray(0, bytes.length - tail);
    if (!isUtf8(body) || body.indexOf(0) >= 0) throw faultIn(body, this.offset);
    if (tail > 0) this.carry = Buffer.from(bytes.subarray(body.length));
    this.offset += body.length;
    return body.toString("utf8");
  }

  /** The end of the file: the bytes of an unfinished character, or of a file shorter than 4 bytes. */
  end(): string {
    const rest = this.carry;
    this.carry = null;
    if (rest === null) return "";
    if (!this.started) {
      this.started = true;
      const skip = checkStart(rest);
      const body = rest.subarray(skip);
      if (!isUtf8(body) || body.indexOf(0) >= 0) throw faultIn(body, this.offset + skip);
      return body.toString("utf8");
    }
    throw new EncodingFault(
      "",
      `not UTF-8: the file ends in the middle of a character (byte ${hex(rest[0]!)}): ${SAVE_AS_UTF8}`,
    );
  }
}

/** Where a fault is: the text of the file before it (`before` counts lines, then characters of the last). */
export function faultProblem(file: string, textBefore: string, what: string, lineBase = 0): Problem {
  const lastBreak = textBefore.lastIndexOf("\n");
  let line = lineBase + 1;
  for (let i = textBefore.indexOf("\n"); i >= 0; i = textBefore.indexOf("\n", i + 1)) line++;
  const column = [...textBefore.slice(lastBreak + 1)].length + 1;
  return { file, line, column, message: what };
}

/** Decode a whole file's bytes as strict UTF-8 text, or throw an InvalidInputError naming line and column. */
export function decodeUtf8(file: string, bytes: Buffer): string {
  const decoder = new StrictUtf8Decoder();
  let text = "";
  try {
    text = decoder.decode(bytes);
    return text + decoder.end();
  } catch (err) {
    if (err instanceof EncodingFault)
      throw new InvalidInputError([faultProblem(file, text + err.before, err.what)]);
    throw err;
  }
}

/** Read a whole text file (a policy, a scenario, a rollout): FileAccessError or InvalidInputError if not. */
export async function readTextFile(file: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new FileAccessError(file, describeFsError(err));
  }
  return decodeUtf8(file, bytes);
}
