// A TCP proxy on loopback for fault tests: put it between a client (the operator) and a real server (the
// API server, Prometheus) and it forwards bytes as they are, TLS included, until the test changes its mode:
//   forward  connect each client to the target and copy bytes both ways
//   stall    keep every connection open but move no byte either way, and hold new connections unanswered:
//            what a client sees when a server, a load balancer or the network hangs (its requests time out)
//   refuse   drop every open connection and every new one at once: a server that is down
// Going back to forward delivers what was held, in order, as a network that recovers would. The target can
// change (a Prometheus restarted on another port behind the same address).
import { createServer, connect, type Server, type Socket } from "node:net";

export type ProxyMode = "forward" | "stall" | "refuse";

export interface TcpProxy {
  readonly port: number;
  /** 127.0.0.1:PORT */
  readonly address: string;
  mode(): ProxyMode;
  setMode(mode: ProxyMode): void;
  /** Where new connections go from now on (open ones keep their target). */
  setTarget(port: number, host?: string): void;
  /** Connections accepted so far. */
  accepted(): number;
  close(): Promise<void>;
}

interface Link {
  readonly client: Socket;
  upstream: Socket | null;
  /** Bytes held while stalled (or before the upstream connected), per direction, in order. */
  readonly toUpstream: Buffer[];
  readonly toClient: Buffer[];
}

export async function startTcpProxy(target: { port: number; host?: string }): Promise<TcpProxy> {
  let mode: ProxyMode = "forward";
  let targetPort = target.port;
  let targetHost = target.host ?? "127.0.0.1";
  let accepted = 0;
  const links = new Set<Link>();

  const drop = (link: Link) => {
    links.delete(link);
    link.client.destroy();
    link.upstream?.destroy();
  };
  const flush = (link: Link) => {
    if (mode !== "forward" || !link.upstream || link.upstream.connecting) return;
    for (const chunk of link.toUpstream.splice(0)) link.upstream.write(chunk);
    for (const chunk of link.toClient.splice(0)) link.client.write(chunk);
  };
  const open = (link: Link) => {
    const upstream = connect({ port: targetPort, host: targetHost });
    link.upstream = upstream;
    upstream.on("connect", () => flush(link));
    upstream.on("data", (chunk: Buffer) => {
      link.toClient.push(chunk);
      flush(link);
    });
    // A target that is down or goes away: the client sees its connection drop, as it would without us.
    upstream.on("error", () => drop(link));
    upstream.on("close", () => drop(link));
  };

  const server: Server = createServer((client) => {
    accepted++;
    if (mode === "refuse") {
      client.destroy();
      return;
    }
    const link: Link = { client, upstream: null, toUpstream: [], toClient: [] };
    links.add(link);
    client.on("data", (chunk: Buffer) => {
      link.toUpstream.push(chunk);
      flush(link);
    });
    client.on("error", () => drop(link));
    client.on("close", () => drop(link));
    if (mode === "forward") open(link);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;

  return {
    port,
    address: `127.0.0.1:${port}`,
    mode: () => mode,
    setMode(next) {
      mode = next;
      if (next === "refuse") for (const link of [...links]) drop(link);
      if (next === "forward")
        for (const link of links) {
          if (link.upstream === null) open(link);
          else flush(link);
        }
    },
    setTarget(p, host = "127.0.0.1") {
      targetPort = p;
      targetHost = host;
    },
    accepted: () => accepted,
    async close() {
      for (const link of [...links]) drop(link);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
