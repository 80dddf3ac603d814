// Writes the example evaluation files under examples/eval/: the same seeded fleet evaluated twice, once as the
// baseline model and once as a candidate with a change injected. Run `npm run examples` after editing;
// a test regenerates them and checks that the committed files match.
//
// Each utterance has a difficulty shared by both models (so pairing by utterance_id removes it) plus noise
// from generation. Spreads follow docs/budgets.md#typical-values: TTFA lognormal with sigma 0.5, speaker
// similarity about 0.035 per utterance, MOS about 0.2.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRng, type Rng } from "../../src/core/stats/random.js";

export interface Voice {
  readonly id: string;
  readonly language: string;
  readonly tenant: string;
  /** The voice's mean speaker similarity under the baseline model. */
  readonly similarity: number;
}

export const VOICES: readonly Voice[] = [
  { id: "mia-chen", language: "en", tenant: "studio-pro", similarity: 0.74 },
  { id: "leo-martin", language: "en", tenant: "studio-pro", similarity: 0.71 },
  { id: "ava-brooks", language: "en", tenant: "callvault", similarity: 0.69 },
  { id: "noah-king", language: "en", tenant: "callvault", similarity: 0.72 },
  { id: "lucia-romero", language: "es", tenant: "studio-pro", similarity: 0.7 },
  { id: "mateo-diaz", language: "es", tenant: "callvault", similarity: 0.68 },
  { id: "hanna-vogel", language: "de", tenant: "studio-pro", similarity: 0.73 },
  { id: "jonas-weber", language: "de", tenant: "callvault", similarity: 0.7 },
  { id: "yuki-sato", language: "ja", tenant: "studio-pro", similarity: 0.67 },
  { id: "wei-zhang", language: "zh", tenant: "callvault", similarity: 0.66 },
];

const MOS_BY_LANGUAGE: Readonly<Record<string, number>> = { en: 4.1, es: 3.95, de: 3.9, ja: 3.8, zh: 3.75 };
const WER_BY_LANGUAGE: Readonly<Record<string, number>> = { en: 2.0, es: 2.6, de: 2.8, ja: 3.4, zh: 1.4 };

/** A candidate model's change against the baseline, by metric; `voice` narrows a change to one voice. */
export interface Change {
  readonly ttfaFactor?: number;
  readonly similarityShift?: number;
  readonly mosShift?: number;
  readonly werShift?: number;
  readonly costFactor?: number;
  readonly truncationRate?: number;
  readonly underrunRate?: number;
  readonly voice?: string;
  readonly voiceSimilarityShift?: number;
}

export interface Example {
  readonly name: string;
  readonly description: string;
  readonly policy: string;
  readonly expected: "promote" | "pause" | "rollback";
  readonly pairBy?: string;
  readonly summary?: boolean;
  readonly format: "csv" | "jsonl";
  readonly utterancesPerVoice: number;
  readonly change: Change;
  /** Columns the candidate's file lacks (a metric its evaluation did not produce). */
  readonly dropCanaryColumns?: readonly string[];
}

export const EXAMPLES: readonly Example[] = [
  {
    name: "no-change",
    description: "the candidate is the baseline model again (A/A): every finding passes",
    policy: "voice-studio",
    expected: "promote",
    pairBy: "utterance_id",
    format: "csv",
    // Enough utterances to prove the rare-event rates within their budgets (see the policies' comments).
    utterancesPerVoice: 500,
    change: {},
  },
  {
    name: "clone-drift",
    description:
      "faster and better on every aggregate, but mia-chen's cloned voice drifts (similarity -0.03): rolls back, naming the voice",
    policy: "voice-studio",
    expected: "rollback",
    pairBy: "utterance_id",
    format: "csv",
    utterancesPerVoice: 500,
    change: {
      ttfaFactor: 0.75,
      similarityShift: 0.004,
      mosShift: 0.05,
      werShift: -0.2,
      voice: "mia-chen",
      voiceSimilarityShift: -0.03,
    },
  },
  {
    name: "latency-regression",
    description: "voice agents: quality improves but time to first audio p95 rises 25%: rolls back",
    policy: "voice-agents",
    expected: "rollback",
    format: "jsonl",
    utterancesPerVoice: 400,
    change: { ttfaFactor: 1.25, mosShift: 0.1, similarityShift: 0.01 },
  },
  {
    name: "cost-regression",
    description: "quality and latency equal, cost per audio second +30% (not critical): pauses for a person",
    policy: "voice-studio",
    expected: "pause",
    pairBy: "utterance_id",
    format: "csv",
    utterancesPerVoice: 80,
    change: { costFactor: 1.3 },
  },
  {
    name: "missing-metric",
    description: "the candidate's evaluation did not produce MOS (a critical metric): never promotes, pauses",
    policy: "voice-studio",
    expected: "pause",
    pairBy: "utterance_id",
    format: "csv",
    utterancesPerVoice: 80,
    change: {},
    dropCanaryColumns: ["mos"],
  },
];

