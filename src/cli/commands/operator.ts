// `voicectl operator`: run the controller that walks VoiceRollouts through their steps. A thin shell: it
// parses flags, loads the kubeconfig (in-cluster when none is given) and hands over to the operator's
// composition root; it runs until SIGTERM or SIGINT, or until this replica loses the leader Lease.
import type { Command } from "commander";
import { UsageError } from "../../core/errors.js";
import type { Level } from "../../operator/log.js";
import type { CliIo } from "../io.js";

interface OperatorFlags {
  readonly kubeconfig?: string;
  readonly context?: string;
  readonly namespace?: string;
  readonly prometheus: string;
  readonly listen: string;
  readonly workers: string;
  readonly leaderElect: boolean;
  readonly leaderElectionNamespace: string;
  readonly leaderElectionId: string;
  readonly leaseDuration: string;
  readonly shards: string;
  readonly expectedReplicas: string;
  readonly resync: string;
  readonly poll: string;
  readonly logLevel: string;
}

/** How long an orderly stop may take before the process exits anyway. */
const STOP_DEADLINE_MS = 10_000;

const LEVELS: readonly Level[] = ["debug", "info", "warn", "error"];

function duration(parseDuration: (text: string) => number | null, flag: string, text: string): number {
  const ms = parseDuration(text);
  if (ms === null || ms <= 0)
    throw new UsageError(`${flag} expects a duration such as 15s or 5m, got "${text}"`);
  return ms;
}

function hostPort(text: string): { host: string; port: number } {
  const m = /^(.*):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535)
    throw new UsageError(`--listen expects HOST:PORT such as 0.0.0.0:8080, got "${text}"`);
  return { host: m[1] === "" ? "0.0.0.0" : m[1]!, port };
}

function positiveInteger(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`${flag} expects a positive integer, got "${text}"`);
  return n;
}

