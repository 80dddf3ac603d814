// `voicectl fleet-exporter`: serve a simulated voice fleet's metrics to Prometheus, per docs/metrics.md, for
// a stable and a canary version, in accelerated time (src/sim/exporter.ts). For trying the Prometheus source
// and policies' PromQL against a live server without GPUs; the end-to-end tests use the same exporter.
import type { Command } from "commander";
import { UsageError } from "../../core/errors.js";
import type { CliIo } from "../io.js";

// The exporter's default version names (DEFAULT_STABLE and DEFAULT_CANARY in src/sim/exporter.ts, which a
// test holds equal to these), spelled out here so that --help does not load the simulator.
const DEFAULTS_HELP = { stable: "tts-v41", canary: "tts-v42" } as const;

export interface FleetExporterCommandOptions {
  /** Resolves when the server should stop (default: on SIGINT or SIGTERM). */
  readonly untilStopped?: (() => Promise<void>) | undefined;
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}

function parseSeed(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isInteger(n) || n > 0xffffffff)
    throw new UsageError(`--seed expects a whole number from 0 to 4294967295, got "${text}"`);
  return n;
}

function parsePort(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 65535)
    throw new UsageError(`--port expects a whole number from 0 to 65535 (0: a free port), got "${text}"`);
  return n;
}

function parseSpeed(text: string): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || n <= 0)
    throw new UsageError(`--speed expects a positive number of simulated seconds per second, got "${text}"`);
  return n;
}

function parseWeight(text: string): number {
  const n = Number(text);
  if (text.trim() === "" || !(n >= 0 && n <= 100))
    throw new UsageError(`--weight expects a number from 0 to 100 (percent), got "${text}"`);
  return n;
}

function parseVersion(text: string): string {
  if (text === "") throw new UsageError("a version name must not be empty");
  return text;
}

export function registerFleetExporter(
  program: Command,
  io: CliIo,
  _setExit: (code: number) => void,
  options: FleetExporterCommandOptions = {},
): void {
  program
    .command("fleet-exporter")
    .summary("serve a simulated voice fleet's metrics to Prometheus (stable and canary)")
    .description(
      `Serve /metrics in the Prometheus text format for a simulated voice fleet that follows SCENARIO (a SimulationScenario YAML file), as the model servers of a stable and a canary version would export them (docs/metrics.md): histograms voice_ttfa_seconds, voice_speaker_similarity, voice_predicted_mos, voice_wer_ratio (and voice_real_time_factor), counters voice_requests_total{outcome}, voice_underruns_total, voice_silence_truncations_total, voice_generated_audio_seconds_total, per cell of the scenario's traffic.

Time runs --speed simulated seconds per second; the scenario's regressions and faults follow the simulated clock. Shift traffic while it runs:
  curl -X POST -d '{"canaryWeight": 50}' http://127.0.0.1:PORT/control

Listens on 127.0.0.1 only. Prints the metrics URL on stdout, then serves until interrupted.

Exit codes: 0 stopped, 64 usage error (or the port is taken), 65 invalid scenario, 66 unreadable file.`,
    )
    .argument("<scenario>", "SimulationScenario YAML file")
    .option("--port <n>", "port on 127.0.0.1 (0: a free one)", parsePort, 0)
    .option("--seed <n>", "random seed (default: the scenario's)", parseSeed)
    .option(
      "--stable <name>",
      `the stable version's name (label version; default: ${DEFAULTS_HELP.stable})`,
      parseVersion,
    )
    .option(
      "--canary <name>",
      `the canary version's name (label version; default: ${DEFAULTS_HELP.canary})`,
      parseVersion,
    )
    .option(
      "--speed <x>",
      "simulated seconds per real second (60: a minute of traffic per second)",
      parseSpeed,
      1,
    )
    .option(
      "--weight <percent>",
      "the canary's traffic weight at the start (default: the scenario's first setWeight)",
      parseWeight,
    )
    .action(
      async (
        scenario: string,
        opts: {
          port: number;
          seed?: number;
          stable?: string;
          canary?: string;
          speed: number;
          weight?: number;
        },
      ) => {
        // Loaded when the exporter runs, not when the command tree is built (bench/startup).
        const [{ DEFAULT_CANARY, DEFAULT_STABLE, startFleetExporter }, { loadScenario }] = await Promise.all([
          import("../../sim/exporter.js"),
          import("../../sim/scenario.js"),
        ]);
        const stable = opts.stable ?? DEFAULT_STABLE;
        const canary = opts.canary ?? DEFAULT_CANARY;
        if (stable === canary)
          throw new UsageError(`--stable and --canary must differ, both are "${stable}"`);
        const loaded = await loadScenario(scenario);
        const running = await startFleetExporter({
          scenario: loaded.scenario,
          port: opts.port,
          seed: opts.seed,
          stable,
          canary,
          speed: opts.speed,
          canaryWeight: opts.weight,
        });
        try {
          const s = running.exporter.state();
          io.stdout(`${running.url}/metrics\n`);
          io.stderr(
            `voicectl fleet-exporter: ${loaded.scenario.metadata.name} at ${running.url}/metrics: ` +
              `${s.stable} and ${s.canary} (canary at ${s.canaryWeight}%), ${s.speed}x simulated time; ` +
              `exporting ${Object.keys(running.exporter.exported).join(", ")}` +
              (running.exporter.ignored.length > 0 ? ` (not ${running.exporter.ignored.join(", ")})` : "") +
              `\nPOST ${running.url}/control {"canaryWeight": N} shifts traffic; Ctrl-C stops.\n`,
          );
          await (options.untilStopped ?? untilSignal)();
        } finally {
          await running.close();
        }
      },
    );
}