interface Row {
  utterance_id: string;
  voice_id: string;
  language: string;
  tenant: string;
  ttfa_ms: number;
  speaker_similarity: number;
  mos: number;
  wer: number;
  silence_truncation: number;
  underrun: number;
  error: number;
  cost_per_audio_second: number;
}

const round = (x: number, digits: number) => Number(x.toFixed(digits));

/** Shared per-utterance difficulty, drawn once per utterance from the example's seed. */
interface Utterance {
  readonly id: string;
  readonly voice: Voice;
  readonly latency: number;
  readonly similarity: number;
  readonly mos: number;
  readonly wer: number;
}

function utterances(rng: Rng, perVoice: number): Utterance[] {
  const list: Utterance[] = [];
  for (const voice of VOICES) {
    for (let i = 0; i < perVoice; i++) {
      list.push({
        id: `${voice.id}-${String(i).padStart(4, "0")}`,
        voice,
        latency: rng.normal(0, 0.35),
        similarity: rng.normal(0, 0.025),
        mos: rng.normal(0, 0.14),
        wer: rng.normal(0, 0.5),
      });
    }
  }
  return list;
}

function evaluate(rng: Rng, u: Utterance, change: Change): Row {
  const onVoice = change.voice === u.voice.id;
  const ttfa = 110 * Math.exp(u.latency + rng.normal(0, 0.35)) * (change.ttfaFactor ?? 1);
  const similarity =
    u.voice.similarity +
    u.similarity +
    rng.normal(0, 0.025) +
    (change.similarityShift ?? 0) +
    (onVoice ? (change.voiceSimilarityShift ?? 0) : 0);
  const mos =
    (MOS_BY_LANGUAGE[u.voice.language] ?? 3.9) + u.mos + rng.normal(0, 0.14) + (change.mosShift ?? 0);
  const wer = Math.max(
    0,
    (WER_BY_LANGUAGE[u.voice.language] ?? 2) + u.wer + rng.normal(0, 0.6) + (change.werShift ?? 0),
  );
  return {
    utterance_id: u.id,
    voice_id: u.voice.id,
    language: u.voice.language,
    tenant: u.voice.tenant,
    ttfa_ms: round(ttfa, 1),
    speaker_similarity: round(Math.min(1, similarity), 4),
    mos: round(Math.min(5, Math.max(1, mos)), 3),
    wer: round(wer, 2),
    silence_truncation: rng.bernoulli(change.truncationRate ?? 0.0001) ? 1 : 0,
    underrun: rng.bernoulli(change.underrunRate ?? 0.0002) ? 1 : 0,
    error: rng.bernoulli(0.0005) ? 1 : 0,
    cost_per_audio_second: round(0.00005 * Math.exp(rng.normal(0, 0.05)) * (change.costFactor ?? 1), 8),
  };
}

const COLUMNS: readonly (keyof Row)[] = [
  "utterance_id",
  "voice_id",
  "language",
  "tenant",
  "ttfa_ms",
  "speaker_similarity",
  "mos",
  "wer",
  "silence_truncation",
  "underrun",
  "error",
  "cost_per_audio_second",
];

function render(rows: readonly Row[], format: "csv" | "jsonl", drop: readonly string[]): string {
  const columns = COLUMNS.filter((c) => !drop.includes(c));
  if (format === "jsonl") {
    return (
      rows.map((r) => JSON.stringify(Object.fromEntries(columns.map((c) => [c, r[c]])))).join("\n") + "\n"
    );
  }
  return (
    [columns.join(","), ...rows.map((r) => columns.map((c) => String(r[c])).join(","))].join("\n") + "\n"
  );
}

/** The files of one example: name to content. The seed depends only on the example's name. */
export function generateExample(example: Example): Record<string, string> {
  let seed = 2166136261;
  for (const ch of example.name) seed = Math.imul(seed ^ ch.charCodeAt(0), 16777619) >>> 0;
  const list = utterances(createRng(seed), example.utterancesPerVoice);
  const baselineRng = createRng(seed + 1);
  const canaryRng = createRng(seed + 2);
  const baseline = list.map((u) => evaluate(baselineRng, u, {}));
  const canary = list.map((u) => evaluate(canaryRng, u, example.change));
  const ext = example.format;
  return {
    [`baseline.${ext}`]: render(baseline, ext, []),
    [`canary.${ext}`]: render(canary, ext, example.dropCanaryColumns ?? []),
  };
}

export function writeExamples(root: string): void {
  for (const example of EXAMPLES) {
    const dir = join(root, example.name);
    mkdirSync(dir, { recursive: true });
    for (const [file, content] of Object.entries(generateExample(example)))
      writeFileSync(join(dir, file), content);
  }
}

// Run directly (node dist/examples/eval/generate.js): write next to the sources, not into dist/.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = join(dirname(fileURLToPath(import.meta.url)), "../../../examples/eval");
  writeExamples(root);
  process.stdout.write(`wrote ${EXAMPLES.length} examples under ${root}\n`);
}
