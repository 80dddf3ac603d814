// NotificationTransport over the API server and HTTP: a sink's URL is read from a key of a Secret in the
// rollout's namespace (get only, by name: the operator needs no list or watch on Secrets), and each
// notification is one POST with a timeout. Errors name the Secret or the HTTP status, never the URL (a Slack
// or webhook URL is itself the credential) nor the response body.
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { SinkError, type NotificationTransport } from "../../operator/ports.js";
import { httpStatus, isNotFound } from "./api-errors.js";

export const SINK_TIMEOUT_MS = 10_000;

export interface NotificationTransportOptions {
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
}

export class KubernetesNotificationTransport implements NotificationTransport {
  private readonly api: CoreV1Api;
  private readonly timeoutMs: number;
  private readonly fetch: typeof fetch;

  constructor(kc: KubeConfig, options: NotificationTransportOptions = {}) {
    this.api = kc.makeApiClient(CoreV1Api);
    this.timeoutMs = options.timeoutMs ?? SINK_TIMEOUT_MS;
    this.fetch = options.fetch ?? fetch;
  }

  async secret(namespace: string, name: string, key: string): Promise<string | null> {
    try {
      const s = await this.api.readNamespacedSecret({ name, namespace });
      const data = s.data?.[key];
      if (data !== undefined) return Buffer.from(data, "base64").toString("utf8").trim();
      return s.stringData?.[key]?.trim() ?? null;
    } catch (err) {
      if (isNotFound(err)) return null;
      const status = httpStatus(err);
      throw new SinkError(
        `reading Secret ${namespace}/${name} failed${status !== undefined ? ` (HTTP ${status})` : ""}`,
        status,
      );
    }
  }

  async post(url: string, body: unknown, headers: Readonly<Record<string, string>>): Promise<void> {
    let res: Response;
    try {
      res = await this.fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      // fetch's message can include the URL: only the error's kind is kept.
      const cause = (err as { cause?: { code?: unknown } }).cause?.code;
      throw new SinkError(`sink unreachable (${typeof cause === "string" ? cause : (err as Error).name})`);
    }
    // The body is read and dropped (keep-alive), never kept: it may echo what was sent.
    await res.arrayBuffer().catch(() => undefined);
    if (!res.ok) throw new SinkError(`sink answered HTTP ${res.status}`, res.status);
  }
}
