// `voicectl analyze`: one analysis of live traffic from Prometheus, printed like the gate, for engineers who
// want to look before they roll. The same online analysis the operator runs, over one window.
import type { Command } from "commander";
import { UsageError } from "../../core/errors.js";
import type { GateReport } from "../../core/judge/report.js";
import { exitForDecision } from "../exit-codes.js";
import type { CliIo } from "../io.js";
import { ALL_HELP, renderGate, reportFormatOption, type GateFormat } from "./gate.js";

export interface AnalyzeOptions {
  readonly policy: string;
  readonly prometheus: string;
  readonly stable: string;
  readonly canary: string;
  readonly window: string;
  readonly namespace?: string | undefined;
  readonly stableGpus?: number | undefined;
  readonly canaryGpus?: number | undefined;
  readonly gpuHourPrice?: number | undefined;
  /** Seconds since the epoch at which the window ends (default: now). */
  readonly at?: number | undefined;
}

export async function runAnalyze(opts: AnalyzeOptions): Promise<GateReport> {
  // Loaded when an analysis runs, not when the command tree is built (bench/startup).
  const [
    { PrometheusClient },
    { checkSources, PrometheusLookSource },
    { loadPolicy },
    { analyzeLook, initialOnlineState },
    { planJudge },
    { buildReport },
    { parseDuration },
  ] = await Promise.all([
    import("../../adapters/prometheus/client.js"),
    import("../../adapters/prometheus/source.js"),
    import("../../adapters/files/policy-file.js"),
    import("../../core/analysis/online.js"),
    import("../../core/judge/plan.js"),
    import("../../core/judge/report.js"),
    import("../../core/rollout/plan.js"),
  ]);
  const windowMs = parseDuration(opts.window);
  if (windowMs === null || windowMs < 1000)
    throw new UsageError(`--window expects a duration such as 10m or 1h, got "${opts.window}"`);
  if (opts.stable === opts.canary) throw new UsageError("--stable and --canary name the same version");
  try {
    new URL(opts.prometheus);
  } catch {
    throw new UsageError(
      `--prometheus expects a URL such as http://127.0.0.1:9090, got "${opts.prometheus}"`,
    );
  }
  const { policy } = await loadPolicy(opts.policy);
  const plan = planJudge(policy);
  checkSources(plan, opts.policy);
  const source = new PrometheusLookSource(plan, {
    client: new PrometheusClient({ url: opts.prometheus }),
    stable: opts.stable,
    canary: opts.canary,
    namespace: opts.namespace,
    cost:
      opts.stableGpus !== undefined && opts.canaryGpus !== undefined && opts.gpuHourPrice !== undefined
        ? { stableGpus: opts.stableGpus, canaryGpus: opts.canaryGpus, pricePerGpuHour: opts.gpuHourPrice }
        : undefined,
  });
  const look = await source.look(opts.at ?? Date.now() / 1000, windowMs / 1000, 0);
  const result = analyzeLook(policy, initialOnlineState(), look, plan);
  const notes = Object.entries(look.unavailable ?? {}).map(([metric, why]) => `${metric}: ${why}`);
  return buildReport(policy, "live", result.findings, notes);
}

function positive(flag: string): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!Number.isFinite(n) || n <= 0)
      throw new UsageError(`${flag} expects a positive number, got "${text}"`);
    return n;
  };
}

export function registerAnalyze(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command("analyze")
    .summary("judge live canary traffic from Prometheus once, printed like the gate")
    .description(
      `Read the last WINDOW of traffic of two versions from Prometheus (series as in docs/metrics.md, or the policy's sources) and judge the canary against the stable version slice by slice, with the same anytime-valid analysis the operator runs. A Prometheus that cannot be reached, or answers with errors or partial data, makes the affected metrics nodata: the decision is then pause, never promote.

Exit codes as the gate's: 0 promote, 1 rollback, 2 pause, 64 usage error, 65 invalid policy, 66 a file is missing or unreadable.`,
    )
    .requiredOption("-p, --policy <file>", "RolloutPolicy YAML file")
    .requiredOption("--prometheus <url>", "Prometheus base URL, e.g. http://127.0.0.1:9090")
    .requiredOption("--stable <version>", "the stable (baseline) version label value")
    .requiredOption("--canary <version>", "the canary version label value")
    .option("--window <duration>", "how much recent traffic to judge", "10m")
    .option("-n, --namespace <name>", "only series with this namespace label")
    .option(
      "--stable-gpus <n>",
      "GPUs serving the stable version (replicas x GPUs per replica), for cost",
      positive("--stable-gpus"),
    )
    .option("--canary-gpus <n>", "GPUs serving the canary version, for cost", positive("--canary-gpus"))
    .option(
      "--gpu-hour-price <usd>",
      "price of one GPU hour in the pool, for cost",
      positive("--gpu-hour-price"),
    )
    .addOption(reportFormatOption())
    .option("--all", ALL_HELP, false)
    .action(async (opts: AnalyzeOptions & { output: GateFormat; all: boolean }) => {
      const report = await runAnalyze(opts);
      io.stdout(renderGate(report, opts.output, io, opts.all));
      setExit(exitForDecision(report.decision));
    });
}
