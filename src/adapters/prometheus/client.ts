// A small Prometheus HTTP API client for instant queries. Every failure becomes a SourceError whose message
// says what went wrong in words an engineer can act on; the analysis turns it into nodata, never a crash.
export class SourceError extends Error {
  override readonly name = "SourceError";
}

/**
 * One bucket of a native histogram as the query API writes it: `[boundaryRule, lower, upper, count]`, where the
 * rule says which boundaries are inclusive (0: (lower, upper], 1: [lower, upper), 2: (lower, upper), 3:
 * [lower, upper]). Positive buckets are (lower, upper], the zero bucket [-z, z]; only non-empty buckets are sent.
 */
export interface NativeBucket {
  readonly rule: 0 | 1 | 2 | 3;
  readonly lower: number;
  readonly upper: number;
  readonly count: number;
}

/** A native histogram sample (`"histogram"` in an instant vector instead of `"value"`). */
export interface NativeHistogram {
  readonly count: number;
  readonly sum: number;
  readonly buckets: readonly NativeBucket[];
}

export interface Sample {
  readonly labels: Readonly<Record<string, string>>;
  /** A float sample's value; for a native histogram, its count. */
  readonly value: number;
  readonly histogram?: NativeHistogram | undefined;
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
  data?: {
    resultType?: string;
    result?: {
      metric?: Record<string, string>;
      value?: [number, string];
      histogram?: [number, ApiHistogram];
    }[];
  };
}

interface ApiHistogram {
  count?: string;
  sum?: string;
  buckets?: [number, string, string, string][];
}

/** A number as the API writes one: a string, with "+Inf", "-Inf" and "NaN" for the special values. */
export function parseApiNumber(s: string | undefined): number {
  if (s === undefined) return NaN;
  const t = s.trim();
  if (t === "+Inf" || t === "Inf") return Infinity;
  if (t === "-Inf") return -Infinity;
  return t === "" ? NaN : Number(t);
}

function parseHistogram(h: ApiHistogram): NativeHistogram {
  const buckets: NativeBucket[] = [];
  for (const b of h.buckets ?? []) {
    const rule = b[0];
    if (rule !== 0 && rule !== 1 && rule !== 2 && rule !== 3) {
      throw new SourceError(`Prometheus sent a native histogram bucket with boundary rule ${String(rule)}`);
    }
    buckets.push({
      rule,
      lower: parseApiNumber(b[1]),
      upper: parseApiNumber(b[2]),
      count: parseApiNumber(b[3]),
    });
  }
  return { count: parseApiNumber(h.count), sum: parseApiNumber(h.sum), buckets };
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
      if (r.histogram) {
        const histogram = parseHistogram(r.histogram[1]);
        samples.push({ labels: r.metric ?? {}, value: histogram.count, histogram });
      } else {
        samples.push({ labels: r.metric ?? {}, value: parseApiNumber(r.value?.[1]) });
      }
    }
    return { samples, warnings: json.warnings ?? [] };
  }
}
