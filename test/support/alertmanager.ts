// A real Alertmanager for end-to-end tests: Debian's `prometheus-alertmanager` binary (or `alertmanager`, or
// $ALERTMANAGER_BIN), started on a free loopback port with a generated config, its storage in a temporary
// directory and clustering off (no listener but 127.0.0.1:PORT). And a webhook receiver: an HTTP server on
// loopback that keeps every notification Alertmanager posts to it.
import { accessSync, constants, mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { freePort, sleep, startLoopbackProcess } from "./loopback-process.js";

export const ALERTMANAGER_HINT =
  "install Debian's prometheus-alertmanager package: apt-get install prometheus-alertmanager";

/** The Alertmanager binary: $ALERTMANAGER_BIN, else prometheus-alertmanager or alertmanager on PATH. */
export function findAlertmanager(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const explicit = env["ALERTMANAGER_BIN"];
  const dirs = (env["PATH"] ?? "").split(delimiter).filter((d) => d !== "");
  const candidates = explicit
    ? [explicit]
    : ["prometheus-alertmanager", "alertmanager"].flatMap((name) => dirs.map((d) => join(d, name)));
  for (const file of candidates) {
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not this one
    }
  }
  throw new Error(
    `no Alertmanager ${explicit ? `at ALERTMANAGER_BIN=${explicit}` : "on PATH"}: ${ALERTMANAGER_HINT}`,
  );
}

/** One alert of a webhook notification (Alertmanager's webhook payload, version 4). */
export interface WebhookAlert {
  readonly status: "firing" | "resolved";
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  readonly startsAt: string;
  readonly endsAt: string;
}
export interface WebhookNotification {
  readonly version: string;
  readonly status: "firing" | "resolved";
  readonly receiver: string;
  readonly groupLabels: Record<string, string>;
  readonly alerts: readonly WebhookAlert[];
}

export interface WebhookReceiver {
  /** http://127.0.0.1:PORT/alerts */
  readonly url: string;
  readonly notifications: WebhookNotification[];
  /** Wait until some notification holds an alert that `match` accepts; returns that alert. */
  waitFor(match: (a: WebhookAlert) => boolean, what: string, timeoutMs?: number): Promise<WebhookAlert>;
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const notifications: WebhookNotification[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString("utf8")));
    req.on("end", () => {
      try {
        notifications.push(JSON.parse(body) as WebhookNotification);
        res.writeHead(200).end();
      } catch {
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/alerts`,
    notifications,
    async waitFor(match, what, timeoutMs = 60_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const found = notifications.flatMap((n) => n.alerts).find(match);
        if (found) return found;
        if (Date.now() > until) {
          throw new Error(
            `no notification with ${what} in ${timeoutMs} ms; received: ${JSON.stringify(
              notifications.flatMap((n) => n.alerts.map((a) => ({ status: a.status, labels: a.labels }))),
            )}`,
          );
        }
        await sleep(100);
      }
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface AlertmanagerOptions {
  /** Where every notification goes (a webhook receiver's url). */
  readonly webhookUrl: string;
  /** Route timings; short ones make a test fast. Defaults 1s, 1s and 1h. */
  readonly groupWait?: string | undefined;
  readonly groupInterval?: string | undefined;
  readonly repeatInterval?: string | undefined;
  readonly groupBy?: readonly string[] | undefined;
  readonly binary?: string | undefined;
  readonly readyTimeoutMs?: number | undefined;
}

export interface AlertmanagerServer {
  /** host:port, for Prometheus' alerting config. */
  readonly address: string;
  readonly url: string;
  logs(): string;
  /** SIGTERM, then SIGKILL after 10 s; removes the temporary directory. Idempotent. */
  stop(): Promise<void>;
}

export async function startAlertmanager(options: AlertmanagerOptions): Promise<AlertmanagerServer> {
  const binary = options.binary ?? findAlertmanager();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "voicectl-alertmanager-"));
  const config = {
    route: {
      receiver: "webhook",
      group_by: [...(options.groupBy ?? ["alertname", "namespace", "rollout"])],
      group_wait: options.groupWait ?? "1s",
      group_interval: options.groupInterval ?? "1s",
      repeat_interval: options.repeatInterval ?? "1h",
    },
    receivers: [{ name: "webhook", webhook_configs: [{ url: options.webhookUrl, send_resolved: true }] }],
  };
  writeFileSync(join(dir, "alertmanager.yml"), JSON.stringify(config, null, 2));
  const server = await startLoopbackProcess({
    name: "alertmanager",
    binary,
    args: [
      `--config.file=${join(dir, "alertmanager.yml")}`,
      `--storage.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // An empty address turns the gossip cluster (and its 0.0.0.0:9094 listener) off.
      "--cluster.listen-address=",
      "--log.level=warn",
    ],
    port,
    dir,
    installHint: ALERTMANAGER_HINT,
    readyTimeoutMs: options.readyTimeoutMs,
  });
  return { address: `127.0.0.1:${port}`, url: server.url, logs: server.logs, stop: server.stop };
}
