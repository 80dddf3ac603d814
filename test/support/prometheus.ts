// A real Prometheus for end-to-end tests (docs/testing.md#real-components): Debian's `prometheus` binary from
// PATH, started on a free loopback port with a generated config (the given targets scraped every second), its
// TSDB in a temporary directory, and no listener other than 127.0.0.1:PORT. Stop it with `stop()` (SIGTERM,
// then SIGKILL after a grace period); a process-exit hook kills any server a crashed test left behind.
import { execFileSync } from "node:child_process";
import { accessSync, constants, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { freePort, sleep, startLoopbackProcess } from "./loopback-process.js";

export const INSTALL_HINT = "install Debian's prometheus package: apt-get install prometheus";

export class PrometheusMissingError extends Error {
  override readonly name = "PrometheusMissingError";
}

/**
 * The `prometheus` binary on PATH (or $PROMETHEUS_BIN: .ci/run points it at the Prometheus 3 that
 * test/cluster/build.sh builds, for a second run of the Prometheus tests); throws PrometheusMissingError with
 * the fix.
 */
export function findPrometheus(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const explicit = env["PROMETHEUS_BIN"];
  const candidates = explicit
    ? [explicit]
    : (env["PATH"] ?? "")
        .split(delimiter)
        .filter((d) => d !== "")
        .map((d) => join(d, "prometheus"));
  for (const file of candidates) {
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not this one
    }
  }
  throw new PrometheusMissingError(
    `no prometheus binary ${explicit ? `at PROMETHEUS_BIN=${explicit}` : "on PATH"}: ${INSTALL_HINT}`,
  );
}

export interface PrometheusVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  /** As printed, e.g. "2.42.0+ds" or "3.16.0". */
  readonly text: string;
}

/** The version a binary reports (`prometheus --version`): tests whose expectations changed between releases. */
export function prometheusVersion(binary: string = findPrometheus()): PrometheusVersion {
  const out = execFileSync(binary, ["--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  const m = /version (\d+)\.(\d+)\.(\d+)(\S*)/.exec(out);
  if (!m) throw new Error(`cannot read the version of ${binary} from: ${out.split("\n")[0]}`);
  return {
    major: Number(m[1]),
    minor: Number(m[2]),
    patch: Number(m[3]),
    text: `${m[1]}.${m[2]}.${m[3]}${m[4]}`,
  };
}

/** The version is at least major.minor. */
export function atLeast(v: PrometheusVersion, major: number, minor: number): boolean {
  return v.major > major || (v.major === major && v.minor >= minor);
}

export interface ScrapeTarget {
  /** host:port, e.g. the fleet exporter's `address`. */
  readonly address: string;
  /** Target labels added to every series (e.g. {namespace: "voice-prod"}, as a Kubernetes scrape would). */
  readonly labels?: Readonly<Record<string, string>> | undefined;
}

export interface PrometheusOptions {
  readonly targets: readonly ScrapeTarget[];
  readonly job?: string | undefined;
  /** Default 1s; the scrape timeout equals it. */
  readonly scrapeInterval?: string | undefined;
  readonly metricsPath?: string | undefined;
  /** Default 30 s. */
  readonly readyTimeoutMs?: number | undefined;
  readonly binary?: string | undefined;
  /** Rule files (absolute paths) to load, e.g. the chart's alert rules. */
  readonly ruleFiles?: readonly string[] | undefined;
  /** Alertmanagers (host:port) to send alerts to. */
  readonly alertmanagers?: readonly string[] | undefined;
  /** How often rules are evaluated; default: the scrape interval. */
  readonly evaluationInterval?: string | undefined;
  /** More fields of the job's scrape config, e.g. {convert_classic_histograms_to_nhcb: true}. */
  readonly scrape?: Readonly<Record<string, unknown>> | undefined;
  /** More command-line flags, e.g. ["--enable-feature=native-histograms"] (2.x). */
  readonly flags?: readonly string[] | undefined;
}

/** The rule_files and alerting sections of prometheus.yml, and the evaluation interval, when asked for. */
function alertingConfig(options: PrometheusOptions, global: Record<string, string>): Record<string, unknown> {
  return {
    global: { ...global, evaluation_interval: options.evaluationInterval ?? global["evaluation_interval"] },
    ...(options.ruleFiles?.length ? { rule_files: [...options.ruleFiles] } : {}),
    ...(options.alertmanagers?.length
      ? { alerting: { alertmanagers: [{ static_configs: [{ targets: [...options.alertmanagers] }] }] } }
      : {}),
  };
}

export interface PromSample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface PrometheusServer {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  readonly job: string;
  /** The process id, for checks that it is gone. */
  readonly pid: number;
  /** An instant query (time in seconds since the epoch, default now): a vector or a scalar, as samples. */
  query(promql: string, time?: number): Promise<PromSample[]>;
  /** The label sets of the series matching a selector. */
  series(match: string): Promise<Record<string, string>[]>;
  /** Wait until every series of `selector` (at least one) has n samples or more: it was scraped n times. */
  waitForScrapes(selector: string, n: number, timeoutMs?: number): Promise<void>;
  /** Poll an instant query until `done` accepts its result; returns that result. */
  waitFor(
    promql: string,
    done: (samples: PromSample[]) => boolean,
    timeoutMs?: number,
    what?: string,
  ): Promise<PromSample[]>;
  /** The last lines Prometheus logged (for failure messages). */
  logs(): string;
  /** SIGTERM, wait up to 10 s, then SIGKILL; removes the temporary directory. Idempotent. */
  stop(): Promise<void>;
}

// Re-exported: other helpers pick ports the same way.
export { freePort };

interface ApiBody {
  status?: string;
  error?: string;
  errorType?: string;
  data?: unknown;
}

/** Start Prometheus scraping `targets`, and wait until it is ready. */
export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusServer> {
  const binary = options.binary ?? findPrometheus();
  // The port is free when picked but could be taken before Prometheus binds it: try a few.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(binary, options, await freePort());
    } catch (err) {
      lastError = err;
      if (!(err instanceof Error && /address already in use/.test(err.message))) throw err;
    }
  }
  throw lastError;
}

