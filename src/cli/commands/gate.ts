// `voicectl gate`: baseline and candidate evaluation results in, decision and exit code out.
import { Option, type Command } from "commander";
import type { Progress } from "../../adapters/files/eval-reader.js";
import type { GateReport } from "../../core/judge/report.js";
import { exitForDecision } from "../exit-codes.js";
import type { CliIo } from "../io.js";
import { renderJunit } from "../output/junit.js";
import { renderMarkdown } from "../output/markdown.js";
import { renderTable } from "../output/table.js";

export interface GateOptions {
  readonly policy: string;
  readonly baseline: string;
  readonly canary: string;
  readonly pairBy?: string | undefined;
  readonly summary?: boolean | undefined;
  readonly progress?: Progress | undefined;
}

/** The whole gate run, reading files and judging; the CLI only renders what this returns. */
export async function runGate(opts: GateOptions): Promise<GateReport> {
  // Loaded when a gate runs, not when the command tree is built: --help, --version and the other commands
  // do not pay for zod, yaml and the readers (bench/startup).
  const [
    { loadIndependent, loadPaired, loadSummary },
    { loadPolicy },
    { judgeSamples },
    { planJudge },
    { buildReport },
    { judgeSummary },
  ] = await Promise.all([
    import("../../adapters/files/gate-input.js"),
    import("../../adapters/files/policy-file.js"),
    import("../../core/judge/judge.js"),
    import("../../core/judge/plan.js"),
    import("../../core/judge/report.js"),
    import("../../core/judge/summary.js"),
  ]);
  const { policy } = await loadPolicy(opts.policy);
  const plan = planJudge(policy);
  const files = { baseline: opts.baseline, canary: opts.canary, progress: opts.progress };
  if (opts.summary) {
    const baseline = await loadSummary(plan, files.baseline, opts.progress);
    const canary = await loadSummary(plan, files.canary, opts.progress);
    return buildReport(policy, "summary", judgeSummary(plan, baseline, canary), []);
  }
  const input = opts.pairBy ? await loadPaired(plan, files, opts.pairBy) : await loadIndependent(plan, files);
  const findings = judgeSamples(plan, input);
  return buildReport(policy, opts.pairBy ? "paired" : "independent", findings, input.notes);
}

/** A one-line progress report on a terminal, rewritten in place and cleared when the file is done. */
function progressLine(io: CliIo): Progress {
  return (file, bytesRead, size) => {
    const pct = size > 0 ? Math.min(100, Math.floor((bytesRead / size) * 100)) : 0;
    io.stderr(`\r\u001b[Kreading ${file}: ${pct}% of ${(size / 1e6).toFixed(0)} MB`);
    if (bytesRead >= size) io.stderr("\r\u001b[K");
  };
}

export type GateFormat = "table" | "json" | "markdown" | "junit";

export function renderGate(report: GateReport, format: GateFormat, io: CliIo, all: boolean): string {
  switch (format) {
    case "json":
      return JSON.stringify(report, null, 2) + "\n";
    case "markdown":
      return renderMarkdown(report);
    case "junit":
      return renderJunit(report);
    default:
      return renderTable(report, { colour: io.stdoutIsTTY && !io.env["NO_COLOR"], all });
  }
}

/** `-o`, shared by the commands that print a report like the gate's. */
export function reportFormatOption(): Option {
  return new Option("-o, --output <format>", "output format")
    .choices(["table", "json", "markdown", "junit"])
    .default("table");
}

export const ALL_HELP = "table: list every finding, not only those that did not pass and the aggregates";

export function registerGate(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command("gate")
    .summary("judge a candidate model against the baseline from evaluation files (for CI)")
    .description(
      `Compare baseline and candidate evaluation results slice by slice against a RolloutPolicy and decide.

Each file is CSV or JSON Lines (by extension), one row per evaluated utterance or request: label columns (the policy's sliceBy labels) and numeric metric columns; an empty cell is a missing value. With --pair-by, rows of the two files with the same value in that column are compared as paired differences. With --summary, each file holds one aggregated row per slice (and an optional n column).

Exit codes: 0 promote, 1 rollback, 2 pause, 64 usage error, 65 invalid data or policy, 66 a file is missing or unreadable.`,
    )
    .requiredOption("-p, --policy <file>", "RolloutPolicy YAML file")
    .requiredOption("-b, --baseline <file>", "evaluation results of the baseline (stable) model")
    .requiredOption("-c, --canary <file>", "evaluation results of the candidate (canary) model")
    .addOption(
      new Option(
        "--pair-by <column>",
        "pair rows of the two files by this column (e.g. utterance_id)",
      ).conflicts("summary"),
    )
    .option("--summary", "files hold one aggregated row per slice; compare points", false)
    .addOption(reportFormatOption())
    .option("--all", ALL_HELP, false)
    .action(async (opts: GateOptions & { output: GateFormat; all: boolean }) => {
      const report = await runGate({ ...opts, progress: io.stderrIsTTY ? progressLine(io) : undefined });
      io.stdout(renderGate(report, opts.output, io, opts.all));
      setExit(exitForDecision(report.decision));
    });
}
