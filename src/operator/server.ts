// The operator's HTTP endpoints: /metrics for Prometheus, /healthz for the kubelet's liveness probe (the
// process answers), /readyz for its readiness probe (informers synced and leadership known). Nothing else:
// a scrape or a probe never reaches rollouts, policies or payloads.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { OperatorMetrics } from "./metrics.js";

export interface Readiness {
  readonly ready: boolean;
  /** Why not, for a person reading the probe's body. */
  readonly reason?: string | undefined;
}

export interface ServerOptions {
  readonly host: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  readonly metrics: OperatorMetrics;
  readonly readiness: () => Readiness;
}

export interface RunningServer {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    if (path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
      return;
    }
    if (path === "/readyz") {
      let r: Readiness;
      try {
        r = options.readiness();
      } catch {
        r = { ready: false, reason: "readiness check failed" };
      }
      res
        .writeHead(r.ready ? 200 : 503, { "content-type": "text/plain" })
        .end(r.ready ? "ok\n" : `not ready: ${r.reason ?? "starting"}\n`);
      return;
    }
    if (path === "/metrics") {
      options.metrics.text().then(
        (text) => res.writeHead(200, { "content-type": options.metrics.contentType }).end(text),
        () => res.writeHead(500, { "content-type": "text/plain" }).end("metrics unavailable\n"),
      );
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  return {
    host: options.host,
    port: address.port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