async function startOnce(
  binary: string,
  options: PrometheusOptions,
  port: number,
): Promise<PrometheusServer> {
  const job = options.job ?? "voice-fleet";
  const interval = options.scrapeInterval ?? "1s";
  const dir = mkdtempSync(join(tmpdir(), "voicectl-prometheus-"));
  const config = {
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
    scrape_configs: [
      {
        job_name: job,
        metrics_path: options.metricsPath ?? "/metrics",
        static_configs: options.targets.map((t) => ({ targets: [t.address], labels: { ...t.labels } })),
        ...options.scrape,
      },
    ],
  };
  // JSON is YAML: no quoting surprises in label values.
  writeFileSync(
    join(dir, "prometheus.yml"),
    JSON.stringify({ ...config, ...alertingConfig(options, config.global) }, null, 2),
  );
  const server = await startLoopbackProcess({
    name: "prometheus",
    binary,
    args: [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--storage.tsdb.retention.time=1d",
      "--log.level=warn",
      ...(options.flags ?? []),
    ],
    port,
    dir,
    installHint: INSTALL_HINT,
    readyTimeoutMs: options.readyTimeoutMs,
  });
  const { url, stop } = server;
  const tail = server.logs;

  const api = async (path: string, params: Record<string, string | string[]>): Promise<unknown> => {
    const body = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) for (const x of [v].flat()) body.append(k, x);
    const res = await fetch(`${url}${path}`, { method: "POST", body, signal: AbortSignal.timeout(10_000) });
    const json = (await res.json()) as ApiBody;
    if (json.status !== "success") {
      throw new Error(`prometheus ${path} failed (${json.errorType ?? res.status}): ${json.error ?? ""}`);
    }
    return json.data;
  };

  const query = async (promql: string, time?: number): Promise<PromSample[]> => {
    const data = (await api("/api/v1/query", {
      query: promql,
      ...(time !== undefined ? { time: String(time) } : {}),
    })) as { resultType: string; result: unknown };
    if (data.resultType === "scalar") {
      const [, v] = data.result as [number, string];
      return [{ labels: {}, value: Number(v) }];
    }
    if (data.resultType !== "vector") throw new Error(`expected an instant vector from ${promql}`);
    return (data.result as { metric: Record<string, string>; value: [number, string] }[]).map((r) => ({
      labels: r.metric,
      value: Number(r.value[1]),
    }));
  };

  const waitFor = async (
    promql: string,
    done: (samples: PromSample[]) => boolean,
    timeoutMs = 60_000,
    what = promql,
  ): Promise<PromSample[]> => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const last = await query(promql);
      if (done(last)) return last;
      const exitCode = server.exitStatus();
      if (exitCode !== undefined) throw new Error(`prometheus exited (${String(exitCode)}):\n${tail()}`);
      if (Date.now() > until) {
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${what}; ` +
            `last result: ${JSON.stringify(last).slice(0, 500)}\nprometheus log:\n${tail()}`,
        );
      }
      await sleep(250);
    }
  };

  return {
    url,
    port,
    job,
    pid: server.pid,
    query,
    series: async (match) => (await api("/api/v1/series", { "match[]": match })) as Record<string, string>[],
    waitForScrapes: async (selector, n, timeoutMs = 60_000) => {
      await waitFor(
        `count_over_time(${selector}[1h])`,
        (s) => s.length > 0 && s.every((x) => x.value >= n),
        timeoutMs,
        `${n} scrapes of ${selector}`,
      );
    },
    waitFor,
    logs: tail,
    stop,
  };
}
