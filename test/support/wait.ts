// Polling for end-to-end tests: the cluster, the operator and Prometheus all act on their own time, so a
// test waits for what it expects to appear instead of sleeping a guess.

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface WaitOptions {
  /** Between probes (default 250 ms). */
  readonly intervalMs?: number;
  /** More to say when it times out: operator logs, the rollout's status. */
  readonly context?: () => Promise<string> | string;
}

/**
 * Calls `probe` until it returns something other than undefined or false, and returns that. A probe that
 * throws is tried again (a resource not created yet, a cache not filled); its last error is in the timeout's
 * message, with `what` and the context.
 */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  options: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const context = options.context ? await Promise.resolve(options.context()).catch(String) : "";
      throw new Error(
        `timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}` +
          (last !== undefined ? ` (last error: ${String(last)})` : "") +
          (context ? `\n${context}` : ""),
      );
    }
    await sleep(options.intervalMs ?? 250);
  }
}