export function registerOperator(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command("operator")
    .summary("run the operator that walks VoiceRollouts through their steps")
    .description(
      `Watch VoiceRollouts, their RolloutPolicies, Deployments, HTTPRoutes and VoiceRolloutCommands, and walk each rollout through its steps: scale the canary, shift HTTPRoute weights once its replicas are ready, judge each analysis step from Prometheus slice by slice, roll back on a critical regression, pause on anything else, and apply approvals, aborts, promotions and retries exactly once.

Runs inside the cluster with its ServiceAccount, or outside with --kubeconfig. With leader election (the default) several replicas can run: one reconciles, the others stand by; with --shards K each replica reconciles the rollouts of the shard Leases it holds, so replicas share the work. Logs are JSON lines on stderr; GET /metrics, /healthz and /readyz are served on --listen. Stops on SIGTERM or SIGINT.`,
    )
    .option("--kubeconfig <file>", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster)")
    .option("--context <name>", "kubeconfig context to use")
    .option("-n, --namespace <name>", "only watch this namespace (default: all namespaces)")
    .requiredOption(
      "--prometheus <url>",
      "Prometheus base URL where the fleet's metrics are, e.g. http://prometheus:9090",
    )
    .option("--listen <host:port>", "address of the /metrics, /healthz and /readyz server", "0.0.0.0:8080")
    .option("--workers <n>", "rollouts reconciled at once", "4")
    .option("--no-leader-elect", "do not use a Lease (only when a single replica runs)")
    .option("--leader-election-namespace <name>", "namespace of the leader Lease", "voicectl-system")
    .option("--leader-election-id <name>", "name of the leader Lease", "voicectl-operator")
    .option("--lease-duration <duration>", "how long a Lease holds without renewal", "15s")
    .option(
      "--shards <n>",
      "split rollouts into this many shards, one Lease each (<leader-election-id>-shard-<i>); replicas reconcile the shards they hold. 1: one leader for all",
      "1",
    )
    .option(
      "--expected-replicas <n>",
      "replicas running with --shards, so each takes its fair share, ceil(shards / replicas), first",
      "1",
    )
    .option("--resync <duration>", "reconcile every rollout at least this often", "5m")
    .option(
      "--poll <duration>",
      "how soon to look again at what no watch announces (canary readiness)",
      "15s",
    )
    .option("--log-level <level>", `one of ${LEVELS.join(", ")}`, "info")
    .action(async (flags: OperatorFlags) => {
      const level = flags.logLevel as Level;
      if (!LEVELS.includes(level))
        throw new UsageError(`--log-level expects one of ${LEVELS.join(", ")}, got "${flags.logLevel}"`);
      try {
        new URL(flags.prometheus);
      } catch {
        throw new UsageError(
          `--prometheus expects a URL such as http://127.0.0.1:9090, got "${flags.prometheus}"`,
        );
      }
      const workers = positiveInteger("--workers", flags.workers);
      const shards = positiveInteger("--shards", flags.shards);
      const expectedReplicas = positiveInteger("--expected-replicas", flags.expectedReplicas);
      if (shards > 1 && !flags.leaderElect)
        throw new UsageError("--shards above 1 needs leader election: drop --no-leader-elect");
      // The operator, client-node (~0.5 s to import) and prom-client are loaded only when the operator runs,
      // not when the command tree is built for every other command (bench/startup); the flags above are
      // checked before that wait.
      const [
        { loadKubeConfig },
        { parseDuration },
        { FAULT_ENV, FaultSpecError, parseFaultSpec },
        { createLogger },
        { startOperator },
      ] = await Promise.all([
        import("../../adapters/kubernetes/config.js"),
        import("../../core/rollout/plan.js"),
        import("../../operator/faults.js"),
        import("../../operator/log.js"),
        import("./operator/run.js"),
      ]);
      const leaseMs = duration(parseDuration, "--lease-duration", flags.leaseDuration);
      const listen = hostPort(flags.listen);
      const kubeConfig = loadKubeConfig({ kubeconfig: flags.kubeconfig, context: flags.context }, io.env);
      const log = createLogger({ level, write: (line) => io.stderr(line + "\n") });
      // TEST-ONLY (src/operator/faults.ts): the end-to-end fault tests make the process die at a reconcile
      // boundary. Deliberately an environment variable, not a flag, so it is not in --help.
      const faultSpec = process.env[FAULT_ENV];
      if (faultSpec !== undefined && faultSpec !== "") {
        try {
          parseFaultSpec(faultSpec);
        } catch (err) {
          if (err instanceof FaultSpecError) throw new UsageError(err.message);
          throw err;
        }
      }

      const operator = await startOperator({
        kubeConfig,
        prometheusUrl: flags.prometheus,
        namespace: flags.namespace,
        workers,
        listen,
        leaderElection: flags.leaderElect
          ? {
              namespace: flags.leaderElectionNamespace,
              name: flags.leaderElectionId,
              leaseDurationMs: leaseMs,
              // client-go's proportions: renew within two thirds of the lease, retry at a fifth of it.
              renewDeadlineMs: Math.floor((leaseMs * 2) / 3),
              retryPeriodMs: Math.max(200, Math.floor(leaseMs / 5)),
              shards,
              replicas: expectedReplicas,
            }
          : false,
        resyncMs: duration(parseDuration, "--resync", flags.resync),
        pollMs: duration(parseDuration, "--poll", flags.poll),
        log,
        faultSpec,
      });
      const reason = await new Promise<string>((resolve) => {
        process.once("SIGTERM", () => resolve("SIGTERM"));
        process.once("SIGINT", () => resolve("SIGINT"));
        void operator.lostLeadership.then(() => resolve("lost leadership"));
      });
      log.info("stopping", { reason });
      // An orderly stop finishes the pass in flight and releases the Lease; a hung API call must not keep a
      // terminating pod (or a replica that lost the Lease) alive, so the stop has a deadline.
      const stopped = await Promise.race([
        operator.stop().then(() => true),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), STOP_DEADLINE_MS).unref()),
      ]);
      if (!stopped) log.warn("stop deadline passed; exiting anyway", { deadlineMs: STOP_DEADLINE_MS });
      const code = reason === "lost leadership" || !stopped ? 1 : 0;
      setExit(code);
      // Idle keep-alive sockets of the API client may hold the event loop open: a daemon that has stopped
      // exits (the timer is unref'd, so it only fires if something still holds the loop).
      setTimeout(() => process.exit(code), 1000).unref();
    });
}
