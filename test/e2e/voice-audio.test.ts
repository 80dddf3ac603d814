// Real voice-quality scores end to end: a TTS model server (test/voice-server: piper and flite, real
// synthesis) serves four versions, samples every clip to the scorer (scorer/), Prometheus scrapes the
// scorer, and `voicectl analyze` judges each canary against the stable version. An A/A-ish canary (the same
// voices, slower speech) promotes; a canary whose cloned voice now speaks with another speaker rolls back
// naming that voice; noise at 20 dB SNR lowers MOS (a pause under a policy judging MOS only, not critical).
// Then the gate on real audio: an evaluation set synthesised by two versions, scored offline (score-dirs),
// judged by `voicectl gate`.
//
// The operator is not in this chain: it reads looks through the same PrometheusLookSource that analyze
// uses (src/adapters/kubernetes/metrics-source.ts), and a rollout's analysis over real audio would need
// minutes of traffic per step. Runtime: about 2.5 minutes on 2 cores, mostly the scorer (0.13 CPU s per audio s
// in this chain, bench/RESULTS.md).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { runAnalyze } from "../../src/cli/commands/analyze.js";
import type { GateReport } from "../../src/core/judge/report.js";
import { cli } from "../support/cli.js";
import { startPrometheus, type PrometheusServer } from "../support/prometheus.js";
import { startVoiceChain, TEXTS, VOICE_SERVER, voiceArgs, type VoiceChain } from "../support/voice-chain.js";
import { waitFor } from "../support/wait.js";

const SCORER_ID = "resemblyzer-0.1.4+dnsmos-0.0.1.1+pocketsphinx-5.1.1";
const POLICY = "test/voice-server/policy.yaml";

// Three voices: a piper voice and two flite voices, each a customer's (cloned) voice.
const STABLE_VOICES = ["mia=piper:joe", "ava=flite:slt", "leo=flite:kal"];
const VERSIONS: Record<string, string[]> = {
  "tts-v41": STABLE_VOICES, // stable
  "tts-v42": [...STABLE_VOICES, "--length-scale=1.05"], // A/A-ish: the same voices, 5% slower
  "tts-v43": ["mia=piper:joe", "ava=flite:slt", "leo=flite:rms"], // clone drift: leo speaks as another man
  "tts-v44": [...STABLE_VOICES, "--snr-db=20"], // degraded audio: white noise at 20 dB SNR
};
const STABLE = "tts-v41";

const VOICES = ["mia", "ava", "leo"];

let dir = "";
let chain: VoiceChain | undefined;
let prom: PrometheusServer | undefined;
const servers: Record<string, string> = {};
let servedAudioSeconds = 0;

async function tts(url: string, text: string, voice: string): Promise<void> {
  const r = await fetch(`${url}/v1/tts`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ text, voice_id: voice, language: "en", product: "voice-studio", tenant: "acme" }),
  });
  expect(r.status).toBe(200);
  expect(r.headers.get("content-type")).toBe("audio/wav");
  const wav = Buffer.from(await r.arrayBuffer());
  servedAudioSeconds += (wav.length - 44) / 2 / wav.readUInt32LE(24); // 16-bit mono PCM after a 44-byte header
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

function analyze(canary: string, policy = POLICY): Promise<GateReport> {
  return runAnalyze({ policy, prometheus: prom!.url, stable: STABLE, canary, window: "15m" });
}

/** The test policy with some metrics dropped or changed, written to a scratch file. */
function policyVariant(
  name: string,
  edit: (metrics: Record<string, unknown>[]) => Record<string, unknown>[],
) {
  const doc = parse(readFileSync(POLICY, "utf8")) as { spec: { metrics: Record<string, unknown>[] } };
  doc.spec.metrics = edit(doc.spec.metrics);
  const file = join(dir, name);
  writeFileSync(file, stringify(doc));
  return file;
}

/** Every finding in a line, for failure messages. */
const summary = (r: GateReport) =>
  r.findings
    .map(
      (f) =>
        `${f.verdict} ${f.metric} ${JSON.stringify(f.slice)} n=${f.samples.baseline}/${f.samples.canary}: ${f.reason}`,
    )
    .join("\n");

