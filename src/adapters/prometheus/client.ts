// A small Prometheus HTTP API client for instant queries. Every failure becomes a SourceError whose message
// says what went wrong in words an engineer can act on; the analysis turns it into nodata, never a crash.
export class SourceError extends Error {
  override readonly name = "SourceError";
}

export interface Sample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface QueryResult {
  readonly samples: readonly Sample[];
  readonly warnings: readonly string[];
}

export interface ClientOptions {
  readonly url: string;
  /** Per attempt. */
  readonly timeoutMs?: number | undefined;
  /** Attempts for errors worth retrying (unreachable, timeouts, 5xx). */
  readonly attempts?: number | undefined;
  readonly backoffMs?: number | undefined;
}

interface ApiResponse {
  status?: string;
  errorType?: string;
  error?: string;
  warnings?: string[];
  data?: { resultType?: string; result?: { metric?: Record<string, string>; value?: [number, string] }[] };
}

class Retryable extends SourceError {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class PrometheusClient {
  private readonly base: string;
  constructor(private readonly options: ClientOptions) {
    this.base = options.url.replace(/\/+$/, "");
  }

  /** An instant query at `time` (seconds since the epoch). */
  async query(promql: string, time: number): Promise<QueryResult> {
    const attempts = this.options.attempts ?? 3;
    let last: SourceError | undefined;
    for (let i = 0; i < attempts; i++) {
      if (i > 0) await sleep((this.options.backoffMs ?? 250) * 2 ** (i - 1));
      try {
        return await this.once(promql, time);
      } catch (err) {
        if (!(err instanceof SourceError)) throw err;
        last = err;
        if (!(err instanceof Retryable)) break;
      }
    }
    const tries = attempts > 1 && last instanceof Retryable ? ` (after ${attempts} attempts)` : "";
    throw new SourceError(`${last!.message}${tries}`);
  }

  private async once(promql: string, time: number): Promise<QueryResult> {
    const timeoutMs = this.options.timeoutMs ?? 10_000;
    const body = new URLSearchParams({ query: promql, time: String(time) });
    let res: Response;
    try {
      res = await fetch(`${this.base}/api/v1/query`, {
        method: "POST",
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      const e = err as { name?: string; cause?: { code?: string; message?: string } };
      if (e.name === "TimeoutError" || e.name === "AbortError") {
        throw new Retryable(`Prometheus at ${this.base} did not answer within ${timeoutMs / 1000}s`);
      }
      throw new Retryable(
        `Prometheus at ${this.base} is unreachable (${e.cause?.code ?? e.cause?.message ?? String(err)})`,
      );
    }
    const text = await res.text().catch(() => "");
    let json: ApiResponse | null;
    try {
      json = JSON.parse(text) as ApiResponse;
    } catch {
      json = null; // an HTML error page from a proxy, say
    }
    if (!res.ok) {
      const detail = json?.error ?? text.slice(0, 200).trim();
      const message = `Prometheus answered HTTP ${res.status}${detail ? `: ${detail}` : ""}`;
      if (res.status >= 500 || res.status === 429) throw new Retryable(message);
      throw new SourceError(message);
    }
    if (!json || json.status !== "success") {
      throw new SourceError(
        json
          ? `Prometheus reported ${json.errorType ?? "an error"}: ${json.error ?? "no detail"}`
          : "Prometheus answered with something that is not JSON",
      );
    }
    if (json.data?.resultType !== "vector") {
      throw new SourceError(
        `expected an instant vector from the query, got ${json.data?.resultType ?? "nothing"}`,
      );
    }
    const samples: Sample[] = [];
    for (const r of json.data.result ?? []) {
      const value = Number(r.value?.[1]);
      samples.push({ labels: r.metric ?? {}, value });
    }
    return { samples, warnings: json.warnings ?? [] };
  }
}
