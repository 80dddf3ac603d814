// A server binary run for a test (Prometheus, Alertmanager): started in its own temporary directory on a
// loopback port, its output kept (the last 20,000 characters) for error messages, ready once GET /-/ready
// answers 200, stopped with SIGTERM then SIGKILL after 10 s, and killed when the test process exits, so no
// server outlives the run that started it.
import { spawn, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { createServer } from "node:net";

const live = new Set<ChildProcess>();
let exitHook = false;

/** A free TCP port on 127.0.0.1 (the OS's pick; the server binds it right after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface LoopbackProcessOptions {
  /** For messages: "prometheus". */
  readonly name: string;
  readonly binary: string;
  readonly args: readonly string[];
  readonly port: number;
  /** The working directory, removed when the process stops. */
  readonly dir: string;
  /** Said when the binary cannot be started at all: how to install it. */
  readonly installHint: string;
  readonly readyTimeoutMs?: number | undefined;
}

export interface LoopbackProcess {
  readonly url: string;
  readonly pid: number;
  /** How it ended (exit code or signal), or undefined while it runs. */
  exitStatus(): number | string | null | undefined;
  /** The last 15 lines of its output. */
  logs(): string;
  /** SIGTERM, then SIGKILL after 10 s; removes the directory. Idempotent. */
  stop(): Promise<void>;
}

/** Starts the binary and waits until it is ready; on failure it is stopped and the error carries its output. */
export async function startLoopbackProcess(o: LoopbackProcessOptions): Promise<LoopbackProcess> {
  const child = spawn(o.binary, [...o.args], { stdio: ["ignore", "pipe", "pipe"], cwd: o.dir });
  live.add(child);
  if (!exitHook) {
    exitHook = true;
    process.once("exit", () => {
      for (const c of live) c.kill("SIGKILL");
    });
  }
  let output = "";
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString("utf8")).slice(-20_000);
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  // Set once the process is gone (or never started).
  let exitCode: number | string | null | undefined;
  let spawnFailure: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      exitCode = code ?? signal;
      live.delete(child);
      resolve();
    });
    child.once("error", (err) => {
      // Failed to spawn (or to signal): without a process there is no "exit" to wait for.
      if (child.pid !== undefined) return;
      spawnFailure = new Error(`cannot start ${o.binary}: ${err.message}. ${o.installHint}`);
      exitCode ??= "not started";
      live.delete(child);
      resolve();
    });
  });
  const logs = () => output.trim().split("\n").slice(-15).join("\n");
  const url = `http://127.0.0.1:${o.port}`;

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (exitCode === undefined) {
        child.kill("SIGTERM");
        const timedOut = await Promise.race([exited.then(() => false), sleep(10_000).then(() => true)]);
        if (timedOut) {
          child.kill("SIGKILL");
          await exited;
        }
      }
      rmSync(o.dir, { recursive: true, force: true });
    })();
    return stopping;
  };

  const deadline = Date.now() + (o.readyTimeoutMs ?? 30_000);
  try {
    for (;;) {
      if (spawnFailure) throw spawnFailure;
      if (exitCode !== undefined) {
        throw new Error(`${o.name} exited (${String(exitCode)}) before it was ready:\n${logs()}`);
      }
      const ok = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) }).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`${o.name} at ${url} was not ready in time:\n${logs()}`);
      await sleep(100);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, pid: child.pid!, exitStatus: () => exitCode, logs, stop };
}