const failing = (r: GateReport) =>
  r.findings.filter((f) => f.verdict === "fail").map((f) => `${f.metric} ${JSON.stringify(f.slice)}`);

beforeAll(async () => {
  const t0 = Date.now();
  dir = mkdtempSync(join(tmpdir(), "voicectl-voice-audio-"));
  // Both venvs are cached under ~/.cache/voicectl (scorer/ci.sh and test/voice-server/setup.sh, from .ci/run).
  chain = await startVoiceChain(dir, STABLE_VOICES);
  const port = chain.scorerPort;
  await chain.scorerReady;
  prom = await startPrometheus({
    targets: [{ address: `127.0.0.1:${port}`, labels: { namespace: "voice-prod" } }],
  });
  for (const [version, spec] of Object.entries(VERSIONS))
    servers[version] = await chain.startVoiceServer(version, spec);

  // Traffic: every text in every voice from every version; each server's requests one after another.
  await Promise.all(
    Object.values(servers).map(async (url) => {
      for (const text of TEXTS) for (const voice of VOICES) await tts(url, text, voice);
    }),
  );
  const expected = TEXTS.length * VOICES.length;
  // Every clip sampled (--sample 1) and delivered to the scorer: no failed upload, none refused.
  for (const [version, url] of Object.entries(servers)) {
    const stats = await waitFor(`${version}'s samples delivered`, 120_000, async () => {
      const s = (await (await fetch(`${url}/stats`)).json()) as Record<string, number>;
      return s["sent"]! + s["failed"]! === s["sampled"] && s;
    });
    expect({ version, requests: stats["requests"], sent: stats["sent"], failed: stats["failed"] }).toEqual({
      version,
      requests: expected,
      sent: expected,
      failed: 0,
    });
  }
  // Every sample scored and scraped (MOS comes by windows of about 9 s per voice: its last clips may wait).
  await prom.waitFor(
    `sum by (version) (voice_speaker_similarity_count{scorer="${SCORER_ID}"})`,
    (s) => s.length === 4 && s.every((x) => x.value === expected),
    180_000,
    "every sampled clip's similarity in Prometheus",
  );
  // The figure bench/RESULTS.md records: the scorer's CPU per second of audio, as measured in this chain.
  const cpu = cpuSeconds(chain.scorerPid);
  process.stderr.write(
    `voice-audio chain: ${servedAudioSeconds.toFixed(1)} s of audio scored, scorer ${cpu.toFixed(1)} CPU s ` +
      `(${(cpu / servedAudioSeconds).toFixed(3)} CPU s per audio s, model loading included), ` +
      `${((Date.now() - t0) / 1000).toFixed(0)} s from start\n`,
  );
}, 420_000);

