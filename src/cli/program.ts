// The command tree. Typed errors become exit codes here and only here; a user's mistake never shows a stack.
import { Command, CommanderError } from "commander";
import {
  ConfigError,
  FileAccessError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  UnavailableError,
  UsageError,
  WrongStateError,
} from "../core/errors.js";
import { registerAnalyze } from "./commands/analyze.js";
import { registerFleetExporter } from "./commands/fleet-exporter.js";
import { registerGate } from "./commands/gate.js";
import { registerOperator } from "./commands/operator.js";
import { registerPolicy } from "./commands/policy.js";
import { registerRollout } from "./commands/rollout.js";
import { registerSimulate } from "./commands/simulate.js";
import { EXIT } from "./exit-codes.js";
import type { CliIo } from "./io.js";

export const VERSION = "0.1.0";

export function buildProgram(io: CliIo, setExit: (code: number) => void): Command {
  // Help is wrapped by commander to the terminal's width (80 columns when not a terminal), so descriptions
  // are plain paragraphs without line breaks of their own.
  const output = {
    writeOut: io.stdout,
    writeErr: io.stderr,
    getOutHelpWidth: () => io.stdoutColumns ?? 80,
    getErrHelpWidth: () => io.stderrColumns ?? 80,
  };
  const program = new Command("voicectl")
    .description(
      "Release voice models (TTS, voice cloning, ASR, music) without breaking the people who depend on them.",
    )
    .version(VERSION, "--version", "print the version")
    .configureOutput(output)
    .showHelpAfterError("(see --help)")
    .exitOverride();
  registerGate(program, io, setExit);
  registerPolicy(program, io, setExit);
  registerSimulate(program, io, setExit);
  registerFleetExporter(program, io, setExit);
  registerAnalyze(program, io, setExit);
  registerRollout(program, io, setExit);
  registerOperator(program, io, setExit);
  for (const c of program.commands) {
    c.exitOverride();
    c.configureOutput(output);
    c.showHelpAfterError("(see --help)");
    for (const sub of c.commands) {
      sub.exitOverride();
      sub.configureOutput(output);
      sub.showHelpAfterError("(see --help)");
    }
  }
  return program;
}

/** Run the CLI with arguments (without the node and script paths); resolves to the exit code. */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  let code = 0;
  const program = buildProgram(io, (c) => (code = c));
  try {
    await program.parseAsync([...argv], { from: "user" });
    return code;
  } catch (err) {
    return reportError(err, io);
  }
}

function reportError(err: unknown, io: CliIo): number {
  if (err instanceof CommanderError) {
    // Commander has already printed its message; help and --version end with code 0.
    return err.exitCode === 0 ? 0 : EXIT.usage;
  }
  if (err instanceof UsageError) {
    io.stderr(`voicectl: ${err.message}\n`);
    return EXIT.usage;
  }
  if (err instanceof InvalidInputError) {
    io.stderr(`voicectl: invalid input:\n${err.message.replace(/^/gm, "  ")}\n`);
    return EXIT.dataError;
  }
  if (err instanceof FileAccessError) {
    io.stderr(`voicectl: cannot read ${err.message}\n`);
    return EXIT.noInput;
  }
  if (err instanceof ForbiddenError) {
    io.stderr(`voicectl: ${err.message}\n`);
    return EXIT.noPermission;
  }
  if (err instanceof NotFoundError) {
    io.stderr(`voicectl: ${err.message}\n`);
    return EXIT.notFound;
  }
  if (err instanceof WrongStateError) {
    io.stderr(`voicectl: ${err.message}\n`);
    return EXIT.wrongState;
  }
  if (err instanceof ConfigError) {
    io.stderr(`voicectl: ${err.message}\n`);
    return EXIT.config;
  }
  if (err instanceof UnavailableError) {
    io.stderr(`voicectl: ${err.message}\n`);
    return EXIT.unavailable;
  }
  io.stderr(`voicectl: internal error: ${err instanceof Error ? err.message : String(err)}\n`);
  if (io.env["VOICECTL_DEBUG"] && err instanceof Error && err.stack) io.stderr(`${err.stack}\n`);
  else io.stderr("This is a bug in voicectl; VOICECTL_DEBUG=1 shows where it happened.\n");
  return EXIT.internal;
}
