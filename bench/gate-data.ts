// The gate benchmark's input: two seeded CSV files (baseline and canary) of evaluation rows, written to a cache
// directory outside the repository and reused while the parameters stay the same.
//
// The fleet: 290 cloned voices over 10 languages, so a policy with `sliceBy: [voice_id, language]` judges
// 1 + 290 + 10 = 301 slices. Each utterance draws a voice (some voices are more popular than others) and a
// difficulty shared by both models, so pairing by utterance_id removes it; each model then adds its own noise.
// Spreads follow docs/budgets.md#typical-values: TTFA lognormal with sigma 0.5, speaker similarity about
// 0.035 per utterance, MOS about 0.2, WER 1.5-3.5 points, truncation about 0.01%, cost about 0.00005 USD per
// second. The canary is a little faster and better everywhere but one voice drifts (similarity -0.03): the
// gate rolls back, after judging every slice.
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRng, type Rng } from "../src/core/stats/random.js";

/** Bump when the generator's output changes, so cached files are not reused. */
const GENERATOR_VERSION = 1;

export interface DataParams {
  readonly rows: number;
  readonly seed: number;
}

export interface DataSet {
  readonly dir: string;
  readonly baseline: string;
  readonly canary: string;
  readonly rows: number;
  readonly voices: number;
  readonly languages: number;
  readonly bytes: { baseline: number; canary: number };
  /** True when the files were already there. */
  readonly reused: boolean;
}

interface Language {
  readonly code: string;
  readonly voices: number;
  readonly mos: number;
  readonly wer: number;
}

// 290 voices in all; English has the most, as in a real catalogue.
const LANGUAGES: readonly Language[] = [
  { code: "en", voices: 80, mos: 4.1, wer: 2.0 },
  { code: "es", voices: 40, mos: 3.95, wer: 2.6 },
  { code: "de", voices: 30, mos: 3.9, wer: 2.8 },
  { code: "fr", voices: 30, mos: 3.9, wer: 2.9 },
  { code: "pt", voices: 25, mos: 3.85, wer: 3.0 },
  { code: "ja", voices: 20, mos: 3.8, wer: 3.4 },
  { code: "zh", voices: 20, mos: 3.75, wer: 1.4 },
  { code: "it", voices: 20, mos: 3.9, wer: 2.7 },
  { code: "ko", voices: 15, mos: 3.8, wer: 3.2 },
  { code: "hi", voices: 10, mos: 3.7, wer: 3.6 },
];

interface Voice {
  readonly id: string;
  readonly language: Language;
  readonly similarity: number;
}

export const COLUMNS = [
  "utterance_id",
  "voice_id",
  "language",
  "ttfa_ms",
  "speaker_similarity",
  "mos",
  "wer",
  "silence_truncation",
  "cost_per_audio_second",
] as const;

function fleet(rng: Rng): { voices: Voice[]; cumulative: Float64Array } {
  const voices: Voice[] = [];
  const weights: number[] = [];
  for (const language of LANGUAGES) {
    for (let i = 0; i < language.voices; i++) {
      voices.push({
        id: `${language.code}-voice-${String(i + 1).padStart(3, "0")}`,
        language,
        similarity: Math.min(0.8, Math.max(0.62, rng.normal(0.715, 0.03))),
      });
      weights.push(rng.lognormal(0, 0.5)); // popularity: the busiest voices see several times the quietest
    }
  }
  const total = weights.reduce((a, b) => a + b, 0);
  const cumulative = new Float64Array(weights.length);
  let acc = 0;
  weights.forEach((w, i) => {
    acc += w / total;
    cumulative[i] = acc;
  });
  cumulative[cumulative.length - 1] = 1;
  return { voices, cumulative };
}

function pick(cumulative: Float64Array, u: number): number {
  let lo = 0;
  let hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid]! > u) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** One model's evaluation of an utterance, as a CSV line (without the newline). */
function evaluate(
  rng: Rng,
  id: string,
  voice: Voice,
  shared: Float64Array,
  canary: boolean,
  driftingVoice: string,
): string {
  const drift = canary ? (voice.id === driftingVoice ? -0.03 : 0.002) : 0;
  const ttfa = 110 * Math.exp(shared[0]! + rng.normal(0, 0.35)) * (canary ? 0.95 : 1);
  const similarity = Math.min(1, voice.similarity + shared[1]! + rng.normal(0, 0.025) + drift);
  const mos = Math.min(
    5,
    Math.max(1, voice.language.mos + shared[2]! + rng.normal(0, 0.14) + (canary ? 0.02 : 0)),
  );
  const wer = Math.max(0, voice.language.wer + shared[3]! + rng.normal(0, 0.6) - (canary ? 0.05 : 0));
  const truncated = rng.next() < 0.0001 ? "1" : "0";
  const cost = 0.00005 * Math.exp(shared[4]! + rng.normal(0, 0.03));
  return `${id},${voice.id},${voice.language.code},${ttfa.toFixed(1)},${similarity.toFixed(4)},${mos.toFixed(3)},${wer.toFixed(2)},${truncated},${cost.toFixed(8)}`;
}

