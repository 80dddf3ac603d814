// What refusing files that are not UTF-8 costs the gate's reader (node dist/bench/decode.js [--rows N]).
//
// Streams the gate benchmark's baseline file (bench/gate-data.ts, 1,000,000 rows, about 65 MB) in the
// reader's 1 MiB chunks and decodes it three ways, interleaved run by run so a busy machine slows each
// alike: StringDecoder (the lenient decoding the reader had, a baseline), a fatal streaming TextDecoder,
// and the StrictUtf8Decoder the reader uses now (isUtf8 and a NUL search per chunk). Printed: the median
// CPU time of each and the ratios to the baseline.
import { createReadStream } from "node:fs";
import { StringDecoder } from "node:string_decoder";
import { parseArgs } from "node:util";
import { StrictUtf8Decoder } from "../src/adapters/files/text-encoding.js";
import { ensureData } from "./gate-data.js";

const { values } = parseArgs({
  options: { rows: { type: "string", default: "1000000" }, runs: { type: "string", default: "7" } },
});
const data = ensureData({ rows: Number(values.rows), seed: 1 });

type Decode = (chunk: Buffer) => string;
const ways: Record<string, () => Decode> = {
  "StringDecoder (lenient, before)": () => {
    const d = new StringDecoder("utf8");
    return (c) => d.write(c);
  },
  "TextDecoder fatal, stream": () => {
    const d = new TextDecoder("utf-8", { fatal: true });
    return (c) => d.decode(c, { stream: true });
  },
  "StrictUtf8Decoder (now)": () => {
    const d = new StrictUtf8Decoder();
    return (c) => d.decode(c);
  },
};

async function once(make: () => Decode): Promise<number> {
  const decode = make();
  const start = process.cpuUsage();
  let chars = 0;
  for await (const chunk of createReadStream(data.baseline, { highWaterMark: 1 << 20 }))
    chars += decode(chunk as Buffer).length;
  const used = process.cpuUsage(start);
  if (chars === 0) throw new Error("nothing decoded");
  return (used.user + used.system) / 1000;
}

const times: Record<string, number[]> = Object.fromEntries(Object.keys(ways).map((k) => [k, []]));
for (let run = 0; run < Number(values.runs); run++)
  for (const [name, make] of Object.entries(ways)) times[name]!.push(await once(make));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const base = median(times["StringDecoder (lenient, before)"]!);
console.log(
  `decoding ${(data.bytes.baseline / 1e6).toFixed(0)} MB (${data.rows.toLocaleString("en")} rows) in 1 MiB chunks, ${values.runs} runs each, median CPU ms, node ${process.version}`,
);
for (const [name, xs] of Object.entries(times))
  console.log(
    `${name.padEnd(34)} ${median(xs).toFixed(0).padStart(6)} ms   ratio ${(median(xs) / base).toFixed(2)}`,
  );