afterAll(async () => {
  await prom?.stop();
  chain?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("real audio: model server -> scorer -> Prometheus -> voicectl analyze", () => {
  it("an A/A-ish canary (the same voices, 5% slower) promotes", async () => {
    const r = await analyze("tts-v42");
    expect(failing(r)).toEqual([]);
    expect(r.decision, summary(r)).toBe("promote");
    const sim = r.findings.filter((f) => f.metric === "speaker_similarity" && f.slice["voice_id"]);
    expect(sim.map((f) => f.slice["voice_id"]).sort()).toEqual(["ava", "leo", "mia"]);
    // Every clip of each voice, but perhaps the first: its series appears when it is scored, so the window's
    // increase starts from that first count.
    for (const f of sim) {
      for (const n of [f.samples.baseline, f.samples.canary]) {
        expect(n).toBeGreaterThanOrEqual(TEXTS.length - 1);
        expect(n).toBeLessThanOrEqual(TEXTS.length);
      }
    }
  });

  it("a canary whose cloned voice drifts to another speaker rolls back, naming that voice", async () => {
    const r = await analyze("tts-v43");
    expect(r.decision).toBe("rollback");
    expect(r.reasons.map((f) => f.slice["voice_id"])).toContain("leo");
    const bySlice = (v: string) =>
      r.findings.find((f) => f.metric === "speaker_similarity" && f.slice["voice_id"] === v)!;
    expect(bySlice("leo").verdict).toBe("fail");
    expect(bySlice("leo").reason).toContain("voice_id=leo");
    // The voices that did not change are not blamed.
    expect(bySlice("mia").verdict).toBe("pass");
    expect(bySlice("ava").verdict).toBe("pass");
  });

  it("noise at 20 dB SNR lowers MOS: a pause where only MOS judges it, a rollback where similarity does too", async () => {
    const full = await analyze("tts-v44");
    const mos = full.findings.find((f) => f.metric === "mos")!;
    expect(mos.verdict, summary(full)).toBe("fail");
    expect(mos.delta!).toBeLessThan(-0.3);
    // Noise also lowers speaker similarity, critical per voice in this policy: rollback.
    expect(full.decision).toBe("rollback");
    const mosOnly = policyVariant("mos-only.yaml", (ms) => ms.filter((m) => m["name"] === "mos"));
    const paused = await analyze("tts-v44", mosOnly);
    expect(paused.decision).toBe("pause");
    expect(paused.reasons.map((f) => f.metric)).toEqual(["mos"]);
  });

  it("a policy pinned to another scorer gets nodata naming both ids, never a verdict on these values", async () => {
    const other = policyVariant("other-scorer.yaml", (ms) =>
      ms.filter((m) => m["name"] === "speaker_similarity").map((m) => ({ ...m, scorer: "wavlm-large-sv" })),
    );
    const r = await analyze("tts-v43", other);
    expect(r.decision).toBe("pause");
    expect(r.findings.every((f) => f.verdict === "nodata")).toBe(true);
    expect(r.findings[0]!.reason).toContain(SCORER_ID);
    expect(r.findings[0]!.reason).toContain("wavlm-large-sv");
  });
});

describe("the gate on real audio: an evaluation set synthesised by two versions, scored offline", () => {
  const manifest = () => {
    const rows = VOICES.flatMap((v) => TEXTS.slice(0, 8).map((t, i) => `${v}-${i},${v},en,${t}`));
    const file = join(dir, "manifest.csv");
    writeFileSync(file, ["utterance_id,voice_id,language,text", ...rows].join("\n") + "\n");
    return file;
  };
  const synthesize = (version: string, m: string) =>
    execFileSync(
      chain!.serverPython,
      [VOICE_SERVER, "synthesize", "--manifest", m, "--out", join(dir, "eval", version)].concat([
        "--cache-dir",
        join(dir, "clips"),
        ...voiceArgs(VERSIONS[version]!),
      ]),
    );
  const scoreAndGate = async (canary: string, m: string) => {
    const out = join(dir, "results", canary);
    execFileSync(
      chain!.scorerPython,
      ["-m", "voicectl_scorer", "score-dirs", "--manifest", m, "--references", join(dir, "refs")].concat([
        "--baseline",
        join(dir, "eval", STABLE),
        "--candidate",
        join(dir, "eval", canary),
        "-o",
        out,
      ]),
      { env: { ...process.env, PYTHONPATH: "scorer/src" }, stdio: "pipe" },
    );
    const csv = readFileSync(join(out, "canary.csv"), "utf8");
    expect(csv.split("\n")[0]).toBe("utterance_id,voice_id,language,speaker_similarity,mos,wer,scorer");
    return cli(
      "gate",
      "-p",
      POLICY,
      "-b",
      join(out, "baseline.csv"),
      "-c",
      join(out, "canary.csv"),
      "--pair-by",
      "utterance_id",
    );
  };

  it("A/A passes; the drifted clone fails, naming the voice", async () => {
    const m = manifest();
    for (const v of [STABLE, "tts-v42", "tts-v43"]) synthesize(v, m);
    const aa = await scoreAndGate("tts-v42", m);
    expect(aa.stdout).toMatch(/^DECISION: PROMOTE/);
    expect(aa.code).toBe(0);
    const drift = await scoreAndGate("tts-v43", m);
    expect(drift.code).toBe(1);
    expect(drift.stdout).toMatch(/^DECISION: ROLLBACK/);
    expect(drift.stdout).toMatch(/speaker_similarity \(mean\) in voice_id=leo/);
    expect(drift.stdout).not.toMatch(/fail \(critical\) +speaker_similarity mean +voice_id=(mia|ava)/);
  });
});