/** A CSV file written in large chunks with synchronous writes (no stream backpressure to manage). */
class ChunkWriter {
  private readonly fd: number;
  private parts: string[] = [];
  private size = 0;
  bytes = 0;
  constructor(readonly path: string) {
    this.fd = openSync(path, "w");
  }
  line(text: string): void {
    this.parts.push(text);
    this.size += text.length + 1;
    if (this.size >= 1 << 22) this.flush();
  }
  flush(): void {
    if (this.parts.length === 0) return;
    this.bytes += writeSync(this.fd, this.parts.join("\n") + "\n");
    this.parts = [];
    this.size = 0;
  }
  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

export function dataDir(params: DataParams, root = join(tmpdir(), "voicectl-bench")): string {
  return join(root, `gate-v${GENERATOR_VERSION}-rows${params.rows}-seed${params.seed}`);
}

/**
 * The benchmark's files: reused when a previous run with the same parameters finished writing them,
 * generated otherwise (with progress on stderr: a million rows per arm take several seconds).
 */
export function ensureData(params: DataParams, dir = dataDir(params)): DataSet {
  const baseline = join(dir, "baseline.csv");
  const canary = join(dir, "canary.csv");
  const meta = join(dir, "meta.json");
  const voices = LANGUAGES.reduce((n, l) => n + l.voices, 0);
  const describe = (bytes: DataSet["bytes"], reused: boolean): DataSet => ({
    dir,
    baseline,
    canary,
    rows: params.rows,
    voices,
    languages: LANGUAGES.length,
    bytes,
    reused,
  });
  if (existsSync(meta) && existsSync(baseline) && existsSync(canary)) {
    const saved = JSON.parse(readFileSync(meta, "utf8")) as { params: DataParams; bytes: DataSet["bytes"] };
    if (saved.params.rows === params.rows && saved.params.seed === params.seed)
      return describe(saved.bytes, true);
  }

  mkdirSync(dir, { recursive: true });
  const started = performance.now();
  const shared = createRng(params.seed);
  const baselineRng = createRng(params.seed + 1);
  const canaryRng = createRng(params.seed + 2);
  const { voices: list, cumulative } = fleet(shared);
  const driftingVoice = list[0]!.id;
  const out = {
    baseline: new ChunkWriter(`${baseline}.partial`),
    canary: new ChunkWriter(`${canary}.partial`),
  };
  const header = COLUMNS.join(",");
  out.baseline.line(header);
  out.canary.line(header);
  const difficulty = new Float64Array(5);
  const progress = process.stderr.isTTY;
  const step = Math.max(1, Math.floor(params.rows / 20));
  const width = String(params.rows).length;
  for (let i = 0; i < params.rows; i++) {
    const voice = list[pick(cumulative, shared.next())]!;
    difficulty[0] = shared.normal(0, 0.35); // log TTFA
    difficulty[1] = shared.normal(0, 0.025); // speaker similarity
    difficulty[2] = shared.normal(0, 0.14); // MOS
    difficulty[3] = shared.normal(0, 0.5); // WER points
    difficulty[4] = shared.normal(0, 0.04); // log cost (audio length, text density)
    const id = `utt-${String(i + 1).padStart(width, "0")}`;
    out.baseline.line(evaluate(baselineRng, id, voice, difficulty, false, driftingVoice));
    out.canary.line(evaluate(canaryRng, id, voice, difficulty, true, driftingVoice));
    if ((i + 1) % step === 0 || i + 1 === params.rows) {
      const pct = Math.round(((i + 1) / params.rows) * 100);
      const secs = ((performance.now() - started) / 1000).toFixed(1);
      const text = `generating ${dir}: ${(i + 1).toLocaleString("en-US")} of ${params.rows.toLocaleString("en-US")} rows per arm (${pct}%, ${secs} s)`;
      process.stderr.write(progress ? `\r${text}` : `${text}\n`);
    }
  }
  out.baseline.close();
  out.canary.close();
  if (progress) process.stderr.write("\n");
  renameSync(`${baseline}.partial`, baseline);
  renameSync(`${canary}.partial`, canary);
  const bytes = { baseline: out.baseline.bytes, canary: out.canary.bytes };
  writeFileSync(meta, JSON.stringify({ params, bytes, generatorVersion: GENERATOR_VERSION }) + "\n");
  return describe(bytes, false);
}
