// The real-audio chain the voice e2e tests share: the test TTS model server (test/voice-server, piper and
// flite) and the scorer (scorer/), each from its cached venv (test/voice-server/setup.sh and scorer/ci.sh, run
// by .ci/run), their processes, and the texts they speak.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { repositoryRoot } from "./cluster.js";
import { freePort } from "./loopback-process.js";
import { waitFor } from "./wait.js";

const ROOT = repositoryRoot();
export const VOICE_SERVER = join(ROOT, "test/voice-server/server.py");

// Written in words: the scorer's ASR does not spell out numbers.
export const TEXTS = [
  "the weather today is sunny with a light breeze from the west",
  "please confirm your appointment for tuesday morning at the clinic",
  "our new menu features fresh vegetables and warm bread every day",
  "the train to the city leaves from platform four in ten minutes",
  "thank you for calling we will be with you in just a moment",
  "remember to water the plants before you leave for the weekend",
  "the library closes early on holidays so plan your visit ahead",
  "she found an old map hidden inside the cover of the book",
  "your package was delivered to the front desk this afternoon",
  "we are sorry for the delay and appreciate your patience",
  "the museum opens a new exhibit about ancient ships next month",
  "turn left at the bakery and the station is on your right",
  "the children built a tall castle of sand near the water",
  "a quiet room with soft light helps me read for hours",
  "the farmer sells apples and honey at the market on saturday",
  "please keep your ticket until the end of the journey",
  "the storm knocked down two old trees along the river road",
  "he forgot his umbrella and walked home in the rain",
  "our team will review your request and reply by friday",
  "the bridge was painted bright red to match the old boats",
  "a warm cup of tea is the best way to start a cold morning",
  "the concert was moved indoors because of the strong wind",
  "please speak slowly and clearly after the tone",
  "the garden behind the house is full of roses in june",
];

/** server.py's flags: `--voice` before each voice, other flags (`--name=value`) as they are. */
export const voiceArgs = (spec: string[]) => spec.flatMap((s) => (s.startsWith("--") ? [s] : ["--voice", s]));

/** The last line a venv script prints: its python. */
const venvPython = (script: string, ...args: string[]) =>
  execFileSync("bash", [join(ROOT, script), ...args], { encoding: "utf8" })
    .trim()
    .split("\n")
    .at(-1)!;

export interface VoiceChain {
  readonly serverPython: string;
  readonly scorerPython: string;
  readonly scorerUrl: string;
  readonly scorerPort: number;
  readonly scorerPid: number;
  /** Resolves once the scorer answers /healthz; rejects if it exits first. */
  readonly scorerReady: Promise<unknown>;
  /** Starts a model server for `version` (voices and flags as server.py takes them); resolves to its URL. */
  startVoiceServer(version: string, spec: string[]): Promise<string>;
  /** SIGTERM to every process started. */
  stop(): void;
}

/**
 * Writes the reference recordings of `referenceVoices` (what every version's clips are compared with) under
 * `dir` and starts the scorer on them; model servers cache their clips under `dir` too.
 */
export async function startVoiceChain(dir: string, referenceVoices: string[]): Promise<VoiceChain> {
  const children: ChildProcess[] = [];
  /** A long-running process; `exited` rejects when it ends early, with the end of its stderr. */
  const start = (cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env) => {
    const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const exited = new Promise<never>((_, reject) =>
      child.on("exit", (code) =>
        reject(new Error(`${args.slice(0, 2).join(" ")} exited with ${code}: ${stderr}`)),
      ),
    );
    exited.catch(() => undefined); // observed where it matters: while waiting for the process to be ready
    return { child, exited };
  };

  const serverPython = venvPython("test/voice-server/setup.sh");
  const scorerPython = venvPython("scorer/ci.sh", "--venv-only");
  const refs = join(dir, "refs");
  execFileSync(serverPython, [VOICE_SERVER, "references", "--out", refs, ...voiceArgs(referenceVoices)]);
  const scorerPort = await freePort();
  const scorer = start(
    scorerPython,
    ["-m", "voicectl_scorer", "serve", "--port", String(scorerPort), "--references", refs].concat([
      "--workers",
      "2",
      "--queue",
      "1000",
    ]),
    { ...process.env, PYTHONPATH: join(ROOT, "scorer/src") },
  );
  const scorerUrl = `http://127.0.0.1:${scorerPort}`;
  const scorerReady = Promise.race([
    waitFor(
      "the scorer's /healthz",
      60_000,
      async () => (await fetch(`${scorerUrl}/healthz`)).ok || undefined,
    ),
    scorer.exited,
  ]);

  const startVoiceServer = async (version: string, spec: string[]): Promise<string> => {
    const { child, exited } = start(serverPython, [
      VOICE_SERVER,
      "serve",
      "--version",
      version,
      "--scorer",
      scorerUrl,
      "--cache-dir",
      join(dir, "clips"),
      ...voiceArgs(spec),
    ]);
    const line = await Promise.race([
      new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once("line", resolve)),
      exited,
    ]);
    return `http://${(JSON.parse(line) as { listening: string }).listening}`;
  };

  return {
    serverPython,
    scorerPython,
    scorerUrl,
    scorerPort,
    scorerPid: scorer.child.pid!,
    scorerReady,
    startVoiceServer,
    stop: () => {
      for (const c of children) c.kill("SIGTERM");
    },
  };
}
