import { describe, expect, it } from "vitest";
import { InvalidInputError } from "../../core/errors.js";
import { decodeUtf8, EncodingFault, StrictUtf8Decoder } from "./text-encoding.js";

/** Decode `bytes` in chunks of the given sizes (cycled), as a stream hands them over. */
function decodeInChunks(bytes: Buffer, sizes: readonly number[]): string {
  const d = new StrictUtf8Decoder();
  let out = "";
  for (let at = 0, k = 0; at < bytes.length; k++) {
    const n = sizes[k % sizes.length]!;
    out += d.decode(bytes.subarray(at, at + n));
    at += n;
  }
  return out + d.end();
}

function problemOf(bytes: Buffer): { line?: number; column?: number; message: string } {
  try {
    decodeUtf8("f.txt", bytes);
  } catch (err) {
    if (err instanceof InvalidInputError) return err.problems[0]!;
    throw err;
  }
  throw new Error("expected the bytes to be refused");
}

describe("StrictUtf8Decoder", () => {
  const text = "voice,lang\nzoë,日本語\nmia-chén,🎙️ studio\n";

  it.each([[[1]], [[2]], [[3]], [[5, 1, 7]], [[4096]]])(
    "decodes characters split across chunks of sizes %j",
    (sizes) => {
      expect(decodeInChunks(Buffer.from(text), sizes)).toBe(text);
    },
  );

  it("drops a UTF-8 byte order mark, even when the first chunk is shorter than the mark", () => {
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]);
    expect(decodeInChunks(bytes, [1])).toBe(text);
    expect(decodeInChunks(bytes, [2, 9])).toBe(text);
    expect(decodeUtf8("f", Buffer.from([0xef, 0xbb, 0xbf]))).toBe("");
    expect(decodeUtf8("f", Buffer.from("a\n"))).toBe("a\n");
  });

  it.each([
    [[0xff, 0xfe, 0x00, 0x00], "UTF-32 LE"],
    [[0x00, 0x00, 0xfe, 0xff], "UTF-32 BE"],
    [[0xff, 0xfe], "UTF-16 LE"],
    [[0xfe, 0xff], "UTF-16 BE"],
  ])("refuses the byte order mark %j as %s", (mark, name) => {
    const bytes = Buffer.concat([Buffer.from(mark), Buffer.from("a\0,\0b\0")]);
    expect(problemOf(bytes)).toEqual({
      file: "f.txt",
      line: 1,
      column: 1,
      message: expect.stringContaining(`encoded as ${name} (it starts with the byte order mark`) as unknown,
    });
  });

  it.each([
    ["a lone Latin-1 byte", [0x61, 0xe9, 0x6e], 2, /byte 0xE9; looks like Latin-1/],
    ["Shift-JIS", [0x61, 0x93, 0xfa, 0x96, 0x7b], 2, /byte 0x93; looks like a legacy encoding/],
    ["an overlong encoding", [0x61, 0xc0, 0xaf], 2, /byte 0xC0/],
    ["a UTF-16 surrogate in UTF-8", [0x61, 0xed, 0xa0, 0x80], 2, /byte 0xED/],
    ["a code point past U+10FFFF", [0x61, 0xf4, 0x90, 0x80, 0x80], 2, /byte 0xF4/],
  ])("refuses %s at its column", (_name, bytes, column, message) => {
    const p = problemOf(Buffer.from([0x78, 0x0a, ...bytes, 0x0a]));
    expect(p).toMatchObject({ line: 2, column });
    expect(p.message).toMatch(message);
  });

  it("refuses a file that ends inside a character, at the end of its last line", () => {
    const p = problemOf(Buffer.from([0x61, 0x0a, 0x62, 0x63, 0xe2, 0x82]));
    expect(p).toMatchObject({ line: 2, column: 3 });
    expect(p.message).toMatch(/ends in the middle of a character \(byte 0xE2\)/);
  });

  it("tells UTF-16 without a byte order mark, little- or big-endian, from a stray NUL byte", () => {
    expect(problemOf(Buffer.from("id,voice\nu1,a\n", "utf16le")).message).toMatch(
      /looks like UTF-16 LE without a byte order mark/,
    );
    const be = Buffer.from("id,voice\nu1,a\n", "utf16le").swap16();
    expect(problemOf(be)).toMatchObject({ line: 1, column: 1, message: expect.stringMatching(/UTF-16 BE/) });
    expect(problemOf(Buffer.from("id,voice\nu1,a\0b,c\n"))).toMatchObject({
      line: 2,
      column: 5,
      message: expect.stringMatching(/a NUL byte \(0x00\)/) as unknown,
    });
  });

  it("a fault in a later chunk carries the text before it in that chunk", () => {
    const d = new StrictUtf8Decoder();
    expect(d.decode(Buffer.from("header\nab"))).toBe("header\nab");
    let fault: unknown;
    try {
      d.decode(Buffer.from([0x63, 0x0a, 0x64, 0xfc, 0x0a]));
    } catch (err) {
      fault = err;
    }
    expect(fault).toBeInstanceOf(EncodingFault);
    expect((fault as EncodingFault).before).toBe("c\nd");
  });
});
