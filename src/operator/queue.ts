// The work queue between watch events and the reconciler, after client-go's workqueue: one entry per rollout
// key however often it is added, a key is never handed to two workers at once (one added while it is being
// processed runs again once that run is done), delayed adds, and per-key exponential backoff on errors.
// Time comes from an injected Timers so tests drive it by hand.

export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    // A pending requeue must not keep a stopping process alive.
    t.unref();
    return t;
  },
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export interface BackoffOptions {
  /** The first retry's delay. */
  readonly baseMs: number;
  /** Delays double per consecutive failure up to this. */
  readonly maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, maxMs: 5 * 60_000 };

/** The delay before retry number `failures + 1` of one key. */
export function backoffDelay(failures: number, options: BackoffOptions = DEFAULT_BACKOFF): number {
  return Math.min(options.maxMs, options.baseMs * 2 ** Math.min(failures, 40));
}

export class WorkQueue {
  /** Keys ready to be handed out, in order. */
  private readonly ready: string[] = [];
  /** Keys that need a run: queued in `ready`, or added while being processed. */
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly delayed = new Map<string, { at: number; handle: unknown }>();
  private readonly failures = new Map<string, number>();
  private readonly getters: ((key: string | undefined) => void)[] = [];
  private stopped = false;

  constructor(
    private readonly timers: Timers = systemTimers,
    private readonly backoff: BackoffOptions = DEFAULT_BACKOFF,
  ) {}

  add(key: string): void {
    if (this.stopped || this.dirty.has(key)) return;
    this.dirty.add(key);
    // A key being processed is handed out again by done(), never to a second worker now.
    if (this.processing.has(key)) return;
    this.handOut(key);
  }

  /** Adds the key after `ms`; an earlier pending add of the same key wins over a later one. */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.timers.now() + ms;
    const pending = this.delayed.get(key);
    if (pending && pending.at <= at) return;
    if (pending) this.timers.clearTimeout(pending.handle);
    const handle = this.timers.setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    this.delayed.set(key, { at, handle });
  }

  /** Adds the key after its backoff delay, which doubles with each consecutive failure. */
  addRateLimited(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const delay = backoffDelay(n, this.backoff);
    this.addAfter(key, delay);
    return delay;
  }

  /** The key succeeded: its next failure starts the backoff from the beginning. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  failuresOf(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** The next key to process, or undefined once the queue is shut down. Call done(key) after. */
  get(): Promise<string | undefined> {
    if (this.stopped) return Promise.resolve(undefined);
    const key = this.ready.shift();
    if (key !== undefined) {
      this.take(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.getters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key) && !this.stopped) this.handOut(key);
  }

  /** Keys waiting to be handed out (not those being processed or delayed). */
  get length(): number {
    return this.ready.length;
  }

  isProcessing(key: string): boolean {
    return this.processing.has(key);
  }

  /** Stops handing out keys: waiting getters get undefined, delayed adds are dropped. */
  shutDown(): void {
    this.stopped = true;
    for (const { handle } of this.delayed.values()) this.timers.clearTimeout(handle);
    this.delayed.clear();
    for (const resolve of this.getters.splice(0)) resolve(undefined);
  }

  get isShutDown(): boolean {
    return this.stopped;
  }

  private handOut(key: string): void {
    const getter = this.getters.shift();
    if (getter) {
      this.take(key);
      getter(key);
    } else {
      this.ready.push(key);
    }
  }

  private take(key: string): void {
    this.dirty.delete(key);
    this.processing.add(key);
  }
}
